"""The invertible transform between showers (MeV) and the standardised space the diffusion model works in.

A shower of ``L`` layers, ``A`` angular and ``R`` radial bins, incident energy ``E``, is written as four
factors, ``x_lar = E * u * f_l * g_lr * h_lar``:

- ``u = E_sum / E``: the deposited fraction, one number (the response and its fluctuations);
- ``f_l = E_l / E_sum``: the longitudinal profile, ``L`` fractions summing to 1;
- ``g_lr = E_lr / E_l``: the radial profile of layer ``l``, ``R`` ring fractions summing to 1;
- ``h_lar = x_lar / E_lr``: how ring ``r`` of layer ``l`` shares its energy among the ``A`` angular bins.

(A format-2 model has no ring factor: ``c_lk = x_lk / E_l`` over the ``K = A R`` cells of the layer.)
Each of these numbers ``y`` becomes ``v = ln(y + eps)`` (``eps = 1e-7``: an empty cell is ln eps, about
-16; ``ring_eps = 3e-2`` for the ring fractions, see below) and then ``z = (v - mean) / std`` per
channel, with mean and std measured on the training set. The model's vector is
``[cells (L A R) | ring fractions (L R) | layer fractions (L) | u (1)]`` (format 7: ``[cell energies |
cell hits | ...]``, below).

Format 4 (``cell_scale > 0``) writes the cells in absolute units instead of as shares:
``v = ln(x / s + 1e-4)``, with ``s`` the 10 % quantile of the non-empty training cells (in a sampling
calorimeter about one MIP: 2.9 MeV calibrated in par04-siw, where a MIP crossing 0.3 mm of silicon reads
3.6 MeV). The inverse uses these only as weights within each ring, so the factors above still fix the ring,
layer and total energies. Why: a cell hit by a charged particle holds at least a fair fraction of a MIP
(Landau), so Geant4's non-empty cells sit above a gap (2.5 % of them below 1 MeV in par04-siw). As a share
of its ring that gap moves with the ring's energy, shower by shower; a format-2 model trained on shares
put 42 % of its cells below 1 MeV. In MIP units the gap is at the same ``v`` in every cell, layer and
shower. (Measured: that alone did not close the gap, 46 % after 7500 CPU steps, yet the format-4 model
matches Geant4 better in every figure than the format-2 one: cell AUC 0.91 against 0.98, FPD 0.61
against 1.58.) An empty cell is ``ln 1e-4`` (-9.2), 4 units below a cell at the validation suite's
readout threshold (15 keV, 0.005 ``s``). The inverse zeroes cells below ``1e-4 s`` (0.3 keV), which in
``v`` lie within ln 2 of an empty cell: noise around empty, not energy (7 in a million Geant4 cells are
that small).

Why the factors: modelled cell by cell in log space, E_sum is a sum of thousands of exponentials, and a
small error in the upper tail of many cells becomes a large error in E_sum (measured on an undertrained
cell-only model: E_sum 65x Geant4's). The same holds within a layer: with cells as fractions of the
layer, an imprecise model's spread of the many small outer cells is taken, after renormalisation, from
the core (measured: 59 % of the energy in the innermost ring against Geant4's 71 %, separation power of
the mean radius 0.49). Here E_sum is one channel, the longitudinal and the radial profiles are 45 and
405 channels, and the cells only distribute each ring's energy in angle.

Why ``ring_eps = 3e-2`` (a run records its own: older ones have 1e-7 or 1e-3): with 1e-7, a ring fraction
spans 16 units of ``v`` between an empty ring and a full one; an imprecise model's spread there becomes,
through the exponential, two to three times the Geant4 energy in the outer rings. Below ``ring_eps`` of a
layer's energy ``ln(y + ring_eps)`` is nearly linear, so a symmetric error costs no energy on average,
where in log space its upper tail is paid for through the exponential. Measured on 300 par04-siw showers
(Geant4: mean radius 5.07 mm, 71 % of the energy in the innermost ring): 7.95 mm and 55 % with 1e-7 after
5000 CPU steps, 5.83 mm and 66 % with 1e-3 after 5100 more. Then with 1e-3 the ring fractions above 10 GeV
had Geant4's means but a normal's tails where Geant4's are skewed, 1.06-1.99 times its energy in rings 3-6;
Geant4's own showers with their ring spread widened 1.15 times have a mean radius 4.8 % larger with 1e-3,
1.8 % with 3e-2. The same warm start and budget with 3e-2 (10k held-out showers, 18 steps) took the
separation power of the mean radius from 0.30 to 0.037, of its rms from 0.17 to 0.012, and the cell AUC
from 0.827 to 0.769. The cost: ``y`` comes back to ~1e-7 ``ring_eps`` absolute, not relative, so a cell of
a nearly empty ring is exact to ~3e-9 of its layer's energy.

Format 5 (``log_energies`` set) standardises each channel with a mean and a spread that depend on the
incident energy: ``z = (v - m(E)) / s(E)``, tabulated on 16 points of ln E and interpolated linearly
between them. ``m`` is a polynomial of degree 4 in ln E fitted to the training set by least squares; ``s``
is the rms of the residuals around it in a Gaussian window of ln E, one grid spacing wide. Why: at high
energy a shower is an average over many particles, so its profiles fluctuate far less than the spread of
``v`` over all energies, and a classifier sees an error that is small in globally standardised units.
Measured on the format-4 model (400 Geant4 showers above 30 GeV): the means of the ring fractions' ``v``
were within 0.1 of Geant4's, but their spreads 1.5-2 times Geant4's (3 times in the core ring of layer 12:
0.20 against 0.07), which through the exponential put 34 % of E_sum outside the core ring against Geant4's
29 %: the mean radius 17 % too large. With ``z`` scaled to the spread at each energy, the loss weighs an
error the way the classifier sees it. The spread is floored at ``MOMENT_FLOOR`` of the channel's overall
spread, so a channel that is nearly always empty at one energy cannot turn a rare deposit into an extreme
``z``.

Why a window and not a polynomial for the spread: the first format-5 tables fitted a degree-4 polynomial to
the squared residuals and floored the spread at 0.25 of the overall one. Measured on 6000 par04-siw
showers, that left the core ring of the shower maximum at a z spread of 0.3 above 10 GeV (and 1.2 at
3-10 GeV, where the polynomial undershot), with 40 % of the layer fractions below 0.6 above 30 GeV; the
model trained on those tables spread exactly these channels 1.4-2 times wider than Geant4 at 10 sampling
steps (through the exponential: the mean radius 5.6 against 5.1 mm above 10 GeV, even with the ODE solved
to convergence). With the window and a floor of 0.1 no ring or layer channel is below 0.6 above 10 GeV, and
the largest ``|z|`` of the training set falls from 172 to 34. Measured, though: that model warm-started on
the windowed tables for 5000 CPU steps was no closer to Geant4 (10k held-out showers, 18 steps: cell AUC
0.839 against 0.827, mean radius above 10 GeV 5.74 against 5.71 mm): the excess spread is the network's,
not the tables'. The window stays because it standardises as intended.

Format 7 (``hits`` set, on top of format 5) splits each cell into two channels: whether it was hit, ``o = +1``
for a cell holding energy and ``-1`` for an empty one (neither shifted nor scaled: their sign is the
decision), and its energy, ``ln(x / s + 1e-4)`` where it was hit and ``0`` (one cell scale, inside the spread
of hit cells) where not. The inverse keeps the cells with ``o > 0`` and shares each ring's energy among them
in proportion to ``x / s`` (a hit cell below ``1e-4 s`` is empty); a ring that holds energy but came out
without a hit cell puts it in the cell with the highest ``o``. Why: the validation suite's classifier on
high-level features told the format-5 built-ins from Geant4 by the number of cells above threshold per
layer alone (AUC 0.998 for the distilled one, ``benchmarks/diffusion_feature_groups.py``). With empty and
hit cells on one axis, 9 units apart in ``v``, the model filled the gap between them: 139 cells per shower
at 15-100 keV against Geant4's 1.5, and 244 at 0.1-2 MeV against 31, so its rings' energy went to too many
too small cells (321 above 5 MeV against 500). With the hit a channel of its own, the energy channel holds
one population, the hit cells', and which cells are hit is a sign. (Format 6, an experiment that mapped
the profile channels through their quantiles onto a normal, was reverted and is not read.)

The inverse caps every channel at the largest value it held in the training data, sets fractions below
1e-9 (ring fractions below :func:`ring_floor`, 1e-6 ``ring_eps``) to exactly 0, and renormalises each group
of fractions to sum to 1 (a group that came out all empty puts its energy in the member the model rated
highest), so a generated shower deposits exactly ``E u``. The round trip is exact to float32 precision
(relative 1e-5, or ~1e-7 ``ring_eps`` of its layer's energy for a cell in a nearly empty ring; ``z`` is
float32) and an empty cell comes back as exactly 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import ArrayLike

from caloforge.errors import CaloforgeError

__all__ = ["CELL_EPS", "EPS", "MOMENT_DEGREE", "MOMENT_FLOOR", "MOMENT_GRID", "ShowerTransform", "ring_floor"]

EPS = 1e-7
RING_EPS = 3e-2
CELL_EPS = 1e-4  # offset of format-4 cells, in units of the cell scale
CELL_QUANTILE = 0.1  # the cell scale: this quantile of the non-empty training cells
MOMENT_DEGREE = 4  # format 5: degree of the polynomial in ln E of each channel's mean
MOMENT_GRID = 16  # ... tabulated on this many points of ln E
MOMENT_FLOOR = 0.1  # ... with the spread at one energy at least this fraction of the channel's overall spread
_CHUNK = 4096  # showers transformed at once
_ZERO = 1e-9  # fractions below 1e-9 are float32 rounding around an empty channel: exactly 0
_ROUNDING = 1e-6  # ... and ring fractions below 1e-6 ring_eps (ln(y + ring_eps) in float32 holds y to ~1e-7 ring_eps)
# (a higher floor for the ring fractions, as noise around an empty ring, was measured to help nothing: it only
# removes cells above the 15 keV threshold, of which the model already makes slightly too few)


def ring_floor(ring_eps: float) -> float:
    """Ring fractions below this come back empty: float32 rounding around an empty ring at this offset."""
    return max(_ZERO, _ROUNDING * ring_eps)


def _fractions(v: torch.Tensor, eps: float, floor: float = _ZERO) -> torch.Tensor:
    """ln(y + eps) of groups (..., n) -> fractions y >= 0 summing to 1 over the last axis (y below floor: 0)."""
    y = torch.exp(v) - eps
    return _normalised(torch.where(y > floor, y, 0.0), v)


def _normalised(y: torch.Tensor, score: torch.Tensor) -> torch.Tensor:
    """Weights y >= 0 of groups (..., n) -> fractions summing to 1; an all-empty group: 1 for its best score."""
    empty = y.sum(-1, keepdim=True) == 0
    best = torch.zeros_like(y).scatter_(-1, score.argmax(-1, keepdim=True), 1.0)
    y = torch.where(empty, best, y)
    return y / y.sum(-1, keepdim=True)


def _share(parts: torch.Tensor, whole: torch.Tensor) -> torch.Tensor:
    """parts / whole, 0 where the whole is empty (``whole`` broadcasts against ``parts``)."""
    return torch.where(whole > 0, parts / whole.clamp_min(1e-30), 0.0)


@dataclass(frozen=True)
class ShowerTransform:
    """Per-channel standardisation of the factorised shower; ``v_max``: (width,).

    ``mean`` and ``std`` are (width,) for one standardisation at every energy (formats 2-4), or
    (G, width) tables at the ``log_energies`` (G,) points of ln(E / MeV) (format 5). ``layers`` is
    ``L``; ``rings`` is ``R`` when the radial profile is a factor of its own, 0 for the format-2 layout
    without it; ``ring_eps`` is the offset of the ring fractions. ``v_max`` is the largest
    ``ln(y + eps)`` of each channel in the training data. ``cell_scale`` (MeV) is the unit of format-4
    absolute cells, 0 for cells as shares; cells below ``cell_floor`` of that unit come back empty.
    ``spread_window`` records how format-5 spread tables were fitted: True for the windowed rms of
    ``_energy_moments``, False for the first format-5 tables (a polynomial of the variance, floor 0.25).
    ``hits``: format 7, each cell an energy and a hit channel.
    """

    mean: torch.Tensor
    std: torch.Tensor
    v_max: torch.Tensor
    layers: int
    eps: float = EPS
    rings: int = 0
    ring_eps: float = RING_EPS
    cell_scale: float = 0.0
    cell_floor: float = 0.0
    log_energies: torch.Tensor | None = None
    spread_window: bool = False
    hits: bool = False

    @property
    def n_cells(self) -> int:
        """Cells of the mesh (format 7 has two channels for each)."""
        return (self.mean.shape[-1] - self.layers * (self.rings + 1) - 1) // (2 if self.hits else 1)

    def moments(self, energies_mev: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and spread of every channel at these energies, float64: (width,) each, or (B, width) in format 5.

        Between the tabulated energies linearly in ln E; beyond the training range, its end values.
        """
        mean, std = self.mean.to(torch.float64), self.std.to(torch.float64)
        if self.log_energies is None:
            return mean, std
        grid = self.log_energies.to(torch.float64)
        x = torch.log(energies_mev.to(torch.float64).reshape(-1)).clamp(grid[0], grid[-1])
        i = torch.searchsorted(grid, x).clamp(1, len(grid) - 1)
        w = ((x - grid[i - 1]) / (grid[i] - grid[i - 1]))[:, None]
        return mean[i - 1] * (1 - w) + mean[i] * w, std[i - 1] * (1 - w) + std[i] * w

    @staticmethod
    def factorise(
        showers: torch.Tensor,
        energies_mev: torch.Tensor,
        layers: int,
        eps: float,
        rings: int = 0,
        ring_eps: float = RING_EPS,
        cell_scale: float = 0.0,
        hits: bool = False,
    ) -> torch.Tensor:
        """(B, L A R) MeV, (B,) MeV -> (B, width) ``ln(y + eps)``, float64 (before standardisation)."""
        x = showers.to(torch.float64).clamp_min(0)
        if x.ndim != 2 or x.shape[1] % (layers * max(rings, 1)):
            msg = f"showers of shape {tuple(x.shape)} do not split into {layers} layers of {max(rings, 1)} rings"
            raise CaloforgeError(msg)
        B = len(x)
        if rings:
            cells = x.reshape(B, layers, -1, rings)  # (B, L, A, R)
            e_ring = cells.sum(2)
            e_layer = e_ring.sum(-1)
            whole = e_ring[:, :, None]
            profile = [torch.log(_share(e_ring, e_layer[..., None]).reshape(B, -1) + ring_eps)]
        else:
            cells = x.reshape(B, layers, -1)
            e_layer = cells.sum(-1)
            whole, profile = e_layer[..., None], []
        if hits:  # format 7: the energy where hit (0 elsewhere), then +1 for a hit cell and -1 for an empty one
            hit = x > 0
            v_cells = torch.cat([torch.where(hit, torch.log(x / cell_scale + CELL_EPS), 0.0), hit * 2.0 - 1], dim=1)
        elif cell_scale > 0:  # format 4: the cells in absolute units (the same L A R order)
            v_cells = torch.log(x / cell_scale + CELL_EPS)
        else:  # formats 2-3: shares of their ring (layer)
            v_cells = torch.log(_share(cells, whole).reshape(B, -1) + eps)
        e_sum = e_layer.sum(-1, keepdim=True)
        u = e_sum / energies_mev.reshape(-1, 1).to(torch.float64)
        return torch.cat([v_cells, *profile, torch.log(torch.cat([_share(e_layer, e_sum), u], dim=1) + eps)], dim=1)

    @classmethod
    def fit(
        cls,
        showers: ArrayLike,
        energies_mev: ArrayLike,
        layers: int,
        *,
        rings: int = 0,
        eps: float = EPS,
        ring_eps: float = RING_EPS,
        absolute_cells: bool = False,
        energy_moments: bool = False,
        hits: bool = False,
    ) -> ShowerTransform:
        """Measure mean, std and maximum per channel on training showers ((N, L A R) MeV and (N,) MeV).

        With ``absolute_cells`` (format 4) also the cell scale, from the non-empty cells; with
        ``energy_moments`` (format 5) the mean and std as functions of the incident energy; ``hits``
        (format 7, with absolute cells) adds a hit channel per cell, left at mean 0 and spread 1.
        """
        if hits and not (absolute_cells and rings):
            raise CaloforgeError("hit channels (format 7) need the cells in absolute units and the ring fractions")
        x = torch.as_tensor(np.asarray(showers))
        e = torch.as_tensor(np.asarray(energies_mev), dtype=torch.float64).reshape(-1)
        if x.ndim != 2 or len(x) != len(e) or len(x) < 2:
            msg = f"need (N, cells) showers and N energies with N >= 2, got {tuple(x.shape)} and {len(e)}"
            raise CaloforgeError(msg)
        scale = floor = 0.0
        if absolute_cells:
            deposits = x[x > 0].to(torch.float64)
            if not len(deposits):
                raise CaloforgeError("the training showers hold no energy: no cell scale to measure")
            scale, floor = float(np.quantile(deposits.numpy(), CELL_QUANTILE)), CELL_EPS
        v = torch.cat([cls.factorise(x[i : i + _CHUNK], e[i : i + _CHUNK], layers, eps, rings, ring_eps, scale, hits)
                       for i in range(0, len(x), _CHUNK)])  # fmt: skip
        std = v.std(dim=0).clamp_min(1e-3)  # a channel that is always empty keeps scale 1e-3, not 0
        mean, grid = v.mean(dim=0), None
        if energy_moments:
            grid, mean, std = _energy_moments(v, torch.log(e), std)
        if hits:  # the hit channels stay +-1: their sign decides
            n = x.shape[1]
            mean[..., n : 2 * n], std[..., n : 2 * n] = 0.0, 1.0
        return cls(mean.float(), std.float(), v.max(dim=0).values.float(), layers, eps, rings, ring_eps,
                   scale, floor, grid, spread_window=energy_moments, hits=hits)  # fmt: skip

    def forward(self, showers: torch.Tensor, energies_mev: torch.Tensor) -> torch.Tensor:
        """(B, L A R) MeV, (B,) MeV -> (B, width) standardised, float32 (in chunks: format 5's float64 moment
        tables are as large as the showers)."""
        if len(showers) > _CHUNK:
            return torch.cat([self.forward(showers[i : i + _CHUNK], energies_mev[i : i + _CHUNK])
                              for i in range(0, len(showers), _CHUNK)])  # fmt: skip
        v = self.factorise(
            showers, energies_mev, self.layers, self.eps, self.rings, self.ring_eps, self.cell_scale, self.hits
        )
        mean, std = self.moments(energies_mev)
        return ((v - mean) / std).float()

    def inverse(self, z: torch.Tensor, energies_mev: torch.Tensor) -> torch.Tensor:
        """(B, width) standardised, (B,) MeV -> (B, L A R) MeV, float32, >= 0."""
        mean, std = self.moments(energies_mev)
        v = z.to(torch.float64) * std + mean
        v = torch.minimum(v, self.v_max.to(v))  # no channel beyond what the training data held
        B, n, L, R = len(v), self.n_cells, self.layers, self.rings
        m = 2 * n if self.hits else n  # cell channels
        f = _fractions(v[:, -L - 1 : -1], self.eps)
        u = (torch.exp(v[:, -1:]) - self.eps).clamp_min(0)
        e_layer = energies_mev.reshape(-1, 1).to(torch.float64) * u * f  # (B, L)
        # format 4: absolute cells are weights within their ring (layer), zero below the floor
        cell_eps, floor = (CELL_EPS, self.cell_floor * (1 - 1e-4)) if self.cell_scale > 0 else (self.eps, _ZERO)
        if self.hits:  # format 7: the hit cells share their ring by their energies
            o, e_cells = (part.reshape(B, L, -1, R).transpose(2, 3) for part in (v[:, n:m], v[:, :n]))
            h = _normalised(torch.where(o > 0, (torch.exp(e_cells) - CELL_EPS).clamp_min(0), 0.0), o).transpose(2, 3)
        elif R:  # angular shares within each ring (over A, so the ring axis goes last for _fractions)
            h = _fractions(v[:, :n].reshape(B, L, -1, R).transpose(2, 3), cell_eps, floor).transpose(2, 3)
        if R:
            g = _fractions(v[:, m : m + L * R].reshape(B, L, R), self.ring_eps, ring_floor(self.ring_eps))
            return ((e_layer[..., None] * g)[:, :, None, :] * h).reshape(B, -1).float()
        c = _fractions(v[:, :n].reshape(B, L, -1), cell_eps, floor)
        return (e_layer[..., None] * c).reshape(B, -1).float()

    def state(self) -> dict[str, torch.Tensor]:
        f64 = torch.float64
        sizes = {"transform.layers": torch.tensor([self.layers]), "transform.rings": torch.tensor([self.rings]),
                 "transform.ring_eps": torch.tensor([self.ring_eps], dtype=f64),
                 "transform.cell_scale": torch.tensor([self.cell_scale, self.cell_floor], dtype=f64)}  # fmt: skip
        if self.log_energies is not None:
            sizes["transform.log_energies"] = self.log_energies
        if self.spread_window:
            sizes["transform.spread_window"] = torch.tensor([1])
        if self.hits:
            sizes["transform.hits"] = torch.tensor([1])
        return {"transform.mean": self.mean, "transform.std": self.std, "transform.v_max": self.v_max, **sizes}

    @classmethod
    def from_state(cls, tensors: dict[str, torch.Tensor], eps: float) -> ShowerTransform:
        try:
            layers = int(tensors["transform.layers"][0])
            rings = int(tensors["transform.rings"][0]) if "transform.rings" in tensors else 0  # format 2: none
            ring_eps = float(tensors["transform.ring_eps"][0]) if "transform.ring_eps" in tensors else eps
            scale, floor = tensors.get("transform.cell_scale", torch.zeros(2)).tolist()  # formats 2-3: shares
            grid = tensors.get("transform.log_energies")  # formats 2-4: one standardisation at every energy
            return cls(tensors["transform.mean"], tensors["transform.std"], tensors["transform.v_max"], layers, eps,
                       rings, ring_eps, scale, floor, grid, spread_window="transform.spread_window" in tensors,
                       hits="transform.hits" in tensors)  # fmt: skip
        except KeyError as err:
            msg = (f"checkpoint lacks the shower transform ({err.args[0]}): it was written by an older caloforge "
                   "whose cell-only transform is no longer supported; retrain")  # fmt: skip
            raise CaloforgeError(msg) from None


