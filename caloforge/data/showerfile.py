"""The caloforge shower file: HDF5, a superset of the CaloChallenge format.

| dataset | shape, dtype | meaning |
|---|---|---|
| ``incident_energies`` | (N, 1) float32 | incident kinetic energy, MeV |
| ``showers`` | (N, L*A*R) float32 | calibrated energy per cell, MeV; flat index (layer*A + alpha)*R + r |
| ``incident_theta``, ``incident_phi`` | (N, 1) float32 | incident direction, rad (optional) |

Root attributes: ``format_version``, ``geometry``, ``geometry_json``, ``mesh`` = [L, A, R],
``cell_dz_mm``, ``cell_dr_mm``, ``sampling_fraction``, ``particle``, ``generator``, ``seed``.

Writers never leave a file that looks complete before it is: :func:`write_showers` writes a temporary
file and renames it; :class:`ShowerWriter` appends chunks to ``NAME.part`` (each chunk flushed, so an
interrupted run leaves the finished chunks readable and resumable) and renames it to ``NAME`` when
closed without error.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import h5py
import numpy as np
from numpy.typing import ArrayLike, NDArray

from caloforge.errors import InvalidShowerFile
from caloforge.geometry.mesh import MESH_CONFIGS, ScoringMesh, mesh_for

__all__ = [
    "FORMAT_VERSION",
    "ShowerData",
    "ShowerMeta",
    "ShowerWriter",
    "part_path",
    "read_meta",
    "read_showers",
    "summarize_shower_file",
    "validate_shower_file",
    "write_showers",
]

FORMAT_VERSION = 1
_CHUNK_ROWS = 1000
_VALIDATE_ROWS = 5000
_OPTIONAL = ("incident_theta", "incident_phi")


@dataclass(frozen=True)
class ShowerMeta:
    """What a shower file says about itself (its root attributes)."""

    mesh: ScoringMesh
    geometry: str = ""
    geometry_json: str = ""
    sampling_fraction: float = 1.0
    particle: str = ""
    generator: str = ""
    seed: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_attrs(self) -> dict[str, Any]:
        """The HDF5 root attributes."""
        attrs: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "geometry": self.geometry,
            "geometry_json": self.geometry_json,
            "mesh": np.asarray(self.mesh.shape, dtype=np.int64),
            "cell_dz_mm": float(self.mesh.dz_mm),
            "cell_dr_mm": float(self.mesh.dr_mm),
            "sampling_fraction": float(self.sampling_fraction),
            "particle": self.particle,
            "generator": self.generator,
        }
        if self.seed is not None:
            attrs["seed"] = int(self.seed)
        attrs.update({k: v for k, v in self.extra.items() if k not in attrs})
        return attrs


@dataclass(frozen=True)
class ShowerData:
    """Showers in memory, with their conditions and metadata.

    Attributes:
        incident_energies: (N,) float32, MeV.
        showers: (N, L*A*R) float32, calibrated MeV.
        theta, phi: (N,) float32 radians, or None when the file has no angles.
        meta: the file's metadata.
    """

    incident_energies: NDArray[np.float32]
    showers: NDArray[np.float32]
    meta: ShowerMeta
    theta: NDArray[np.float32] | None = None
    phi: NDArray[np.float32] | None = None

    def __len__(self) -> int:
        return int(self.incident_energies.shape[0])

    @property
    def images(self) -> NDArray[np.float32]:
        """Showers as (N, L, A, R) arrays (a view)."""
        return self.showers.reshape(len(self), *self.meta.mesh.shape)


def part_path(path: str | Path) -> Path:
    """The temporary name an unfinished file carries: ``NAME.part``."""
    path = Path(path)
    return path.with_name(path.name + ".part")


def _bad(path: str | Path, message: str) -> InvalidShowerFile:
    return InvalidShowerFile(f"{path}: {message}")


def _open(path: str | Path, mode: str = "r") -> h5py.File:
    path = Path(path)
    if mode == "r" and not path.exists():
        raise _bad(path, "no such file")
    try:
        return h5py.File(path, mode)
    except OSError:
        raise _bad(path, "not a readable HDF5 file (truncated, still being written, or not HDF5)") from None


def _attr(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _mesh_from(
    path: str | Path, attrs: Mapping[str, Any], n_cells: int, geometry: Any, mesh: ScoringMesh | None
) -> tuple[ScoringMesh, str, str]:
    """The mesh of a file: given by the caller, from its attributes, or from a named geometry."""
    from caloforge.geometry.catalogue import get_geometry

    if mesh is not None:
        return mesh, str(_attr(attrs.get("geometry", ""))), str(_attr(attrs.get("geometry_json", "")))
    if "mesh" in attrs:
        shape = [int(n) for n in np.asarray(attrs["mesh"]).reshape(-1)]
        if len(shape) != 3:
            raise _bad(path, f"attribute 'mesh' must be [L, A, R], got {shape}")
        dz = float(attrs.get("cell_dz_mm", 1.0))
        dr = float(attrs.get("cell_dr_mm", 1.0))
        try:
            m = ScoringMesh(*shape, dz, dr)
        except Exception as err:
            raise _bad(path, f"bad mesh attributes: {err}") from None
        return m, str(_attr(attrs.get("geometry", ""))), str(_attr(attrs.get("geometry_json", "")))
    if geometry is None:
        raise _bad(
            path,
            "no 'mesh' attribute (a plain CaloChallenge file?): name its geometry, e.g. geometry='par04-siw' "
            "or --geometry par04-siw",
        )
    geo = get_geometry(geometry)
    for config, (n_l, n_a, n_r, _, _) in MESH_CONFIGS.items():
        if n_l * n_a * n_r == n_cells:
            return mesh_for(geo, config), geo.name, geo.to_json()
    known = ", ".join(f"{c} = {n_l * n_a * n_r}" for c, (n_l, n_a, n_r, _, _) in MESH_CONFIGS.items())
    raise _bad(path, f"{n_cells} cells per shower matches no known mesh ({known}); pass the mesh explicitly")


def _check_structure(path: str | Path, f: h5py.File, mesh_cells: int | None) -> int:
    """Check datasets and shapes; return N."""
    for name in ("incident_energies", "showers"):
        if name not in f:
            raise _bad(path, f"missing dataset '{name}' (has: {', '.join(f.keys()) or 'nothing'})")
    e, s = f["incident_energies"], f["showers"]
    if s.ndim != 2:
        raise _bad(path, f"dataset 'showers' must be 2-D (N, cells), has shape {s.shape}")
    n = s.shape[0]
    if e.shape not in {(n, 1), (n,)}:
        raise _bad(path, f"dataset 'incident_energies' has shape {e.shape}, expected ({n}, 1) to match 'showers'")
    for name in _OPTIONAL:
        if name in f and f[name].shape not in {(n, 1), (n,)}:
            raise _bad(path, f"dataset '{name}' has shape {f[name].shape}, expected ({n}, 1)")
    if mesh_cells is not None and s.shape[1] != mesh_cells:
        raise _bad(path, f"dataset 'showers' has {s.shape[1]} cells per shower but the mesh has {mesh_cells}")
    return n


def _structure_and_meta(
    path: str | Path, f: h5py.File, geometry: Any, mesh: ScoringMesh | None
) -> tuple[int, ShowerMeta]:
    """Datasets and shapes checked, then the metadata, then the cell count against its mesh."""
    n = _check_structure(path, f, None)
    meta = _meta_from(path, f, geometry, mesh)
    _check_structure(path, f, meta.mesh.n_cells)
    return n, meta


def _iter_rows(n: int, step: int) -> Iterator[slice]:
    for start in range(0, n, step):
        yield slice(start, min(start + step, n))


def _check_values(path: str | Path, f: h5py.File, n: int) -> None:
    """Finite, positive energies and finite, non-negative cells, read in chunks."""
    e = np.asarray(f["incident_energies"][...], dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(e)):
        raise _bad(
            path, f"dataset 'incident_energies' holds NaN or inf (first at row {int(np.argmin(np.isfinite(e)))})"
        )
    if np.any(e <= 0):
        raise _bad(path, f"dataset 'incident_energies' holds energies <= 0 (first at row {int(np.argmax(e <= 0))})")
    for name in _OPTIONAL:
        if name in f and not np.all(np.isfinite(f[name][...])):
            raise _bad(path, f"dataset '{name}' holds NaN or inf")
    showers = f["showers"]
    for rows in _iter_rows(n, _VALIDATE_ROWS):
        block = showers[rows]
        if not np.all(np.isfinite(block)):
            row = rows.start + int(np.argmax(~np.isfinite(block).all(axis=1)))
            raise _bad(path, f"dataset 'showers' holds NaN or inf (first at row {row})")
        if np.any(block < 0):
            row = rows.start + int(np.argmax((block < 0).any(axis=1)))
            raise _bad(path, f"dataset 'showers' holds negative energies (first at row {row})")


def read_meta(path: str | Path, *, geometry: Any = None, mesh: ScoringMesh | None = None) -> tuple[ShowerMeta, int]:
    """Metadata and shower count of a file, without reading the showers."""
    with _open(path) as f:
        n, meta = _structure_and_meta(path, f, geometry, mesh)
        return meta, n


def _meta_from(path: str | Path, f: h5py.File, geometry: Any, mesh: ScoringMesh | None) -> ShowerMeta:
    attrs = {k: _attr(v) for k, v in f.attrs.items()}
    version = attrs.get("format_version", FORMAT_VERSION)
    if int(version) > FORMAT_VERSION:
        raise _bad(path, f"format_version {version} is newer than this caloforge reads ({FORMAT_VERSION}); upgrade")
    m, geo_name, geo_json = _mesh_from(path, f.attrs, int(f["showers"].shape[1]), geometry, mesh)
    known = {
        "format_version",
        "geometry",
        "geometry_json",
        "mesh",
        "cell_dz_mm",
        "cell_dr_mm",
        "sampling_fraction",
        "particle",
        "generator",
        "seed",
    }
    seed = attrs.get("seed")
    return ShowerMeta(
        mesh=m,
        geometry=geo_name,
        geometry_json=geo_json,
        sampling_fraction=float(attrs.get("sampling_fraction", 1.0)),
        particle=str(attrs.get("particle", "")),
        generator=str(attrs.get("generator", "")),
        seed=None if seed is None else int(seed),
        extra={k: v for k, v in attrs.items() if k not in known},
    )


def read_showers(
    path: str | Path,
    *,
    geometry: Any = None,
    mesh: ScoringMesh | None = None,
    start: int = 0,
    stop: int | None = None,
    validate: bool = True,
) -> ShowerData:
    """Read showers ``start:stop`` of a caloforge or CaloChallenge file into memory.

    Args:
        path: the HDF5 file.
        geometry: catalogue name or geometry for a file without mesh attributes (plain CaloChallenge).
        mesh: the mesh, overriding the file's attributes.
        start, stop: the row range to read.
        validate: check values (NaN, negative energies) as well as structure.

    Raises:
        InvalidShowerFile: missing or mis-shaped datasets, bad values, unreadable file; one line.
    """
    with _open(path) as f:
        n, meta = _structure_and_meta(path, f, geometry, mesh)
        if validate:
            _check_values(path, f, n)
        rows = slice(start, n if stop is None else min(stop, n))
        angles = [np.asarray(f[name][rows], dtype=np.float32).reshape(-1) if name in f else None for name in _OPTIONAL]
        return ShowerData(
            incident_energies=np.asarray(f["incident_energies"][rows], dtype=np.float32).reshape(-1),
            showers=np.asarray(f["showers"][rows], dtype=np.float32),
            meta=meta,
            theta=angles[0],
            phi=angles[1],
        )


def validate_shower_file(path: str | Path, *, geometry: Any = None, mesh: ScoringMesh | None = None) -> int:
    """Check a whole file against the format; return its number of showers.

    Raises:
        InvalidShowerFile: the first problem found, naming the dataset (and row).
    """
    with _open(path) as f:
        n, _ = _structure_and_meta(path, f, geometry, mesh)
        _check_values(path, f, n)
    return n


def _column(x: ArrayLike | None, n: int, name: str) -> NDArray[np.float32] | None:
    if x is None:
        return None
    a = np.asarray(x, dtype=np.float32).reshape(-1)
    if a.shape[0] != n:
        msg = f"{name}: {a.shape[0]} values for {n} showers"
        raise InvalidShowerFile(msg)
    return a.reshape(n, 1)


def _check_arrays(
    energies: ArrayLike, showers: ArrayLike, mesh: ScoringMesh, theta: ArrayLike | None, phi: ArrayLike | None
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32] | None, NDArray[np.float32] | None]:
    s = np.asarray(showers, dtype=np.float32)
    n = s.shape[0]
    s = s.reshape(n, int(np.prod(s.shape[1:])))
    if s.shape[1] != mesh.n_cells:
        msg = f"showers have {s.shape[1]} cells, the mesh {mesh.shape} has {mesh.n_cells}"
        raise InvalidShowerFile(msg)
    e = np.asarray(energies, dtype=np.float32).reshape(-1, 1)
    if e.shape[0] != n:
        msg = f"incident_energies: {e.shape[0]} values for {n} showers"
        raise InvalidShowerFile(msg)
    if not (np.all(np.isfinite(e)) and np.all(e > 0)):
        msg = "incident energies must be finite and > 0"
        raise InvalidShowerFile(msg)
    if not (np.all(np.isfinite(s)) and np.all(s >= 0)):
        msg = "shower cell energies must be finite and >= 0"
        raise InvalidShowerFile(msg)
    return e, s, _column(theta, n, "incident_theta"), _column(phi, n, "incident_phi")


class ShowerWriter:
    """Append showers chunk by chunk to ``NAME.part``; renamed to ``NAME`` on a clean close.

    Each :meth:`append` extends the datasets and flushes the file, so an interrupted writer leaves
    the finished chunks readable (``read_showers("NAME.part")``) and ``resume=True`` continues them.

    Example:
        >>> with ShowerWriter(path, meta) as w:          # doctest: +SKIP
        ...     w.append(energies_mev, showers_mev)
    """

    def __init__(
        self,
        path: str | Path,
        meta: ShowerMeta,
        *,
        with_angles: bool = False,
        resume: bool = False,
        overwrite: bool = False,
        compression: str | None = "gzip",
    ) -> None:
        self.path = Path(path)
        self.part = part_path(self.path)
        self.meta = meta
        if resume and not self.part.exists() and self.path.exists():
            with _open(self.path) as f:
                found = _meta_from(self.path, f, None, None).mesh.shape
            if found != meta.mesh.shape:
                msg = f"{self.path}: mesh {found} differs from the requested {meta.mesh.shape}"
                raise InvalidShowerFile(msg)
            os.replace(self.path, self.part)  # reopen a finished file to add to it
        if self.path.exists() and not overwrite:
            msg = f"{self.path}: exists (use resume or overwrite)"
            raise InvalidShowerFile(msg)
        if resume and self.part.exists():
            self._file = _open(self.part, "r+")
            self.meta = _meta_from(self.part, self._file, None, None)
            if self.meta.mesh.shape != meta.mesh.shape:
                self._file.close()
                msg = f"{self.part}: mesh {self.meta.mesh.shape} differs from the requested {meta.mesh.shape}"
                raise InvalidShowerFile(msg)
            self.with_angles = all(name in self._file for name in _OPTIONAL)
        else:
            self._file = h5py.File(self.part, "w")
            self._file.attrs.update(meta.to_attrs())
            self.with_angles = with_angles
            cells = meta.mesh.n_cells
            opts = {"compression": compression, "shuffle": compression is not None}
            self._file.create_dataset(
                "showers", (0, cells), maxshape=(None, cells), dtype="f4", chunks=(_CHUNK_ROWS // 10, cells), **opts
            )
            names = ["incident_energies", *(_OPTIONAL if with_angles else ())]
            for name in names:
                self._file.create_dataset(name, (0, 1), maxshape=(None, 1), dtype="f4", chunks=(_CHUNK_ROWS, 1))
            self._file.flush()
        self._closed = False

    @property
    def n_written(self) -> int:
        """Showers written so far (including those of a resumed run)."""
        return int(self._file["showers"].shape[0])

    def append(
        self,
        energies_mev: ArrayLike,
        showers_mev: ArrayLike,
        *,
        theta: ArrayLike | None = None,
        phi: ArrayLike | None = None,
    ) -> None:
        """Append a chunk and flush it to disk."""
        e, s, t, p = _check_arrays(energies_mev, showers_mev, self.meta.mesh, theta, phi)
        if (t is None) != (p is None) or self.with_angles != (t is not None):
            stored = "stores angles: pass theta and phi" if self.with_angles else "stores no angles"
            msg = f"{self.part}: this file {stored}"
            raise InvalidShowerFile(msg)
        n0, n = self.n_written, s.shape[0]
        columns = {"showers": s, "incident_energies": e, "incident_theta": t, "incident_phi": p}
        for name, values in columns.items():
            if name in self._file and values is not None:
                ds = self._file[name]
                ds.resize(n0 + n, axis=0)
                ds[n0:] = values
        self._file.flush()

    def truncate(self, n_rows: int) -> None:
        """Drop the rows from ``n_rows`` on (to redo an unfinished last chunk) and flush."""
        for name in ("showers", "incident_energies", *_OPTIONAL):
            if name in self._file:
                self._file[name].resize(min(n_rows, self._file[name].shape[0]), axis=0)
        self._file.flush()

    def set_attrs(self, **attrs: Any) -> None:
        """Update root attributes (e.g. the generator string) before closing."""
        self._file.attrs.update(attrs)

    def close(self, *, complete: bool = True) -> Path:
        """Close; when ``complete`` rename ``NAME.part`` to ``NAME`` and return the final path."""
        if self._closed:
            return self.path if complete else self.part
        self._file.close()
        self._closed = True
        if complete:
            os.replace(self.part, self.path)
            return self.path
        return self.part

    def __enter__(self) -> ShowerWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close(complete=exc_type is None)


def write_showers(path: str | Path, data: ShowerData, *, overwrite: bool = False) -> Path:
    """Write showers to a new file atomically (temporary file, then rename).

    Raises:
        InvalidShowerFile: the arrays break the format, or the file exists and ``overwrite`` is False.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        msg = f"{path}: exists (pass overwrite=True)"
        raise InvalidShowerFile(msg)
    _check_arrays(data.incident_energies, data.showers, data.meta.mesh, data.theta, data.phi)
    part = part_path(path)
    if part.exists():
        part.unlink()
    with ShowerWriter(path, data.meta, with_angles=data.theta is not None, overwrite=True) as w:
        w.append(data.incident_energies, data.showers, theta=data.theta, phi=data.phi)
    return path


