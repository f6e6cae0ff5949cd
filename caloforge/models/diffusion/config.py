"""The configuration of a diffusion model: the dataclass whose fields are the run's ``config.json``."""

from __future__ import annotations

import difflib
import itertools
from dataclasses import asdict, dataclass, fields
from typing import Any

from caloforge.errors import CaloforgeError

__all__ = ["DiffusionConfig"]


@dataclass(frozen=True)
class DiffusionConfig:
    """Architecture and EDM settings. ``mesh`` and ``patch`` are (layers, angles, radii).

    ``ring_fractions``: the radial profile of each layer is a factor of the model's vector of its own
    (see :mod:`~caloforge.models.diffusion.preprocessing`); False is the format-2 layout without it.
    ``absolute_cells``: the cells in units of a cell scale near one MIP (format 4) rather than as shares
    of their ring or layer (formats 2-3). ``energy_moments``: each channel standardised with a mean and
    spread that follow the incident energy (format 5) rather than one for all energies (formats 2-4).
    ``hit_cells``: each cell an energy channel and a hit channel (format 7, on top of format 5).

    The defaults (~1M parameters; 108 patches of 5 x 4 x 3 cells and 10 energy tokens) train on a CPU
    at ~0.5 s per step of 64 showers on two cores; ``patch=(3, 2, 3), dim=384, depth=12, heads=6``
    (360 patches, ~25M parameters) is the GPU configuration.
    """

    mesh: tuple[int, int, int] = (45, 16, 9)
    patch: tuple[int, int, int] = (5, 4, 3)
    dim: int = 128
    depth: int = 4
    heads: int = 4
    mlp_ratio: float = 2.0
    geometries: tuple[str, ...] = ("par04-siw",)
    sigma_data: float = 1.0  # measured on the transformed training data and stored here
    sigma_min: float = 0.002
    sigma_max: float = 80.0
    rho: float = 7.0
    p_mean: float = -1.2
    p_std: float = 1.2
    energy_range_gev: tuple[float, float] = (1.0, 100.0)
    theta_range: tuple[float, float] = (1.5707963267948966, 1.5707963267948966)
    ring_fractions: bool = True
    absolute_cells: bool = True
    energy_moments: bool = True
    hit_cells: bool = False

    def __post_init__(self) -> None:
        for n, p, what in zip(self.mesh, self.patch, ("layers", "angles", "radii"), strict=True):
            if p < 1 or n % p:
                msg = f"patch size {p} does not divide the {n} {what} of the mesh {self.mesh}"
                raise CaloforgeError(msg)
        if self.dim % self.heads or self.dim % 2:
            msg = f"dim {self.dim} must be even and divisible by heads {self.heads}"
            raise CaloforgeError(msg)
        if not self.geometries:
            raise CaloforgeError("a diffusion model needs at least one geometry")
        if self.hit_cells and not (self.absolute_cells and self.ring_fractions):
            raise CaloforgeError("hit_cells (format 7) needs absolute_cells and ring_fractions")

    @property
    def tokens(self) -> int:
        """Cell patches, one token per layer patch (its layer and ring fractions), one for E_sum / E."""
        cells = (self.mesh[0] // self.patch[0]) * (self.mesh[1] // self.patch[1]) * (self.mesh[2] // self.patch[2])
        return cells + self.mesh[0] // self.patch[0] + 1

    @property
    def n_cells(self) -> int:
        return self.mesh[0] * self.mesh[1] * self.mesh[2]

    @property
    def cell_channels(self) -> int:
        """Channels of the cells: one per cell, two (energy and hit) with ``hit_cells``."""
        return self.n_cells * (2 if self.hit_cells else 1)

    @property
    def n_rings(self) -> int:
        """Ring-fraction channels: layers x radii, or 0 without the radial factor."""
        return self.mesh[0] * self.mesh[2] if self.ring_fractions else 0

    @property
    def width(self) -> int:
        """Length of the vector the model denoises: cells, ring and layer fractions, E_sum / E."""
        return self.cell_channels + self.n_rings + self.mesh[0] + 1

    @property
    def groups(self) -> tuple[slice, ...]:
        """The parts of the vector: cells (energies, hits), ring fractions (if any), layer fractions, E_sum / E."""
        c = self.cell_channels
        bounds = [0, self.n_cells, c, c + self.n_rings, self.width - 1, self.width]
        return tuple(slice(a, b) for a, b in itertools.pairwise(bounds) if b > a)

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, where: str = "config") -> DiffusionConfig:
        names = [f.name for f in fields(cls)]
        unknown = [k for k in d if k not in names]
        if unknown:
            hints = [f"'{k}'" + (f" (did you mean '{m[0]}'?)" if (m := difflib.get_close_matches(k, names, 1)) else "")
                     for k in unknown]  # fmt: skip
            msg = f"{where}: unknown setting {', '.join(hints)}"
            raise CaloforgeError(msg)
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        try:
            return cls(**values)
        except TypeError as err:
            msg = f"{where}: {err}"
            raise CaloforgeError(msg) from None
