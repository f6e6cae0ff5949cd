"""The incident conditions of a chunk of showers, drawn the same way by full and fast simulation."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["draw_conditions"]


def draw_conditions(
    seed: int,
    chunk: int,
    size: int,
    energy_gev: tuple[float, float],
    theta: tuple[float, float],
    phi: tuple[float, float],
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], np.random.Generator]:
    """Energies (MeV, log-uniform in ``energy_gev``), theta and phi (uniform, rad) of chunk ``chunk``.

    Drawn from ``SeedSequence([seed, chunk])`` in that order; the generator is returned for what the
    caller draws next (Geant4's seed). The same seed and chunk size give the same conditions to
    ``caloforge simulate`` and ``caloforge generate``.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, chunk]))
    lo, hi = energy_gev
    u = rng.random(size)
    energies = 1e3 * (lo * (hi / lo) ** u if hi > lo else np.full(size, lo))
    thetas = theta[0] + (theta[1] - theta[0]) * rng.random(size)
    phis = phi[0] + (phi[1] - phi[0]) * rng.random(size)
    return energies, thetas, phis, rng