def summarize_shower_file(path: str | Path, *, geometry: Any = None) -> dict[str, Any]:
    """Summary figures of a file (N, energy range, mesh, provenance, mean E_sum/E_inc), read in chunks."""
    meta, n = read_meta(path, geometry=geometry)
    with _open(path) as f:
        e = np.asarray(f["incident_energies"][...], dtype=np.float64).reshape(-1)
        ratio_sum = 0.0
        for rows in _iter_rows(n, _VALIDATE_ROWS):
            ratio_sum += float(np.sum(f["showers"][rows].sum(axis=1, dtype=np.float64) / e[rows]))
        angles = {name: np.asarray(f[name][...]).reshape(-1) for name in _OPTIONAL if name in f}
    summary: dict[str, Any] = {
        "file": str(path),
        "showers": n,
        "energy_min_gev": float(e.min()) / 1e3 if n else None,
        "energy_max_gev": float(e.max()) / 1e3 if n else None,
        "mesh": list(meta.mesh.shape),
        "cell_dz_mm": meta.mesh.dz_mm,
        "cell_dr_mm": meta.mesh.dr_mm,
        "geometry": meta.geometry or "(not recorded)",
        "particle": meta.particle or "(not recorded)",
        "generator": meta.generator or "(not recorded)",
        "sampling_fraction": meta.sampling_fraction,
        "seed": meta.seed,
        "mean_esum_over_einc": ratio_sum / n if n else None,
        "complete": not str(path).endswith(".part"),
    }
    for name, values in angles.items():
        summary[f"{name.removeprefix('incident_')}_range_rad"] = (
            [float(values.min()), float(values.max())] if n else None
        )
    return summary
