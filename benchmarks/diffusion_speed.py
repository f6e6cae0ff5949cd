"""Milliseconds per shower of the diffusion model against Geant4, both at 50 GeV on par04-siw, in one run.

    python benchmarks/diffusion_speed.py --run runs/par04-siw-diffusion --run runs/par04-siw-diffusion-distilled
    python benchmarks/diffusion_speed.py --run par04-siw-diffusion --quick     # a built-in model name

Each model samples at batch sizes 1, 100 and 1000 (10 000 with --large, one network evaluation only): a full
sampler at its default steps, 4 and 1 (one network evaluation, the cost of a 1-step generator), a
distilled generator at 1, 2 and 4 steps. Geant4 (one worker) simulates the same energy in the same
process run. Writes benchmarks/results/diffusion_speed.json.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from _common import Recorder, log

from caloforge.fullsim import simulate
from caloforge.geometry import get_geometry
from caloforge.models.generate import load_model


def _ms_per_shower(model, batch: int, steps: int, repeats: int) -> float:
    energy = np.full(batch, 50_000.0)
    model.sample(energy[: min(batch, 8)], steps=steps, seed=0)  # warm-up
    start = time.perf_counter()
    for r in range(repeats):
        model.sample(energy, steps=steps, seed=r + 1, batch_size=batch)
    return (time.perf_counter() - start) / (repeats * batch) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="append", help="run folder or built-in name, repeatable")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--large", action="store_true", help="also batch 10 000 (1 step)")
    args = parser.parse_args()
    runs = args.run or ["runs/par04-siw-diffusion"]
    models = {run: load_model(run) for run in runs}
    device = str(next(next(iter(models.values())).denoiser.parameters()).device)
    batches = [1, 100] if args.quick else [1, 100, 1000] + ([10_000] if args.large else [])
    rec = Recorder(
        "diffusion_speed_quick" if args.quick else "diffusion_speed",
        {"runs": runs, "batches": batches, "device": device, "torch_threads": torch.get_num_threads()},
    )
    table = {}
    for run, model in models.items():
        kind = "distilled" if model.distilled else "full"
        for s in sorted({1, 2, 4} if model.distilled else {model.default_steps, 4, 1}):
            for b in batches:
                if b > 1000 and s > 1:
                    continue  # batch 10 000: one network evaluation only (minutes per step count on a CPU)
                key = f"{kind}_steps{s}_batch{b}"
                table[key] = round(_ms_per_shower(model, b, s, 5 if b == 1 else 1), 3)
                log(f"{run}: {key}: {table[key]} ms/shower")
    calo = get_geometry("par04-siw")
    n_g4 = 3 if args.quick else 12
    simulate(calo, n=2, energy_gev=50.0, seed=1, workers=1)
    start = time.perf_counter()
    simulate(calo, n=n_g4, energy_gev=50.0, seed=2, workers=1)
    g4_ms = (time.perf_counter() - start) / n_g4 * 1e3
    log(f"Geant4: {g4_ms:.0f} ms/shower")
    figures = {
        "ms_per_shower": table,
        "geant4_ms_per_shower_one_worker": round(g4_ms, 1),
        "speedup_over_geant4": {k: round(g4_ms / v, 1) for k, v in table.items()},
        "energy_gev": 50,
        "parameters": {run: sum(p.numel() for p in m.denoiser.parameters()) for run, m in models.items()},
    }
    log(f"wrote {rec.write(figures)}")


if __name__ == "__main__":
    main()
