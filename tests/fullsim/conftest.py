"""Full-simulation fixtures: one private cache (stand-in data, sampling fractions) per test session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


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
