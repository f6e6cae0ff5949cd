"""The GFlash parametrisation of electromagnetic showers, sampled straight into the caloforge mesh.

G. Grindhammer and S. Peters, "The parameterized simulation of electromagnetic showers in
homogeneous and sampling calorimeters", hep-ex/0001020; the constants are those of Geant4's
``GVFlashHomoShowerTuning`` and ``GFlashSamplingShowerTuning`` (the "stock" sets).

One shower, with ``y = E / E_c`` and depth ``t`` in radiation lengths:

* longitudinal profile: a gamma distribution ``dE/dt = E beta^alpha t^(alpha-1) e^(-beta t) / Gamma(alpha)``
  with maximum ``T = (alpha - 1) / beta``. ``(ln T, ln alpha)`` is drawn per shower from a correlated
  normal: ``<ln T> = ln(t0 + t1 ln y)``, ``<ln alpha> = ln(a0 + a1 ln y)``,
  ``sigma(ln T) = 1 / (sigma_t0 + sigma_t1 ln y)``, ``sigma(ln alpha) = 1 / (sigma_a0 + sigma_a1 ln y)``,
  ``rho = rho0 + rho1 ln y``;
* radial profile at depth ``tau = t / <t>_shower * abar / (abar - 1)`` (``abar = exp<ln alpha>``), in
  Moliere radii: ``f(r) = p 2r Rc^2 / (r^2 + Rc^2)^2 + (1 - p) 2r Rt^2 / (r^2 + Rt^2)^2`` with
  ``Rc = rc0 + rc1 ln E + rc2 tau + rc3 e^-tau``,
  ``p = p1 exp(x - e^x) + pw0 + pw1 e^-(tau-1)^2`` where ``x = (p2 - tau) / (p30 + p31 ln E)``,
  ``Rt = k1 (e^(k3 (tau - k2)) + e^((k40 + k41 ln E)(tau - k2))) + rt0 + rt1 e^-tau`` (E in GeV);
* energy spots: ``N = n1 E^n2`` spots whose depths follow a gamma distribution with
  ``T_spot = spot_t T`` and ``alpha_spot = spot_a alpha``; each spot carries the energy of its depth
  slice divided by the spots in it (the depth of each spot is drawn, so deep layers can stay empty, as
  in full simulation; a slice no spot fell in hands its energy to the others), and lands at a radius
  drawn from ``f(r)`` and a uniform angle;
* sampling calorimeters: the sampling-frequency and e/mip corrections (``F_s = X0_eff / d``,
  ``e_hat = 1 / (1 + 0.007 (Z_passive - Z_active))``) are folded into t0, a0, rc0, rc3, pw0, pw1, rt0
  and rt1 of the stock set, and every cell's energy fluctuates by a gamma distribution with variance
  ``c^2 E_cell`` (``sampling_term`` c in GeV^1/2), so that ``sigma(E)/E = c / sqrt(E)``.

The mesh is aligned with the particle and starts where it enters the calorimeter, so a shower is
sampled in its own frame for any direction; only the back of the calorimeter, ``depth / sin(theta)``
along the axis, depends on the angle (energy behind it leaks, as in full simulation). Spots are not
drawn one by one: the spots of a layer are shared among its cells by one multinomial draw, which is
the same in distribution and makes a 50 GeV shower cost well under a millisecond on the 6480-cell
mesh.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import gammainc

from caloforge.errors import CaloforgeError
from caloforge.geometry.layout import Calorimeter
from caloforge.geometry.mesh import ScoringMesh

__all__ = ["GFlash", "GFlashMedium", "GFlashParameters", "stock_parameters"]

_GEV = 1000.0
_PARTICLES = ("e-", "e+", "gamma")
_PHOTON_START_X0 = 9.0 / 7.0  # mean depth of a photon's first conversion
_CHUNK = 256  # showers per multinomial block: ~40 MB of counts on the 6480-cell mesh


@dataclass(frozen=True)
class GFlashMedium:
    """The effective material of a calorimeter as GFlash sees it (lengths mm, energies MeV)."""

    z_eff: float
    x0_mm: float
    rm_mm: float
    critical_energy_mev: float
    sampling: bool
    sampling_frequency: float = 0.0  # F_s = X0_eff / (d_passive + d_active) per sampling period
    e_hat: float = 1.0  # e/mip = 1 / (1 + 0.007 (Z_passive - Z_active))
    depth_mm: float = math.inf  # thickness of the calorimeter: nothing is deposited behind it

    @classmethod
    def of(cls, calorimeter: Calorimeter) -> GFlashMedium:
        """The effective medium of a layered calorimeter; its deepest stack sets the sampling period."""
        if calorimeter.homogeneous:
            return cls(calorimeter.z_eff, calorimeter.x0_mm, calorimeter.rm_mm, calorimeter.critical_energy_mev, False,
                       depth_mm=calorimeter.depth_mm)  # fmt: skip
        stack = max(calorimeter.stacks, key=lambda s: s.thickness_mm * s.repeat)
        period = sum(layer.thickness_mm for layer in stack.layers)

        def mass_weighted_z(active: bool) -> float:
            layers = [layer for layer in calorimeter.layers if layer.active == active]
            mass = [layer.thickness_mm * layer.properties.density_g_cm3 for layer in layers]
            return sum(m * layer.properties.z_eff for m, layer in zip(mass, layers, strict=True)) / sum(mass)

        e_hat = 1.0 / (1.0 + 0.007 * (mass_weighted_z(False) - mass_weighted_z(True)))
        return cls(calorimeter.z_eff, calorimeter.x0_mm, calorimeter.rm_mm, calorimeter.critical_energy_mev, True,
                   calorimeter.x0_mm / period, e_hat, calorimeter.depth_mm)  # fmt: skip


@dataclass(frozen=True)
class GFlashParameters:
    """Every coefficient of the parametrisation (see the module docstring for the formulas)."""

    t0: float
    t1: float
    a0: float
    a1: float
    sigma_t0: float
    sigma_t1: float
    sigma_a0: float
    sigma_a1: float
    rho0: float
    rho1: float
    rc0: float
    rc1: float
    rc2: float
    rc3: float
    p1: float
    p2: float
    p30: float
    p31: float
    pw0: float
    pw1: float
    k1: float
    k2: float
    k3: float
    k40: float
    k41: float
    rt0: float
    rt1: float
    spot_t: float
    spot_a: float
    spot_n1: float
    spot_n2: float
    sampling_term: float = 0.0
    response: float = 1.0

    def to_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], *, where: str = "parameters") -> GFlashParameters:
        """Build from a mapping, with one clear error for a missing, unknown or unphysical value."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - names)
        missing = sorted(n for n in names - set(values) if n not in ("sampling_term", "response"))
        if unknown or missing:
            msg = f"{where}: " + "; ".join(
                part for part in (f"unknown {', '.join(unknown)}" if unknown else "",
                                  f"missing {', '.join(missing)}" if missing else "") if part
            )  # fmt: skip
            raise CaloforgeError(msg)
        try:
            params = cls(**{k: float(v) for k, v in values.items()})
        except (TypeError, ValueError) as err:
            msg = f"{where}: every parameter must be a number ({err})"
            raise CaloforgeError(msg) from None
        params.check(where)
        return params

    def check(self, where: str = "parameters") -> None:
        """Refuse values outside physical ranges (a negative spot count, a sampling term above 1, ...)."""
        values = self.to_dict()
        bad = [k for k, v in values.items() if not math.isfinite(v)]
        limits = {"spot_n1": (0.0, 1e7), "spot_n2": (0.0, 2.0), "spot_t": (0.05, 20.0), "spot_a": (0.05, 20.0),
                  "sampling_term": (0.0, 1.0), "response": (0.05, 2.0), "t1": (0.0, 5.0),
                  "a1": (-5.0, 5.0)}  # fmt: skip
        bad += [f"{k}={values[k]:g} (allowed {lo:g} to {hi:g})" for k, (lo, hi) in limits.items()
                if not lo <= values[k] <= hi]  # fmt: skip
        if bad:
            msg = f"{where}: parameters outside their physical range: {', '.join(bad)}"
            raise CaloforgeError(msg)


