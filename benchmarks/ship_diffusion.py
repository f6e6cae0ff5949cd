"""Put a trained diffusion run into the package as a built-in model, with its model card.

    python benchmarks/ship_diffusion.py --run runs/par04-siw-diffusion \
        --evaluation benchmarks/results/diffusion_evaluation.json --speed benchmarks/results/diffusion_speed.json

Writes caloforge/models/pretrained/NAME/model.safetensors (the EMA weights and the shower transform
only: no raw weights, no optimizer state) and MODEL_CARD.md (data, training budget, hardware,
preprocessing, every validation figure, limits) from the run's checkpoint and the benchmark results.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from _common import evaluation_folder

from caloforge.errors import CaloforgeError
from caloforge.models.checkpoint import load_tensors, save_tensors
from caloforge.models.diffusion.model import MODEL_FILE
from caloforge.models.diffusion.preprocessing import ring_floor
from caloforge.models.generate import builtin_model_path

LIMIT_MB = 20.0


def _figures_table(evaluation: dict) -> str:
    rows = []
    for name, e in evaluation["figures"]["candidates"].items():
        t = e["targets"]
        rows.append(
            f"| {name} | {e['sampling_steps']} | {e['auc_cells']:.3f} (<= {t['auc_cells']}) | "
            f"{e['auc_high_level']:.3f} (<= {t['auc_high_level']}) | "
            f"{e['sp_esum_over_einc']:.4f} (<= {t['sp_esum_over_einc']}) | {e['mean_esum_ratio']:.4f} | "
            f"{e['fpd']['value']:.3f} (floor {e['fpd_noise_floor']['value']:.3f}) | "
            f"{e['ms_per_shower_generation']:.1f} |"
        )
    head = (
        "| generator | steps | AUC cells | AUC high-level | SP E_sum/E_inc | mean E_sum ratio | FPD | ms/shower |\n"
        "|---|---|---|---|---|---|---|---|"
    )
    return "\n".join([head, *rows])


def _energy_table(evaluation: dict) -> str:
    lines = ["| generator | E bin (GeV) | showers | SP E_sum/E_inc | mean E_sum ratio |", "|---|---|---|---|---|"]
    for name, e in evaluation["figures"]["candidates"].items():
        for b in e["per_energy_bin"]:
            lo, hi = b["energy_gev"]
            lines.append(
                f"| {name} | {lo:.3g}-{hi:.3g} | {b['n_reference']} | "
                f"{b['separation_power']['esum_over_einc']:.4f} | {b['esum_over_einc_mean_ratio']:.4f} |"
            )
    return "\n".join(lines)


def _gaps(evaluation: dict) -> str:
    """The distillation target: each distilled generator's cell-AUC gap to the evaluation's full sampler."""
    candidates = evaluation["figures"]["candidates"].values()
    gaps = [f"{c['auc_cells_gap_to_full_sampler']:.4f} at {c['sampling_steps']} step{'s' * (c['sampling_steps'] > 1)}"
            for c in candidates if "auc_cells_gap_to_full_sampler" in c]  # fmt: skip
    if not gaps:
        return ""
    target = next(iter(candidates))["targets"]["distilled_auc_gap"]
    return (
        f"\n\nCell-AUC gap of the distilled generator to the full sampler of the first row: {', '.join(gaps)} "
        f"(target <= {target})."
    )


def _preprocessing(cfg: dict, tensors: dict) -> str:
    L, A, R = cfg["mesh"]
    ring_eps = float(tensors.get("transform.ring_eps", [1e-7])[0])
    scale = float(tensors.get("transform.cell_scale", [0.0])[0])
    if cfg.get("ring_fractions", False):
        factors = (f"x_lar = E u f_l g_lr h_lar: u = E_sum / E (one channel), f_l = E_l / E_sum ({L} layer fractions), "
                   f"g_lr = E_lr / E_l ({R} ring fractions per layer), h_lar = x_lar / E_lr ({A} angular fractions "
                   "per ring)")  # fmt: skip
    else:
        factors = (f"x_lk = E u f_l c_lk: u = E_sum / E (one channel), f_l = E_l / E_sum ({L} layer fractions), "
                   f"c_lk = x_lk / E_l ({A * R} cell fractions per layer)")  # fmt: skip
    offsets = f"ln(y + 1e-7) (ln(y + {ring_eps:g}) for the ring fractions)" if ring_eps != 1e-7 else "ln(y + 1e-7)"
    cells = ""
    if cfg.get("hit_cells", False):
        cells = (f" Each cell has two channels: whether it was hit (+1 or -1, unstandardised) and its energy, "
                 f"ln(x / s + 1e-4) with s = {scale:.3g} MeV (the 10 % quantile of the non-empty training cells, near "
                 "one MIP) where hit and 0 where not; the inverse shares each ring's energy among the cells whose hit "
                 "channel is positive, in proportion to x / s.")  # fmt: skip
    elif scale > 0:
        cells = (f" The cells themselves enter in absolute units, ln(x / s + 1e-4) with s = {scale:.3g} MeV (the 10 % "
                 "quantile of the non-empty training cells, near one MIP), so the gap between empty cells and cells "
                 "crossed by a charged particle sits at one value in every cell and shower; the inverse uses them as "
                 "weights within their ring and zeroes those below 1e-4 s.")  # fmt: skip
    standardised = "standardised per channel on the training set"
    if "transform.spread_window" in tensors:
        standardised = ("standardised per channel with a mean and spread that follow the incident energy (the mean a "
                        "polynomial of degree 4 in ln E fitted to the training set, the spread the rms residual in a "
                        "Gaussian window of ln E, floored at 0.1 of the channel's overall one; tabulated on 16 "
                        "energies)")  # fmt: skip
    elif "transform.log_energies" in tensors:  # the first format-5 tables
        standardised = ("standardised per channel with a mean and spread that follow the incident energy (polynomials "
                        "of degree 4 in ln E fitted to the training set, tabulated on 16 energies; the spread floored "
                        "at a quarter of the channel's overall one)")  # fmt: skip
    zero = "1e-9"
    if cfg.get("ring_fractions", False) and ring_floor(ring_eps) > 1e-9:
        zero += f" (ring fractions below {ring_floor(ring_eps):.2g})"
    return (f"A shower is factorised as {factors}. Each number y becomes {offsets}, {standardised}.{cells} "
            f"The inverse caps each channel at its training maximum, sets fractions below {zero} to 0 and "
            "renormalises each group of fractions, so a shower deposits exactly E u.")  # fmt: skip


def _budget(run: Path) -> tuple[str, float | None, dict]:
    """A trained run's steps and time, the seconds it trained (None if not stored) and its metadata."""
    try:
        _, state = load_tensors(run / "state.safetensors")
        seconds = state["history"][-1]["elapsed_s"]
        budget = f"{state['step']} steps of {state['settings']['batch_size']}, {seconds / 60:.0f} min"
        return budget, seconds, load_tensors(run / MODEL_FILE)[1]
    except (CaloforgeError, KeyError, IndexError):
        pass
    try:  # weights without their training state (a built-in model copied back into a run folder)
        meta = load_tensors(run / MODEL_FILE)[1]
        return f"{meta['step']} steps; its training time is not stored with the weights", None, meta
    except (CaloforgeError, KeyError):  # the card still says where it started when that run is gone
        return "budget not on this machine", None, {}


