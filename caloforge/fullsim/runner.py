"""Run Geant4 showers in worker processes, chunk by chunk, into memory or into a shower file.

Reproducibility does not depend on the number of workers: the showers are cut into chunks of fixed
size, and chunk ``c`` draws its energies, angles and Geant4 random seed from
``numpy.random.SeedSequence([seed, c])`` alone. Chunks are written in order, so the same seed gives
bit-identical files with 1 or 8 workers, and a resumed file equals an uninterrupted one.

Each worker is a separate Python process (a Geant4 fatal error aborts the process that hosts Geant4, never
the caller). Its stdout/stderr go to a log file; when a worker dies its last lines are reported, a
fresh worker takes its place and its chunk is retried once; a chunk that fails twice is skipped,
recorded in the file's ``failed_chunks`` attribute and replaced by the next chunk number.

Fault injection for tests: ``CALOFORGE_FAULT_CHUNK=<c>`` makes a worker abort (SIGABRT, like a Geant4
fatal error) whenever it is given chunk ``c``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from caloforge.data.conditions import draw_conditions
from caloforge.errors import SimulationError

__all__ = ["ChunkResult", "RunSpec", "chunk_conditions", "run_chunks", "worker_main"]

_MAX_GEV_PER_CALL = 200.0  # detailed deposits of one Geant4 call stay around 20 MB
_LOG_TAIL_LINES = 12
_MAX_FAILURES_IN_A_ROW = 4


@dataclass(frozen=True)
class RunSpec:
    """Everything that fixes the showers of a run, except how many are asked for.

    Energies in GeV (``energy_gev = (a, b)``: log-uniform in [a, b]; a == b: fixed), angles in radians
    (uniform in the range; equal ends: fixed). ``sampling_fraction`` divides the visible energy.
    """

    geometry_json: str
    particle: str = "e-"
    energy_gev: tuple[float, float] = (1.0, 100.0)
    theta: tuple[float, float] = (math.pi / 2, math.pi / 2)
    phi: tuple[float, float] = (0.0, 0.0)
    seed: int = 0
    em_model: str = "standard"
    cut_mm: float = 0.7
    hadronic: str | None = None
    mesh_config: str = "ds2"
    chunk_size: int = 20
    sampling_fraction: float = 1.0
    record: str = "active"

    def to_json(self) -> str:
        """Canonical JSON, stored in files to check that a resume uses the same settings."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RunSpec:
        """Inverse of :meth:`to_json`."""
        d = json.loads(text)
        for key in ("energy_gev", "theta", "phi"):
            d[key] = tuple(d[key])
        return cls(**d)


@dataclass
class ChunkResult:
    """The showers of one chunk: conditions and calibrated cells (MeV), or per-layer totals."""

    chunk: int
    energies_mev: NDArray[np.float32]
    theta: NDArray[np.float32]
    phi: NDArray[np.float32]
    showers: NDArray[np.float32] | None = None  # (n, cells), calibrated MeV
    outside_mev: NDArray[np.float32] | None = None  # visible energy outside the mesh
    active_mev: NDArray[np.float64] | None = None  # record="all": visible energy
    passive_mev: NDArray[np.float64] | None = None


def chunk_conditions(spec: RunSpec, chunk: int, n: int | None = None) -> tuple[NDArray, NDArray, NDArray, int]:
    """Energies (MeV), theta, phi and the Geant4 seed of a chunk (its first ``n`` showers)."""
    size = spec.chunk_size
    energies, theta, phi, rng = draw_conditions(spec.seed, chunk, size, spec.energy_gev, spec.theta, spec.phi)
    g4seed = int(rng.integers(1, 2**63 - 1))
    k = size if n is None else n
    return energies[:k], theta[:k], phi[:k], g4seed


