"""The invertible transform between showers (MeV) and the standardised space the diffusion model works in.

For cell energy ``x`` (MeV) and incident energy ``E``:

1. ``u = x / E`` (the fraction of the incident energy in the cell, so all energies look alike);
2. ``v = ln(u + eps)`` with ``eps = 1e-7`` (an empty cell maps to ln eps, about -16; a 15 keV cell of
   a 100 GeV shower to ln(1.5e-7 + 1e-7)): the many decades of cell energies become a few units;
3. ``z = (v - mean) / std`` per cell, with mean and std of ``v`` measured on the training set.

The inverse is ``x = (exp(min(z std + mean, v_max)) - eps) E`` (no cell above the largest fraction it
held in the training data, nor above the incident energy), with fractions below 1e-9 set to exactly 0. The
round trip is exact to float32 precision (relative 1e-5 for a cell, as ``z`` is float32) and an empty
cell comes back as exactly 0. Cells the model leaves below ``eps E`` are far below any readout
threshold (0.1 keV at 1 GeV).
E_sum is not constrained separately: the model learns it, and the validation suite measures it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import ArrayLike

from caloforge.errors import CaloforgeError

__all__ = ["EPS", "ShowerTransform"]

EPS = 1e-7
_FLOOR = 1e-2  # fractions below 1e-2 eps (1e-9 of E) are rounding around an empty cell: exactly 0


@dataclass(frozen=True)
class ShowerTransform:
    """Per-cell standardisation of ``ln(x / E + eps)``; ``mean``, ``std``, ``v_max`` are (L*A*R,) float32.

    ``v_max`` is the largest ``ln(x / E + eps)`` of each cell in the training data: the inverse caps a
    cell there, because in log space a model's small error in the upper tail becomes a cell holding a
    large part of the shower (measured: an undertrained model's E_sum drops from 65x to 7x of Geant4's
    with the cap). ``None`` (older checkpoints) caps at the incident energy only.
    """

    mean: torch.Tensor
    std: torch.Tensor
    eps: float = EPS
    v_max: torch.Tensor | None = None

    @classmethod
    def fit(cls, showers: ArrayLike, energies_mev: ArrayLike, *, eps: float = EPS) -> ShowerTransform:
        """Measure mean and std per cell on training showers ((N, L*A*R) MeV and (N,) MeV)."""
        x = torch.as_tensor(np.asarray(showers), dtype=torch.float64)
        e = torch.as_tensor(np.asarray(energies_mev), dtype=torch.float64).reshape(-1, 1)
        if x.ndim != 2 or len(x) != len(e) or len(x) < 2:
            msg = f"need (N, cells) showers and N energies with N >= 2, got {tuple(x.shape)} and {len(e)}"
            raise CaloforgeError(msg)
        v = torch.log(x.clamp_min(0) / e + eps)
        std = v.std(dim=0).clamp_min(1e-3)  # a cell that is always empty keeps scale 1e-3, not 0
        return cls(v.mean(dim=0).float(), std.float(), eps, v.max(dim=0).values.float())

    def forward(self, showers: torch.Tensor, energies_mev: torch.Tensor) -> torch.Tensor:
        """(B, cells) MeV, (B,) MeV -> (B, cells) standardised, float32."""
        e = energies_mev.reshape(-1, 1).to(torch.float64)
        v = torch.log(showers.to(torch.float64).clamp_min(0) / e + self.eps)
        return ((v - self.mean.to(v)) / self.std.to(v)).float()

    def inverse(self, z: torch.Tensor, energies_mev: torch.Tensor) -> torch.Tensor:
        """(B, cells) standardised, (B,) MeV -> (B, cells) MeV, float32, >= 0."""
        e = energies_mev.reshape(-1, 1).to(torch.float64)
        v = z.to(torch.float64) * self.std.to(torch.float64) + self.mean.to(torch.float64)
        cap = torch.zeros_like(v) if self.v_max is None else self.v_max.to(v).clamp(max=0.0).expand_as(v)
        u = torch.exp(torch.minimum(v, cap)) - self.eps  # never above E, nor above the training maximum
        return (torch.where(u > _FLOOR * self.eps, u, 0.0) * e).float()

    def state(self) -> dict[str, torch.Tensor]:
        state = {"transform.mean": self.mean, "transform.std": self.std}
        return state if self.v_max is None else state | {"transform.v_max": self.v_max}

    @classmethod
    def from_state(cls, tensors: dict[str, torch.Tensor], eps: float) -> ShowerTransform:
        try:
            return cls(tensors["transform.mean"], tensors["transform.std"], eps, tensors.get("transform.v_max"))
        except KeyError as err:
            msg = f"checkpoint lacks the shower transform ({err.args[0]})"
            raise CaloforgeError(msg) from None
