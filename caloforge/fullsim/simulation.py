"""Full simulation for users: validated options, progress, files with resume, arrays for notebooks."""

from __future__ import annotations

import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict, Unpack

import numpy as np

from caloforge.data.showerfile import ShowerData, ShowerMeta, ShowerWriter, part_path, read_meta
from caloforge.errors import SimulationError, suggest
from caloforge.fullsim.backend import EM_MODELS, PARTICLES, PhysicsConfig
from caloforge.fullsim.runner import ChunkResult, RunSpec, run_chunks
from caloforge.geometry.catalogue import get_geometry
from caloforge.geometry.layout import Calorimeter
from caloforge.geometry.mesh import mesh_for

__all__ = ["SimulationOptions", "SimulationSettings", "simulate", "simulate_to_file"]

_MAX_ENERGY_GEV = 1000.0
_HADRONS = {"pi-"}


def _range(value: float | tuple[float, float] | None, default: tuple[float, float], what: str) -> tuple[float, float]:
    if value is None:
        return default
    lo, hi = (value, value) if isinstance(value, int | float) else (float(value[0]), float(value[1]))
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi < lo:
        msg = f"{what}: bad range {lo}:{hi} (need finite a <= b)"
        raise SimulationError(msg)
    return float(lo), float(hi)


class SimulationOptions(TypedDict, total=False):
    """The physics options shared by :func:`simulate` and :func:`simulate_to_file`.

    Attributes:
        particle: "e-", "e+", "gamma" (default "e-"); "pi-" with official Geant4 data.
        energy_gev: a number (fixed) or (a, b), sampled log-uniformly; default (1, 100).
        theta, phi: radians, a number or (a, b) sampled uniformly; default pi/2 and 0 (normal incidence).
        seed: random seed (default 0); the same seed gives the same showers with any worker count.
        em_model: Geant4 EM constructor, "standard" (option 0, default) or "option1".."option4".
        cut_mm: production cut in mm (default 0.7).
        mesh_config: "ds2" (45 x 16 x 9, default) or "ds3" (45 x 50 x 18).
        chunk_size: showers per chunk (default 20): the unit of work, of writing and of resuming.
        force: allow energies above 1 TeV.
    """

    particle: str
    energy_gev: float | tuple[float, float]
    theta: float | tuple[float, float] | None
    phi: float | tuple[float, float] | None
    seed: int
    em_model: str
    cut_mm: float
    mesh_config: str
    chunk_size: int
    force: bool