def worker_main(conn: Connection, log_path: str) -> None:
    """Body of a worker process: build Geant4 once, then simulate the chunks it is sent."""
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    spec_json, data_dir = conn.recv()
    from caloforge.fullsim.g4data import configure_environment

    configure_environment(data_dir)
    from caloforge.fullsim.backend import Geant4Session, PhysicsConfig
    from caloforge.geometry.layout import geometry_from_dict
    from caloforge.geometry.mesh import mesh_for

    spec = RunSpec.from_json(spec_json)
    geometry = geometry_from_dict(json.loads(spec.geometry_json))
    mesh = mesh_for(geometry, spec.mesh_config)
    physics = PhysicsConfig(spec.em_model, spec.cut_mm, spec.hadronic)
    session = Geant4Session(geometry, mesh, physics, record=spec.record)
    session.warm_up()  # Geant4 builds its tables at the first event: fail here, not in a chunk
    fault = os.environ.get("CALOFORGE_FAULT_CHUNK")
    conn.send(("ready", None))
    while True:
        task = conn.recv()
        if task is None:
            return
        chunk, n = task
        if fault is not None and int(fault) == chunk:
            print(f"caloforge fault injection: aborting on chunk {chunk}", flush=True)
            os.abort()
        conn.send(("done", _simulate_chunk(session, spec, chunk, n)))


def _calls(energies_mev: NDArray) -> Iterator[slice]:
    """Split a chunk into consecutive Geant4 calls of at most ~_MAX_GEV_PER_CALL."""
    start, total = 0, 0.0
    for i, e in enumerate(energies_mev):
        if i > start and total + e > _MAX_GEV_PER_CALL * 1e3:
            yield slice(start, i)
            start, total = i, 0.0
        total += e
    yield slice(start, len(energies_mev))


def _simulate_chunk(session: Any, spec: RunSpec, chunk: int, n: int) -> ChunkResult:
    energies, theta, phi, g4seed = chunk_conditions(spec, chunk, n)
    result = ChunkResult(chunk, energies.astype(np.float32), theta.astype(np.float32), phi.astype(np.float32))
    cells, outside, active, passive = [], [], [], []
    for call, rows in enumerate(_calls(energies)):
        # each Geant4 call of the chunk gets its own seed; the split depends on the energies only
        call_seed = g4seed if call == 0 else int(np.random.SeedSequence([g4seed, call]).generate_state(1)[0])
        if spec.record == "all":
            a, p = session.run_totals(spec.particle, energies[rows], theta[rows], phi[rows], call_seed)
            active.append(a)
            passive.append(p)
        else:
            b = session.run_showers(spec.particle, energies[rows], theta[rows], phi[rows], call_seed)
            cells.append(b.cells.reshape(b.cells.shape[0], -1))
            outside.append(b.outside)
    if spec.record == "all":
        result.active_mev, result.passive_mev = np.concatenate(active), np.concatenate(passive)
    else:
        result.showers = (np.concatenate(cells) / spec.sampling_fraction).astype(np.float32)
        result.outside_mev = np.concatenate(outside).astype(np.float32)
    return result


@dataclass
class _Worker:
    process: subprocess.Popen
    conn: Connection
    log_path: str
    task: tuple[int, int] | None = None
    ready: bool = False


def _start_worker(spec_json: str, data_dir: str, log_path: str) -> _Worker:
    """A fresh ``python -m caloforge.fullsim.worker`` process talking over a socket pair.

    A plain subprocess (not multiprocessing) never re-imports the caller's main script, so user
    scripts need no ``if __name__ == "__main__"`` guard.
    """
    parent, child = socket.socketpair()
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "caloforge.fullsim.worker", str(child.fileno()), log_path],
        pass_fds=(child.fileno(),),
        stdin=subprocess.DEVNULL,
        env=env,
        close_fds=True,
    )
    child.close()
    conn = Connection(parent.detach())
    conn.send((spec_json, data_dir))
    return _Worker(proc, conn, log_path)


def _log_tail(path: str) -> str:
    try:
        lines = Path(path).read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no output)"
    useful = [ln for ln in lines if ln.strip()]
    return " | ".join(useful[-_LOG_TAIL_LINES:]) or "(no output)"


