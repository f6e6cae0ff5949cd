"""Judge diffusion runs with the validation suite on held-out Geant4 showers, and time their generation.

    python benchmarks/diffusion_evaluation.py --run runs/par04-siw-diffusion:12 \
        --run runs/par04-siw-diffusion-distilled:1 --run runs/par04-siw-diffusion-distilled:4 -n 10000
    python benchmarks/diffusion_evaluation.py --run runs/par04-siw-diffusion --quick

Each ``--run RUN[:STEPS]`` is one candidate (a run folder or a built-in model name, sampled with STEPS
steps, default the model's own); all are judged in one report against the same reference:
data/par04-siw/e-_normal_val.h5 (seed 2), never used for training (validation during training uses
its first 1000 showers for the learning curve only). Every model generates at the reference's incident
energies (seed 11). Writes benchmarks/results/diffusion_evaluation.json (the AUC gap of each distilled
generator to the first, full-sampler candidate included) and the report to results/diffusion/report/;
with ``--output NAME``, results/NAME.json and results/NAME/report/ instead, so an experiment keeps its own.
Two runs with the same label and steps are told apart by their folder's name.

    python benchmarks/diffusion_evaluation.py --run runs/X-distilled:1 --full-sampler diffusion_evaluation_X.json

takes the full sampler's figures from an earlier evaluation of the same reference showers (the first
full-sampler candidate there, or the one of ``FILE.json:RUN``) instead of generating them again (15 min
on 2 cores), and measures the distilled candidates' gap to it.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from _common import RESULTS_DIR, Recorder, evaluation_folder, log

from caloforge.data import read_showers, write_showers
from caloforge.evaluation.evaluate import evaluate_files
from caloforge.models.generate import load_model

TARGETS = {"auc_cells": 0.65, "auc_high_level": 0.60, "sp_esum_over_einc": 0.02, "distilled_auc_gap": 0.05}


def _spec(text: str) -> tuple[str, int | None]:
    run, _, steps = text.rpartition(":") if ":" in text else (text, "", "")
    return run, int(steps) if steps else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="append", help="RUN[:STEPS], repeatable (default runs/par04-siw-diffusion)")
    parser.add_argument("--reference", type=Path, default=Path("data/par04-siw/e-_normal_val.h5"))
    parser.add_argument("-n", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="1000 showers")
    parser.add_argument("--output", default="diffusion_evaluation", help="name of the results JSON and report folder")
    parser.add_argument(
        "--batch-size", type=int, default=200, help="showers per network call (CPU: 100-200 is fastest)"
    )
    parser.add_argument("--full-sampler", help="FILE.json[:RUN]: the full sampler's figures from this earlier result")
    args = parser.parse_args()
    specs = [_spec(s) for s in (args.run or ["runs/par04-siw-diffusion"])]
    n = 1000 if args.quick else args.n
    ref = read_showers(args.reference, stop=n)
    earlier = _earlier_full_sampler(args.full_sampler, args.reference, len(ref)) if args.full_sampler else {}
    rec = Recorder(
        f"{args.output}_quick" if args.quick else args.output,
        {
            "runs": [f"{r}:{s or 'default'}" for r, s in specs],
            "reference": str(args.reference),
            "showers": len(ref),
            "batch_size": args.batch_size,
        },
    )
    folder = evaluation_folder(args.output)
    out = RESULTS_DIR / (f"{folder}_quick" if args.quick else folder)
    candidates: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for run, steps in specs:
            model = load_model(run)
            k = steps or model.default_steps
            name = f"{model.label}, {k} step{'s' if k > 1 else ''}"
            name += f" ({Path(run).name})" if name in candidates or name in earlier else ""
            start = time.perf_counter()
            showers = model.sample(ref.incident_energies, steps=k, seed=11, batch_size=args.batch_size)
            seconds = time.perf_counter() - start
            log(f"{name}: generated {len(ref)} showers in {seconds:.0f} s")
            meta = replace(ref.meta, generator=f"caloforge {model.label}", seed=11)
            files.append(write_showers(Path(tmp) / f"{len(files)}.h5", replace(ref, showers=showers, meta=meta)))
            log_csv = Path(run) / "log.csv"
            candidates[name] = {
                "run": run,
                "sampling_steps": k,
                "distilled": model.distilled,
                "generate_s": round(seconds, 1),
                "ms_per_shower_generation": round(seconds / len(ref) * 1e3, 2),
                "mean_esum_ratio": float(showers.sum(1).mean() / ref.showers.sum(1).mean()),
                "training_log": list(csv.DictReader(log_csv.open())) if log_csv.exists() else [],
            }
        reference = write_showers(Path(tmp) / "geant4.h5", ref)
        shutil.rmtree(out / "report", ignore_errors=True)
        metrics = evaluate_files(
            reference, files, out / "report", names=list(candidates), seed=1, progress=lambda s: log(f"  {s}")
        )
    for name, c in candidates.items():
        e = metrics["candidates"][name]
        c |= {
            "auc_cells": e["classifier_low"]["auc"],
            "auc_high_level": e["classifier_high"]["auc"],
            "sp_esum_over_einc": e["histograms"]["esum_over_einc"]["separation_power"],
            "separation_power": {
                k: h["separation_power"] if "separation_power" in h else h["separation_power_median"]
                for k, h in e["histograms"].items()
            },  # per-layer features: the median over layers
            "fpd": e["fpd"],
            "fpd_noise_floor": e["fpd_noise_floor"],
            "kpd": e["kpd"],
            "kpd_noise_floor": e["kpd_noise_floor"],
            "per_energy_bin": e["per_energy_bin"],
            "targets": TARGETS,
        }
    candidates = earlier | candidates
    full = next((c for c in candidates.values() if not c["distilled"]), None)
    for c in candidates.values():
        if c["distilled"] and full is not None:
            c["auc_cells_gap_to_full_sampler"] = round(c["auc_cells"] - full["auc_cells"], 4)
    log(f"wrote {rec.write({'candidates': candidates})}")


def _earlier_full_sampler(spec: str, reference: Path, showers: int) -> dict[str, dict]:
    """{name: figures} of the full-sampler candidate of an earlier result on the same reference showers."""
    file, _, run = spec.partition(":")
    path = Path(file) if Path(file).exists() else RESULTS_DIR / file
    result = json.loads(path.read_text())
    settings = result["settings"]
    if (settings["reference"], settings["showers"]) != (str(reference), showers):
        raise SystemExit(f"{path}: judged {settings['showers']} showers of {settings['reference']}, not {showers} of "
                         f"{reference}")  # fmt: skip
    for name, c in result["figures"]["candidates"].items():
        if not c["distilled"] and (not run or c["run"] == run):
            where = path.resolve().relative_to(RESULTS_DIR) if path.resolve().is_relative_to(RESULTS_DIR) else path
            return {name: c | {"from_results": str(where)}}
    raise SystemExit(f"{path}: no full-sampler candidate{f' of {run}' if run else ''}")


if __name__ == "__main__":
    main()