@dataclass(frozen=True)
class SimulationSettings:
    """Validated settings of a simulation run (energies GeV, angles rad, cut mm)."""

    geometry: Calorimeter
    particle: str
    energy_gev: tuple[float, float]
    theta: tuple[float, float]
    phi: tuple[float, float]
    seed: int
    physics: PhysicsConfig
    mesh_config: str
    chunk_size: int

    @classmethod
    def build(
        cls,
        geometry: Calorimeter | str,
        *,
        particle: str = "e-",
        energy_gev: float | tuple[float, float] = (1.0, 100.0),
        theta: float | tuple[float, float] | None = None,
        phi: float | tuple[float, float] | None = None,
        seed: int = 0,
        em_model: str = "standard",
        cut_mm: float = 0.7,
        mesh_config: str = "ds2",
        chunk_size: int = 20,
        force: bool = False,
        official_data: bool = False,
    ) -> SimulationSettings:
        """Check every option and build the settings; raises :class:`SimulationError` naming the bad one."""
        geo = get_geometry(geometry)
        if particle not in PARTICLES:
            msg = f"unknown particle '{particle}'{suggest(particle, PARTICLES)} (known: {', '.join(PARTICLES)})"
            raise SimulationError(msg)
        hadronic = None
        if particle in _HADRONS:
            if not official_data:
                msg = (
                    f"{particle} needs Geant4's hadronic data sets (neutron cross sections), which caloforge's "
                    "stand-in data does not provide; set CALOFORGE_G4DATA to the official Geant4 data"
                )
                raise SimulationError(msg)
            hadronic = "FTFP_BERT"
        energies = _range(energy_gev, (1.0, 100.0), "energy")
        if energies[0] <= 0:
            msg = f"energy must be > 0 GeV, got {energies[0]:g}"
            raise SimulationError(msg)
        if energies[1] > _MAX_ENERGY_GEV and not force:
            msg = f"energy {energies[1]:g} GeV is above 1 TeV; pass --force (force=True) if you mean it"
            raise SimulationError(msg)
        th = _range(theta, (math.pi / 2, math.pi / 2), "theta")
        if th[0] <= 0 or th[1] >= math.pi:
            msg = f"theta must lie in (0, pi) to hit the barrel, got {th[0]:g}:{th[1]:g} rad"
            raise SimulationError(msg)
        if em_model not in EM_MODELS:
            msg = f"unknown EM physics '{em_model}'{suggest(em_model, EM_MODELS)} (known: {', '.join(EM_MODELS)})"
            raise SimulationError(msg)
        if em_model == "option4" and not official_data:
            msg = (
                "EM option 4 needs Geant4's Goudsmit-Saunderson multiple-scattering tables, which the stand-in "
                "data does not provide; use option 0-3 or set CALOFORGE_G4DATA to the official Geant4 data"
            )
            raise SimulationError(msg)
        if not (cut_mm > 0):
            msg = f"production cut must be > 0 mm, got {cut_mm}"
            raise SimulationError(msg)
        if chunk_size < 1:
            msg = f"chunk size must be >= 1, got {chunk_size}"
            raise SimulationError(msg)
        mesh_for(geo, mesh_config)  # validates the mesh name
        return cls(
            geo,
            particle,
            energies,
            th,
            _range(phi, (0.0, 0.0), "phi"),
            int(seed),
            PhysicsConfig(em_model, cut_mm, hadronic),
            mesh_config,
            chunk_size,
        )

    @property
    def varies_angles(self) -> bool:
        """Whether the direction varies from shower to shower (then files store the angles)."""
        return self.theta[0] != self.theta[1] or self.phi[0] != self.phi[1]

    def spec(self, sampling_fraction: float) -> RunSpec:
        """The worker-side description of the run."""
        return RunSpec(
            self.geometry.to_json(),
            self.particle,
            self.energy_gev,
            self.theta,
            self.phi,
            self.seed,
            self.physics.em_model,
            self.physics.cut_mm,
            self.physics.hadronic,
            self.mesh_config,
            self.chunk_size,
            sampling_fraction,
        )

    def meta(self, sampling_fraction: float, version: str) -> ShowerMeta:
        """File metadata for showers of these settings."""
        return ShowerMeta(
            mesh=mesh_for(self.geometry, self.mesh_config),
            geometry=self.geometry.name,
            geometry_json=self.geometry.to_json(),
            sampling_fraction=sampling_fraction,
            particle=self.particle,
            generator=f"geant4 {version} {self.physics.describe()} (caloforge calzone backend)",
            seed=self.seed,
        )


def _settings(
    geometry: Calorimeter | str, n: int, workers: int, data_dir: str | None, options: SimulationOptions
) -> SimulationSettings:
    """Validate everything a run is given before anything runs or is written."""
    settings = SimulationSettings.build(geometry, official_data=_uses_official(data_dir), **options)
    _check_workers(workers, n)
    return settings


def _check_workers(workers: int, n: int) -> None:
    if n <= 0:
        msg = f"number of showers must be > 0, got {n}"
        raise SimulationError(msg)
    if workers < 1:
        msg = f"workers must be >= 1, got {workers}"
        raise SimulationError(msg)


def _prepare(settings: SimulationSettings, workers: int, data_dir: str | None) -> tuple[str, float, str]:
    """Physics data folder, sampling fraction and Geant4 version for a run."""
    from caloforge.fullsim.calibration import sampling_fraction
    from caloforge.fullsim.g4data import ensure_data

    folder = str(ensure_data(official=data_dir))
    sf = sampling_fraction(
        settings.geometry,
        em_model=settings.physics.em_model,
        cut_mm=settings.physics.cut_mm,
        workers=workers,
        data_dir=folder,
    )
    return folder, sf.value, _geant4_version()


def _geant4_version() -> str:
    """The Geant4 version inside calzone; the import may not change this process's environment.

    (calzone sets GEANT4_DATA_DIR on import when it is unset, and that would redirect later look-ups
    of the data folder; this process never runs Geant4 itself, the workers do.)
    """
    saved = dict(os.environ)
    try:
        import calzone
    except ImportError:
        msg = "Geant4 backend not installed: pip install calzone==1.2.2"
        raise SimulationError(msg) from None
    finally:
        if os.environ != saved:
            os.environ.clear()
            os.environ.update(saved)
    return str(calzone.GEANT4_VERSION)


