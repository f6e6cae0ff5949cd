"""One row of figures per catalogue geometry, for ``caloforge geometries`` and reports."""

from __future__ import annotations

from typing import Any

from caloforge.geometry.catalogue import catalogue_names, get_geometry
from caloforge.geometry.mesh import mesh_for

__all__ = ["geometry_table"]


def geometry_table(*, mesh_config: str = "ds2", measured: dict[str, float] | None = None) -> list[dict[str, Any]]:
    """Figures of every built-in geometry: layers, depth, effective X0 and R_M, sampling fraction, cells.

    Args:
        mesh_config: mesh configuration for the cell sizes.
        measured: sampling fractions measured by simulation, by geometry name (e.g. from
            :func:`caloforge.fullsim.cached_sampling_fractions`); missing ones are None.
    """
    measured = measured or {}
    rows = []
    for name in catalogue_names():
        geo = get_geometry(name)
        mesh = mesh_for(geo, mesh_config)
        rows.append(
            {
                "name": name,
                "layers": len(geo.layers),
                "depth_mm": geo.depth_mm,
                "depth_x0": geo.depth_x0,
                "x0_mm": geo.x0_mm,
                "rm_mm": geo.rm_mm,
                "critical_energy_mev": geo.critical_energy_mev,
                "sampling_fraction_estimate": geo.sampling_fraction_estimate,
                "sampling_fraction_measured": measured.get(name),
                "mesh": list(mesh.shape),
                "cell_dz_mm": mesh.dz_mm,
                "cell_dr_mm": mesh.dr_mm,
            }
        )
    return rows
