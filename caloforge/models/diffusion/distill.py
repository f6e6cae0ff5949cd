"""Consistency distillation: a 1-4-step generator learnt from the trained diffusion model.

Y. Song, P. Dhariwal, M. Chen and I. Sutskever, "Consistency models", arXiv:2303.01469 (algorithm 2,
with the stop-gradient target of Song and Dhariwal, arXiv:2310.14189). The student ``f(x, sigma)`` maps
any point of the teacher's probability-flow ODE trajectory to the trajectory's end. Its
parametrisation ``f = c_skip x + c_out F`` with ``c_skip = s^2 / ((sigma - sigma_min)^2 + s^2)`` and
``c_out = (sigma - sigma_min) s / sqrt(sigma^2 + s^2)`` makes ``f(x, sigma_min) = x`` exactly. Training
pairs: a shower ``x`` noised to ``sigma_{n+1}``, one teacher Heun step down to ``sigma_n``, and the loss
``|f(x_{n+1}, sigma_{n+1}) - stopgrad f(x_n, sigma_n)|^2``. The student starts from the teacher's
weights. One step generates ``f(sigma_max z, sigma_max)``: a plain network from noise and conditions to
a shower; more steps re-noise to a lower sigma and apply ``f`` again.
"""

from __future__ import annotations

import torch
from torch import nn

from caloforge.models.diffusion.backbone import ShowerTransformer
from caloforge.models.diffusion.config import DiffusionConfig
from caloforge.models.diffusion.denoiser import EDMDenoiser, group_mean
from caloforge.models.diffusion.schedule import edm_sigmas

__all__ = ["ConsistencyStudent", "consistency_loss", "sample_consistency"]


class ConsistencyStudent(nn.Module):
    """``forward(x, sigma, cond, geometry)``: the clean shower at the end of x's ODE trajectory."""

    def __init__(self, config: DiffusionConfig) -> None:
        super().__init__()
        self.config = config
        self.backbone = ShowerTransformer(config)

    @classmethod
    def from_teacher(cls, teacher: EDMDenoiser) -> ConsistencyStudent:
        student = cls(teacher.config)
        student.backbone.load_state_dict(teacher.backbone.state_dict())
        return student

    def scalings(self, sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        s, lo = self.config.sigma_data, self.config.sigma_min
        c_skip = s**2 / ((sigma - lo) ** 2 + s**2)
        c_out = (sigma - lo) * s / (sigma**2 + s**2).sqrt()
        return c_skip, c_out, 1 / (sigma**2 + s**2).sqrt(), sigma.log() / 4

    def forward(self, x: torch.Tensor, sigma: torch.Tensor, cond: torch.Tensor, geometry: torch.Tensor) -> torch.Tensor:
        c_skip, c_out, c_in, c_noise = self.scalings(sigma.reshape(-1, 1))
        return c_skip * x + c_out * self.backbone(c_in * x, c_noise.reshape(-1), cond, geometry)


def consistency_loss(
    student: ConsistencyStudent,
    teacher: EDMDenoiser,
    x: torch.Tensor,
    cond: torch.Tensor,
    geometry: torch.Tensor,
    *,
    n_levels: int = 18,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One consistency-distillation loss on clean (transformed) showers ``x``: (B, width)."""
    cfg = student.config
    levels = edm_sigmas(n_levels, cfg.sigma_min, cfg.sigma_max, cfg.rho)[:-1].flip(0).to(x)  # ascending
    n = torch.randint(0, n_levels - 1, (len(x),), generator=generator).to(x.device)
    sigma_lo, sigma_hi = levels[n], levels[n + 1]
    noise = torch.randn(x.shape, generator=generator).to(x)
    x_hi = x + sigma_hi[:, None] * noise
    with torch.no_grad():  # one Heun step of the teacher's ODE from sigma_hi to sigma_lo
        d = (x_hi - teacher(x_hi, sigma_hi, cond, geometry)) / sigma_hi[:, None]
        x_euler = x_hi + (sigma_lo - sigma_hi)[:, None] * d
        d2 = (x_euler - teacher(x_euler, sigma_lo, cond, geometry)) / sigma_lo[:, None]
        x_lo = x_hi + (sigma_lo - sigma_hi)[:, None] * (d + d2) / 2
        target = student(x_lo, sigma_lo, cond, geometry)
    return group_mean((student(x_hi, sigma_hi, cond, geometry) - target) ** 2, cfg)


@torch.no_grad()
def sample_consistency(
    student: ConsistencyStudent,
    noise: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    cond: torch.Tensor,
    geometry: torch.Tensor,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Multistep consistency sampling over ``sigmas`` (descending, without the final 0): 1 step = one call."""
    lo = student.config.sigma_min
    x = student(noise * sigmas[0], sigmas[0].expand(len(noise)), cond, geometry)
    for sigma in sigmas[1:]:
        fresh = torch.randn(noise.shape, generator=generator).to(noise)
        x = student(x + (sigma**2 - lo**2).sqrt() * fresh, sigma.expand(len(noise)), cond, geometry)
    return x
