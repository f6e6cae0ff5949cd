"""Speed of caloforge's Geant4 reference simulation (calzone backend).

Measures, in one process and in CPU time (``time.process_time``, i.e. per core):

1. per built-in geometry: the set-up time (session construction + first run, which builds the
   physics tables lazily) and the CPU ms per shower of e- at 1, 10 and 100 GeV, normal incidence;
2. per geometry at 10 GeV: caloforge's recording + scoring overhead, the ratio of
   ``Geant4Session.run_showers`` ("scored": detailed deposits of the active layers, binned into the
   mesh) to the same Simulation with ``sim.sample_deposits = None`` ("bare": no recording), both
   with the same random seeds (the same showers); the scored time split into Geant4 (``_run``),
   binning (``bin_deposits``) and the rest (particle gun, concatenation of deposit tables);
3. throughput with worker processes: wall time of ``caloforge.fullsim.simulate("par04-siw", ...)``
   with 1 and 2 workers, showers/s and the speed-up.

Run ``python benchmarks/fullsim_speed.py`` (a few minutes on a quiet machine) or ``--quick``
(seconds). Results: ``benchmarks/results/fullsim_speed.json`` (``fullsim_speed_quick.json``).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
from _common import Recorder, log

from caloforge.fullsim import backend
from caloforge.fullsim.backend import Geant4Session, PhysicsConfig
from caloforge.fullsim.g4data import configure_environment, ensure_data
from caloforge.geometry import catalogue_names, get_geometry, mesh_for

ENERGIES_GEV = (1.0, 10.0, 100.0)
# full: a few CPU seconds per point on par04-siw (more on odd-like, the slowest)
FULL = {"showers": (150, 25, 4), "overhead_showers": 10, "overhead_repeats": 3, "scaling_showers": 80}
QUICK = {"showers": (3, 2, 1), "overhead_showers": 2, "overhead_repeats": 1, "scaling_showers": 6}
MAX_GEV_PER_CALL = 200.0  # as the runner: bounded memory for detailed deposits
OVERHEAD_TARGET = 1.3
# mean energy of log-uniform 1-100 GeV: (100 - 1) / ln(100)
MEAN_LOGUNIFORM_GEV = 99.0 / math.log(100.0)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="seconds-long smoke run (3/2/1 showers)")
    p.add_argument("--geometries", nargs="+", default=None, help="subset of the catalogue (default: all)")
    p.add_argument("--workers", nargs="+", type=int, default=[1, 2], help="worker counts for the scaling test")
    p.add_argument("--showers", nargs=3, type=int, default=None, help="showers at 1, 10, 100 GeV (default 150 25 4)")
    p.add_argument("--scaling-showers", type=int, default=None, help="showers per scaling run (default 80; quick 6)")
    p.add_argument("--no-scaling", action="store_true", help="skip the worker scaling test")
    return p.parse_args()


def gun(n: int, energy_gev: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Energies (MeV), theta, phi of n particles at normal incidence on the barrel."""
    return np.full(n, energy_gev * 1e3), np.full(n, math.pi / 2), np.zeros(n)


