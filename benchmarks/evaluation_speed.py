"""Time the validation suite: ``caloforge evaluate`` on N vs N showers of the 6480-cell mesh, stage by stage.

    python benchmarks/evaluation_speed.py            # 10k vs 10k, plus 2.5k and 5k for the scaling
    python benchmarks/evaluation_speed.py --quick    # 1k vs 1k, results to evaluation_speed_quick.json

Reference: data/par04-siw/e-_normal_val.h5 (seed 2); candidate: the first showers of
data/par04-siw/e-_normal_train.h5 (seed 1), two independent Geant4 samples (benchmarks/make_datasets.sh
makes both). Every figure of the suite is computed with the command's defaults: histograms, slices,
FPD and KPD with their noise floors, both classifiers, and the HTML report. The metrics of the largest
run are kept in benchmarks/results/evaluation_g4_vs_g4/ as an example of the report.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from _common import RESULTS_DIR, Recorder, log

from caloforge.evaluation.evaluate import evaluate_files


def _timed_run(reference: Path, candidate: Path, n: int, out: Path) -> dict:
    """One evaluation of the first n showers of each file, with the wall time of every stage."""
    stages: list[tuple[str, float]] = []
    start = time.perf_counter()

    def stage(line: str) -> None:
        stages.append((line, time.perf_counter() - start))
        log(f"  {stages[-1][1]:7.1f} s  {line}")

    metrics = evaluate_files(reference, [candidate], out, names=["geant4"], max_showers=n, progress=stage)
    total = time.perf_counter() - start
    ends = [t for _, t in stages[1:]] + [total]
    per_stage = {line: round(end - begin, 2) for (line, begin), end in zip(stages, ends, strict=True)}
    g4 = metrics["candidates"]["geant4"]
    return {
        "showers_each": n,
        "wall_s": round(total, 1),
        "stages_s": per_stage,
        "auc_cells": g4["classifier_low"]["auc"],
        "auc_high_level": g4["classifier_high"]["auc"],
        "classifier_epochs": [g4["classifier_low"]["epochs_run"], g4["classifier_high"]["epochs_run"]],
        "sp_esum_over_einc": g4["histograms"]["esum_over_einc"]["separation_power"],
        "fpd": g4["fpd"],
        "fpd_noise_floor": g4["fpd_noise_floor"],
        "kpd": g4["kpd"],
        "kpd_noise_floor": g4["kpd_noise_floor"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, default=Path("data/par04-siw/e-_normal_val.h5"))
    parser.add_argument("--candidate", type=Path, default=Path("data/par04-siw/e-_normal_train.h5"))
    parser.add_argument("--quick", action="store_true", help="1k vs 1k only")
    args = parser.parse_args()
    sizes = [1000] if args.quick else [2500, 5000, 10_000]
    settings = {"reference": str(args.reference), "candidate": str(args.candidate), "sizes": sizes,
                "options": "caloforge evaluate defaults (classifiers, FPD/KPD, report)"}  # fmt: skip
    rec = Recorder("evaluation_speed_quick" if args.quick else "evaluation_speed", settings)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            log(f"{n} vs {n} showers")
            out = Path(tmp) / str(n)
            runs.append(_timed_run(args.reference, args.candidate, n, out))
        if not args.quick:
            keep = RESULTS_DIR / "evaluation_g4_vs_g4"
            shutil.rmtree(keep, ignore_errors=True)
            shutil.copytree(out, keep)
    largest = runs[-1]
    figures = {
        "runs": runs,
        "wall_s_largest": largest["wall_s"],
        "target_s": 180,
        "meets_target": largest["wall_s"] <= 180,
        "seconds_per_1k_showers": {
            str(r["showers_each"]): round(r["wall_s"] / r["showers_each"] * 1e3, 2) for r in runs
        },
    }
    log(f"wrote {rec.write(figures)}")


if __name__ == "__main__":
    main()
