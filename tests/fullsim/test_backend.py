"""Geometry construction for Geant4 and the particle gun, without running Geant4."""

import numpy as np
import pytest

from caloforge.fullsim.backend import PhysicsConfig, calzone_geometry, entry_points, merged_layers
from caloforge.geometry import get_geometry


def _chain(volume):
    """Walk the nested volumes from the outermost layer inwards."""
    out = []
    while True:
        children = [k for k, v in volume.items() if isinstance(v, dict) and "cylinder" in v]
        if not children:
            return out
        volume = volume[children[0]]
        out.append(volume)


def test_layers_are_nested_one_daughter_each():
    geo = get_geometry("par04-siw")
    chain = _chain(calzone_geometry(geo)["World"])
    assert len(chain) == 180 + 1  # 180 layers and the vacuum inside
    radii = [v["cylinder"]["radius"] for v in chain]
    assert radii == sorted(radii, reverse=True)
    assert radii[0] == pytest.approx((800 + 153.0) / 10)
    assert radii[-1] == pytest.approx(80.0)
    materials = [v["material"] for v in chain[:-1]]
    assert materials[:2] == ["G4_Si", "G4_W"]  # outermost first
    recorded = [v.get("role") == "record_deposits" for v in chain[:-1]]
    assert sum(recorded) == 90 and all(recorded[0::2]) and not any(recorded[1::2])


def test_record_all_marks_every_layer():
    chain = _chain(calzone_geometry(get_geometry("par04-scipb"), record="all")["World"])
    assert all(v.get("role") == "record_deposits" for v in chain[:-1])


def test_identical_neighbours_merge_into_one_volume():
    assert merged_layers(get_geometry("par04-pbwo4")) == [("PbWO4", True, 1040.0)]
    assert len(merged_layers(get_geometry("par04-siw"))) == 180


def test_mixtures_are_defined_from_the_caloforge_table():
    geo = calzone_geometry(get_geometry("odd-like"))
    mixtures = geo["materials"]["mixtures"]
    walloy = next(v for k, v in mixtures.items() if "Alloy" in k)
    assert walloy["density"] == pytest.approx(17.8)
    assert sum(walloy["composition"].values()) == pytest.approx(1.0)


def test_entry_point_is_on_the_front_face_along_the_direction():
    geo = get_geometry("par04-siw")
    theta, phi = np.array([np.pi / 2, 1.0, 2.0]), np.array([0.0, 0.5, -2.0])
    p = entry_points(geo, theta, phi)
    np.testing.assert_allclose(np.hypot(p[:, 0], p[:, 1]), 800.0)
    d = p / np.linalg.norm(p, axis=1, keepdims=True)
    np.testing.assert_allclose(np.arccos(d[:, 2]), theta)
    np.testing.assert_allclose(np.arctan2(d[:, 1], d[:, 0]), phi)
    np.testing.assert_allclose(p[0], [800.0, 0, 0], atol=1e-9)


def test_physics_label():
    assert PhysicsConfig().describe() == "emstandard_opt0+emextra+decay cut=0.7mm"
    assert PhysicsConfig("option4", 0.1).describe() == "emstandard_opt4+emextra+decay cut=0.1mm"