def batches(n: int, energy_gev: float) -> list[int]:
    """Showers per Geant4 call, at most MAX_GEV_PER_CALL each."""
    per_call = max(1, int(MAX_GEV_PER_CALL // energy_gev))
    return [min(per_call, n - i) for i in range(0, n, per_call)]


def run_scored(session: Geant4Session, n: int, energy_gev: float, seed: int) -> None:
    for k, size in enumerate(batches(n, energy_gev)):
        session.run_showers("e-", *gun(size, energy_gev), seed + k)


def run_bare(session: Geant4Session, n: int, energy_gev: float, seed: int) -> None:
    """The same Geant4 run with nothing recorded (``sample_deposits = None``)."""
    sim, mode = session.sim, session.sim.sample_deposits
    sim.sample_deposits = None
    try:
        for k, size in enumerate(batches(n, energy_gev)):
            sim.random = session._calzone.Random(seed + k)
            particles, _, _ = session._particles("e-", *gun(size, energy_gev))
            sim.run(particles)
    finally:
        sim.sample_deposits = mode


def cpu_seconds(fn: Any, *args: Any) -> tuple[float, float]:
    """(CPU s, wall s) of one call."""
    c0, w0 = time.process_time(), time.perf_counter()
    fn(*args)
    return time.process_time() - c0, time.perf_counter() - w0


@contextlib.contextmanager
def timed_parts(session: Geant4Session) -> Iterator[dict[str, float]]:
    """CPU seconds spent inside ``session._run`` (Geant4) and ``bin_deposits`` while active."""
    spent = {"geant4": 0.0, "binning": 0.0}
    run, binning = session._run, backend.bin_deposits

    def timed(fn: Any, key: str) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t0 = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[key] += time.process_time() - t0

        return wrapper

    session._run = timed(run, "geant4")
    backend.bin_deposits = timed(binning, "binning")
    try:
        yield spent
    finally:
        del session._run  # back to the class method
        backend.bin_deposits = binning


def set_up(name: str) -> tuple[Geant4Session, dict[str, float]]:
    """Build the session and warm it up (first runs build the physics tables), timing both."""
    geometry = get_geometry(name)
    c0, w0 = time.process_time(), time.perf_counter()
    session = Geant4Session(geometry, mesh_for(geometry), PhysicsConfig())
    construct = time.process_time() - c0
    run_scored(session, 1, 1.0, seed=999)
    run_bare(session, 1, 1.0, seed=999)
    init = {
        "construct_cpu_s": construct,
        "warmup_cpu_s": time.process_time() - c0 - construct,
        "init_cpu_s": time.process_time() - c0,
        "init_wall_s": time.perf_counter() - w0,
    }
    return session, init


def speed_points(session: Geant4Session, showers: tuple[int, ...]) -> list[dict[str, float]]:
    """CPU ms per shower (and per GeV) of e- at each energy of ENERGIES_GEV."""
    points = []
    for i, (energy, n) in enumerate(zip(ENERGIES_GEV, showers, strict=True)):
        cpu, wall = cpu_seconds(run_scored, session, n, energy, 1000 * (i + 1))
        points.append(
            {
                "energy_gev": energy,
                "showers": n,
                "cpu_ms_per_shower": 1e3 * cpu / n,
                "cpu_ms_per_gev": 1e3 * cpu / (n * energy),
                "wall_ms_per_shower": 1e3 * wall / n,
            }
        )
    return points


def overhead(session: Geant4Session, n: int, repeats: int, energy_gev: float = 10.0) -> dict[str, float]:
    """Scored / bare CPU time at one energy, interleaved repeats with identical seeds."""
    bare = scored = 0.0
    parts = {"geant4": 0.0, "binning": 0.0}
    for r in range(repeats):
        seed = 5000 + 100 * r
        bare += cpu_seconds(run_bare, session, n, energy_gev, seed)[0]
        with timed_parts(session) as spent:
            scored += cpu_seconds(run_scored, session, n, energy_gev, seed)[0]
        for key in parts:
            parts[key] += spent[key]
    total = n * repeats
    other = scored - parts["geant4"] - parts["binning"]
    return {
        "energy_gev": energy_gev,
        "showers": total,
        "bare_cpu_ms_per_shower": 1e3 * bare / total,
        "scored_cpu_ms_per_shower": 1e3 * scored / total,
        "ratio_scored_over_bare": scored / bare,
        "meets_target": scored / bare <= OVERHEAD_TARGET,
        "geant4_cpu_ms_per_shower": 1e3 * parts["geant4"] / total,
        "binning_cpu_ms_per_shower": 1e3 * parts["binning"] / total,
        "other_cpu_ms_per_shower": 1e3 * other / total,
        "recording_share_of_geant4": 1.0 - bare / parts["geant4"] if parts["geant4"] else math.nan,
    }


def loguniform_estimate(points: list[dict[str, float]]) -> dict[str, float]:
    """Mean CPU ms per shower for E log-uniform in 1-100 GeV, two ways (for dataset durations)."""
    log_e = np.log([p["energy_gev"] for p in points])
    log_t = np.log([p["cpu_ms_per_shower"] for p in points])
    grid = np.linspace(math.log(1.0), math.log(100.0), 401)
    interpolated = float(np.exp(np.interp(grid, log_e, log_t)).mean())
    at_10 = next(p for p in points if p["energy_gev"] == 10.0)["cpu_ms_per_gev"]
    return {
        "interpolated_cpu_ms_per_shower": interpolated,
        "ms_per_gev_at_10gev_times_mean_energy": at_10 * MEAN_LOGUNIFORM_GEV,
    }


def benchmark_geometry(name: str, settings: dict[str, Any]) -> dict[str, Any]:
    log(f"[{name}] set-up")
    session, init = set_up(name)
    log(f"[{name}] speed points")
    points = speed_points(session, settings["showers"])
    log(f"[{name}] overhead")
    over = overhead(session, settings["overhead_showers"], settings["overhead_repeats"])
    return {"init": init, "points": points, "loguniform_1_100": loguniform_estimate(points), "overhead": over}


def scaling(n: int, workers: list[int]) -> dict[str, Any]:
    """Wall time of ``simulate("par04-siw", n, 10 GeV)`` for each worker count."""
    from caloforge.fullsim import sampling_fraction, simulate

    t0 = time.perf_counter()
    sampling_fraction("par04-siw", workers=max(workers))  # cached after the first time
    calibration = time.perf_counter() - t0
    chunk_size = max(1, n // 8)  # several chunks per worker, or extra workers idle
    runs = []
    for w in workers:
        log(f"[scaling] {n} showers, {w} worker(s)")
        t0 = time.perf_counter()
        data = simulate("par04-siw", n=n, energy_gev=10.0, workers=w, seed=1, chunk_size=chunk_size)
        wall = time.perf_counter() - t0
        runs.append({"workers": w, "showers": len(data), "wall_s": wall, "showers_per_s": len(data) / wall})
    base = runs[0]["wall_s"]
    for r in runs:
        r["speedup_vs_first"] = base / r["wall_s"]
    return {
        "geometry": "par04-siw",
        "energy_gev": 10.0,
        "chunk_size": chunk_size,
        "calibration_wall_s": calibration,
        "note": "wall time includes starting the workers (Geant4 set-up in each)",
        "runs": runs,
    }


def print_summary(per_geometry: dict[str, Any], scale: dict[str, Any] | None) -> None:
    print(
        f"{'geometry':14s} {'init s':>7s} {'1 GeV':>8s} {'10 GeV':>8s} {'100 GeV':>9s}  ms/shower (CPU)  "
        f"{'scored/bare':>11s} {'g4 ms':>7s} {'bin ms':>7s}"
    )
    for name, r in per_geometry.items():
        t = [p["cpu_ms_per_shower"] for p in r["points"]]
        o = r["overhead"]
        print(
            f"{name:14s} {r['init']['init_cpu_s']:7.2f} {t[0]:8.1f} {t[1]:8.1f} {t[2]:9.1f}  {'':15s}  "
            f"{o['ratio_scored_over_bare']:11.3f} {o['geant4_cpu_ms_per_shower']:7.1f} "
            f"{o['binning_cpu_ms_per_shower']:7.2f}"
        )
    if scale:
        for r in scale["runs"]:
            print(
                f"workers={r['workers']}: {r['wall_s']:.1f} s wall, {r['showers_per_s']:.2f} showers/s, "
                f"speed-up {r['speedup_vs_first']:.2f}"
            )


def main() -> None:
    args = parse_args()
    configure_environment(ensure_data())  # before calzone is imported (first Geant4Session)
    settings: dict[str, Any] = dict(QUICK if args.quick else FULL)
    if args.showers:
        settings["showers"] = tuple(args.showers)
    if args.scaling_showers:
        settings["scaling_showers"] = args.scaling_showers
    settings.update(
        quick=args.quick,
        energies_gev=ENERGIES_GEV,
        particle="e-",
        incidence="normal (theta = pi/2, phi = 0)",
        physics=PhysicsConfig().describe(),
        mesh="ds2",
        workers=args.workers,
        timing="CPU time (time.process_time) of this single process, i.e. per core",
    )
    names = args.geometries or catalogue_names()
    rec = Recorder("fullsim_speed_quick" if args.quick else "fullsim_speed", settings)
    per_geometry = {name: benchmark_geometry(name, settings) for name in names}
    scale = None if args.no_scaling else scaling(settings["scaling_showers"], args.workers)
    figures = {
        "geometries": per_geometry,
        "note_init": "physics tables are built once per process: the first geometry's warm-up includes them",
        "overhead_target": OVERHEAD_TARGET,
        "scaling": scale,
    }
    path = rec.write(figures)
    print_summary(per_geometry, scale)
    log(f"wrote {path}")


if __name__ == "__main__":
    main()
