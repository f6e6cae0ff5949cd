"""Detector description: materials, layered calorimeters, the built-in catalogue and the scoring mesh."""

from caloforge.geometry.catalogue import catalogue_names, get_geometry
from caloforge.geometry.layout import Calorimeter, Layer, Stack, geometry_from_dict, load_geometry_file
from caloforge.geometry.materials import Material, get_material, material_names
from caloforge.geometry.mesh import (
    MESH_CONFIGS,
    BinnedDeposits,
    ScoringMesh,
    bin_deposits,
    direction_angles,
    local_coordinates,
    mesh_for,
)
from caloforge.geometry.summary import geometry_table

__all__ = [
    "MESH_CONFIGS",
    "BinnedDeposits",
    "Calorimeter",
    "Layer",
    "Material",
    "ScoringMesh",
    "Stack",
    "bin_deposits",
    "catalogue_names",
    "direction_angles",
    "geometry_from_dict",
    "geometry_table",
    "get_geometry",
    "get_material",
    "load_geometry_file",
    "local_coordinates",
    "material_names",
    "mesh_for",
]


def __dir__() -> list[str]:
    return list(__all__)