def _warm_start(meta: dict) -> tuple[str, float | None]:
    """Where the run's weights started (from scratch, a teacher, or a chain of trained runs with their
    budgets), and the seconds those earlier runs trained (None where a run's time is not known here)."""
    links, seconds = [], 0.0
    while ("init" in meta or "teacher" in meta) and len(links) < 10:
        if "init" in meta:  # with a teacher as well: a distillation continued from an earlier student of it
            run, how = Path(meta["init"]["run"]), "continued from" if "teacher" in meta else "warm start from"
        else:
            run, how = Path(meta["teacher"]), "distilled from"
        budget, run_seconds, meta = _budget(run)
        seconds = None if seconds is None or run_seconds is None else seconds + run_seconds
        links.append(f"{how} `{run}` ({budget})")
    if not links:
        return "from scratch", 0.0
    return ", itself ".join(links) + "; then trained as below", seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("runs/par04-siw-diffusion"))
    parser.add_argument("--name", default="par04-siw-diffusion")
    parser.add_argument("--evaluation", type=Path, default=Path("benchmarks/results/diffusion_evaluation.json"))
    parser.add_argument("--speed", type=Path, default=Path("benchmarks/results/diffusion_speed.json"))
    parser.add_argument("--hardware", required=True, help="what the run trained on, e.g. '2 cores of an AMD EPYC'")
    parser.add_argument("--note", default="", help="one more line for the card's training section")
    parser.add_argument("--steps", type=int, help="its default sampling steps, one the evaluation judged (default: "
                        "the first judged)")  # fmt: skip
    args = parser.parse_args()
    tensors, meta = load_tensors(args.run / MODEL_FILE)
    _, state = load_tensors(args.run / "state.safetensors")
    evaluation = json.loads(args.evaluation.read_text())
    judged = [c for c in evaluation["figures"]["candidates"].values() if Path(c["run"]) == args.run]
    if not judged:
        raise SystemExit(f"{args.evaluation} has no figures for {args.run}: run diffusion_evaluation.py on it first")
    if args.steps is not None:  # the default the card's verdict judges comes first
        judged.sort(key=lambda c: c["sampling_steps"] != args.steps)
        if judged[0]["sampling_steps"] != args.steps:
            raise SystemExit(f"{args.evaluation} has no figures for {args.run} at {args.steps} steps")
    shipped = {k: v for k, v in tensors.items() if not k.startswith("model.")}
    distilled = meta.get("family_kind") == "consistency"
    out = builtin_model_path(args.name)
    out.mkdir(parents=True, exist_ok=True)
    path = save_tensors(
        out / MODEL_FILE,
        shipped,
        meta
        | {
            "label": "diffusion (distilled, built-in)" if distilled else "diffusion (built-in)",
            "built_in": args.name,
            "default_steps": judged[0]["sampling_steps"],
        },
    )
    path.chmod(0o644)  # package data: readable by everyone
    size_mb = path.stat().st_size / 2**20
    if size_mb > LIMIT_MB:
        path.unlink()
        raise SystemExit(f"{args.name}: {size_mb:.1f} MB is above the {LIMIT_MB} MB a built-in model may take")
    speed = json.loads(args.speed.read_text()) if args.speed.exists() else None
    settings, cfg = state["settings"], meta["config"]
    params = sum(v.numel() for k, v in shipped.items() if k.startswith("ema."))
    train = meta["data"]
    history = state["history"]
    full = judged[0]
    targets = {k: v for k, v in full["targets"].items() if k in full}
    missed = [f"{k} {full[k]:.3f} > {v}" for k, v in targets.items() if full[k] > v]
    start, earlier_s = _warm_start(meta)
    if earlier_s is None:  # a run of the chain left no time behind: count this run's, and say so
        trained = (f"{history[-1]['elapsed_s'] / 3600:.1f} h on {args.hardware} after earlier runs whose time is "
                   "given under Training")  # fmt: skip
    else:
        trained = f"{(history[-1]['elapsed_s'] + earlier_s) / 3600:.1f} h in all on {args.hardware}"
    verdict = (
        f"Measured against {evaluation['settings']['showers']} held-out Geant4 showers (below), this model "
        f"meets caloforge's accuracy targets for physics use ({', '.join(f'{k} <= {v}' for k, v in targets.items())})."
        if not missed
        else f"Measured against {evaluation['settings']['showers']} held-out Geant4 showers (below), this model "
        f"does **not** reach caloforge's accuracy targets for physics use ({'; '.join(missed)}): it was trained "
        f"for {trained}. It ships so that `caloforge generate` and `caloforge demo` work without training, and "
        "as a starting point; train a larger model on a GPU (`benchmarks/diffusion_training.sh`) for physics."
    )
    note = f"\n- {args.note}" if args.note else ""
    report = (args.evaluation.parent / evaluation_folder(args.evaluation.stem) / "report").as_posix()
    what = ("A consistency-distilled 1-4-step generator of a transformer diffusion model (EDM)"
            if distilled else "A transformer diffusion model (EDM)")  # fmt: skip
    card = f"""# {args.name}: a built-in diffusion model of caloforge

{what} for e- showers in `{meta["geometry"]}` on the {" x ".join(map(str, cfg["mesh"]))}
scoring mesh, conditioned on the incident energy ({cfg["energy_range_gev"][0]:.3g}-{cfg["energy_range_gev"][1]:.3g} GeV,
clamped with a warning outside) at normal incidence. Use it with

    caloforge generate {args.name} -E 1:100 -n 1000 -o showers.h5 [--steps K]

or `caloforge.models.generate.load_model("{args.name}")`. {size_mb:.1f} MB, {params / 1e6:.2f}M parameters
(patch {cfg["patch"]}, dim {cfg["dim"]}, depth {cfg["depth"]}, heads {cfg["heads"]}).

## Read this first

{verdict}

## Preprocessing (invertible; caloforge/models/diffusion/preprocessing.py)

{_preprocessing(cfg, tensors)}

## Training

- Data: {", ".join(f"{d['file']} ({d['showers']} showers, seed {d['seed']})" for d in train)}; Geant4
  reference showers from `caloforge simulate` (see benchmarks/make_datasets.sh).
- Start: {start}.
- Steps: {state["step"]} of batch {settings["batch_size"]}, Adam lr {settings["lr"]} (cosine, warm-up
  {settings["warmup_steps"]}), EMA {settings["ema_decay"]}, seed {settings["seed"]}; final loss
  {history[-1]["loss"]:.4f}; {history[-1]["elapsed_s"] / 60:.0f} min on {args.hardware}.
- Command: `benchmarks/diffusion_training.sh` (the settings above).{note}

## Validation (benchmarks/diffusion_evaluation.py: {args.evaluation.name}, report in {report}/)

{_figures_table(evaluation)}{_gaps(evaluation)}

Per energy bin:

{_energy_table(evaluation)}
"""
    if speed is not None:
        f = speed["figures"]
        card += (
            f"\n## Speed (benchmarks/diffusion_speed.py, {speed['settings']['device']}, 50 GeV)\n\n"
            f"Geant4, one worker, same run: {f['geant4_ms_per_shower_one_worker']} ms per shower.\n\n"
            "| sampler | ms per shower | speed-up over Geant4 |\n|---|---|---|\n"
            + "\n".join(f"| {k} | {v} | {f['speedup_over_geant4'][k]}x |" for k, v in f["ms_per_shower"].items())
            + "\n"
        )
    (out / "MODEL_CARD.md").write_text(card, encoding="utf-8")
    print(f"wrote {path} ({size_mb:.1f} MB) and {out / 'MODEL_CARD.md'}")


if __name__ == "__main__":
    main()
