"""The invertible transform between showers (MeV) and the standardised space the diffusion model works in.

A shower of ``L`` layers of ``K`` cells, incident energy ``E``, is written as three factors,
``x_lk = E * u * f_l * c_lk``:

- ``u = E_sum / E``: the deposited fraction, one number (the response and its fluctuations);
- ``f_l = E_l / E_sum``: the longitudinal profile, ``L`` fractions summing to 1;
- ``c_lk = x_lk / E_l``: the shape of layer ``l``, ``K`` fractions summing to 1 (all 0 for an empty layer).

Each of these ``1 + L + L K`` numbers ``y`` becomes ``v = ln(y + eps)`` (``eps = 1e-7``: an empty cell is
ln eps, about -16) and then ``z = (v - mean) / std`` per channel, with mean and std measured on the
training set. The model's vector is ``[cells (L K) | layer fractions (L) | u (1)]``.

Why the factors: modelled cell by cell in log space, E_sum is a sum of thousands of exponentials, and a
small error in the upper tail of many cells becomes a large error in E_sum (measured on an undertrained
cell-only model: E_sum 65x Geant4's). Here E_sum is one channel of the model, and the longitudinal
profile 45 channels; the cells only distribute each layer's energy.

The inverse caps every channel at the largest value it held in the training data, sets fractions below
1e-9 to exactly 0, and renormalises the layer fractions and each layer's cell fractions to sum to 1
(a layer whose cells all came out empty puts its energy in the cell the model rated highest), so a
generated shower deposits exactly ``E u``. The round trip is exact to float32 precision (relative 1e-5;
``z`` is float32) and an empty cell comes back as exactly 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import ArrayLike

from caloforge.errors import CaloforgeError

__all__ = ["EPS", "ShowerTransform"]

EPS = 1e-7
_FLOOR = 1e-2  # fractions below 1e-2 eps (1e-9) are rounding around an empty cell: exactly 0


def _fractions(v: torch.Tensor, eps: float) -> torch.Tensor:
    """ln(y + eps) of one group (..., n) -> fractions y >= 0 summing to 1 over the last axis."""
    y = torch.exp(v) - eps
    y = torch.where(y > _FLOOR * eps, y, 0.0)
    empty = y.sum(-1, keepdim=True) == 0
    best = torch.zeros_like(y).scatter_(-1, v.argmax(-1, keepdim=True), 1.0)
    y = torch.where(empty, best, y)
    return y / y.sum(-1, keepdim=True)


@dataclass(frozen=True)
class ShowerTransform:
    """Per-channel standardisation of the factorised shower; ``mean``, ``std``, ``v_max``: (L K + L + 1,).

    ``layers`` is ``L``; ``v_max`` is the largest ``ln(y + eps)`` of each channel in the training data.
    """

    mean: torch.Tensor
    std: torch.Tensor
    v_max: torch.Tensor
    layers: int
    eps: float = EPS

    @property
    def n_cells(self) -> int:
        return len(self.mean) - self.layers - 1

    @staticmethod
    def factorise(showers: torch.Tensor, energies_mev: torch.Tensor, layers: int, eps: float) -> torch.Tensor:
        """(B, L K) MeV, (B,) MeV -> (B, L K + L + 1) ``ln(y + eps)``, float64 (before standardisation)."""
        x = showers.to(torch.float64).clamp_min(0)
        if x.ndim != 2 or x.shape[1] % layers:
            msg = f"showers of shape {tuple(x.shape)} do not split into {layers} layers"
            raise CaloforgeError(msg)
        cells = x.reshape(len(x), layers, -1)
        e_layer = cells.sum(-1)
        e_sum = e_layer.sum(-1, keepdim=True)
        c = torch.where(e_layer[..., None] > 0, cells / e_layer.clamp_min(1e-30)[..., None], 0.0)
        f = torch.where(e_sum > 0, e_layer / e_sum.clamp_min(1e-30), 0.0)
        u = e_sum / energies_mev.reshape(-1, 1).to(torch.float64)
        return torch.log(torch.cat([c.reshape(len(x), -1), f, u], dim=1) + eps)

    @classmethod
    def fit(cls, showers: ArrayLike, energies_mev: ArrayLike, layers: int, *, eps: float = EPS) -> ShowerTransform:
        """Measure mean, std and maximum per channel on training showers ((N, L K) MeV and (N,) MeV)."""
        x = torch.as_tensor(np.asarray(showers))
        e = torch.as_tensor(np.asarray(energies_mev), dtype=torch.float64).reshape(-1)
        if x.ndim != 2 or len(x) != len(e) or len(x) < 2:
            msg = f"need (N, cells) showers and N energies with N >= 2, got {tuple(x.shape)} and {len(e)}"
            raise CaloforgeError(msg)
        v = torch.cat([cls.factorise(x[i : i + 4096], e[i : i + 4096], layers, eps) for i in range(0, len(x), 4096)])
        std = v.std(dim=0).clamp_min(1e-3)  # a channel that is always empty keeps scale 1e-3, not 0
        return cls(v.mean(dim=0).float(), std.float(), v.max(dim=0).values.float(), layers, eps)

    def forward(self, showers: torch.Tensor, energies_mev: torch.Tensor) -> torch.Tensor:
        """(B, L K) MeV, (B,) MeV -> (B, L K + L + 1) standardised, float32."""
        v = self.factorise(showers, energies_mev, self.layers, self.eps)
        return ((v - self.mean.to(v)) / self.std.to(v)).float()

    def inverse(self, z: torch.Tensor, energies_mev: torch.Tensor) -> torch.Tensor:
        """(B, L K + L + 1) standardised, (B,) MeV -> (B, L K) MeV, float32, >= 0."""
        v = z.to(torch.float64) * self.std.to(torch.float64) + self.mean.to(torch.float64)
        v = torch.minimum(v, self.v_max.to(v))  # no channel beyond what the training data held
        n, L = self.n_cells, self.layers
        c = _fractions(v[:, :n].reshape(len(v), L, -1), self.eps)
        f = _fractions(v[:, n : n + L], self.eps)
        u = (torch.exp(v[:, -1:]) - self.eps).clamp_min(0)
        e = energies_mev.reshape(-1, 1).to(torch.float64)
        return ((e * u * f)[..., None] * c).reshape(len(v), -1).float()

    def state(self) -> dict[str, torch.Tensor]:
        return {"transform.mean": self.mean, "transform.std": self.std, "transform.v_max": self.v_max,
                "transform.layers": torch.tensor([self.layers])}  # fmt: skip

    @classmethod
    def from_state(cls, tensors: dict[str, torch.Tensor], eps: float) -> ShowerTransform:
        try:
            layers = int(tensors["transform.layers"][0])
            return cls(tensors["transform.mean"], tensors["transform.std"], tensors["transform.v_max"], layers, eps)
        except KeyError as err:
            msg = (f"checkpoint lacks the shower transform ({err.args[0]}): it was written by an older caloforge "
                   "whose cell-only transform is no longer supported; retrain")  # fmt: skip
            raise CaloforgeError(msg) from None
