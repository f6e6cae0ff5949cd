"""Layered cylindrical calorimeters: the description a user writes, validated, with derived constants.

A calorimeter is a hollow cylinder (barrel) of concentric layers, listed from the inside out as
*stacks*: a stack is a short list of layers (material, thickness, active or not) repeated ``repeat``
times. The file a user writes (YAML or JSON) looks like::

    format_version: 1
    name: my-ecal
    inner_radius_mm: 800
    length_mm: 2000
    stacks:
      - repeat: 90
        layers:
          - {material: W, thickness_mm: 1.4}
          - {material: Si, thickness_mm: 0.3, active: true}

Every rule broken is reported with the path of the entry (``stacks[0].layers[1].thickness_mm``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from caloforge.errors import InvalidGeometry, UnknownMaterial, suggest
from caloforge.geometry.materials import Material, get_material

__all__ = [
    "FORMAT_VERSION",
    "Calorimeter",
    "Layer",
    "Stack",
    "geometry_from_dict",
    "load_geometry_file",
]

FORMAT_VERSION = 1
_TOP_KEYS = {"format_version", "name", "description", "inner_radius_mm", "length_mm", "stacks", "sources"}
_STACK_KEYS = {"repeat", "layers", "name"}
_LAYER_KEYS = {"material", "thickness_mm", "active"}


@dataclass(frozen=True)
class Layer:
    """One concentric layer: a material, its radial thickness (mm) and whether it is read out."""

    material: str
    thickness_mm: float
    active: bool = False

    @property
    def properties(self) -> Material:
        """The material's shower constants."""
        return get_material(self.material)


@dataclass(frozen=True)
class Stack:
    """A group of layers repeated ``repeat`` times, innermost layer first."""

    layers: tuple[Layer, ...]
    repeat: int = 1
    name: str = ""

    @property
    def thickness_mm(self) -> float:
        """Thickness of one repetition in mm."""
        return sum(layer.thickness_mm for layer in self.layers)


