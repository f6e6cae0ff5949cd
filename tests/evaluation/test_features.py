"""High-level features: exact values for hand-made showers, CaloChallenge's formulas, symmetry and speed."""

import time

import numpy as np
import pytest

from caloforge.errors import CaloforgeError
from caloforge.evaluation.features import (
    DEFAULT_THRESHOLD_MEV,
    FEATURE_NAMES,
    calochallenge_vector,
    calochallenge_vector_names,
    cell_energies,
    high_level_features,
)
from caloforge.geometry import ScoringMesh, get_geometry, mesh_for

SMALL = ScoringMesh(3, 4, 2, dz_mm=10.0, dr_mm=5.0)
SIW = mesh_for(get_geometry("par04-siw"))


def _one_cell(mesh, layer, alpha, r, energy=3.0):
    img = np.zeros((1, *mesh.shape), dtype=np.float32)
    img[0, layer, alpha, r] = energy
    return img


def _centre(mesh, alpha, r):
    """x, y of a cell centre from first principles: alpha bins start at -pi."""
    a = -np.pi + (alpha + 0.5) * 2 * np.pi / mesh.n_alpha
    rc = (r + 0.5) * mesh.dr_mm
    return rc * np.cos(a), rc * np.sin(a)


def _random_showers(rng, n, mesh, occupancy=0.1):
    hit = rng.random((n, mesh.n_cells)) < occupancy
    showers = (rng.exponential(2.0, size=(n, mesh.n_cells)) * hit).astype(np.float32)
    return showers, rng.uniform(1e3, 1e6, size=n)


def _calochallenge_reference(showers, e_inc, mesh, threshold):
    """An independent transcription of CaloChallenge's evaluate.py + HighLevelFeatures (one-pass widths)."""
    x = np.where(showers < threshold, 0.0, showers).astype(np.float64)
    L, A, R = mesh.shape
    r_mid = (np.arange(R) + 0.5) * mesh.dr_mm
    edges = np.linspace(-np.pi, np.pi, A + 1)
    a_mid = 0.5 * (edges[1:] + edges[:-1])
    r_list, a_list = np.tile(r_mid, A), np.repeat(a_mid, R)  # XMLHandler: alpha outer, r inner
    eta, phi = r_list * np.cos(a_list), r_list * np.sin(a_list)

    def ec_width(coord, d):
        e = d.sum(-1) + 1e-16
        ec = (coord * d).sum(-1) / e
        return ec, np.sqrt(((coord * coord * d).sum(-1) / e - ec**2).clip(min=0.0))

    layers = [x[:, i * A * R : (i + 1) * A * R] for i in range(L)]
    e_layer = np.stack([d.sum(-1) for d in layers], 1)
    xs = [ec_width(eta, d) for d in layers]
    ys = [ec_width(phi, d) for d in layers]
    rs = [ec_width(r_list, d) for d in layers]
    sparsity = np.stack([1.0 - (d > 0).mean(-1) for d in layers], 1)

    def col(pairs, k):
        return np.stack([p[k] for p in pairs], 1)

    return np.concatenate(
        [
            np.log10(e_inc)[:, None],
            np.log10(e_layer + 1e-8),
            col(xs, 0) / 1e2,
            col(ys, 0) / 1e2,
            col(xs, 1) / 1e2,
            col(ys, 1) / 1e2,
            np.log10(x.sum(-1) + 1e-8)[:, None],
            sparsity,
            col(rs, 0) / 1e2,
            col(rs, 1) / 1e2,
        ],
        axis=1,
    )


def test_default_threshold_is_calochallenge_ds2_readout():
    assert abs(DEFAULT_THRESHOLD_MEV - 0.01515) < 2e-6  # 15.15 keV
    assert DEFAULT_THRESHOLD_MEV == 0.5e-3 / 0.033


