"""The detector-agnostic scoring mesh and the binning of energy deposits into it.

The mesh is a cylinder whose axis is the incident particle's direction, starting at the point where
the particle enters the calorimeter's front face. Its cell counts are fixed (default 45 layers x 16
angular bins x 9 radial bins, the CaloChallenge dataset-2 shape); its cell sizes scale with the
geometry's effective radiation length (``dz``) and Moliere radius (``dr``), with the scale factors
chosen so that ``par04-siw`` gets exactly the dataset-2 cells (dz = 3.4 mm, dr = 4.65 mm).

The local frame follows Geant4's Par04 example (Par04SensitiveDetector): a deposit at global position
``p`` is moved to ``q = R_y(-theta) R_z(-phi) (p - entry)``, where (theta, phi) are the polar angles of
the direction; then ``z = q_z``, ``r = hypot(q_x, q_y)`` and ``alpha = atan2(q_y, q_x)``, binned as
``floor(z/dz)``, ``floor(r/dr)`` and ``floor((alpha + pi) / (2 pi / A))``. Flat cell index =
``(layer * A + alpha) * R + r`` (r fastest, as CaloChallenge files).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike, NDArray

from caloforge.errors import CaloforgeError, suggest
from caloforge.geometry.layout import Calorimeter

__all__ = [
    "MESH_CONFIGS",
    "BinnedDeposits",
    "ScoringMesh",
    "bin_deposits",
    "direction_angles",
    "local_coordinates",
    "mesh_for",
]

# name -> (layers, angular bins, radial bins, dz scale, dr scale); the scales multiply the
# dataset-2 cell sizes (expressed in units of the geometry's X0 and R_M).
MESH_CONFIGS: dict[str, tuple[int, int, int, float, float]] = {
    "ds2": (45, 16, 9, 1.0, 1.0),
    "ds3": (45, 50, 18, 1.0, 0.5),
}
_REFERENCE_GEOMETRY = "par04-siw"
_REFERENCE_DZ_MM = 3.4
_REFERENCE_DR_MM = 4.65


@dataclass(frozen=True)
class ScoringMesh:
    """Cell counts and sizes of the cylindrical scoring mesh (lengths in mm)."""

    n_layers: int = 45
    n_alpha: int = 16
    n_r: int = 9
    dz_mm: float = _REFERENCE_DZ_MM
    dr_mm: float = _REFERENCE_DR_MM

    def __post_init__(self) -> None:
        counts = (self.n_layers, self.n_alpha, self.n_r)
        if any(int(n) != n or n < 1 for n in counts) or self.dz_mm <= 0 or self.dr_mm <= 0:
            msg = f"invalid mesh {counts} with dz={self.dz_mm} mm, dr={self.dr_mm} mm: counts >= 1, sizes > 0"
            raise CaloforgeError(msg)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(layers, angular bins, radial bins)."""
        return (self.n_layers, self.n_alpha, self.n_r)

    @property
    def n_cells(self) -> int:
        """Number of cells, the length of one flat shower vector."""
        return self.n_layers * self.n_alpha * self.n_r

    @property
    def dalpha(self) -> float:
        """Angular bin width in radians."""
        return 2.0 * np.pi / self.n_alpha

    def cell_centres(self) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """(z, alpha, r) of the cell centres, each of shape (L, A, R): mm, rad, mm."""
        z = (np.arange(self.n_layers) + 0.5) * self.dz_mm
        alpha = (np.arange(self.n_alpha) + 0.5) * self.dalpha - np.pi
        r = (np.arange(self.n_r) + 0.5) * self.dr_mm
        return np.meshgrid(z, alpha, r, indexing="ij")


@dataclass(frozen=True)
class BinnedDeposits:
    """Deposits binned into a mesh: energy per cell and what fell outside, per event (MeV)."""

    cells: NDArray[np.float64]  # (n_events, L, A, R)
    outside: NDArray[np.float64]  # (n_events,)


@lru_cache(maxsize=1)
def _reference_units() -> tuple[float, float]:
    """dz per X0 and dr per R_M that give par04-siw exactly the dataset-2 cells."""
    from caloforge.geometry.catalogue import get_geometry

    ref = get_geometry(_REFERENCE_GEOMETRY)
    return _REFERENCE_DZ_MM / ref.x0_mm, _REFERENCE_DR_MM / ref.rm_mm


