"""Noise levels of EDM (T. Karras et al., "Elucidating the design space of diffusion-based generative
models", arXiv:2206.00364): the sampling schedule and the training density."""

from __future__ import annotations

import torch

__all__ = ["edm_sigmas", "training_sigmas"]


def edm_sigmas(n: int, sigma_min: float = 0.002, sigma_max: float = 80.0, rho: float = 7.0) -> torch.Tensor:
    """``n`` noise levels from sigma_max to sigma_min spaced as EDM's eq. 5, then 0: (n + 1,) float32."""
    if n < 1:
        msg = f"need at least one sampling step, got {n}"
        raise ValueError(msg)
    ramp = torch.linspace(0, 1, n, dtype=torch.float64)
    sigmas = (sigma_max ** (1 / rho) + ramp * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))) ** rho
    return torch.cat([sigmas, torch.zeros(1, dtype=torch.float64)]).float()


def training_sigmas(
    n: int, p_mean: float = -1.2, p_std: float = 1.2, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """EDM's training density: ln sigma ~ N(p_mean, p_std^2); (n,) float32."""
    return torch.exp(p_mean + p_std * torch.randn(n, generator=generator))
