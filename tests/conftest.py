"""Shared fixtures: a private cache, a seeded generator, par04-siw shower metadata and a factory of showers."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from caloforge.data import ShowerData, ShowerMeta
from caloforge.geometry import get_geometry, mesh_for


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Build the Geant4 stand-in data and measure sampling fractions in a session cache, not the user's."""
    cache = tmp_path_factory.mktemp("cache")
    saved = {k: os.environ.get(k) for k in ("XDG_CACHE_HOME", "CALOFORGE_G4DATA", "GEANT4_DATA_DIR")}
    os.environ["XDG_CACHE_HOME"] = str(cache)
    for key in ("CALOFORGE_G4DATA", "GEANT4_DATA_DIR"):
        os.environ.pop(key, None)
    yield cache
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh, seeded generator per test (no global RNG state)."""
    return np.random.default_rng(1234)


@pytest.fixture
def siw_meta() -> ShowerMeta:
    """Metadata of a par04-siw file on the dataset-2 mesh (45 x 16 x 9 = 6480 cells)."""
    geo = get_geometry("par04-siw")
    return ShowerMeta(
        mesh=mesh_for(geo),
        geometry=geo.name,
        geometry_json=geo.to_json(),
        sampling_fraction=0.0362,
        particle="e-",
        generator="caloforge-tests 0.0",
        seed=987654321,
    )


@pytest.fixture
def make_showers(rng: np.random.Generator, siw_meta: ShowerMeta) -> Callable[..., ShowerData]:
    """``make_showers(n, angles=False, meta=None)``: n valid showers (energies 1 GeV-1 TeV in MeV, sparse cells)."""

    def make(n: int, *, angles: bool = False, meta: ShowerMeta | None = None) -> ShowerData:
        meta = siw_meta if meta is None else meta
        cells = meta.mesh.n_cells
        energies = rng.uniform(1e3, 1e6, size=n).astype(np.float32)
        hit = rng.random((n, cells)) < 0.1
        showers = (rng.exponential(5.0, size=(n, cells)) * hit).astype(np.float32)
        theta = rng.uniform(0.5, 2.6, size=n).astype(np.float32) if angles else None
        phi = rng.uniform(-np.pi, np.pi, size=n).astype(np.float32) if angles else None
        return ShowerData(incident_energies=energies, showers=showers, meta=meta, theta=theta, phi=phi)

    return make