def stock_parameters(medium: GFlashMedium, *, sampling_term: float = 0.11) -> GFlashParameters:
    """The published parameters (Geant4's GFlash tuning classes) evaluated for this medium.

    Args:
        medium: the effective medium (:meth:`GFlashMedium.of`).
        sampling_term: c of ``sigma/E = c / sqrt(E/GeV)`` for sampling calorimeters (Geant4's default
            ``SamplingResolution`` 0.11); homogeneous media get 0.
    """
    z = medium.z_eff
    p = {
        "t0": -0.812, "t1": 1.0, "a0": 0.81, "a1": 0.458 + 2.26 / z,
        "sigma_t0": -1.4, "sigma_t1": 1.26, "sigma_a0": -0.58, "sigma_a1": 0.86, "rho0": 0.705, "rho1": -0.023,
        "rc0": 0.0251, "rc1": 0.00319, "rc2": 0.1162 - 0.000381 * z, "rc3": 0.0,
        "p1": 2.632 - 0.00094 * z, "p2": 0.401 + 0.00187 * z, "p30": 1.313, "p31": -0.0686, "pw0": 0.0, "pw1": 0.0,
        "k1": 0.659 - 0.00309 * z, "k2": 0.645, "k3": -2.59, "k40": 0.3585, "k41": 0.0412, "rt0": 0.0, "rt1": 0.0,
        "spot_t": 0.698 + 0.00212 * z, "spot_a": 0.639 + 0.00334 * z, "spot_n1": 93.0 * math.log(z),
        "spot_n2": 0.876, "sampling_term": 0.0, "response": 1.0,
    }  # fmt: skip
    if medium.sampling:
        inv_fs, one_minus_e = 1.0 / medium.sampling_frequency, 1.0 - medium.e_hat
        p |= {
            "t0": -0.812 - 0.55 * inv_fs - 0.69 * one_minus_e, "a0": 0.81 - 0.476 * inv_fs,
            "sigma_t0": -2.5, "sigma_t1": 1.25, "sigma_a0": -0.82, "sigma_a1": 0.79, "rho0": 0.784, "rho1": -0.023,
            "rc0": p["rc0"] - 0.0203 * one_minus_e, "rc3": 0.0397 * inv_fs,
            "pw0": 0.348 * one_minus_e, "pw1": -0.642 * inv_fs * one_minus_e,
            "rt0": -0.14 * one_minus_e, "rt1": -0.495 * inv_fs,
            "spot_t": 0.813 + 0.0019 * z, "spot_a": 0.844 + 0.0026 * z, "spot_n1": 10.3 / sampling_term,
            "spot_n2": 0.959, "sampling_term": sampling_term,
        }  # fmt: skip
    return GFlashParameters(**p)