def run_chunks(
    spec: RunSpec,
    tasks: list[tuple[int, int]],
    *,
    workers: int,
    data_dir: str,
    on_result: Callable[[ChunkResult], None],
    on_failure: Callable[[int, str, bool], None] | None = None,
    next_chunk: int | None = None,
) -> list[int]:
    """Simulate ``tasks`` = [(chunk, n_showers), ...] with ``workers`` processes.

    ``on_result`` receives the chunks in the order of ``tasks`` (results that arrive early wait).
    Every worker death is reported to ``on_failure(chunk, message, retried)``; the worker is
    replaced and the chunk retried once; a chunk whose worker dies twice is replaced by a new chunk
    number (from ``next_chunk`` upwards) with the same number of showers.

    Returns:
        The chunk numbers that failed.

    Raises:
        SimulationError: workers cannot start at all (the message has the last worker output).
    """
    order = deque(tasks)
    pending: deque[tuple[int, int]] = deque(tasks)
    attempts: dict[int, int] = {}
    results: dict[int, ChunkResult] = {}
    failed: list[int] = []
    spare = next_chunk if next_chunk is not None else max(c for c, _ in tasks) + 1
    pool: list[_Worker] = []
    startup_failures = 0
    failures_in_a_row = 0  # deaths since the last finished chunk
    logdir = tempfile.mkdtemp(prefix="caloforge-g4-")
    spec_json = spec.to_json()

    started = [0]

    def start_worker() -> _Worker:
        started[0] += 1
        return _start_worker(spec_json, data_dir, os.path.join(logdir, f"worker-{started[0]}.log"))

    def flush_ready() -> None:
        while order and order[0][0] in results:
            on_result(results.pop(order.popleft()[0]))

    try:
        pool = [start_worker() for _ in range(max(1, min(workers, len(tasks))))]
        while order:
            for w in pool:
                if w.ready and w.task is None and pending:
                    w.task = pending.popleft()
                    w.conn.send(w.task)
            ready = wait([w.conn for w in pool], timeout=30.0)
            for w in list(pool):
                if w.conn not in ready:
                    continue
                try:
                    kind, payload = w.conn.recv()
                except (EOFError, OSError):
                    kind, payload = "dead", None
                if kind == "ready":
                    w.ready = True
                elif kind == "done":
                    results[payload.chunk] = payload
                    w.task = None
                    failures_in_a_row = 0
                else:
                    code = w.process.wait()
                    w.conn.close()
                    message = f"Geant4 worker died (exit code {code}): {_log_tail(w.log_path)}"
                    pool.remove(w)
                    failures_in_a_row += 1
                    if failures_in_a_row > _MAX_FAILURES_IN_A_ROW:
                        msg = f"{failures_in_a_row} Geant4 workers died in a row, giving up; last: {message}"
                        raise SimulationError(msg)
                    if not w.ready:
                        startup_failures += 1
                        if startup_failures >= 3:
                            raise SimulationError(f"Geant4 could not start: {message}")
                    if w.task is not None:
                        chunk, n = w.task
                        attempts[chunk] = attempts.get(chunk, 0) + 1
                        retry = attempts[chunk] < 2
                        if on_failure:
                            on_failure(chunk, message, retry)
                        if retry:
                            pending.appendleft(w.task)
                        else:
                            failed.append(chunk)
                            order[[c for c, _ in order].index(chunk)] = (spare, n)
                            pending.appendleft((spare, n))
                            spare += 1
                    elif on_failure and w.ready:
                        on_failure(-1, message, True)
                    pool.append(start_worker())
            flush_ready()
    finally:
        for w in pool:
            with contextlib.suppress(OSError):
                w.conn.send(None)
        for w in pool:
            try:
                w.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                w.process.kill()
            w.conn.close()
        shutil.rmtree(logdir, ignore_errors=True)
    return failed