def _energy_moments(
    v: torch.Tensor, log_e: torch.Tensor, overall_std: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Format 5: (N, width) values and (N,) ln E -> the ln E grid (G,) and mean and std tables (G, width).

    The mean: least-squares Legendre polynomials in ln E (scaled to [-1, 1] over the training range). The
    spread: the rms residual in a Gaussian window of ln E one grid spacing wide around each grid point,
    floored at ``MOMENT_FLOOR`` of the overall spread.
    """
    lo, hi = float(log_e.min()), float(log_e.max())
    if not hi > lo:
        raise CaloforgeError("energy-dependent standardisation needs training showers of more than one energy")

    def basis(x: torch.Tensor) -> torch.Tensor:
        t = (2 * (x - lo) / (hi - lo) - 1).numpy()
        return torch.as_tensor(np.polynomial.legendre.legvander(t, MOMENT_DEGREE))

    phi = basis(log_e)
    mean_coef = torch.linalg.lstsq(phi, v).solution
    grid = torch.linspace(lo, hi, MOMENT_GRID, dtype=torch.float64)
    window = torch.exp(-0.5 * ((log_e[None] - grid[:, None]) / (grid[1] - grid[0])) ** 2)  # (G, N)
    window /= window.sum(1, keepdim=True)
    variance = torch.zeros(len(grid), v.shape[1], dtype=torch.float64)
    for i in range(0, len(v), _CHUNK):  # the squared residuals in chunks: they are as large as the showers
        residual = v[i : i + _CHUNK] - phi[i : i + _CHUNK] @ mean_coef
        variance += window[:, i : i + _CHUNK] @ residual**2
    return grid, basis(grid) @ mean_coef, torch.maximum(variance.sqrt(), MOMENT_FLOOR * overall_std)
