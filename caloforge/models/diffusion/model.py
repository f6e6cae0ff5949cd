"""A trained diffusion model ready to generate: config, EMA weights and shower transform from a run folder."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from caloforge.errors import CaloforgeError
from caloforge.geometry.mesh import ScoringMesh
from caloforge.models.checkpoint import load_tensors
from caloforge.models.diffusion.backbone import condition_vector
from caloforge.models.diffusion.config import DiffusionConfig
from caloforge.models.diffusion.denoiser import EDMDenoiser, sample_heun
from caloforge.models.diffusion.distill import ConsistencyStudent, sample_consistency
from caloforge.models.diffusion.preprocessing import ShowerTransform
from caloforge.models.diffusion.schedule import edm_sigmas

__all__ = ["DiffusionModel", "config_from_meta"]

MODEL_FILE = "model.safetensors"
FORMAT_VERSION = 7  # 2: factorised transform (cells, layer fractions, E_sum / E); 3: with ring fractions;
# 4: cells in absolute units (a cell scale near one MIP) instead of shares; 5: energy-dependent standardisation;
# 6: a reverted experiment (quantile-mapped profiles), not read; 7: a hit channel per cell (``hit_cells``)


def config_from_meta(meta: dict, where: str) -> DiffusionConfig:
    """The config a checkpoint's metadata holds; what older formats lacked is switched off; 1 is refused."""
    version = meta.get("format_version", 1)
    if version < 2:
        msg = (f"{where}: written by an older caloforge (format {version}, cell-only transform); this version "
               f"reads formats 2-{FORMAT_VERSION}: retrain the model")  # fmt: skip
        raise CaloforgeError(msg)
    if version > FORMAT_VERSION:
        msg = f"{where}: format {version} is newer than this caloforge reads ({FORMAT_VERSION}): upgrade caloforge"
        raise CaloforgeError(msg)
    if version == 6:
        msg = f"{where}: format 6 was an experiment (quantile-mapped profiles) that no release reads: retrain the model"
        raise CaloforgeError(msg)
    # the format each came with
    introduced = {"ring_fractions": 3, "absolute_cells": 4, "energy_moments": 5, "hit_cells": 7}
    older = {name: False for name, since in introduced.items() if version < since}
    values = {**meta["config"], **older}
    return DiffusionConfig.from_dict(values, where=f"{where} (config)")


