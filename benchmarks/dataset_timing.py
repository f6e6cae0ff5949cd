"""Time one standard data set end to end (calibration, workers, file writing), as `caloforge simulate` does.

    python benchmarks/dataset_timing.py                     # par04-siw e- 1-100 GeV, 10k showers, seed 2, -j 2
    python benchmarks/dataset_timing.py --geometry odd-like -n 2000 --seed 32 --quick

Writes benchmarks/results/dataset_timing.json (``--quick``: 200 showers, dataset_timing_quick.json): wall
time, showers/s, CPU time of the workers, and the file size. The output file goes to data/ (gitignored).
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

from _common import Recorder

from caloforge.data import summarize_shower_file
from caloforge.fullsim import simulate_to_file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--geometry", default="par04-siw")
    parser.add_argument("--particle", default="e-")
    parser.add_argument("-n", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("-j", "--workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="200 showers, results to *_quick.json")
    args = parser.parse_args()
    n = 200 if args.quick else args.n
    out = Path("data") / args.geometry / f"{args.particle}_normal_timing_{n}.h5"
    out.parent.mkdir(parents=True, exist_ok=True)
    settings = {"geometry": args.geometry, "particle": args.particle, "energy_gev": [1, 100], "showers": n,
                "seed": args.seed, "workers": args.workers, "output": str(out)}  # fmt: skip
    rec = Recorder("dataset_timing_quick" if args.quick else "dataset_timing", settings)
    start = time.perf_counter()
    simulate_to_file(out, args.geometry, n=n, particle=args.particle, energy_gev=(1.0, 100.0), seed=args.seed,
                     workers=args.workers, overwrite=True, progress=True)  # fmt: skip
    wall = time.perf_counter() - start
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    summary = summarize_shower_file(out)
    rec.write(
        {
            "wall_s": wall,
            "showers_per_s": n / wall,
            "worker_cpu_s": children.ru_utime + children.ru_stime,
            "worker_cpu_ms_per_shower": 1e3 * (children.ru_utime + children.ru_stime) / n,
            "file_mb": out.stat().st_size / 2**20,
            "mean_esum_over_einc": summary["mean_esum_over_einc"],
            "sampling_fraction": summary["sampling_fraction"],
        }
    )
    print(f"{n} showers in {wall:.0f} s ({n / wall:.2f} showers/s), file {out.stat().st_size / 2**20:.0f} MB")


if __name__ == "__main__":
    main()
