"""The scoring mesh: cell sizes, and binning that conserves energy and respects the shower frame."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from caloforge.errors import CaloforgeError
from caloforge.geometry import ScoringMesh, bin_deposits, catalogue_names, get_geometry, local_coordinates, mesh_for

MESH = mesh_for(get_geometry("par04-siw"))


def _direction(theta, phi):
    return np.array([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)])


def _shower_cloud(rng, n, entry, direction):
    """Random deposits around an axis, in global coordinates (an arbitrary frame around the axis)."""
    d = direction / np.linalg.norm(direction)
    u = np.cross(d, [0.3, 0.5, 0.8])
    u /= np.linalg.norm(u)
    v = np.cross(d, u)
    t = rng.exponential(40.0, n)
    r = rng.exponential(8.0, n)
    a = rng.uniform(0, 2 * np.pi, n)
    pos = entry + t[:, None] * d + (r * np.cos(a))[:, None] * u + (r * np.sin(a))[:, None] * v
    return pos, rng.exponential(1.0, n)


def test_par04_siw_gets_dataset2_cells_exactly():
    assert MESH.shape == (45, 16, 9) and MESH.n_cells == 6480
    assert MESH.dz_mm == pytest.approx(3.4, abs=1e-12)
    assert MESH.dr_mm == pytest.approx(4.65, abs=1e-12)
    ds3 = mesh_for(get_geometry("par04-siw"), "ds3")
    assert ds3.shape == (45, 50, 18) and ds3.n_cells == 40500
    assert ds3.dz_mm == pytest.approx(3.4) and ds3.dr_mm == pytest.approx(2.325)


def test_cells_scale_with_x0_and_moliere_radius():
    siw = get_geometry("par04-siw")
    for name in catalogue_names():
        geo, mesh = get_geometry(name), mesh_for(get_geometry(name))
        assert mesh.n_cells == 6480
        assert mesh.dz_mm / geo.x0_mm == pytest.approx(3.4 / siw.x0_mm)
        assert mesh.dr_mm / geo.rm_mm == pytest.approx(4.65 / siw.rm_mm)


def test_energy_is_conserved(rng):
    entry, d = np.array([800.0, 0, 0]), _direction(1.2, 0.3)
    pos, e = _shower_cloud(rng, 20000, entry, d)
    binned = bin_deposits(MESH, pos, e, entry=entry, direction=d)
    assert binned.cells.shape == (1, 45, 16, 9)
    assert binned.cells.sum() + binned.outside.sum() == pytest.approx(e.sum(), rel=1e-12)
    assert 0 < binned.outside[0] < e.sum()  # the cloud reaches beyond 9 x 4.65 mm


def test_deposit_on_axis_lands_in_first_radial_bin():
    entry, d = np.array([800.0, 0, 0]), np.array([1.0, 0, 0])
    points = entry + np.outer([0.1, 10.0, 150.0], d)
    b = bin_deposits(MESH, points, [1.0, 2.0, 3.0], entry=entry, direction=d)
    layers, _, radii = np.nonzero(b.cells[0])
    assert set(radii) == {0}
    assert sorted(layers) == [0, 2, 44]  # 10 mm / 3.4 mm -> layer 2
    assert b.outside[0] == 0


def test_deposits_behind_entry_or_too_deep_are_outside():
    entry, d = np.zeros(3), np.array([0, 0, 1.0])
    b = bin_deposits(
        MESH, [[0, 0, -0.1], [0, 0, 45 * 3.4 + 0.01], [0, 50, 1]], [1.0, 2.0, 4.0], entry=entry, direction=d
    )
    assert b.cells.sum() == 0 and b.outside[0] == 7.0


def test_rotation_about_the_beam_axis_leaves_the_shower_unchanged(rng):
    entry, d = np.array([800.0, 0, 0]), _direction(1.1, 0.0)
    pos, e = _shower_cloud(rng, 5000, entry, d)
    ref = bin_deposits(MESH, pos, e, entry=entry, direction=d).cells
    for angle in (0.7, 2.5, -1.9):
        rot = Rotation.from_euler("z", angle)
        b = bin_deposits(MESH, rot.apply(pos), e, entry=rot.apply(entry), direction=rot.apply(d))
        np.testing.assert_allclose(b.cells, ref, atol=1e-9)


def test_any_rotation_keeps_the_longitudinal_and_radial_profile(rng):
    """A general rotation also turns the frame about the shower axis, so only the alpha bins may move."""
    entry, d = np.array([800.0, 20.0, -40.0]), _direction(1.4, 0.2)
    pos, e = _shower_cloud(rng, 5000, entry, d)
    ref = bin_deposits(MESH, pos, e, entry=entry, direction=d).cells.sum(axis=2)
    for rot in Rotation.random(3, random_state=7):
        b = bin_deposits(MESH, rot.apply(pos), e, entry=rot.apply(entry), direction=rot.apply(d))
        np.testing.assert_allclose(b.cells.sum(axis=2), ref, atol=1e-9)


def test_local_frame_of_normal_incidence_matches_par04():
    # theta = 90 deg, phi = 0: local z is global x, local x is -global z, local y is global y
    z, r, alpha = local_coordinates(np.array([[810.0, 3.0, 0.0], [800.0, 0.0, -2.0]]), [800.0, 0, 0], [1.0, 0, 0])
    np.testing.assert_allclose(z, [10.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(r, [3.0, 2.0], atol=1e-12)
    np.testing.assert_allclose(alpha, [np.pi / 2, 0.0], atol=1e-12)


def test_angular_bins_wrap():
    mesh = ScoringMesh(1, 4, 1, dz_mm=10.0, dr_mm=10.0)
    entry, d = np.zeros(3), np.array([0, 0, 1.0])
    # alpha = -pi + eps -> bin 0; alpha just below pi -> bin 3; alpha = +pi exactly wraps to bin 0
    eps = 1e-6
    pts = [[np.cos(a), np.sin(a), 1.0] for a in (-np.pi + eps, np.pi - eps, -eps, eps)]
    pts.append([-1.0, 0.0, 1.0])  # atan2(0, -1) = +pi
    b = bin_deposits(mesh, pts, [1, 2, 4, 8, 16], entry=entry, direction=d)
    np.testing.assert_array_equal(b.cells[0, 0, :, 0], [1 + 16, 4, 8, 2])


def test_per_event_entries_and_directions(rng):
    entries = np.array([[800.0, 0, 0], [0, 800.0, 100.0]])
    dirs = np.array([_direction(np.pi / 2, 0), _direction(1.0, np.pi / 2)])
    clouds = [_shower_cloud(rng, 1000, entries[i], dirs[i]) for i in range(2)]
    pos = np.concatenate([c[0] for c in clouds])
    e = np.concatenate([c[1] for c in clouds])
    ev = np.repeat([0, 1], 1000)
    both = bin_deposits(MESH, pos, e, entry=entries, direction=dirs, event=ev)
    for i in range(2):
        single = bin_deposits(MESH, clouds[i][0], clouds[i][1], entry=entries[i], direction=dirs[i])
        np.testing.assert_allclose(both.cells[i], single.cells[0], atol=1e-12)
        assert both.outside[i] == pytest.approx(single.outside[0])


def test_bad_mesh_and_mismatched_arrays():
    with pytest.raises(CaloforgeError, match="invalid mesh"):
        ScoringMesh(45, 0, 9)
    with pytest.raises(CaloforgeError, match="unknown mesh configuration 'ds4'"):
        mesh_for(get_geometry("par04-siw"), "ds4")
    with pytest.raises(CaloforgeError, match="2 positions but 1 energies"):
        bin_deposits(MESH, np.zeros((2, 3)), [1.0], entry=np.zeros(3), direction=[0, 0, 1])
