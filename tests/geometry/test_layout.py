"""Geometry descriptions: validation with paths in the messages, derived constants, round trips."""

import json

import pytest

from caloforge.errors import InvalidGeometry
from caloforge.geometry import geometry_from_dict, get_geometry, load_geometry_file

SIW = {
    "format_version": 1,
    "name": "my-siw",
    "inner_radius_mm": 800,
    "length_mm": 2000,
    "stacks": [
        {
            "repeat": 90,
            "layers": [{"material": "W", "thickness_mm": 1.4}, {"material": "Si", "thickness_mm": 0.3, "active": True}],
        }
    ],
}


def test_file_round_trip_yaml_and_json(tmp_path):
    import yaml

    geo = geometry_from_dict(SIW)
    (tmp_path / "g.yaml").write_text(yaml.safe_dump(geo.to_dict()))
    (tmp_path / "g.json").write_text(geo.to_json())
    assert load_geometry_file(tmp_path / "g.yaml") == geo
    assert load_geometry_file(tmp_path / "g.json") == geo
    assert get_geometry(str(tmp_path / "g.yaml")) == geo
    assert geo.x0_mm == pytest.approx(get_geometry("par04-siw").x0_mm)


def _broken(path, value):
    d = json.loads(json.dumps(SIW))
    keys = path.split(".")
    target = d
    for k in keys[:-1]:
        target = target[int(k)] if k.isdigit() else target[k]
    last = keys[-1]
    if value is KeyError:
        del target[last]
    else:
        target[int(last) if last.isdigit() else last] = value
    return d


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("stacks.0.layers.1.thickness_mm", -0.3, r"stacks\[0\]\.layers\[1\]\.thickness_mm: must be a positive number"),
        ("stacks.0.layers.0.material", "Tungsten", r"stacks\[0\]\.layers\[0\]\.material: unknown material 'Tungsten'"),
        ("stacks.0.layers.0.thikness_mm", 1.0, r"unknown key 'thikness_mm'; did you mean 'thickness_mm'"),
        ("stacks.0.repeat", 0, r"stacks\[0\]\.repeat: must be a whole number >= 1"),
        ("stacks.0.layers.1.active", "yes", r"stacks\[0\]\.layers\[1\]\.active: must be true or false"),
        ("stacks.0.layers.1.active", False, "no active layer"),
        ("inner_radius_mm", KeyError, "inner_radius_mm: missing"),
        ("length_mm", float("nan"), "length_mm: must be a positive number"),
        ("format_version", 7, "unsupported version 7"),
        ("stacks", [], "stacks: must be a non-empty list"),
    ],
)
def test_validation_names_the_bad_entry(path, value, message):
    with pytest.raises(InvalidGeometry, match=message):
        geometry_from_dict(_broken(path, value), where="my.yaml")


def test_bad_yaml_is_one_clear_line(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("stacks: [unclosed\n")
    with pytest.raises(InvalidGeometry, match="not valid YAML") as info:
        load_geometry_file(f)
    assert "\n" not in str(info.value)
