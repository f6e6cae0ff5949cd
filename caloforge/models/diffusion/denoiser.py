"""The EDM denoiser: preconditioning around the backbone, its loss, and the Heun sampler.

``D(x; sigma) = c_skip x + c_out F(c_in x, c_noise)`` with ``c_skip = s^2 / (sigma^2 + s^2)``,
``c_out = sigma s / sqrt(sigma^2 + s^2)``, ``c_in = 1 / sqrt(sigma^2 + s^2)``, ``c_noise = ln(sigma) / 4``
and ``s = sigma_data`` (Karras et al. 2022, table 1); the loss weight ``1 / c_out^2`` makes every noise
level count equally.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from caloforge.models.diffusion.backbone import ShowerTransformer
from caloforge.models.diffusion.config import DiffusionConfig

__all__ = ["EDMDenoiser", "group_mean", "sample_heun"]


class EDMDenoiser(nn.Module):
    """The backbone with EDM's scalings; ``forward(x, sigma, cond, geometry)`` returns the clean estimate."""

    def __init__(self, config: DiffusionConfig) -> None:
        super().__init__()
        self.config = config
        self.backbone = ShowerTransformer(config)

    def scalings(self, sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        s = self.config.sigma_data
        total = sigma**2 + s**2
        return s**2 / total, sigma * s / total.sqrt(), 1 / total.sqrt(), sigma.log() / 4

    def forward(self, x: torch.Tensor, sigma: torch.Tensor, cond: torch.Tensor, geometry: torch.Tensor) -> torch.Tensor:
        c_skip, c_out, c_in, c_noise = self.scalings(sigma.reshape(-1, 1))
        return c_skip * x + c_out * self.backbone(c_in * x, c_noise.reshape(-1), cond, geometry)

    def loss(
        self, x: torch.Tensor, noise: torch.Tensor, sigma: torch.Tensor, cond: torch.Tensor, geometry: torch.Tensor
    ) -> torch.Tensor:
        """EDM's weighted denoising loss; each part of the vector (:attr:`DiffusionConfig.groups`) weighs the same.

        Averaged over all channels the 451 profile and E_sum channels would carry 7 % of the loss, yet
        E_sum and the longitudinal and radial profiles are what a physicist checks first.
        """
        c_skip, c_out, c_in, c_noise = self.scalings(sigma.reshape(-1, 1))
        noisy = x + noise * sigma.reshape(-1, 1)
        target = (x - c_skip * noisy) / c_out
        return group_mean((self.backbone(c_in * noisy, c_noise.reshape(-1), cond, geometry) - target) ** 2,
                          self.config)  # fmt: skip


def group_mean(squared: torch.Tensor, config: DiffusionConfig) -> torch.Tensor:
    """Mean of per-channel squared errors (B, width), each of the config's groups weighing the same."""
    return torch.stack([squared[:, g].mean() for g in config.groups]).mean()


@torch.no_grad()
def sample_heun(
    denoiser: Callable[..., torch.Tensor],
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    cond: torch.Tensor,
    geometry: torch.Tensor,
    callback: Callable[[int], None] | None = None,
) -> torch.Tensor:
    """EDM's deterministic Heun sampler (algorithm 1) from ``x = sigmas[0] * noise`` down to sigma = 0.

    ``len(sigmas) - 1`` steps, each with one Euler and (except the last) one correction evaluation.
    """
    for i in range(len(sigmas) - 1):
        sigma, nxt = sigmas[i], sigmas[i + 1]
        s = sigma.expand(len(x))
        d = (x - denoiser(x, s, cond, geometry)) / sigma
        x_next = x + (nxt - sigma) * d
        if nxt > 0:
            d2 = (x_next - denoiser(x_next, nxt.expand(len(x)), cond, geometry)) / nxt
            x_next = x + (nxt - sigma) * (d + d2) / 2
        x = x_next
        if callback is not None:
            callback(i)
    return x