def mesh_for(geometry: Calorimeter, config: str = "ds2") -> ScoringMesh:
    """The scoring mesh of a geometry: fixed counts of ``config``, sizes scaled by its X0 and R_M.

    Example:
        >>> from caloforge.geometry import get_geometry
        >>> m = mesh_for(get_geometry("par04-siw"))
        >>> (m.shape, round(m.dz_mm, 6), round(m.dr_mm, 6))
        ((45, 16, 9), 3.4, 4.65)
    """
    if config not in MESH_CONFIGS:
        msg = f"unknown mesh configuration '{config}'{suggest(config, MESH_CONFIGS)} (known: {', '.join(MESH_CONFIGS)})"
        raise CaloforgeError(msg)
    n_layers, n_alpha, n_r, z_scale, r_scale = MESH_CONFIGS[config]
    dz_per_x0, dr_per_rm = _reference_units()
    return ScoringMesh(
        n_layers, n_alpha, n_r, z_scale * dz_per_x0 * geometry.x0_mm, r_scale * dr_per_rm * geometry.rm_mm
    )


def direction_angles(direction: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Polar angle theta and azimuth phi (radians) of direction vectors (..., 3)."""
    d = np.asarray(direction, dtype=np.float64)
    d = d / np.linalg.norm(d, axis=-1, keepdims=True)
    return np.arccos(np.clip(d[..., 2], -1.0, 1.0)), np.arctan2(d[..., 1], d[..., 0])


def local_coordinates(
    points: ArrayLike, entry: ArrayLike, direction: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """(z, r, alpha) of global points in the shower frame of Par04: ``R_y(-theta) R_z(-phi) (p - entry)``.

    Args:
        points: (N, 3) global positions, mm.
        entry: (3,) or (N, 3) entry point(s) on the front face, mm.
        direction: (3,) or (N, 3) incident direction(s), any length.
    """
    p = np.asarray(points, dtype=np.float64) - np.asarray(entry, dtype=np.float64)
    theta, phi = direction_angles(direction)
    cp, sp, ct, st = np.cos(phi), np.sin(phi), np.cos(theta), np.sin(theta)
    x1 = p[..., 0] * cp + p[..., 1] * sp
    y1 = -p[..., 0] * sp + p[..., 1] * cp
    x2 = x1 * ct - p[..., 2] * st
    z2 = x1 * st + p[..., 2] * ct
    return z2, np.hypot(x2, y1), np.arctan2(y1, x2)


def bin_deposits(
    mesh: ScoringMesh,
    positions: ArrayLike,
    energies: ArrayLike,
    *,
    entry: ArrayLike,
    direction: ArrayLike,
    event: ArrayLike | None = None,
    n_events: int | None = None,
) -> BinnedDeposits:
    """Histogram energy deposits into the mesh, vectorised over deposits and events.

    Args:
        mesh: the scoring mesh.
        positions: (N, 3) global deposit positions, mm.
        energies: (N,) deposited energies, MeV.
        entry: (3,) entry point, or (n_events, 3) one per event, mm.
        direction: (3,) incident direction, or (n_events, 3) one per event.
        event: (N,) event index of each deposit (default: all in event 0).
        n_events: number of events (default: ``max(event) + 1``, or 1).

    Returns:
        Energy per cell (n_events, L, A, R) and energy outside the mesh (n_events,), MeV; per event
        ``cells.sum() + outside`` equals the sum of its deposits.
    """
    pos = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    e = np.asarray(energies, dtype=np.float64).reshape(-1)
    if e.shape[0] != pos.shape[0]:
        msg = f"{pos.shape[0]} positions but {e.shape[0]} energies"
        raise CaloforgeError(msg)
    ev = np.zeros(e.shape[0], dtype=np.int64) if event is None else np.asarray(event, dtype=np.int64)
    if n_events is None:
        n_events = int(ev.max()) + 1 if ev.size else 1
    entry_a = np.asarray(entry, dtype=np.float64)
    dir_a = np.asarray(direction, dtype=np.float64)
    per_event_entry = entry_a[ev] if entry_a.ndim == 2 else entry_a
    per_event_dir = dir_a[ev] if dir_a.ndim == 2 else dir_a
    z, r, alpha = local_coordinates(pos, per_event_entry, per_event_dir)

    iz = np.floor(z / mesh.dz_mm)
    ir = np.floor(r / mesh.dr_mm)
    ia = np.floor((alpha + np.pi) / mesh.dalpha).astype(np.int64) % mesh.n_alpha  # alpha = pi wraps to 0
    inside = (iz >= 0) & (iz < mesh.n_layers) & (ir < mesh.n_r)
    flat = ((ev * mesh.n_layers + iz.astype(np.int64)) * mesh.n_alpha + ia) * mesh.n_r + ir.astype(np.int64)
    cells = np.bincount(flat[inside], weights=e[inside], minlength=n_events * mesh.n_cells)
    outside = np.bincount(ev[~inside], weights=e[~inside], minlength=n_events)
    return BinnedDeposits(cells.reshape(n_events, *mesh.shape), outside)
