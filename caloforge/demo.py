"""``caloforge demo``: the end-to-end path on built-in defaults, small enough for a laptop.

The path: geometry -> Geant4 reference showers on the scoring mesh -> shower file -> a physics
summary (calibration, response, shower depth) -> GFlash tuned on most of the showers -> stock and
tuned GFlash showers, and showers of the built-in diffusion model (``par04-siw-diffusion``, no training
needed) and of its one-step distillation, at the energies of the held-out rest -> the validation report
comparing them with Geant4 (``report/report.html``).
"""

from __future__ import annotations

import itertools
import re
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from caloforge.data import ShowerData
    from caloforge.geometry import Calorimeter

__all__ = ["run_demo"]

_GEOMETRY = "par04-siw"
# the built-in models trained on this geometry: the diffusion model and its 1-step generator
_DIFFUSION = {
    "diffusion (built-in)": "par04-siw-diffusion",
    "diffusion (distilled, 1 step)": "par04-siw-diffusion-distilled",
}


_ENERGY_GEV = (1.0, 30.0)
_HELD_OUT = 0.25


def run_demo(output_dir: Path, *, n: int = 800, workers: int = 2, console: Console | None = None) -> Path:
    """Simulate ``n`` e- showers (1-30 GeV) in par04-siw, tune GFlash, validate it; returns the report."""
    from caloforge.data import read_showers
    from caloforge.fullsim import ensure_data, sampling_fraction, simulate_to_file
    from caloforge.geometry import get_geometry, mesh_for

    console = console or Console()
    output_dir.mkdir(parents=True, exist_ok=True)
    geo = get_geometry(_GEOMETRY)
    mesh = mesh_for(geo)
    console.rule(f"caloforge demo: {geo.name}")
    console.print(
        f"{geo.description}\n{len(geo.layers)} layers, {geo.depth_x0:.1f} X0, X0 = {geo.x0_mm:.3f} mm, "
        f"R_M = {geo.rm_mm:.3f} mm; mesh {mesh.shape} cells of dz = {mesh.dz_mm:.2f} mm, "
        f"dr = {mesh.dr_mm:.2f} mm"
    )
    ensure_data(progress=True)
    console.print("measuring the sampling fraction (10 GeV e-, cached after the first run) ...")
    sf = sampling_fraction(geo, workers=workers)
    console.print(f"sampling fraction {sf.value:.5f} +- {sf.error:.5f} ({sf.physics}, {sf.data} data)")
    lo, hi = _ENERGY_GEV
    path = output_dir / f"{_GEOMETRY}_e-_{lo:g}-{hi:g}GeV_geant4.h5"
    t0 = time.perf_counter()
    simulate_to_file(path, geo, n=n, energy_gev=_ENERGY_GEV, seed=1, workers=workers, resume=True, progress=True)
    seconds = time.perf_counter() - t0
    data = read_showers(path)
    e = data.incident_energies.astype(np.float64)
    ratio = data.showers.sum(axis=1, dtype=np.float64) / e
    layers = data.images.sum(axis=(2, 3), dtype=np.float64)
    depth = (layers * (np.arange(mesh.n_layers) + 0.5)).sum(axis=1) / layers.sum(axis=1) * mesh.dz_mm / geo.x0_mm
    table = Table(title=f"{len(data)} Geant4 showers in {path} ({seconds:.0f} s, {workers} workers)")
    for col in ("E bin GeV", "showers", "<E_sum/E_inc>", "rms/mean", "mean depth X0"):
        table.add_column(col, justify="right")
    edges = [1, 3, 10, 30.001]
    for lo, hi in itertools.pairwise(edges):
        sel = (e >= lo * 1e3) & (e < hi * 1e3)
        if sel.sum() < 2:
            continue
        table.add_row(
            f"{lo}-{hi:.0f}",
            str(int(sel.sum())),
            f"{ratio[sel].mean():.4f}",
            f"{ratio[sel].std() / ratio[sel].mean():.4f}",
            f"{depth[sel].mean():.2f}",
        )
    console.print(table)
    return _fit_and_validate(data, geo, output_dir, console)


def _fit_and_validate(data: ShowerData, geo: Calorimeter, output_dir: Path, console: Console) -> Path:
    """Tune GFlash on most showers, generate at the held-out energies, write the validation report."""
    from caloforge.data import write_showers
    from caloforge.evaluation.evaluate import evaluate_files
    from caloforge.models import GFlash
    from caloforge.models.generate import builtin_model_path, load_model
    from caloforge.models.gflash_tune import MIN_SHOWERS, tune_gflash

    n_test = int(len(data) * _HELD_OUT)
    train = replace(data, incident_energies=data.incident_energies[n_test:], showers=data.showers[n_test:])
    test = replace(data, incident_energies=data.incident_energies[:n_test], showers=data.showers[:n_test])
    if len(train) < MIN_SHOWERS or n_test < 100:
        console.print(f"(GFlash tuning and the report need {MIN_SHOWERS / (1 - _HELD_OUT):.0f} showers: skipped)")
        return output_dir
    console.rule("GFlash: stock parameters against parameters tuned to this detector")
    start = time.perf_counter()
    tuned, _ = tune_gflash(train, geo, max_evaluations=40, progress=lambda line: console.print(f"  {line}"))
    tuned.save(output_dir / "gflash.json")
    console.print(
        f"tuned on {len(train)} showers in {time.perf_counter() - start:.0f} s -> {output_dir / 'gflash.json'}"
    )
    files = [write_showers(output_dir / "test_geant4.h5", test, overwrite=True)]
    models = {"GFlash stock": GFlash.stock(geo, data.meta.mesh), "GFlash tuned": tuned}
    for label, name in _DIFFUSION.items():
        if (builtin_model_path(name) / "model.safetensors").exists():
            models[label] = load_model(name, geo.name)
    for label, model in models.items():
        start = time.perf_counter()
        showers = model.sample(test.incident_energies, seed=7)
        console.print(f"{label}: {len(test)} showers in {time.perf_counter() - start:.1f} s")
        meta = replace(test.meta, generator=f"caloforge {label}", seed=7)
        name = re.sub(r"\W+", "_", label).strip("_").lower()  # "diffusion (built-in)" -> diffusion_built_in
        files.append(write_showers(output_dir / f"{name}.h5", replace(test, showers=showers, meta=meta),
                                   overwrite=True))  # fmt: skip
    console.print(f"validating {len(models)} fast simulators against {n_test} held-out Geant4 showers ...")
    metrics = evaluate_files(files[0], files[1:], output_dir / "report", names=list(models))
    table = Table(title="Fast simulation against held-out Geant4 (0.5 = indistinguishable; SP 0 = identical)")
    for col in ("model", "AUC cells", "AUC high-level", "SP E_sum/E_inc", "SP shower depth", "SP radial width"):
        table.add_column(col, justify="right")
    for name, e in metrics["candidates"].items():
        h = e["histograms"]
        table.add_row(name, f"{e['classifier_low']['auc']:.3f}", f"{e['classifier_high']['auc']:.3f}",
                      f"{h['esum_over_einc']['separation_power']:.3f}", f"{h['depth']['separation_power']:.3f}",
                      f"{h['r_width']['separation_power']:.3f}")  # fmt: skip
    console.print(table)
    report = output_dir / "report" / "report.html"
    console.print(f"open the report: {report}")
    return report