@pytest.mark.parametrize(
    ("mesh", "layer", "alpha", "r"),
    [(SMALL, 0, 0, 0), (SMALL, 1, 2, 1), (SMALL, 2, 3, 1), (SIW, 0, 0, 0), (SIW, 22, 5, 3), (SIW, 44, 15, 8)],
    ids=["small-first", "small-mid", "small-last", "siw-first", "siw-mid", "siw-last"],
)
def test_single_cell_gives_its_centre_and_zero_width(mesh, layer, alpha, r):
    f = high_level_features(_one_cell(mesh, layer, alpha, r), [300.0], mesh)
    assert set(f) == set(FEATURE_NAMES)
    x, y = _centre(mesh, alpha, r)
    L, A, R = mesh.shape
    assert f["e_inc"][0] == 300.0 and f["e_sum"][0] == 3.0 and f["esum_over_einc"][0] == pytest.approx(0.01)
    assert f["depth"][0] == pytest.approx((layer + 0.5) * mesh.dz_mm, rel=1e-15)
    assert f["r_mean"][0] == pytest.approx((r + 0.5) * mesh.dr_mm, rel=1e-15)
    assert f["depth_width"][0] < 1e-12 and f["r_width"][0] < 1e-12
    assert f["n_above"][0] == 1 and f["n_above"].dtype == np.int64
    assert f["ec_x"][0, layer] == pytest.approx(x, rel=1e-13, abs=1e-13)
    assert f["ec_y"][0, layer] == pytest.approx(y, rel=1e-13, abs=1e-13)
    assert f["ec_r"][0, layer] == pytest.approx((r + 0.5) * mesh.dr_mm, rel=1e-15)
    for key in ("width_x", "width_y", "width_r"):  # centred moments: rounding only, no cancellation
        np.testing.assert_allclose(f[key], 0.0, rtol=0, atol=1e-12)
    assert f["occupancy"][0, layer] == 1 / (A * R) and f["sparsity"][0, layer] == 1 - 1 / (A * R)
    others = np.arange(L) != layer
    for key in ("e_layer", "ec_x", "ec_y", "ec_r", "occupancy"):  # empty layers: zeros, not NaN
        np.testing.assert_array_equal(f[key][0, others], 0.0)
    np.testing.assert_array_equal(f["sparsity"][0, others], 1.0)
    expected_radial = np.zeros(R)
    expected_radial[r] = 3.0
    np.testing.assert_array_equal(f["radial_profile"][0], expected_radial)
    np.testing.assert_array_equal(f["longitudinal_profile"], f["e_layer"])


def test_flat_and_image_inputs_agree(rng):
    showers, e = _random_showers(rng, 7, SIW)
    flat = high_level_features(showers, e, SIW)
    image = high_level_features(showers.reshape(7, *SIW.shape), e[:, None], SIW)
    for key in FEATURE_NAMES:
        np.testing.assert_array_equal(flat[key], image[key], err_msg=key)


def test_cells_opposite_in_alpha_centre_on_the_axis():
    img = _one_cell(SIW, 5, 1, 4, 2.0) + _one_cell(SIW, 5, 9, 4, 2.0)  # 9 = 1 + 16/2: rotated by pi
    f = high_level_features(img, [100.0], SIW)
    x, y = _centre(SIW, 1, 4)
    assert f["ec_x"][0, 5] == pytest.approx(0.0, abs=1e-12) and f["ec_y"][0, 5] == pytest.approx(0.0, abs=1e-12)
    assert f["width_x"][0, 5] == pytest.approx(abs(x), rel=1e-12)
    assert f["width_y"][0, 5] == pytest.approx(abs(y), rel=1e-12)
    assert f["ec_r"][0, 5] == pytest.approx(4.5 * SIW.dr_mm) and f["width_r"][0, 5] < 1e-12
    assert f["sparsity"][0, 5] == 1 - 2 / 144


def test_cells_mirrored_in_alpha_centre_on_the_x_axis():
    img = _one_cell(SMALL, 0, 0, 1, 1.0) + _one_cell(SMALL, 0, 3, 1, 1.0)  # alpha = -3pi/4 and +3pi/4
    f = high_level_features(img, [100.0], SMALL)
    x, y = _centre(SMALL, 0, 1)
    assert f["ec_x"][0, 0] == pytest.approx(x) and f["ec_y"][0, 0] == pytest.approx(0.0, abs=1e-12)
    assert f["width_x"][0, 0] == pytest.approx(0.0, abs=1e-12) and f["width_y"][0, 0] == pytest.approx(abs(y))


def test_two_radii_and_two_layers_give_mean_and_rms():
    img = _one_cell(SMALL, 0, 2, 0, 1.0) + _one_cell(SMALL, 2, 2, 1, 3.0)
    f = high_level_features(img, [100.0], SMALL)
    depth = 0.25 * 5.0 + 0.75 * 25.0  # layer centres 5 and 25 mm, weights 1:3
    assert f["depth"][0] == pytest.approx(depth)
    assert f["depth_width"][0] == pytest.approx(np.sqrt(0.25 * (5 - depth) ** 2 + 0.75 * (25 - depth) ** 2))
    assert f["r_mean"][0] == pytest.approx(0.25 * 2.5 + 0.75 * 7.5)
    assert f["r_width"][0] == pytest.approx(np.sqrt(0.25 * 0.75) * 5.0)
    same_layer = _one_cell(SMALL, 1, 0, 0, 1.0) + _one_cell(SMALL, 1, 0, 1, 1.0)
    g = high_level_features(same_layer, [100.0], SMALL)
    assert g["ec_r"][0, 1] == pytest.approx(5.0) and g["width_r"][0, 1] == pytest.approx(2.5)