@dataclass
class DiffusionModel:
    """Generate showers: ``sample(energy_mev, theta=, phi=, steps=, seed=)`` -> (N, L*A*R) float32 MeV.

    Conditions outside the training range are clamped into it with a warning (the model has not seen
    them; extrapolating a neural network is not physics).
    """

    config: DiffusionConfig
    denoiser: EDMDenoiser | ConsistencyStudent
    transform: ShowerTransform
    mesh: ScoringMesh
    geometry: str
    particle: str = "e-"
    geometry_json: str = ""
    sampling_fraction: float = 1.0
    label: str = "diffusion"
    default_steps: int = 18

    @classmethod
    def load(cls, run: str | Path, *, device: str = "cpu") -> DiffusionModel:
        path = Path(run)
        path = path / MODEL_FILE if path.is_dir() else path
        tensors, meta = load_tensors(path)
        if meta.get("family") != "diffusion":
            msg = f"{path}: not a diffusion model (family {meta.get('family')!r})"
            raise CaloforgeError(msg)
        config = config_from_meta(meta, str(path))
        weights = {k.removeprefix("ema."): v for k, v in tensors.items() if k.startswith("ema.")}
        transform = ShowerTransform.from_state(tensors, meta["eps"])
        return cls.from_parts(config, weights, transform, meta, device=device, where=str(path))

    @classmethod
    def from_parts(
        cls,
        config: DiffusionConfig,
        weights: dict[str, torch.Tensor],
        transform: ShowerTransform,
        meta: dict,
        *,
        device: str = "cpu",
        where: str = "weights",
    ) -> DiffusionModel:
        """A model from its config, (EMA) weights, transform and run metadata, as the checkpoint holds them."""
        denoiser = ConsistencyStudent(config) if meta.get("family_kind") == "consistency" else EDMDenoiser(config)
        try:
            denoiser.load_state_dict(weights)
        except RuntimeError as err:
            msg = f"{where}: weights do not match the config ({str(err).splitlines()[0]})"
            raise CaloforgeError(msg) from None
        denoiser.to(device).eval()
        mesh = ScoringMesh(**meta["mesh"])
        return cls(config, denoiser, transform, mesh, meta["geometry"], meta.get("particle", "e-"),
                   meta.get("geometry_json", ""), float(meta.get("sampling_fraction", 1.0)),
                   meta.get("label", "diffusion"), int(meta.get("default_steps", 18)))  # fmt: skip

    @property
    def distilled(self) -> bool:
        """True for a consistency-distilled generator (1-4 steps), False for the full EDM sampler."""
        return isinstance(self.denoiser, ConsistencyStudent)

    def _clamped(self, values: NDArray, bounds: tuple[float, float], what: str) -> NDArray:
        lo, hi = bounds
        # the training range is the data's extreme values: 1 % beyond it is the same spectrum, clamped silently;
        # stacklevel 4: the warning names the caller of sample (through torch's no_grad wrapper)
        outside = (values < lo - 0.01 * abs(lo)) | (values > hi + 0.01 * abs(hi))
        if outside.any():
            warnings.warn(f"{outside.sum()} {what} outside the training range {lo:g}-{hi:g}: clamped into it",
                          RuntimeWarning, stacklevel=4)  # fmt: skip
        return np.clip(values, lo, hi)

    @torch.no_grad()
    def sample(
        self,
        energy_mev: ArrayLike,
        *,
        theta: ArrayLike | None = None,
        phi: ArrayLike | None = None,
        steps: int | None = None,
        seed: int | np.random.Generator | None = None,
        batch_size: int = 1000,
    ) -> NDArray[np.float32]:
        """Showers at these conditions; the same seed gives the same showers on the same machine."""
        e = np.asarray(energy_mev, dtype=np.float64).reshape(-1)
        if e.size and not (np.all(np.isfinite(e)) and np.all(e > 0)):
            raise CaloforgeError("incident energies must be finite and > 0 MeV")
        lo, hi = self.config.energy_range_gev
        e = self._clamped(e, (lo * 1e3, hi * 1e3), "energies (MeV)")
        th = np.full_like(e, math.pi / 2) if theta is None else np.broadcast_to(np.asarray(theta, np.float64), e.shape)
        th = self._clamped(th, self.config.theta_range, "polar angles (rad)")
        ph = np.zeros_like(e) if phi is None else np.broadcast_to(np.asarray(phi, np.float64), e.shape)
        k = steps or self.default_steps
        if self.distilled:  # the first k levels of a (k+1)-level schedule: k evaluations of the student
            sigmas = edm_sigmas(k + 1, self.config.sigma_min, self.config.sigma_max, self.config.rho)[:k]
        else:
            sigmas = edm_sigmas(k, self.config.sigma_min, self.config.sigma_max, self.config.rho)
        if isinstance(seed, np.random.Generator):
            seed = int(seed.integers(2**62))
        generator = torch.Generator().manual_seed(0 if seed is None else int(seed))
        device = next(self.denoiser.parameters()).device
        geometry = self.config.geometries.index(self.geometry) if self.geometry in self.config.geometries else 0
        out = []
        for start in range(0, len(e), batch_size):
            sl = slice(start, start + batch_size)
            energies = torch.as_tensor(e[sl])
            cond = condition_vector(energies, torch.as_tensor(th[sl]), torch.as_tensor(ph[sl])).to(device)
            noise = torch.randn(len(energies), self.config.width, generator=generator).to(device)
            g = torch.full((len(energies),), geometry, dtype=torch.long, device=device)
            if self.distilled:
                z = sample_consistency(self.denoiser, noise, sigmas.to(device), cond=cond, geometry=g,
                                       generator=generator)  # fmt: skip
            else:
                z = sample_heun(self.denoiser, noise * sigmas[0], sigmas.to(device), cond=cond, geometry=g)
            out.append(self.transform.inverse(z.cpu(), energies).numpy())
        return np.concatenate(out) if out else np.zeros((0, self.mesh.n_cells), np.float32)
