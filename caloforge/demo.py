"""``caloforge demo``: the end-to-end path on built-in defaults, small enough for a laptop.

Today the path is: geometry -> Geant4 reference showers on the scoring mesh -> shower file -> a
physics summary (calibration, response, shower depth). Fitting, generation and evaluation join the
demo as those parts of caloforge land.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

__all__ = ["run_demo"]

_GEOMETRY = "par04-siw"


def run_demo(output_dir: Path, *, n: int = 200, workers: int = 2, console: Console | None = None) -> Path:
    """Simulate ``n`` e- showers (1-100 GeV) in par04-siw and print what they show; returns the file."""
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
    path = output_dir / f"{_GEOMETRY}_e-_1-100GeV_geant4.h5"
    t0 = time.perf_counter()
    simulate_to_file(path, geo, n=n, energy_gev=(1.0, 100.0), seed=1, workers=workers, resume=True, progress=True)
    seconds = time.perf_counter() - t0
    data = read_showers(path)
    e = data.incident_energies.astype(np.float64)
    ratio = data.showers.sum(axis=1, dtype=np.float64) / e
    layers = data.images.sum(axis=(2, 3), dtype=np.float64)
    depth = (layers * (np.arange(mesh.n_layers) + 0.5)).sum(axis=1) / layers.sum(axis=1) * mesh.dz_mm / geo.x0_mm
    table = Table(title=f"{len(data)} Geant4 showers in {path} ({seconds:.0f} s, {workers} workers)")
    for col in ("E bin GeV", "showers", "<E_sum/E_inc>", "rms/mean", "mean depth X0"):
        table.add_column(col, justify="right")
    edges = [1, 3, 10, 30, 100.001]
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
    console.print(f"inspect it: caloforge inspect {path}")
    return path