@dataclass(frozen=True)
class _Profiles:
    """Per-shower quantities of one batch (B showers, L layers)."""

    t_max: NDArray[np.float64]  # (B,) T, X0
    alpha: NDArray[np.float64]  # (B,)
    layer_fraction: NDArray[np.float64]  # (B, L) energy fraction per layer
    spots: NDArray[np.int64]  # (B, L)
    radial: NDArray[np.float64]  # (B, L, R + 1) probabilities of the radial bins and beyond


@dataclass(frozen=True)
class GFlash:
    """A GFlash model: medium, parameters and the mesh it deposits into.

    Example:
        >>> from caloforge.geometry import get_geometry, mesh_for
        >>> calo = get_geometry("par04-pbwo4")
        >>> model = GFlash.stock(calo, mesh_for(calo))
        >>> showers = model.sample(np.full(3, 10_000.0), seed=1)   # three 10 GeV e-, MeV per cell
        >>> showers.shape, bool(0.9 < showers.sum(axis=1).mean() / 10_000 < 1.0)
        ((3, 6480), True)
    """

    medium: GFlashMedium
    parameters: GFlashParameters
    mesh: ScoringMesh
    geometry: str = ""
    particle: str = "e-"
    geometry_json: str = ""
    sampling_fraction: float = 1.0  # of the reference the model was tuned on (metadata of its output)
    label: str = "stock"  # "stock" (published parameters) or "tuned"

    @classmethod
    def stock(cls, calorimeter: Calorimeter, mesh: ScoringMesh, *, particle: str = "e-") -> GFlash:
        """The published parametrisation for this calorimeter (e-, e+ or gamma)."""
        if particle not in _PARTICLES:
            msg = f"GFlash simulates electromagnetic showers of {', '.join(_PARTICLES)}, not '{particle}'"
            raise CaloforgeError(msg)
        medium = GFlashMedium.of(calorimeter)
        return cls(medium, stock_parameters(medium), mesh, calorimeter.name, particle, calorimeter.to_json())

    def with_parameters(self, **changes: float) -> GFlash:
        params = replace(self.parameters, **changes)
        params.check()
        return replace(self, parameters=params)

    # -- the parametrisation -------------------------------------------------------------------

    def mean_log_t_alpha(self, energy_mev: ArrayLike) -> tuple[NDArray, NDArray]:
        """<ln T> and <ln alpha> at these energies."""
        p, ln_y = self.parameters, np.log(np.asarray(energy_mev, dtype=np.float64) / self.medium.critical_energy_mev)
        return np.log(np.maximum(p.t0 + p.t1 * ln_y, 0.1)), np.log(np.maximum(p.a0 + p.a1 * ln_y, 1.1))

    def _fluctuations(self, ln_y: NDArray) -> tuple[NDArray, NDArray, NDArray]:
        p = self.parameters

        def width(c0: float, c1: float) -> NDArray:
            denominator = c0 + c1 * ln_y
            return np.where(denominator > 2.0, 1.0 / np.maximum(denominator, 2.0), 0.5)  # at most 0.5, as Geant4

        rho = np.clip(p.rho0 + p.rho1 * ln_y, -0.99, 0.99)
        return width(p.sigma_t0, p.sigma_t1), width(p.sigma_a0, p.sigma_a1), rho

    def _layer_edges_x0(self) -> NDArray[np.float64]:
        return np.arange(self.mesh.n_layers + 1) * self.mesh.dz_mm / self.medium.x0_mm

    def _profiles(self, energy: NDArray, limit_x0: NDArray, rng: np.random.Generator) -> _Profiles:
        p, medium = self.parameters, self.medium
        ln_y = np.log(energy / medium.critical_energy_mev)
        mean_ln_t, mean_ln_a = self.mean_log_t_alpha(energy)
        sig_t, sig_a, rho = self._fluctuations(ln_y)
        z1, z2 = rng.standard_normal((2, len(energy)))
        c1, c2 = np.sqrt((1 + rho) / 2), np.sqrt((1 - rho) / 2)
        t_max = np.maximum(np.exp(mean_ln_t + sig_t * (c1 * z1 + c2 * z2)), 0.1)
        alpha = np.maximum(np.exp(mean_ln_a + sig_a * (c1 * z1 - c2 * z2)), 1.1)
        beta = (alpha - 1.0) / t_max
        # depth of the layer edges in the shower, stopped at the back of the calorimeter (the rest leaks)
        edges = np.minimum(self._layer_edges_x0()[None, :], limit_x0[:, None])
        if self.particle == "gamma":  # the shower starts where the photon converts
            edges = np.maximum(edges - rng.exponential(_PHOTON_START_X0, (len(energy), 1)), 0.0)
        fraction = np.diff(gammainc(alpha[:, None], beta[:, None] * edges), axis=1)

        alpha_s = np.maximum(alpha * p.spot_a, 1.1)
        beta_s = (alpha_s - 1.0) / np.maximum(t_max * p.spot_t, 0.05)
        spot_fraction = np.diff(gammainc(alpha_s[:, None], beta_s[:, None] * edges), axis=1)
        n_spots = p.spot_n1 * (energy / _GEV) ** p.spot_n2
        beyond = np.clip(1.0 - spot_fraction.sum(axis=1, keepdims=True), 0.0, 1.0)
        depth_p = np.concatenate([spot_fraction, beyond], axis=1)
        n_total = np.maximum(np.rint(n_spots), 1).astype(np.int64)
        spots = rng.multinomial(n_total, depth_p / depth_p.sum(axis=1, keepdims=True))[:, :-1]
        # a layer no spot fell in hands its energy to the layers that have spots (the budget is kept)
        kept = np.where(spots > 0, fraction, 0.0)
        total_kept = kept.sum(axis=1, keepdims=True)
        fraction = np.divide(kept * fraction.sum(axis=1, keepdims=True), total_kept, out=np.zeros_like(kept),
                             where=total_kept > 0)  # fmt: skip

        centres = 0.5 * (edges[:, 1:] + edges[:, :-1])
        mean_alpha = np.exp(mean_ln_a)
        tau = centres * (beta / alpha)[:, None] * (mean_alpha / (mean_alpha - 1.0))[:, None]
        radial = self.radial_probabilities(energy, tau)
        return _Profiles(t_max, alpha, fraction, spots, radial)

    def radial_probabilities(self, energy_mev: ArrayLike, tau: ArrayLike) -> NDArray[np.float64]:
        """Probability of each radial bin of the mesh, and of landing beyond it, at depths ``tau``.

        Args:
            energy_mev: (B,) incident energies.
            tau: (B, L) depths in units of the shower (see the module docstring).

        Returns:
            (B, L, R + 1): the R radial bins, then the part beyond the mesh.
        """
        p = self.parameters
        tau = np.asarray(tau, dtype=np.float64)
        le = np.log(np.asarray(energy_mev, dtype=np.float64) / _GEV)[:, None]
        rc = np.maximum(p.rc0 + p.rc1 * le + p.rc2 * tau + p.rc3 * np.exp(-tau), 1e-3)
        p3 = p.p30 + p.p31 * le
        x = (p.p2 - tau) / np.where(np.abs(p3) > 1e-3, p3, 1e-3)
        core = p.p1 * np.exp(np.minimum(x, 50.0) - np.exp(np.minimum(x, 50.0)))
        weight = np.clip(core + p.pw0 + p.pw1 * np.exp(-((tau - 1) ** 2)), 0.0, 1.0)[..., None]
        k4 = p.k40 + p.k41 * le
        shifted = tau - p.k2
        rt = p.k1 * (np.exp(np.clip(p.k3 * shifted, -50, 50)) + np.exp(np.clip(k4 * shifted, -50, 50)))
        rt = np.maximum(rt + p.rt0 + p.rt1 * np.exp(-tau), 1e-3)[..., None]
        u2 = (np.arange(self.mesh.n_r + 1) * self.mesh.dr_mm / self.medium.rm_mm) ** 2
        cdf = weight * u2 / (u2 + rc[..., None] ** 2) + (1 - weight) * u2 / (u2 + rt**2)
        return np.clip(np.concatenate([np.diff(cdf, axis=-1), 1.0 - cdf[..., -1:]], axis=-1), 0.0, 1.0)

    # -- sampling ------------------------------------------------------------------------------

    def _batch(
        self, energy: NDArray, limit_x0: NDArray, rng: np.random.Generator, fluctuate: bool
    ) -> tuple[NDArray, NDArray]:
        """Cells (B, L*A*R) in MeV and the energy that left the mesh (B,), before sampling fluctuations."""
        L, A, R = self.mesh.shape
        prof = self._profiles(energy, limit_x0, rng)
        radial = prof.radial / prof.radial.sum(axis=-1, keepdims=True)
        pvals = np.concatenate([np.repeat(radial[..., None, :R] / A, A, axis=-2).reshape(len(energy), L, A * R),
                                radial[..., R:]], axis=-1)  # fmt: skip
        counts = rng.multinomial(prof.spots, pvals)
        deposited = energy[:, None] * self.parameters.response * prof.layer_fraction
        spot_energy = np.divide(deposited, prof.spots, out=np.zeros_like(deposited), where=prof.spots > 0)
        cells = counts[..., : A * R] * spot_energy[..., None]
        lost = energy * self.parameters.response - cells.sum(axis=(1, 2))
        cells = cells.reshape(len(energy), L * A * R)
        c2 = self.parameters.sampling_term**2 * _GEV
        if fluctuate and c2 > 0:
            hit = cells > 0
            cells[hit] = rng.gamma(cells[hit] / c2, c2)
        return cells, lost

    def _chunks(
        self, energy_mev: ArrayLike, seed: int | np.random.Generator | None, theta: ArrayLike | None = None
    ) -> Iterator[tuple[NDArray, NDArray, np.random.Generator]]:
        """Energies, depth limits (X0 along the axis) and a generator per block of showers."""
        energy = np.asarray(energy_mev, dtype=np.float64).reshape(-1)
        if energy.size and not (np.all(np.isfinite(energy)) and np.all(energy > 0)):
            msg = "incident energies must be finite and > 0 MeV"
            raise CaloforgeError(msg)
        # a barrel calorimeter is crossed over depth / sin(theta) (theta: polar angle to the axis)
        sin_theta = np.ones_like(energy) if theta is None else np.abs(np.sin(np.asarray(theta, np.float64)))
        limit = self.medium.depth_mm / np.maximum(sin_theta.reshape(-1), 0.05) / self.medium.x0_mm
        limit = np.broadcast_to(limit, energy.shape)
        starts = range(0, len(energy), _CHUNK)
        # one child generator per chunk: what a chunk draws never shifts the draws of the next
        if isinstance(seed, np.random.Generator):
            children = seed.spawn(len(starts))
        else:
            children = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(len(starts))]
        for start, rng in zip(starts, children, strict=True):
            yield energy[start : start + _CHUNK], limit[start : start + _CHUNK], rng

    def sample(
        self,
        energy_mev: ArrayLike,
        *,
        theta: ArrayLike | None = None,
        seed: int | np.random.Generator | None = None,
        fluctuate: bool = True,
    ) -> NDArray[np.float32]:
        """Showers at these incident energies, (N, L*A*R) float32 MeV per cell, in the mesh's order.

        Args:
            energy_mev: (N,) incident energies, MeV (any value > 0: outside the published 1-100 GeV
                the formulas are extrapolated, with the clamps of Geant4's implementation).
            seed: seed or generator; the same seed gives the same showers.
            theta: (N,) polar angles, rad (default pi/2, normal incidence on the barrel): the shower is
                the same in its own frame, but the calorimeter ends after depth / sin(theta).
            fluctuate: apply the sampling fluctuations (off: the energy of the spots, exactly).
        """
        blocks = self._chunks(energy_mev, seed, theta)
        parts = [self._batch(e, lim, rng, fluctuate)[0].astype(np.float32) for e, lim, rng in blocks]
        return np.concatenate(parts) if parts else np.zeros((0, self.mesh.n_cells), np.float32)

    def sample_with_leakage(
        self, energy_mev: ArrayLike, *, seed: int | np.random.Generator | None = None
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Cells without sampling fluctuations and the energy that leaked out of the mesh, per shower.

        ``cells.sum(axis=1) + leaked == response * E`` to rounding: the energy budget of the spots.
        """
        parts = [self._batch(e, lim, rng, False) for e, lim, rng in self._chunks(energy_mev, seed)]
        if not parts:
            return np.zeros((0, self.mesh.n_cells)), np.zeros(0)
        return np.concatenate([c for c, _ in parts]), np.concatenate([lost for _, lost in parts])

    def longitudinal_parameters(
        self, energy_mev: ArrayLike, *, seed: int | np.random.Generator | None = None
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """The (T, alpha) drawn for showers at these energies (the same draws as :meth:`sample`)."""
        parts = [self._profiles(e, lim, rng) for e, lim, rng in self._chunks(energy_mev, seed)]
        return np.concatenate([p.t_max for p in parts]), np.concatenate([p.alpha for p in parts])

    # -- files ---------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": "gflash",
            "format_version": 1,
            "geometry": self.geometry,
            "particle": self.particle,
            "label": self.label,
            "sampling_fraction": self.sampling_fraction,
            "medium": asdict(self.medium),
            "mesh": asdict(self.mesh),
            "parameters": self.parameters.to_dict(),
            "geometry_json": self.geometry_json,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, where: str = "GFlash parameters") -> GFlash:
        try:
            if d.get("model") != "gflash":
                msg = f"{where}: not a GFlash parameter file (model is {d.get('model')!r})"
                raise CaloforgeError(msg)
            medium = GFlashMedium(**d["medium"])
            mesh = ScoringMesh(**d["mesh"])
        except (KeyError, TypeError) as err:
            msg = f"{where}: malformed GFlash parameter file ({err})"
            raise CaloforgeError(msg) from None
        particle = str(d.get("particle", "e-"))
        if particle not in _PARTICLES:
            msg = f"{where}: particle '{particle}' is not one of {', '.join(_PARTICLES)}"
            raise CaloforgeError(msg)
        params = GFlashParameters.from_dict(d["parameters"], where=where)
        return cls(medium, params, mesh, str(d.get("geometry", "")), particle, str(d.get("geometry_json", "")),
                   float(d.get("sampling_fraction", 1.0)), str(d.get("label", "tuned")))  # fmt: skip

    def save(self, path: str | Path, **extra: Any) -> Path:
        """Write the parameters as readable JSON (plus any ``extra`` blocks, e.g. the fit quality)."""
        out = Path(path)
        out.write_text(json.dumps({**self.to_dict(), **extra}, indent=1) + "\n", encoding="utf-8")
        return out

    @classmethod
    def load(cls, path: str | Path) -> GFlash:
        path = Path(path)
        if path.is_dir():
            path = path / "gflash.json"
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            msg = f"{path}: no GFlash parameter file here"
            raise CaloforgeError(msg) from None
        except json.JSONDecodeError as err:
            msg = f"{path}: not valid JSON ({err.msg}, line {err.lineno})"
            raise CaloforgeError(msg) from None
        return cls.from_dict(d, where=str(path))