def test_threshold_zeroes_small_cells_for_every_feature():
    img = _one_cell(SMALL, 0, 0, 0, 0.01) + _one_cell(SMALL, 2, 1, 1, 1.0) - _one_cell(SMALL, 1, 1, 1, 5.0)
    f = high_level_features(img, [100.0], SMALL)
    assert f["n_above"][0] == 1 and f["e_sum"][0] == 1.0 and f["depth"][0] == 25.0
    np.testing.assert_array_equal(f["e_layer"][0], [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(f["occupancy"][0], [0.0, 0.0, 1 / 8])
    kept = high_level_features(img, [100.0], SMALL, threshold_mev=0.0)  # negatives still go
    assert kept["n_above"][0] == 2 and kept["e_sum"][0] == pytest.approx(1.01)
    at = high_level_features(_one_cell(SMALL, 0, 0, 0, 0.5), [100.0], SMALL, threshold_mev=0.5)
    assert at["n_above"][0] == 1  # a cell at the threshold is kept (evaluate.py zeroes E < threshold)
    np.testing.assert_array_equal(cell_energies(img), [1.0])
    np.testing.assert_allclose(cell_energies(img, threshold_mev=0.0), [0.01, 1.0])


def test_energy_is_conserved_and_matches_the_thresholded_showers(rng):
    showers, e = _random_showers(rng, 600, SIW, occupancy=0.3)  # several chunks, many sub-threshold cells
    f = high_level_features(showers, e, SIW)
    kept = np.where(showers < DEFAULT_THRESHOLD_MEV, 0.0, showers.astype(np.float64))
    np.testing.assert_allclose(f["e_sum"], kept.sum(1), rtol=1e-12)
    np.testing.assert_allclose(f["e_layer"].sum(1), f["e_sum"], rtol=1e-12)
    np.testing.assert_allclose(f["radial_profile"].sum(1), f["e_sum"], rtol=1e-12)
    np.testing.assert_allclose(f["esum_over_einc"], f["e_sum"] / e, rtol=1e-15)
    np.testing.assert_array_equal(f["n_above"], np.count_nonzero(kept, axis=1))
    assert cell_energies(showers).sum() == pytest.approx(f["e_sum"].sum(), rel=1e-10)
    assert cell_energies(showers).size == f["n_above"].sum()
    for key in FEATURE_NAMES:
        assert np.isfinite(f[key]).all(), key
    alone = high_level_features(showers[300:301], e[300:301], SIW)  # chunking changes nothing
    for key in FEATURE_NAMES:
        np.testing.assert_allclose(alone[key][0], f[key][300], rtol=1e-12, atol=1e-12, err_msg=key)


def test_empty_shower_has_zero_features_not_nan():
    f = high_level_features(np.zeros((2, SMALL.n_cells)), [1.0, 2.0], SMALL)
    for key in FEATURE_NAMES:
        expected = 1.0 if key == "sparsity" else (f["e_inc"] if key == "e_inc" else 0.0)
        np.testing.assert_array_equal(f[key], np.broadcast_to(expected, f[key].shape), err_msg=key)
    assert calochallenge_vector(f)[0, 1] == -8.0  # log10(0 + 1e-8)


def test_input_is_not_modified(rng):
    showers, e = _random_showers(rng, 3, SIW)
    copy = showers.copy()
    high_level_features(showers.astype(np.float64), e, SIW)
    high_level_features(showers, e, SIW)
    np.testing.assert_array_equal(showers, copy)


def test_rotation_by_one_alpha_bin_rotates_the_centre(rng):
    showers, e = _random_showers(rng, 20, SMALL, occupancy=0.5)
    f = high_level_features(showers, e, SMALL)
    rolled = np.roll(showers.reshape(20, *SMALL.shape), 1, axis=2)  # 4 bins: +90 degrees
    g = high_level_features(rolled, e, SMALL)
    np.testing.assert_allclose(g["ec_x"], -f["ec_y"], atol=1e-12)
    np.testing.assert_allclose(g["ec_y"], f["ec_x"], atol=1e-12)
    np.testing.assert_allclose(g["width_x"], f["width_y"], atol=1e-12)
    np.testing.assert_allclose(g["width_y"], f["width_x"], atol=1e-12)
    for key in ("e_layer", "ec_r", "width_r", "sparsity", "depth", "r_mean", "radial_profile"):
        np.testing.assert_allclose(g[key], f[key], rtol=1e-12, atol=1e-12, err_msg=key)

    showers, e = _random_showers(rng, 20, SIW)
    f = high_level_features(showers, e, SIW)
    g = high_level_features(np.roll(showers.reshape(20, *SIW.shape), 1, axis=2), e, SIW)
    c, s = np.cos(SIW.dalpha), np.sin(SIW.dalpha)
    np.testing.assert_allclose(g["ec_x"], c * f["ec_x"] - s * f["ec_y"], atol=1e-10)
    np.testing.assert_allclose(g["ec_y"], s * f["ec_x"] + c * f["ec_y"], atol=1e-10)
    np.testing.assert_allclose(g["width_x"] ** 2 + g["width_y"] ** 2, f["width_x"] ** 2 + f["width_y"] ** 2)


def test_calochallenge_vector_matches_evaluate_py(rng):
    showers, e = _random_showers(rng, 50, SIW, occupancy=0.2)
    showers[3].reshape(SIW.shape)[10:] = 0.0  # empty layers
    vec = calochallenge_vector(high_level_features(showers, e, SIW))
    assert vec.shape == (50, 362) and vec.dtype == np.float64
    names = calochallenge_vector_names(45)
    assert len(names) == 362 and names[:3] == ["log10_e_inc", "log10_e_layer_0", "log10_e_layer_1"]
    assert names[1 + 45] == "ec_x_0" and names[1 + 5 * 45] == "log10_e_sum" and names[-1] == "width_r_44"
    np.testing.assert_allclose(vec[:, 0], np.log10(e), rtol=1e-15)
    f = high_level_features(showers, e, SIW)
    np.testing.assert_allclose(vec[:, 1:46], np.log10(f["e_layer"] + 1e-8), rtol=1e-15)
    np.testing.assert_allclose(vec, _calochallenge_reference(showers, e, SIW, DEFAULT_THRESHOLD_MEV), atol=1e-9)
    small = calochallenge_vector(high_level_features(showers[:2, : SMALL.n_cells], e[:2], SMALL))
    assert small.shape == (2, 1 + 8 * 3 + 1) and len(calochallenge_vector_names(3)) == small.shape[1]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: high_level_features(np.zeros((2, 100)), [1.0, 1.0], SIW), r"shape \(2, 100\).*\(N, 6480\)"),
        (lambda: high_level_features(np.zeros((2, 45, 9, 16)), [1.0, 1.0], SIW), "45x16x9 mesh"),
        (lambda: high_level_features(np.zeros((2, 24)), [1.0, 1.0, 1.0], SMALL), "3 incident energies for 2"),
        (lambda: high_level_features(np.zeros((2, 24)), [[1.0, 1.0]], SMALL), r"\(N,\) or \(N, 1\)"),
        (lambda: high_level_features(np.zeros((1, 24)), [0.0], SMALL), "finite and > 0"),
        (lambda: high_level_features(np.full((1, 24), np.nan), [1.0], SMALL), "NaN or inf.*shower 0"),
        (lambda: high_level_features(np.zeros((1, 24)), [1.0], SMALL, threshold_mev=-1), ">= 0"),
        (lambda: high_level_features(np.array([["a"] * 24]), [1.0], SMALL), "real numbers"),
        (lambda: cell_energies(np.array([np.inf])), "NaN or inf"),
        (lambda: calochallenge_vector({"e_inc": np.ones(2)}), "features lack e_layer"),
    ],
)
def test_bad_input_is_one_clear_line(call, match):
    with pytest.raises(CaloforgeError, match=match) as info:
        call()
    assert "\n" not in str(info.value)


def test_nan_is_reported_with_its_shower_across_chunks():
    showers = np.zeros((700, SMALL.n_cells))
    showers[613, 5] = np.nan
    with pytest.raises(CaloforgeError, match="shower 613"):
        high_level_features(showers, np.ones(700), SMALL)


def test_ten_thousand_par04_showers_take_under_five_seconds(rng):
    n = 10_000
    showers = np.zeros(n * SIW.n_cells, dtype=np.float32)
    hits = rng.integers(0, showers.size, size=showers.size // 10)
    showers[hits] = rng.exponential(2.0, size=hits.size).astype(np.float32)
    showers = showers.reshape(n, SIW.n_cells)
    energies = rng.uniform(1e3, 1e6, size=n)
    start = time.perf_counter()
    f = high_level_features(showers, energies, SIW)
    vec = calochallenge_vector(f)
    elapsed = time.perf_counter() - start
    assert vec.shape == (n, 362) and np.isfinite(vec).all()
    assert elapsed < 5.0, f"{elapsed:.2f} s for 10k x 6480"
