"""The built-in catalogue: the six geometries, their sources and their derived numbers."""

import pytest

from caloforge.errors import UnknownGeometry
from caloforge.geometry import catalogue_names, get_geometry


def test_catalogue_has_the_six_builtins():
    assert catalogue_names() == ["par04-siw", "par04-scipb", "par04-pbwo4", "odd-like", "cld-like", "allegro-like"]


def test_every_builtin_records_its_sources():
    for name in catalogue_names():
        geo = get_geometry(name)
        assert {"layers", "inner_radius_mm", "length_mm"} <= set(geo.sources), name


def test_par04_siw_numbers():
    geo = get_geometry("par04-siw")
    assert len(geo.layers) == 180
    assert geo.depth_mm == pytest.approx(153.0)
    assert geo.inner_radius_mm == 800
    # 90 x 1.4 mm W = 36 X0 of tungsten, plus a little from the Si
    assert geo.depth_x0 == pytest.approx(90 * 1.4 / 3.504 + 90 * 0.3 / 93.7, rel=0.01)
    # MIP estimate ~0.036 (the e.m. sampling fraction is lower, ~0.033)
    assert geo.sampling_fraction_estimate == pytest.approx(0.036, abs=0.002)


def test_homogeneous_calorimeter():
    geo = get_geometry("par04-pbwo4")
    assert geo.homogeneous and geo.sampling_fraction_estimate == 1.0
    assert geo.x0_mm == pytest.approx(8.903, rel=0.02)


def test_allegro_like_depth_matches_reference():
    geo = get_geometry("allegro-like")
    assert geo.outer_radius_mm == pytest.approx(2578.3, abs=0.5)
    assert 19 < geo.depth_x0 < 23  # ~20.9 X0 of active region


def test_unknown_geometry_suggests_close_names():
    with pytest.raises(UnknownGeometry, match="unknown geometry 'par04-sw'; did you mean 'par04-siw'"):
        get_geometry("par04-sw")
