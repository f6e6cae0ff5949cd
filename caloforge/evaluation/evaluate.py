"""``caloforge evaluate`` as a function: read the files, compare, write ``metrics.json`` and ``report.html``.

The metrics file holds every figure of :func:`~caloforge.evaluation.compare_showers` plus what is
needed to trust and reproduce it: the input files (path, size, seed, generator), the settings, the
package versions, the machine and the wall time.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from caloforge.data.showerfile import ShowerData, read_showers
from caloforge.errors import CaloforgeError
from caloforge.evaluation.compare import compare_showers
from caloforge.evaluation.features import DEFAULT_THRESHOLD_MEV
from caloforge.evaluation.report import write_report

__all__ = ["candidate_names", "evaluate_files"]

_VERSIONED = ("caloforge", "numpy", "scipy", "torch", "h5py", "matplotlib")


def candidate_names(paths: Sequence[str | Path]) -> list[str]:
    """Short, unique names for candidate files: the file stem, with parent folders added on a clash.

    Example:
        >>> candidate_names(["runs/a/gen.h5", "runs/b/gen.h5", "g4.h5"])
        ['a/gen', 'b/gen', 'g4']
    """
    parts = [Path(p).with_suffix("").parts for p in paths]
    depth = {i: 1 for i in range(len(parts))}
    while True:
        names = ["/".join(p[-depth[i] :]) for i, p in enumerate(parts)]
        clashes = {i for i, n in enumerate(names) if names.count(n) > 1 and depth[i] < len(parts[i])}
        if not clashes:
            return names
        for i in clashes:
            depth[i] += 1


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _file_info(path: Path, data: ShowerData) -> dict[str, Any]:
    return {"file": str(path), "bytes": path.stat().st_size, "seed": data.meta.seed}


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    msg = f"cannot write {type(value).__name__} to metrics.json"
    raise TypeError(msg)


def evaluate_files(
    reference: str | Path,
    candidates: Sequence[str | Path],
    out_dir: str | Path,
    *,
    names: Sequence[str] | None = None,
    threshold_mev: float = DEFAULT_THRESHOLD_MEV,
    classifier: bool = True,
    distances: bool = True,
    seed: int = 0,
    force: bool = False,
    max_showers: int | None = None,
    classifier_options: Mapping[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Compare candidate shower files with a reference file and write the metrics and the report.

    Args:
        reference: the reference shower file (usually Geant4).
        candidates: one or more candidate shower files.
        out_dir: folder for ``metrics.json`` and ``report.html`` (created).
        names: display names of the candidates (default: :func:`candidate_names` of the paths).
        threshold_mev: cell readout threshold.
        classifier: run the classifier tests.
        distances: compute FPD and KPD.
        seed: seed of every random choice of the comparison.
        force: compare even when geometry or particle differ (meshes must always agree).
        max_showers: read at most this many showers of each file (the first ones).
        classifier_options: extra keyword arguments of the classifier test.
        progress: called with a short line as each stage starts.

    Returns:
        The metrics, as written to ``metrics.json``.

    Raises:
        CaloforgeError: no candidate, a file that is missing or malformed, names that do not match the
            files, or samples that cannot be compared (see :func:`~caloforge.evaluation.check_compatible`).
    """
    if not candidates:
        msg = "give at least one candidate file to compare with the reference"
        raise CaloforgeError(msg)
    labels = list(names) if names is not None else candidate_names(candidates)
    if len(labels) != len(candidates) or len(set(labels)) != len(labels):
        msg = f"need one distinct name per candidate file, got {labels} for {len(candidates)} files"
        raise CaloforgeError(msg)
    say = progress or (lambda _line: None)
    start = time.perf_counter()
    say(f"reading {reference}")
    ref_path = Path(reference)
    ref = read_showers(ref_path, stop=max_showers)
    cands: dict[str, ShowerData] = {}
    for label, path in zip(labels, candidates, strict=True):
        say(f"reading {path}")
        cands[label] = read_showers(path, stop=max_showers)
    features: dict[str, Any] = {}  # computed once, for the comparison and the report
    metrics = compare_showers(
        ref,
        cands,
        threshold_mev=threshold_mev,
        classifier=classifier,
        distances=distances,
        seed=seed,
        force=force,
        classifier_options=classifier_options,
        progress=progress,
        features=features,
    )
    metrics["reference"].update(_file_info(ref_path, ref))
    for label, path in zip(labels, candidates, strict=True):
        metrics["candidates"][label].update(_file_info(Path(path), cands[label]))
    compared = time.perf_counter()
    metrics["run"] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "versions": _versions(),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
        },
        "settings": {
            "classifier": classifier,
            "distances": distances,
            "force": force,
            "max_showers": max_showers,
            "classifier_options": dict(classifier_options or {}),
        },
        "compare_s": compared - start,
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    say("writing the report")
    metrics["run"]["wall_s"] = time.perf_counter() - start  # the report's own time is added below
    write_report(ref, cands, metrics, out / "report.html", features=features)
    metrics["run"]["report_s"] = time.perf_counter() - compared
    metrics["run"]["wall_s"] = time.perf_counter() - start
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1, default=_json_default) + "\n", encoding="utf-8")
    return metrics