@dataclass(frozen=True)
class Calorimeter:
    """A layered cylindrical calorimeter (barrel), with its effective shower constants.

    The effective radiation length and Moliere radius are thickness-weighted harmonic means over
    the full depth (``1/X0 = sum f_i / X0_i`` with volume fractions ``f_i``; PDG's mixture rule).
    The sampling fraction here is an *estimate* from minimum-ionising energy loss; the simulated value
    (``caloforge.fullsim``) replaces it wherever showers are calibrated.
    """

    name: str
    inner_radius_mm: float
    length_mm: float
    stacks: tuple[Stack, ...]
    description: str = ""
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    @cached_property
    def layers(self) -> tuple[Layer, ...]:
        """All physical layers from the inside out, stacks expanded."""
        return tuple(layer for stack in self.stacks for _ in range(stack.repeat) for layer in stack.layers)

    @property
    def depth_mm(self) -> float:
        """Radial depth of the calorimeter in mm."""
        return sum(stack.thickness_mm * stack.repeat for stack in self.stacks)

    @property
    def outer_radius_mm(self) -> float:
        """Outer radius in mm."""
        return self.inner_radius_mm + self.depth_mm

    @property
    def materials(self) -> tuple[str, ...]:
        """Distinct material names, in order of first appearance."""
        return tuple(dict.fromkeys(layer.material for layer in self.layers))

    @property
    def homogeneous(self) -> bool:
        """True when every layer is active (a homogeneous calorimeter such as PbWO4 crystals)."""
        return all(layer.active for layer in self.layers)

    def _thickness_by_material(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for stack in self.stacks:
            for layer in stack.layers:
                totals[layer.material] = totals.get(layer.material, 0.0) + layer.thickness_mm * stack.repeat
        return totals

    @cached_property
    def x0_mm(self) -> float:
        """Effective radiation length of the whole stack in mm."""
        t = self._thickness_by_material()
        return self.depth_mm / sum(d / get_material(m).x0_mm for m, d in t.items())

    @cached_property
    def rm_mm(self) -> float:
        """Effective Moliere radius of the whole stack in mm."""
        t = self._thickness_by_material()
        return self.depth_mm / sum(d / get_material(m).rm_mm for m, d in t.items())

    @property
    def depth_x0(self) -> float:
        """Depth in radiation lengths."""
        return self.depth_mm / self.x0_mm

    @cached_property
    def critical_energy_mev(self) -> float:
        """Effective critical energy in MeV, ``E_s X0 / R_M``."""
        from caloforge.geometry.materials import E_S_MEV

        return E_S_MEV * self.x0_mm / self.rm_mm

    @cached_property
    def z_eff(self) -> float:
        """Mass-weighted effective Z over the stack (GFlash convention)."""
        mass = {m: d * get_material(m).density_g_cm3 for m, d in self._thickness_by_material().items()}
        total = sum(mass.values())
        return sum(w * get_material(m).z_eff for m, w in mass.items()) / total

    @cached_property
    def sampling_fraction_estimate(self) -> float:
        """Minimum-ionising estimate of the visible fraction: active dE/dx * t over total."""
        deposits = [(layer.properties.mip_dedx_mev_mm * layer.thickness_mm, layer.active) for layer in self.layers]
        return sum(d for d, active in deposits if active) / sum(d for d, _ in deposits)

    def to_dict(self) -> dict[str, Any]:
        """The description as the plain dictionary a geometry file holds (round-trips)."""
        return {
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "description": self.description,
            "inner_radius_mm": self.inner_radius_mm,
            "length_mm": self.length_mm,
            "stacks": [
                {
                    "repeat": s.repeat,
                    **({"name": s.name} if s.name else {}),
                    "layers": [
                        {"material": la.material, "thickness_mm": la.thickness_mm, "active": la.active}
                        for la in s.layers
                    ],
                }
                for s in self.stacks
            ],
            **({"sources": dict(self.sources)} if self.sources else {}),
        }

    def to_json(self) -> str:
        """Compact JSON of :meth:`to_dict`, as stored in shower files."""
        return json.dumps(self.to_dict(), separators=(",", ":"))


def _fail(where: str, path: str, message: str) -> InvalidGeometry:
    return InvalidGeometry(f"{where}: {path}: {message}" if path else f"{where}: {message}")


def _check_keys(d: Mapping[str, Any], allowed: set[str], where: str, path: str) -> None:
    for key in d:
        if key not in allowed:
            msg = f"unknown key '{key}'{suggest(str(key), allowed)} (allowed: {', '.join(sorted(allowed))})"
            raise _fail(where, f"{path}.{key}".lstrip("."), msg)


def _positive(value: Any, where: str, path: str, *, allow_zero: bool = False) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        bound = "a number >= 0" if allow_zero else "a positive number"
        raise _fail(where, path, f"must be {bound}, got {value!r}")
    return float(value)


def _parse_layer(d: Any, where: str, path: str) -> Layer:
    if not isinstance(d, Mapping):
        raise _fail(where, path, f"must be a mapping with material and thickness_mm, got {d!r}")
    _check_keys(d, _LAYER_KEYS, where, path)
    for key in ("material", "thickness_mm"):
        if key not in d:
            raise _fail(where, f"{path}.{key}", "missing")
    material = d["material"]
    try:
        get_material(str(material))
    except UnknownMaterial as err:
        raise _fail(where, f"{path}.material", str(err)) from None
    active = d.get("active", False)
    if not isinstance(active, bool):
        raise _fail(where, f"{path}.active", f"must be true or false, got {active!r}")
    return Layer(str(material), _positive(d["thickness_mm"], where, f"{path}.thickness_mm"), active)


def _parse_stack(d: Any, where: str, path: str) -> Stack:
    if not isinstance(d, Mapping):
        raise _fail(where, path, f"must be a mapping with repeat and layers, got {d!r}")
    _check_keys(d, _STACK_KEYS, where, path)
    repeat = d.get("repeat", 1)
    if not isinstance(repeat, int) or isinstance(repeat, bool) or repeat < 1:
        raise _fail(where, f"{path}.repeat", f"must be a whole number >= 1, got {repeat!r}")
    layers = d.get("layers")
    if not isinstance(layers, list) or not layers:
        raise _fail(where, f"{path}.layers", "must be a non-empty list of layers")
    parsed = tuple(_parse_layer(la, where, f"{path}.layers[{i}]") for i, la in enumerate(layers))
    return Stack(parsed, repeat, str(d.get("name", "")))


def geometry_from_dict(d: Any, *, where: str = "geometry", name: str | None = None) -> Calorimeter:
    """Validate a geometry description and build the :class:`Calorimeter`.

    Args:
        d: the parsed YAML/JSON mapping.
        where: what to call the source in error messages (a file name, a catalogue entry).
        name: the name to use when the description has none.

    Raises:
        InvalidGeometry: the first rule broken, with the entry's path.
    """
    if not isinstance(d, Mapping):
        raise _fail(where, "", "a geometry must be a mapping (name, inner_radius_mm, length_mm, stacks)")
    _check_keys(d, _TOP_KEYS, where, "")
    version = d.get("format_version", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise _fail(where, "format_version", f"unsupported version {version!r} (this caloforge reads {FORMAT_VERSION})")
    for key in ("inner_radius_mm", "length_mm", "stacks"):
        if key not in d:
            raise _fail(where, key, "missing")
    geo_name = d.get("name", name)
    if not geo_name or not isinstance(geo_name, str):
        raise _fail(where, "name", "missing (a short name such as 'my-ecal')")
    stacks = d["stacks"]
    if not isinstance(stacks, list) or not stacks:
        raise _fail(where, "stacks", "must be a non-empty list")
    parsed = tuple(_parse_stack(s, where, f"stacks[{i}]") for i, s in enumerate(stacks))
    if not any(la.active for s in parsed for la in s.layers):
        raise _fail(where, "stacks", "no active layer: mark the read-out layers with 'active: true'")
    sources = d.get("sources", {})
    if not isinstance(sources, Mapping):
        raise _fail(where, "sources", "must be a mapping of quantity -> source")
    return Calorimeter(
        name=geo_name,
        inner_radius_mm=_positive(d["inner_radius_mm"], where, "inner_radius_mm", allow_zero=True),
        length_mm=_positive(d["length_mm"], where, "length_mm"),
        stacks=parsed,
        description=str(d.get("description", "")),
        sources={str(k): str(v) for k, v in sources.items()},
    )


def load_geometry_file(path: str | Path) -> Calorimeter:
    """Read a geometry description from a YAML (``.yaml``/``.yml``) or JSON file.

    Raises:
        InvalidGeometry: unreadable file, bad syntax or a broken rule (with the entry's path).
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        msg = f"cannot read geometry file {path}: {err.strerror}"
        raise InvalidGeometry(msg) from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        msg = f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {str(err).splitlines()[0]}"
        raise InvalidGeometry(msg) from None
    return geometry_from_dict(data, where=str(path), name=path.stem)
