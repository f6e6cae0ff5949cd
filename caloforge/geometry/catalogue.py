"""The built-in calorimeter catalogue, and name-or-file lookup of a geometry."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml

from caloforge.errors import UnknownGeometry, suggest
from caloforge.geometry.layout import Calorimeter, geometry_from_dict, load_geometry_file

__all__ = ["catalogue_names", "get_geometry"]


@lru_cache(maxsize=1)
def _catalogue() -> dict[str, Calorimeter]:
    text = resources.files("caloforge.geometry").joinpath("data/catalogue.yaml").read_text()
    entries = yaml.safe_load(text)["geometries"]
    return {
        name: geometry_from_dict(entry, where=f"catalogue entry '{name}'", name=name) for name, entry in entries.items()
    }


def catalogue_names() -> list[str]:
    """Names of the built-in geometries, in catalogue order."""
    return list(_catalogue())


def get_geometry(name_or_path: str | Path | Calorimeter) -> Calorimeter:
    """A geometry by catalogue name, or read from a YAML/JSON file the user wrote.

    Raises:
        UnknownGeometry: neither a catalogue name nor an existing file; close names are suggested.
        InvalidGeometry: the file exists but breaks a rule.
    """
    if isinstance(name_or_path, Calorimeter):
        return name_or_path
    catalogue = _catalogue()
    key = str(name_or_path)
    if key in catalogue:
        return catalogue[key]
    path = Path(key)
    if path.suffix in {".yaml", ".yml", ".json"} and path.exists():
        return load_geometry_file(path)
    msg = (
        f"unknown geometry '{key}'{suggest(key, catalogue)} "
        "(see `caloforge geometries`, or give a .yaml/.json geometry file)"
    )
    raise UnknownGeometry(msg)
