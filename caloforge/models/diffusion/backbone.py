"""The transformer over patches of the (layer, angle, radius) mesh that the EDM denoiser wraps.

It sees ``c_in x``, ``c_noise`` and the condition, and knows nothing of EDM. ``x`` is the vector of
:mod:`~caloforge.models.diffusion.preprocessing`: cells, layer fractions, E_sum / E. Each cell token is
a patch of ``patch`` cells; its position enters as learned embeddings of the layer-patch and
radius-patch index (ordered quantities) and as Fourier features of the patch's angle (periodic, so the
first and last angular patches are neighbours). Each layer patch has one more token holding its layers'
fractions of E_sum and their rings' fractions of each layer's energy (with the same layer embedding, so
it sits next to its cells), and one token holds E_sum / E. The condition (log E, theta, phi, noise
level, geometry) modulates every block through adaptive layer norm (shift, scale and a gate initialised
to zero, as in DiT: W. Peebles and S. Xie, arXiv:2212.09748), so the untrained network is the identity
on its residual path.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from caloforge.models.diffusion.config import DiffusionConfig

__all__ = ["N_CONDITIONS", "ShowerTransformer", "condition_vector"]

N_CONDITIONS = 5  # scaled ln E, cos theta, sin theta, cos phi, sin phi


def condition_vector(energy_mev: torch.Tensor, theta: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
    """(B,) MeV, rad, rad -> (B, 5): ln(E / 1 GeV) / ln 100 and the cosines and sines of the angles."""
    return torch.stack([torch.log(energy_mev / 1e3) / math.log(100.0), torch.cos(theta), torch.sin(theta),
                        torch.cos(phi), torch.sin(phi)], dim=1).float()  # fmt: skip


class _Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.modulation = nn.Linear(dim, 6 * dim)
        nn.init.zeros_(self.modulation.weight)
        nn.init.zeros_(self.modulation.bias)

    def forward(self, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift1, scale1, gate1, shift2, scale2, gate2 = self.modulation(c).unsqueeze(1).chunk(6, dim=-1)
        a = self.norm1(h) * (1 + scale1) + shift1
        h = h + gate1 * self.attn(a, a, a, need_weights=False)[0]
        m = self.norm2(h) * (1 + scale2) + shift2
        return h + gate2 * self.mlp(m)


class ShowerTransformer(nn.Module):
    """``forward(x, c_noise, cond, geometry)``: (B, W), (B,), (B, 5), (B,) long -> (B, W), W = config.width."""

    def __init__(self, config: DiffusionConfig) -> None:
        super().__init__()
        self.config = config
        (L, A, R), (pl, pa, pr) = config.mesh, config.patch
        self.grid = (L // pl, A // pa, R // pr)
        patch_cells = pl * pa * pr * (2 if config.hit_cells else 1)  # a patch's energies, then its hits
        d = config.dim
        self.embed = nn.Linear(patch_cells, d)
        self.profile = pl * (1 + (R if config.ring_fractions else 0))  # ring and layer fractions of a layer patch
        self.embed_layers = nn.Linear(self.profile, d)
        self.embed_total = nn.Linear(1, d)  # E_sum / E
        self.kind = nn.Parameter(torch.zeros(3, d))  # cell patch, profile (layer and ring fractions), total
        nn.init.normal_(self.kind, std=0.02)
        self.layer_pos = nn.Parameter(torch.zeros(self.grid[0], d))
        self.radius_pos = nn.Parameter(torch.zeros(self.grid[2], d))
        nn.init.normal_(self.layer_pos, std=0.02)
        nn.init.normal_(self.radius_pos, std=0.02)
        angle = (torch.arange(self.grid[1]) + 0.5) * 2 * math.pi / self.grid[1]
        harmonics = torch.arange(1, 5)
        fourier = torch.cat([torch.cos(angle[:, None] * harmonics), torch.sin(angle[:, None] * harmonics)], dim=1)
        self.register_buffer("angle_fourier", fourier, persistent=False)
        self.angle_pos = nn.Linear(fourier.shape[1], d, bias=False)
        self.noise_embed = nn.Sequential(nn.Linear(32, d), nn.SiLU(), nn.Linear(d, d))
        self.cond_embed = nn.Sequential(nn.Linear(N_CONDITIONS, d), nn.SiLU(), nn.Linear(d, d))
        self.geometry_embed = nn.Embedding(len(config.geometries), d)
        self.blocks = nn.ModuleList(_Block(d, config.heads, config.mlp_ratio) for _ in range(config.depth))
        self.norm_out = nn.LayerNorm(d, elementwise_affine=False)
        self.out_modulation = nn.Linear(d, 2 * d)
        self.out = nn.Linear(d, patch_cells)
        self.out_layers = nn.Linear(d, self.profile)
        self.out_total = nn.Linear(d, 1)
        for layer in (self.out_modulation, self.out, self.out_layers, self.out_total):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.register_buffer("frequencies", torch.exp(torch.linspace(0, math.log(1000.0), 16)), persistent=False)

    def _patchify(self, x: torch.Tensor) -> torch.Tensor:
        """(B, k L A R) cell channels -> (B, patches, k cells per patch): a patch's k channel groups side by side."""
        (pl, pa, pr), (gl, ga, gr) = self.config.patch, self.grid
        x = x.reshape(len(x), -1, gl, pl, ga, pa, gr, pr).permute(0, 2, 4, 6, 1, 3, 5, 7)
        return x.reshape(len(x), gl * ga * gr, -1)

    def _unpatchify(self, t: torch.Tensor) -> torch.Tensor:
        (pl, pa, pr), (gl, ga, gr) = self.config.patch, self.grid
        t = t.reshape(len(t), gl, ga, gr, -1, pl, pa, pr).permute(0, 4, 1, 5, 2, 6, 3, 7)
        return t.reshape(len(t), -1)

    def _positions(self) -> torch.Tensor:
        gl, ga, gr = self.grid
        angle = self.angle_pos(self.angle_fourier)
        pos = self.layer_pos[:, None, None] + angle[None, :, None] + self.radius_pos[None, None, :]
        return pos.reshape(gl * ga * gr, -1)

    def forward(
        self, x: torch.Tensor, c_noise: torch.Tensor, cond: torch.Tensor, geometry: torch.Tensor
    ) -> torch.Tensor:
        angles = c_noise.reshape(-1, 1) * self.frequencies
        noise = self.noise_embed(torch.cat([torch.cos(angles), torch.sin(angles)], dim=1))
        c = noise + self.cond_embed(cond) + self.geometry_embed(geometry)
        gl, n, m = self.grid[0], self.config.cell_channels, self.config.n_rings
        cells = self.embed(self._patchify(x[:, :n])) + self._positions() + self.kind[0]
        profile = torch.cat([x[:, n : n + m].reshape(len(x), gl, -1), x[:, n + m : -1].reshape(len(x), gl, -1)], -1)
        layers = self.embed_layers(profile) + self.layer_pos + self.kind[1]
        total = self.embed_total(x[:, -1:]).unsqueeze(1) + self.kind[2]
        h = torch.cat([cells, layers, total], dim=1)
        c_act = nn.functional.silu(c)
        for block in self.blocks:
            h = block(h, c_act)
        shift, scale = self.out_modulation(c_act).unsqueeze(1).chunk(2, dim=-1)
        h = self.norm_out(h) * (1 + scale) + shift
        n_patches = cells.shape[1]
        out_cells = self._unpatchify(self.out(h[:, :n_patches]))
        out_profile = self.out_layers(h[:, n_patches : n_patches + gl])
        out_rings = out_profile[..., : m // gl].reshape(len(x), m)
        out_layers = out_profile[..., m // gl :].reshape(len(x), -1)
        return torch.cat([out_cells, out_rings, out_layers, self.out_total(h[:, -1])], dim=1)