class _Progress:
    """A rich progress bar with showers/s and ETA, or nothing."""

    def __init__(self, enabled: bool, total: int, done: int, label: str) -> None:
        self.bar: Any = None
        if enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]} showers/s"),
                TimeRemainingColumn(),
            )
            self.bar.start()
            self.task = self.bar.add_task(label, total=total, completed=done, rate="-")
            self.t0, self.done0 = time.perf_counter(), done

    def advance(self, done: int) -> None:
        if self.bar is not None:
            rate = (done - self.done0) / max(time.perf_counter() - self.t0, 1e-9)
            self.bar.update(self.task, completed=done, rate=f"{rate:.1f}")

    def warn(self, message: str) -> None:
        if self.bar is None:
            print(f"warning: {message}", file=sys.stderr, flush=True)
        else:
            from rich.markup import escape

            self.bar.console.print(f"[yellow]warning:[/] {escape(message)}")

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _reporter(bar: _Progress, failed: list[int]) -> Callable[[int, str, bool], None]:
    """Report a dead worker on the console; remember chunks given up."""

    def report(chunk: int, message: str, retried: bool) -> None:
        if not retried:
            failed.append(chunk)
        what = "retrying it" if retried else "skipped, a new chunk takes its place"
        bar.warn(f"chunk {chunk}: {message}; worker replaced, {what}")

    return report


def _tasks(settings: SimulationSettings, start_chunk: int, have: int, n: int) -> list[tuple[int, int]]:
    tasks, chunk = [], start_chunk
    while have < n:
        k = min(settings.chunk_size, n - have)
        tasks.append((chunk, k))
        have += k
        chunk += 1
    return tasks


def simulate(
    geometry: Calorimeter | str,
    *,
    n: int,
    workers: int = 1,
    data_dir: str | None = None,
    progress: bool = False,
    **options: Unpack[SimulationOptions],
) -> ShowerData:
    """Simulate ``n`` showers with Geant4 and return them in memory (calibrated MeV on the mesh).

    Args:
        geometry: catalogue name, geometry file or :class:`Calorimeter`.
        n: number of showers.
        workers: Geant4 worker processes.
        data_dir: official Geant4 data folder (default: ``CALOFORGE_G4DATA`` or the stand-in).
        progress: show a progress bar.
        **options: see :class:`SimulationOptions` (particle, energy_gev, theta, phi, seed, ...).

    Example:
        >>> from caloforge.fullsim import simulate
        >>> showers = simulate("par04-siw", n=100, energy_gev=(1, 100), seed=1)  # doctest: +SKIP
        >>> showers.images.shape  # doctest: +SKIP
        (100, 45, 16, 9)
    """
    settings = _settings(geometry, n, workers, data_dir, options)
    folder, sf, version = _prepare(settings, workers, data_dir)
    parts: list[ChunkResult] = []
    bar = _Progress(progress, n, 0, f"Geant4 {settings.geometry.name}")
    total = [0]

    def collect(result: ChunkResult) -> None:
        parts.append(result)
        total[0] += len(result.energies_mev)
        bar.advance(total[0])

    try:
        run_chunks(
            settings.spec(sf),
            _tasks(settings, 0, 0, n),
            workers=workers,
            data_dir=folder,
            on_result=collect,
            on_failure=_reporter(bar, []),
        )
    finally:
        bar.stop()
    with_angles = settings.varies_angles
    return ShowerData(
        incident_energies=np.concatenate([p.energies_mev for p in parts]),
        showers=np.concatenate([p.showers for p in parts]),
        meta=settings.meta(sf, version),
        theta=np.concatenate([p.theta for p in parts]) if with_angles else None,
        phi=np.concatenate([p.phi for p in parts]) if with_angles else None,
    )


def _uses_official(data_dir: str | None) -> bool:
    """Whether the Geant4 data that will be used is an official set (a folder without caloforge's stamp)."""
    from caloforge.fullsim.g4data import data_dir as resolve

    folder = Path(resolve(official=data_dir))
    return folder.is_dir() and not (folder / "caloforge-standin.json").exists()


def _check_output(path: Path, *, resume: bool, overwrite: bool) -> None:
    if resume and overwrite:
        msg = "choose one of --resume and --overwrite"
        raise SimulationError(msg)
    if path.suffix not in {".h5", ".hdf5"}:
        msg = f"output file must end in .h5 or .hdf5, got '{path.name}'"
        raise SimulationError(msg)
    parent = path.resolve().parent
    if not parent.is_dir():
        msg = f"output directory {parent} does not exist"
        raise SimulationError(msg)
    try:  # os.access says yes to root even where nothing can be created (/proc, read-only mounts)
        with tempfile.NamedTemporaryFile(dir=parent, prefix=".caloforge-write-test-"):
            pass
    except OSError:
        msg = f"output directory {parent} is not writable"
        raise SimulationError(msg) from None
    if (path.exists() or part_path(path).exists()) and not (resume or overwrite):
        which = path if path.exists() else part_path(path)
        msg = f"{which} exists: pass --resume to continue it or --overwrite to replace it"
        raise SimulationError(msg)


