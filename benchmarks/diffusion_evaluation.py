"""Judge a diffusion run with the validation suite on held-out Geant4 showers, and time its generation.

    python benchmarks/diffusion_evaluation.py --run runs/par04-siw-diffusion -n 10000 --steps 6
    python benchmarks/diffusion_evaluation.py --run runs/par04-siw-diffusion --quick

Reference: data/par04-siw/e-_normal_val.h5 (seed 2), never used for training (validation during
training uses its first 1000 showers for the learning curve only). The model generates at the
reference's incident energies (seed 11). Writes benchmarks/results/diffusion_evaluation.json and the
report to benchmarks/results/diffusion/report/.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from _common import RESULTS_DIR, Recorder, log

from caloforge.data import read_showers, write_showers
from caloforge.evaluation.evaluate import evaluate_files
from caloforge.models.generate import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="runs/par04-siw-diffusion")
    parser.add_argument("--reference", type=Path, default=Path("data/par04-siw/e-_normal_val.h5"))
    parser.add_argument("-n", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=None, help="sampling steps (default: the model's)")
    parser.add_argument("--quick", action="store_true", help="1000 showers")
    args = parser.parse_args()
    n = 1000 if args.quick else args.n
    model = load_model(args.run)
    ref = read_showers(args.reference, stop=n)
    settings = {"run": args.run, "reference": str(args.reference), "showers": len(ref), "steps": args.steps}
    rec = Recorder("diffusion_evaluation_quick" if args.quick else "diffusion_evaluation", settings)
    start = time.perf_counter()
    showers = model.sample(ref.incident_energies, steps=args.steps, seed=11)
    generate_s = time.perf_counter() - start
    log(f"generated {len(ref)} showers in {generate_s:.0f} s")
    out = RESULTS_DIR / ("diffusion_quick" if args.quick else "diffusion")
    with tempfile.TemporaryDirectory() as tmp:
        meta = replace(ref.meta, generator=f"caloforge {model.label}", seed=11)
        cand = write_showers(Path(tmp) / "diffusion.h5", replace(ref, showers=showers, meta=meta))
        reference = write_showers(Path(tmp) / "geant4.h5", ref)
        shutil.rmtree(out / "report", ignore_errors=True)
        metrics = evaluate_files(reference, [cand], out / "report", names=[model.label], seed=1,
                                 progress=lambda s: log(f"  {s}"))  # fmt: skip
    e = metrics["candidates"][model.label]
    log_csv = Path(args.run) / "log.csv"
    curve = list(csv.DictReader(log_csv.open())) if log_csv.exists() else []
    figures = {
        "auc_cells": e["classifier_low"]["auc"],
        "auc_high_level": e["classifier_high"]["auc"],
        "sp_esum_over_einc": e["histograms"]["esum_over_einc"]["separation_power"],
        "mean_esum_ratio": float(showers.sum(1).mean() / ref.showers.sum(1).mean()),
        "fpd": e["fpd"], "fpd_noise_floor": e["fpd_noise_floor"], "kpd": e["kpd"],
        "per_energy_bin": e["per_energy_bin"],
        "generate_s": round(generate_s, 1), "ms_per_shower_generation": round(generate_s / len(ref) * 1e3, 2),
        "sampling_steps": args.steps or model.default_steps, "distilled": model.distilled,
        "training_log": curve,
        "targets": {"auc_cells": 0.65, "auc_high_level": 0.60, "sp_esum_over_einc": 0.02},
    }  # fmt: skip
    log(f"wrote {rec.write(figures)}")


if __name__ == "__main__":
    main()
