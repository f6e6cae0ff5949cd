"""Where a diffusion model misses Geant4: cell-energy spectrum, occupancy, radial profile, worst features.

    python benchmarks/diffusion_diagnosis.py                        # the built-in model, 2000 showers
    python benchmarks/diffusion_diagnosis.py --run runs/par04-siw-diffusion --steps 10 25
    python benchmarks/diffusion_diagnosis.py --quick                # 200 showers
    python benchmarks/diffusion_diagnosis.py -n 600 --min-gev 10 --steps 10 18 50 --output diffusion_diagnosis_steps

The model generates at the incident energies of the first N held-out Geant4 showers; both sides get the
validation suite's readout threshold (15.15 keV). The figures say why the classifiers separate the two:
the spectrum of cell energies (cells per shower in half-decade bins of calibrated MeV), the occupancy
(fraction of cells above threshold) per layer, the radial profile (share of E_sum per ring) and the
columns of CaloChallenge's high-level vector with the largest separation power. Writes
benchmarks/results/diffusion_diagnosis.json.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import Recorder, log

from caloforge.data import read_showers
from caloforge.evaluation.distances import layer_separation_powers
from caloforge.evaluation.features import (
    DEFAULT_THRESHOLD_MEV,
    calochallenge_vector,
    calochallenge_vector_names,
    high_level_features,
)
from caloforge.models.generate import load_model

_SPECTRUM_EDGES = np.arange(-2.0, 4.51, 0.5)  # log10(E / MeV): 10 keV to 32 GeV


def _spectrum(showers: np.ndarray) -> list[float]:
    """Cells per shower above threshold in each half-decade of calibrated energy."""
    cells = showers[showers >= DEFAULT_THRESHOLD_MEV]
    return (np.histogram(np.log10(cells), bins=_SPECTRUM_EDGES)[0] / len(showers)).round(2).tolist()


def _profiles(features: dict[str, np.ndarray]) -> dict[str, object]:
    return {
        "n_above_mean": float(features["n_above"].mean()),
        "r_mean_mean_mm": float(features["r_mean"].mean()),
        "r_mean_std_mm": float(features["r_mean"].std()),
        "r_width_mean_mm": float(features["r_width"].mean()),
        "r_width_std_mm": float(features["r_width"].std()),
        "occupancy_per_layer": (1 - features["sparsity"].mean(0)).round(4).tolist(),
        "radial_profile_share": (features["radial_profile"].mean(0) / features["e_sum"].mean()).round(4).tolist(),
    }


def _worst_columns(ref: np.ndarray, cand: np.ndarray, names: list[str], top: int) -> tuple[dict, list]:
    """Median separation power per feature group (ec_r, width_x, ...) and the ``top`` worst columns."""
    rows = []
    for j, name in enumerate(names):
        for sp in layer_separation_powers(ref[:, [j]], cand[:, [j]]):  # none where one value fills both
            rows.append((sp, name, float(ref[:, j].mean()), float(cand[:, j].mean())))
    groups: dict[str, list[float]] = {}
    for sp, name, *_ in rows:
        groups.setdefault(name.rsplit("_", 1)[0] if name[-1].isdigit() else name, []).append(sp)
    medians = {g: round(float(np.median(v)), 4) for g, v in sorted(groups.items(), key=lambda kv: -np.median(kv[1]))}
    worst = [{"column": n, "separation_power": round(s, 4), "geant4_mean": a, "model_mean": b}
             for s, n, a, b in sorted(rows, reverse=True)[:top]]  # fmt: skip
    return medians, worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="par04-siw-diffusion", help="run folder or built-in name")
    parser.add_argument("--reference", default="data/par04-siw/e-_normal_val.h5", help="held-out Geant4 file")
    parser.add_argument("-n", "--showers", type=int, default=2000)
    parser.add_argument("--steps", type=int, nargs="+", help="sampling steps (default: the model's)")
    parser.add_argument("--min-gev", type=float, default=0.0, help="of the first N, keep those above this")
    parser.add_argument("--output", default="diffusion_diagnosis", help="name of the results JSON")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n = 200 if args.quick else args.showers
    model = load_model(args.run)
    steps = args.steps or [model.default_steps]
    ref = read_showers(args.reference)
    energies, showers = ref.incident_energies[:n], ref.showers[:n]
    keep = energies >= args.min_gev * 1e3
    energies, showers = energies[keep], showers[keep]
    settings = {
        "run": args.run,
        "reference": args.reference,
        "showers": n,
        "min_gev": args.min_gev,
        "showers_kept": int(keep.sum()),
        "steps": steps,
        "threshold_mev": DEFAULT_THRESHOLD_MEV,
        "spectrum_edges_log10_mev": _SPECTRUM_EDGES.tolist(),
    }
    rec = Recorder(f"{args.output}_quick" if args.quick else args.output, settings)
    names = calochallenge_vector_names(model.mesh.shape[0])
    ref_f = high_level_features(showers, energies, model.mesh)
    ref_v = calochallenge_vector(ref_f)
    figures: dict[str, object] = {"geant4": {"cells_per_shower_spectrum": _spectrum(showers), **_profiles(ref_f)}}
    for k in steps:
        start = time.perf_counter()
        cand = model.sample(energies, steps=k, seed=1)
        seconds = time.perf_counter() - start
        cand_f = high_level_features(cand, energies, model.mesh)
        medians, worst = _worst_columns(ref_v, calochallenge_vector(cand_f), names, top=15)
        figures[f"model_steps{k}"] = {"generate_s": round(seconds, 1), "cells_per_shower_spectrum": _spectrum(cand),
                                      **_profiles(cand_f), "separation_power_median_per_group": medians,
                                      "worst_columns": worst}  # fmt: skip
        log(
            f"steps {k}: {seconds:.0f} s; cells above threshold {cand_f['n_above'].mean():.0f} per shower "
            f"(Geant4 {ref_f['n_above'].mean():.0f})"
        )
    below = _SPECTRUM_EDGES[1:] <= 0.0  # bins below 1 MeV
    for side in figures.values():
        spectrum = np.asarray(side["cells_per_shower_spectrum"])
        side["share_of_cells_below_1_mev"] = round(float(spectrum[below].sum() / spectrum.sum()), 4)
    log(f"wrote {rec.write(figures)}")


if __name__ == "__main__":
    main()
