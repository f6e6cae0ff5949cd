"""``caloforge generate`` as functions: find a model by name or run folder, stream showers to a file."""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from caloforge.data.conditions import draw_conditions
from caloforge.data.showerfile import ShowerMeta, ShowerWriter, part_path
from caloforge.errors import CaloforgeError
from caloforge.geometry.catalogue import get_geometry
from caloforge.geometry.layout import Calorimeter
from caloforge.geometry.mesh import mesh_for
from caloforge.models.gflash import GFlash

__all__ = [
    "BUILTIN_MODELS",
    "MODEL_FAMILIES",
    "builtin_model_path",
    "generate_to_file",
    "load_model",
]

MODEL_FAMILIES = ("gflash",)
# trained models shipped in caloforge/models/pretrained/: the diffusion model and its 1-4-step distillation
BUILTIN_MODELS = ("par04-siw-diffusion", "par04-siw-diffusion-distilled")


def builtin_model_path(name: str) -> Path:
    """The folder of a pretrained model shipped with caloforge."""
    return Path(str(resources.files("caloforge.models") / "pretrained" / name))


def load_model(spec: str | Path, geometry: str | Calorimeter | None = None, *, particle: str = "e-") -> Any:
    """A model from a family name (its stock configuration for ``geometry``) or a training run folder.

    Returns a :class:`~caloforge.models.GFlash` or a :class:`~caloforge.models.diffusion.DiffusionModel`:
    both have ``sample(energy_mev, theta=, seed=)`` and the metadata a shower file records.

    Raises:
        CaloforgeError: an unknown name, a run folder without a model, or a geometry other than the
            one the run was trained on.
    """
    path = Path(spec)
    if str(spec) in BUILTIN_MODELS:
        path = builtin_model_path(str(spec))
        if not (path / "model.safetensors").exists():
            msg = (f"the built-in model '{spec}' is not part of this installation yet: train one with "
                   "benchmarks/diffusion_training.sh and pass its run folder")  # fmt: skip
            raise CaloforgeError(msg)
    name = geometry.name if isinstance(geometry, Calorimeter) else geometry
    if path.is_dir() and (path / "model.safetensors").exists():
        from caloforge.models.diffusion.model import DiffusionModel  # imports torch

        model = DiffusionModel.load(path)
        if name and name != model.geometry:
            msg = f"{spec} was trained on geometry '{model.geometry}', not '{name}'"
            raise CaloforgeError(msg)
        return model
    if path.is_dir() or path.suffix == ".json":
        model = GFlash.load(path)
        if name and model.geometry and name != model.geometry:
            msg = f"{spec} was tuned on geometry '{model.geometry}', not '{name}'; tune it on '{name}' first"
            raise CaloforgeError(msg)
        if particle != model.particle:
            msg = f"{spec} was tuned on {model.particle} showers, not {particle}"
            raise CaloforgeError(msg)
        return model
    if str(spec) in MODEL_FAMILIES:
        if geometry is None:
            msg = f"the stock '{spec}' model needs a geometry (-g NAME or a geometry file)"
            raise CaloforgeError(msg)
        calo = get_geometry(geometry) if isinstance(geometry, str) else geometry
        return GFlash.stock(calo, mesh_for(calo), particle=particle)
    known = ", ".join((*MODEL_FAMILIES, *BUILTIN_MODELS))
    msg = f"unknown model '{spec}': give a run folder of `caloforge train` or one of {known}"
    raise CaloforgeError(msg)


def generate_to_file(
    model: Any,
    path: str | Path,
    *,
    n: int,
    energy_gev: tuple[float, float] = (1.0, 100.0),
    theta: tuple[float, float] | None = None,
    phi: tuple[float, float] | None = None,
    seed: int = 0,
    chunk_size: int = 1000,
    overwrite: bool = False,
    progress: bool = False,
    **sample_options: Any,
) -> Path:
    """Generate ``n`` showers into a shower file, chunk by chunk (``NAME.part`` until it is complete).

    Args:
        model: the fast simulator.
        path: output shower file.
        n: number of showers.
        energy_gev: (lo, hi) GeV, log-uniform; lo == hi for one energy.
        theta, phi: (lo, hi) rad, uniform; default normal incidence on the barrel (theta = pi/2, phi = 0),
            as ``caloforge simulate``.
        seed: seeds the conditions and the showers; the same seed gives the same file.
        chunk_size: showers per chunk written.
        overwrite: replace an existing file.
        progress: show a progress bar.
        sample_options: passed to the model's ``sample`` (e.g. ``steps`` of a diffusion model).

    Raises:
        CaloforgeError: n < 1, energies not > 0, or an existing output without ``overwrite``.
    """
    path = Path(path)
    lo, hi = energy_gev
    if n < 1 or not (0 < lo <= hi):
        msg = f"need n >= 1 and 0 < E_min <= E_max, got n={n}, energies {lo}:{hi} GeV"
        raise CaloforgeError(msg)
    if (path.exists() or part_path(path).exists()) and not overwrite:
        msg = f"{path} exists (pass overwrite to replace it)"
        raise CaloforgeError(msg)
    with_angles = theta is not None or phi is not None
    theta, phi = theta or (math.pi / 2, math.pi / 2), phi or (0.0, 0.0)
    name = f"caloforge gflash ({model.label})" if isinstance(model, GFlash) else f"caloforge {model.label}"
    meta = ShowerMeta(mesh=model.mesh, geometry=model.geometry, geometry_json=model.geometry_json,
                      sampling_fraction=model.sampling_fraction, particle=model.particle, generator=name,
                      seed=seed)  # fmt: skip
    chunks = range((n + chunk_size - 1) // chunk_size)
    columns = (TextColumn(f"{model.label} -> {path.name}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    bar = Progress(*columns, disable=not progress)
    with bar, ShowerWriter(path, meta, with_angles=with_angles, overwrite=overwrite) as writer:
        task = bar.add_task("generate", total=n)
        for chunk in chunks:
            size = min(chunk_size, n - chunk * chunk_size)
            energy, th, ph, _ = draw_conditions(seed, chunk, chunk_size, (lo, hi), theta, phi)
            energy, th, ph = energy[:size], th[:size], ph[:size]  # the draws of a full chunk, as simulate
            rng = np.random.default_rng(np.random.SeedSequence([seed, chunk, 1]))
            showers = model.sample(energy, theta=th if with_angles else None, seed=rng, **sample_options)
            writer.append(energy, showers, theta=th if with_angles else None, phi=ph if with_angles else None)
            bar.advance(task, size)
    return path