def simulate_to_file(
    path: str | Path,
    geometry: Calorimeter | str,
    *,
    n: int,
    workers: int = 1,
    resume: bool = False,
    overwrite: bool = False,
    data_dir: str | None = None,
    progress: bool = False,
    on_chunk: Callable[[int], None] | None = None,
    **options: Unpack[SimulationOptions],
) -> Path:
    """Simulate ``n`` showers into a shower file, appending chunk by chunk (``NAME.part`` until done).

    With ``resume=True`` an interrupted (``.part``) or finished file made with the same settings is
    continued up to ``n`` showers; the result equals an uninterrupted run with the same seed.
    Arguments as :func:`simulate`; ``on_chunk(chunk)`` is called after each chunk is on disk.

    Raises:
        SimulationError: a bad option, an output that exists (without resume/overwrite), a directory
            that cannot be written, different settings on resume. Nothing is written then.
    """
    path = Path(path)
    settings = _settings(geometry, n, workers, data_dir, options)
    _check_output(path, resume=resume, overwrite=overwrite)
    existing = part_path(path) if part_path(path).exists() else path
    start_chunk, failed, resumed_sf, keep_rows = 0, [], None, None
    if resume and existing.exists():
        start_chunk, failed, resumed_sf, keep_rows = _resume_point(existing, settings)
    elif overwrite:
        for p in (path, part_path(path)):
            p.unlink(missing_ok=True)
    folder, sf, version = _prepare(settings, workers, data_dir)
    sf = sf if resumed_sf is None else resumed_sf  # a resumed file keeps its calibration
    spec = settings.spec(sf)
    with_angles = settings.varies_angles
    writer = ShowerWriter(path, settings.meta(sf, version), with_angles=with_angles, resume=resume)
    writer.set_attrs(caloforge_run=spec.to_json())
    if keep_rows is not None and keep_rows < writer.n_written:
        writer.truncate(keep_rows)  # the last chunk was cut short: simulate it again in full
    tasks = _tasks(settings, start_chunk, writer.n_written, n)
    bar = _Progress(progress, n, writer.n_written, f"Geant4 {settings.geometry.name} -> {path.name}")
    state = {"next": start_chunk, "failed": list(failed)}

    def write(result: ChunkResult) -> None:
        angles = {"theta": result.theta, "phi": result.phi} if writer.with_angles else {}
        writer.append(result.energies_mev, result.showers, **angles)
        state["next"] = result.chunk + 1
        writer.set_attrs(next_chunk=state["next"], failed_chunks=np.asarray(state["failed"], dtype=np.int64))
        bar.advance(writer.n_written)
        if on_chunk:
            on_chunk(result.chunk)

    complete = False
    try:
        if tasks:
            run_chunks(
                spec,
                tasks,
                workers=workers,
                data_dir=folder,
                on_result=write,
                on_failure=_reporter(bar, state["failed"]),
                next_chunk=tasks[-1][0] + 1,
            )
        complete = True
    finally:
        bar.stop()
        writer.close(complete=complete)
    return path


def _resume_point(existing: Path, settings: SimulationSettings) -> tuple[int, list[int], float, int]:
    """Where an earlier run stopped; checks that it had the same settings.

    Returns:
        The next chunk to simulate, the chunks given up, the file's sampling fraction and how many
        rows to keep: a finished run's last chunk may have been cut to the requested count, and is
        then dropped and simulated again in full, so that extending a file equals a longer run.
    """
    import h5py

    _, n_have = read_meta(existing)  # a readable caloforge/CaloChallenge file, or a clear error
    with h5py.File(existing, "r") as f:
        run = f.attrs.get("caloforge_run")
        next_chunk = int(f.attrs.get("next_chunk", 0))
        failed = [int(c) for c in np.asarray(f.attrs.get("failed_chunks", []), dtype=np.int64).reshape(-1)]
    if run is None:
        msg = f"{existing}: not written by caloforge simulate, cannot resume it"
        raise SimulationError(msg)
    old = RunSpec.from_json(run if isinstance(run, str) else run.decode())
    new = settings.spec(old.sampling_fraction)
    if old != new:
        diffs = [k for k in old.__dataclass_fields__ if getattr(old, k) != getattr(new, k)]
        msg = f"{existing}: was made with other settings ({', '.join(diffs)} differ); resume needs the same ones"
        raise SimulationError(msg)
    written = [c for c in range(next_chunk) if c not in failed]
    keep = n_have
    if written and n_have < len(written) * old.chunk_size:
        keep, next_chunk = (len(written) - 1) * old.chunk_size, written[-1]
    return next_chunk, failed, old.sampling_fraction, keep
