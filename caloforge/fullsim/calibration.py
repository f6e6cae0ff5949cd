"""Sampling fractions measured by full simulation, cached per geometry, physics and data source.

The sampling fraction of a geometry is the visible (active-layer) share of the energy deposited in
the calorimeter by electron showers: ``f = E_active / (E_active + E_passive)``, measured with 10 GeV
e- at normal incidence (CaloChallenge divides its SiW showers by 0.033, the same quantity). The
statistical error is the standard error of the mean of the per-shower ratio (200 showers give ~0.3 %
for thin sampling). Homogeneous calorimeters have f = 1 without simulation.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from caloforge.geometry.catalogue import catalogue_names, get_geometry
from caloforge.geometry.layout import Calorimeter

__all__ = ["SamplingFraction", "cached_sampling_fractions", "measure_sampling_fraction", "sampling_fraction"]

_DEFAULT_SHOWERS = 200
_ENERGY_GEV = 10.0


@dataclass(frozen=True)
class SamplingFraction:
    """A measured sampling fraction with its statistical error and provenance."""

    value: float
    error: float
    showers: int
    energy_gev: float
    physics: str
    data: str
    seconds: float = 0.0


def _cache_file() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "caloforge" / "sampling_fractions.json"


def _key(geometry: Calorimeter, physics: str, data: str) -> str:
    layout = json.dumps({"stacks": geometry.to_dict()["stacks"], "r": geometry.inner_radius_mm}, sort_keys=True)
    return hashlib.sha256(f"{layout}|{physics}|{data}".encode()).hexdigest()[:20]


def _load_cache() -> dict[str, dict]:
    try:
        return json.loads(_cache_file().read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def _store(key: str, name: str, sf: SamplingFraction) -> None:
    """Add one entry; a lock file serialises writers so that concurrent runs lose nothing."""
    path = _cache_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        cache = _load_cache()
        cache[key] = {"geometry": name, **sf.__dict__}
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cache, indent=1, sort_keys=True))
        os.replace(tmp, path)


def measure_sampling_fraction(
    geometry: Calorimeter,
    *,
    em_model: str = "standard",
    cut_mm: float = 0.7,
    showers: int = _DEFAULT_SHOWERS,
    seed: int = 20260101,
    workers: int = 1,
    data_dir: str | None = None,
) -> SamplingFraction:
    """Simulate ``showers`` 10 GeV e- and measure E_active / (E_active + E_passive)."""
    from caloforge.fullsim.backend import PhysicsConfig
    from caloforge.fullsim.g4data import ensure_data
    from caloforge.fullsim.runner import RunSpec, run_chunks

    physics = PhysicsConfig(em_model, cut_mm)
    folder = str(data_dir or ensure_data())
    if geometry.homogeneous:
        return SamplingFraction(1.0, 0.0, 0, _ENERGY_GEV, physics.describe(), _data_label(folder))
    spec = RunSpec(
        geometry.to_json(),
        "e-",
        (_ENERGY_GEV, _ENERGY_GEV),
        seed=seed,
        em_model=em_model,
        cut_mm=cut_mm,
        chunk_size=50,
        record="all",
    )
    n_chunks = math.ceil(showers / spec.chunk_size)
    tasks = [(c, min(spec.chunk_size, showers - c * spec.chunk_size)) for c in range(n_chunks)]
    active, total = [], []

    def collect(result: object) -> None:
        active.append(result.active_mev)
        total.append(result.active_mev + result.passive_mev)

    t0 = time.perf_counter()
    run_chunks(spec, tasks, workers=workers, data_dir=folder, on_result=collect)
    a, t = np.concatenate(active), np.concatenate(total)
    ratio = a[t > 0] / t[t > 0]
    value = float(a.sum() / t.sum())
    error = float(ratio.std(ddof=1) / math.sqrt(ratio.size)) if ratio.size > 1 else float("nan")
    return SamplingFraction(
        value, error, int(ratio.size), _ENERGY_GEV, physics.describe(), _data_label(folder), time.perf_counter() - t0
    )


def _data_label(folder: str) -> str:
    stamp = Path(folder) / "caloforge-standin.json"
    if stamp.exists():
        try:
            return f"standin-v{json.loads(stamp.read_text()).get('version', '?')}"
        except json.JSONDecodeError:
            return "standin"
    return "official"


def sampling_fraction(
    geometry: Calorimeter | str,
    *,
    em_model: str = "standard",
    cut_mm: float = 0.7,
    showers: int = _DEFAULT_SHOWERS,
    workers: int = 1,
    data_dir: str | None = None,
    refresh: bool = False,
) -> SamplingFraction:
    """The geometry's sampling fraction: from the cache, else measured by simulation and cached."""
    from caloforge.fullsim.backend import PhysicsConfig
    from caloforge.fullsim.g4data import ensure_data

    geo = get_geometry(geometry)
    folder = str(data_dir or ensure_data())
    physics = PhysicsConfig(em_model, cut_mm).describe()
    if geo.homogeneous:  # every layer is read out: nothing to measure, nothing to cache
        return SamplingFraction(1.0, 0.0, 0, _ENERGY_GEV, physics, _data_label(folder))
    key = _key(geo, physics, _data_label(folder))
    cached = _load_cache().get(key)
    if cached and not refresh and cached.get("showers", 0) >= showers:
        cached = {k: v for k, v in cached.items() if k != "geometry"}
        return SamplingFraction(**cached)
    sf = measure_sampling_fraction(
        geo, em_model=em_model, cut_mm=cut_mm, showers=showers, workers=workers, data_dir=folder
    )
    _store(key, geo.name, sf)
    return sf


def cached_sampling_fractions(*, em_model: str = "standard", cut_mm: float = 0.7) -> dict[str, float]:
    """Measured sampling fractions of the catalogue geometries that are in the cache (no simulation)."""
    from caloforge.fullsim.backend import PhysicsConfig
    from caloforge.fullsim.g4data import data_dir

    cache = _load_cache()
    if not cache:
        return {}
    physics = PhysicsConfig(em_model, cut_mm).describe()
    label = _data_label(str(data_dir()))
    out = {}
    for name in catalogue_names():
        geo = get_geometry(name)
        if geo.homogeneous:
            out[name] = 1.0
            continue
        hit = cache.get(_key(geo, physics, label))
        if hit:
            out[name] = float(hit["value"])
    return out
