"""Distances of caloforge.evaluation.distances: exact small cases, statistical limits, jetnet numbers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from caloforge.errors import CaloforgeError
from caloforge.evaluation import distances
from caloforge.evaluation.distances import (
    fpd,
    fpd_batch_sizes,
    frechet_distance,
    kpd,
    layer_separation_powers,
    reference_bins,
    separation_power,
    wasserstein,
)

# ---------------------------------------------------------------------------------------------------
# helpers: independent reimplementations from the formulas


def _with_moments(rng: np.random.Generator, n: int, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """n rows whose sample mean and np.cov are exactly ``mean`` and ``cov`` (whiten, then recolour)."""
    z = rng.normal(size=(n, len(mean)))
    z -= z.mean(axis=0)
    z = z @ np.linalg.inv(np.linalg.cholesky(np.atleast_2d(np.cov(z, rowvar=False)))).T
    return z @ np.linalg.cholesky(cov).T + mean


def _psd_sqrt(m: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(m)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def _frechet_closed_form(mu1, cov1, mu2, cov2) -> float:
    """|dmu|^2 + tr C1 + tr C2 - 2 tr (C1^1/2 C2 C1^1/2)^1/2, with eigendecompositions (no sqrtm)."""
    r = _psd_sqrt(cov1)
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(r @ cov2 @ r), 0, None)).sum()
    return float((mu1 - mu2) @ (mu1 - mu2) + np.trace(cov1) + np.trace(cov2) - 2 * cross)


def _poly_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a @ b.T / a.shape[1] + 1.0) ** 4


def _mmd2_naive(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 (Gretton et al. 2012, eq. 3) with full kernel matrices."""
    m, n = len(x), len(y)
    kxx, kyy, kxy = _poly_kernel(x, x), _poly_kernel(y, y), _poly_kernel(x, y)
    return float(
        (kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1)) - 2 * kxy.mean()
    )


def _normalised(ref: np.ndarray, cand: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scale = np.abs(ref).max(axis=0)
    return ref / scale, cand / scale


# ---------------------------------------------------------------------------------------------------
# reference_bins, separation power, Wasserstein


def test_reference_bins_linear_span_the_reference_percentiles(rng):
    ref = rng.normal(size=10_000)
    edges = reference_bins(ref, bins=40)
    assert edges.shape == (41,)
    assert edges[0] == pytest.approx(np.percentile(ref, 0.1))
    assert edges[-1] == pytest.approx(np.percentile(ref, 99.9))
    np.testing.assert_allclose(np.diff(edges), np.diff(edges)[0])


def test_reference_bins_log_are_geometric_over_positive_values(rng):
    ref = np.concatenate([np.zeros(100), rng.lognormal(3.0, 1.5, size=5000)])
    edges = reference_bins(ref, bins=20, log=True)
    pos = ref[ref > 0]
    assert edges[0] == pytest.approx(np.percentile(pos, 0.1))
    assert edges[-1] == pytest.approx(np.percentile(pos, 99.9))
    np.testing.assert_allclose(edges[1:] / edges[:-1], edges[1] / edges[0])


def test_reference_bins_constant_feature_is_widened():
    np.testing.assert_allclose(reference_bins(np.full(50, 3.0), bins=2), [2.5, 3.0, 3.5])
    np.testing.assert_allclose(reference_bins(np.full(50, 4.0), bins=2, log=True), [2.0, 4.0, 8.0])


def test_separation_power_identical_samples_is_zero(rng):
    ref = rng.exponential(size=5000)
    edges = reference_bins(ref)
    assert separation_power(ref, ref, edges) == 0.0
    assert separation_power(ref, rng.permutation(ref), edges) == 0.0


def test_separation_power_noise_floor_of_two_samples(rng):
    # two multinomial samples of n each in B equally likely bins: E[S] = (B - 1) / (2 n); S is about
    # chi^2 with B - 1 degrees of freedom / (2 n), so its relative spread is sqrt(2 / (B - 1)) ~ 0.2.
    n, bins = 20_000, 50
    ref, cand = rng.uniform(size=n), rng.uniform(size=n)
    edges = np.linspace(0.0, 1.0, bins + 1)
    assert separation_power(ref, cand, edges) == pytest.approx((bins - 1) / (2 * n), rel=0.6)


def test_separation_power_disjoint_is_one(rng):
    edges = np.linspace(0.0, 3.0, 31)
    assert separation_power(rng.uniform(0, 1, 1000), rng.uniform(2, 3, 700), edges) == pytest.approx(1.0)


def test_separation_power_is_symmetric_for_fixed_edges(rng):
    a, b = rng.normal(size=3000), rng.normal(0.3, 1.2, size=2000)
    edges = reference_bins(a)
    assert separation_power(a, b, edges) == pytest.approx(separation_power(b, a, edges), rel=1e-12)
    assert 0.0 < separation_power(a, b, edges) < 1.0


def test_separation_power_hand_made_histograms():
    # counts [1, 3, 0, 4, 0] and [2, 2, 2, 2, 0]: unit sums [1/8, 3/8, 0, 1/2, 0] and [1/4] * 4 + [0];
    # 1/2 * (1/64 / (3/8) + 1/64 / (5/8) + 1/16 / (1/4) + 1/16 / (3/4)) = 1/2 * (1/24 + 1/40 + 1/4 + 1/12)
    # = 0.2 (the empty fifth bin is skipped).
    edges = np.arange(6.0)
    centres = edges[:-1] + 0.5
    h1 = np.repeat(centres, [1, 3, 0, 4, 0])
    h2 = np.repeat(centres, [2, 2, 2, 2, 0])
    assert separation_power(h1, h2, edges) == pytest.approx(0.2, rel=1e-12)


def test_separation_power_counts_values_outside_the_edges_in_the_end_bins():
    edges = [0.0, 1.0, 2.0]
    assert separation_power([-5.0, 1.5], [0.5, 1.5], edges) == 0.0
    assert separation_power([0.5, 7.0], [0.5, 1.5], edges) == 0.0
    # a candidate entirely above the range lands in the last bin, with the reference's mass there
    assert separation_power([0.5, 1.5], [10.0, 20.0], edges) == pytest.approx(0.5 * (0.25 / 0.5 + 0.25 / 1.5))


def test_wasserstein_point_masses_and_shift(rng):
    assert wasserstein([1.0], [4.0]) == pytest.approx(3.0)
    x = rng.normal(size=1000)
    assert wasserstein(x, x + 0.25) == pytest.approx(0.25)
    assert wasserstein(x, x[::-1]) == 0.0


# ---------------------------------------------------------------------------------------------------
# Fréchet distance and FPD


def test_frechet_distance_diagonal_covariances_closed_form(rng):
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([0.5, 1.0, 0.0])
    var1, var2 = np.array([1.0, 4.0, 0.25]), np.array([2.25, 1.0, 0.25])
    x = _with_moments(rng, 500, mu1, np.diag(var1))
    y = _with_moments(rng, 800, mu2, np.diag(var2))
    # commuting covariances: |dmu|^2 + sum (sigma1 - sigma2)^2 = 4.25 + (0.25 + 1 + 0) = 5.5
    assert frechet_distance(x, y) == pytest.approx(5.5, rel=1e-9)


def test_frechet_distance_general_covariances_match_eigen_formula(rng):
    a, b = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
    cov1, cov2 = a @ a.T + 0.5 * np.eye(4), b @ b.T + 0.1 * np.eye(4)
    mu1, mu2 = rng.normal(size=4), rng.normal(size=4)
    x, y = _with_moments(rng, 300, mu1, cov1), _with_moments(rng, 400, mu2, cov2)
    assert frechet_distance(x, y) == pytest.approx(_frechet_closed_form(mu1, cov1, mu2, cov2), rel=1e-8)


def test_frechet_distance_one_feature_and_self(rng):
    x = _with_moments(rng, 100, np.array([1.0]), np.array([[4.0]]))
    y = _with_moments(rng, 50, np.array([-1.0]), np.array([[1.0]]))
    assert frechet_distance(x[:, 0], y[:, 0]) == pytest.approx(4.0 + 1.0)  # (dmu)^2 + (2 - 1)^2
    z = rng.normal(size=(200, 5))
    assert frechet_distance(z, z) == pytest.approx(0.0, abs=1e-10)


def test_frechet_distance_constant_features_are_singular_but_fine(rng):
    # constant columns (e.g. an always-empty layer's log energy) make both covariances singular; the
    # distance must stay right and quiet (warnings are errors here): only the mean term of the column.
    x, y = rng.normal(size=(500, 3)), rng.normal(size=(400, 3))
    x[:, 2], y[:, 2] = -8.0, -8.0
    assert frechet_distance(x, y) == pytest.approx(frechet_distance(x[:, :2], y[:, :2]), rel=1e-9)
    y[:, 2] = -7.0
    assert frechet_distance(x, y) == pytest.approx(frechet_distance(x[:, :2], y[:, :2]) + 1.0, rel=1e-9)
    value, error = fpd(x, y, min_samples=100, max_samples=300, num_batches=3, num_points=3)
    assert np.isfinite(value) and np.isfinite(error)


def test_fpd_batch_sizes_are_jetnets_or_scaled_down():
    expected = (1 / np.linspace(1 / 20_000, 1 / 50_000, 10)).astype("int32")  # jetnet 0.2.5 fpd
    np.testing.assert_array_equal(fpd_batch_sizes(100_000), expected)
    np.testing.assert_array_equal(fpd_batch_sizes(50_000), expected)
    # between min and max samples: max capped at the data, min kept
    assert fpd_batch_sizes(30_000, num_points=4).tolist() == [20_000, 22_500, 25_714, 30_000]
    # below min_samples: max = the data, min = max * 20k / 50k (jetnet's ratio)
    assert fpd_batch_sizes(5_000, num_points=5).tolist() == [2_000, 2_352, 2_857, 3_636, 5_000]
    assert fpd_batch_sizes(3, num_points=3).tolist() == [2, 2, 3]


def test_fpd_same_distribution_is_consistent_with_zero(rng):
    # samples much larger than the batches: the bootstrap draws are close to independent draws from
    # the parent distribution, so the intercept is 0 within its error.
    x, y = rng.normal(size=(40_000, 3)), rng.normal(size=(40_000, 3))
    value, error = fpd(x, y, min_samples=500, max_samples=2000)
    assert error > 0
    assert 0.0 <= value < 3 * error


def test_fpd_mean_shift_gives_normalised_shift_squared(rng):
    delta = 0.5
    x, y = rng.normal(size=(40_000, 3)), rng.normal(size=(40_000, 3))
    y[:, 0] += delta
    value, error = fpd(x, y, min_samples=500, max_samples=2000)
    # features are divided by the reference's max |x| per column, and equal covariances leave only
    # the mean term: FPD = (delta / max|x_0|)^2. Sample-mean and resampling noise spread the ratio
    # by ~4 % (60 seeds), so 15 % is ~3.5 sigma.
    expected = (delta / np.abs(x[:, 0]).max()) ** 2
    assert value == pytest.approx(expected, rel=0.15)
    assert value > 10 * error


def test_fpd_small_inputs_estimate_the_distance_between_the_finite_samples(rng):
    # 4000 rows a side (below min_samples): the batch sizes scale down to 1600..4000 and the
    # intercept converges to the Fréchet distance of the two full samples, not to 0 (documented bias).
    x, y = rng.normal(size=(4000, 3)), rng.normal(size=(4000, 3))
    value, error = fpd(x, y)
    finite = frechet_distance(*_normalised(x, y))
    assert finite > 0
    assert abs(value - finite) < 3 * error + 0.2 * finite


def test_fpd_is_unchanged_by_rescaling_a_feature_and_is_reproducible(rng):
    x, y = rng.normal(size=(3000, 2)), rng.normal(0.2, 1.0, size=(3000, 2))
    kwargs = {"min_samples": 500, "max_samples": 1500, "num_batches": 4, "num_points": 4}
    first = fpd(x, y, **kwargs)
    assert fpd(x, y, **kwargs) == first
    scale = np.array([1e3, 1e-2])
    np.testing.assert_allclose(fpd(x * scale, y * scale, **kwargs), first, rtol=1e-6)  # curve_fit tolerance


# ---------------------------------------------------------------------------------------------------
# KPD


def test_mmd2_hand_computed_case():
    # D = 1, k(a, b) = (a b + 1)^4; x = (1, 2), y = (0, 1):
    # xx: k(1, 2) = 81 (i != j, both orders / 2) -> 81; yy: k(0, 1) = 1 -> 1;
    # xy: (k(1,0) + k(1,1) + k(2,0) + k(2,1)) / 4 = (1 + 16 + 1 + 81) / 4 = 24.75 -> 81 + 1 - 49.5 = 32.5
    assert distances._mmd2_unbiased_poly(np.array([[1.0], [2.0]]), np.array([[0.0], [1.0]])) == pytest.approx(32.5)


def test_mmd2_is_unbiased_by_exact_enumeration():
    # P uniform on {p1, p2}, Q uniform on {q1, q2}; every draw of 2 + 2 points is equally likely, so the
    # mean over all 16 draws is the expectation of the estimator, which must equal the population MMD^2.
    p = np.array([[0.3, -0.2], [0.9, 0.4]])
    q = np.array([[-0.5, 0.1], [0.2, 0.8]])
    draws = [
        distances._mmd2_unbiased_poly(p[list(i)], q[list(j)])
        for i in itertools.product(range(2), repeat=2)
        for j in itertools.product(range(2), repeat=2)
    ]
    population = _poly_kernel(p, p).mean() + _poly_kernel(q, q).mean() - 2 * _poly_kernel(p, q).mean()
    assert np.mean(draws) == pytest.approx(population, rel=1e-12)


def test_mmd2_blocked_sums_match_full_matrices(rng, monkeypatch):
    monkeypatch.setattr(distances, "_KERNEL_BLOCK_ROWS", 3)
    x, y = rng.normal(size=(11, 4)), rng.normal(0.5, 1.0, size=(8, 4))
    assert distances._mmd2_unbiased_poly(x, y) == pytest.approx(_mmd2_naive(x, y), rel=1e-12)


def test_kpd_same_distribution_is_consistent_with_zero(rng):
    x, y = rng.normal(size=(20_000, 3)), rng.normal(size=(20_000, 3))
    median, error = kpd(x, y, batch_size=1000)
    assert error > 0
    assert abs(median) < 3 * error


def test_kpd_shifted_distribution_is_clearly_positive(rng):
    x, y = rng.normal(size=(5000, 3)), rng.normal(size=(5000, 3))
    y[:, 1] += 1.0
    median, error = kpd(x, y, batch_size=1000)
    assert median > 5 * error
    null_median, null_error = kpd(x, rng.normal(size=(5000, 3)), batch_size=1000)
    assert median > 30 * (abs(null_median) + null_error)


def test_kpd_capped_batches_expect_the_v_statistic_of_the_full_samples(rng):
    # batch_size is capped at 2000 rows; draws with replacement then have expectation the biased
    # V-statistic MMD^2 of the two full samples (documented bias), here compared within 3 errors.
    x, y = rng.normal(size=(2000, 3)), rng.normal(size=(2000, 3))
    median, error = kpd(x, y)
    xn, yn = _normalised(x, y)
    v_stat = _poly_kernel(xn, xn).mean() + _poly_kernel(yn, yn).mean() - 2 * _poly_kernel(xn, yn).mean()
    assert v_stat > 0
    assert abs(median - v_stat) < 3 * error


# ---------------------------------------------------------------------------------------------------
# cross-check against jetnet 0.2.5


def _jetnet_case() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2024)
    ref = rng.normal(size=(3000, 4)) * [1.0, 2.0, 0.5, 3.0] + [0.0, 1.0, -1.0, 5.0]
    cand = rng.normal(size=(2500, 4)) * [1.1, 2.0, 0.5, 3.0] + [0.3, 1.0, -1.0, 5.0]
    return ref, cand


def test_fpd_kpd_match_jetnet_numbers():
    # Reference numbers: jetnet 0.2.5 (PyPI) in a separate venv (numpy 2.4.6, scipy 1.17.1, numba 0.68.1),
    # on exactly these arrays:
    #   jetnet.evaluation.fpd(ref, cand, min_samples=500, max_samples=2000, num_batches=5, num_points=5)
    #     -> (0.009549943635366279, 0.002054422067299783)
    #   jetnet.evaluation.kpd(ref, cand, num_batches=7, batch_size=1000)
    #     -> (0.013434231407269515, 0.0023504162411780724)
    #   jetnet.evaluation.kpd(ref, ref[::-1].copy(), num_batches=7, batch_size=1000)
    #     -> (-7.012902328407122e-05, 0.0001789079718209456)
    # Both samples exceed the batch sizes, so no cap applies and the draws are jetnet's.
    ref, cand = _jetnet_case()
    np.testing.assert_allclose(
        fpd(ref, cand, min_samples=500, max_samples=2000, num_batches=5, num_points=5),
        (0.009549943635366279, 0.002054422067299783),
        rtol=1e-7,
    )
    np.testing.assert_allclose(
        kpd(ref, cand, num_batches=7, batch_size=1000), (0.013434231407269515, 0.0023504162411780724), rtol=1e-7
    )
    np.testing.assert_allclose(
        kpd(ref, ref[::-1].copy(), num_batches=7, batch_size=1000),
        (-7.012902328407122e-05, 0.0001789079718209456),
        rtol=1e-6,
    )


# ---------------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: separation_power([], [1.0], [0.0, 1.0]), r"separation_power: reference is empty"),
        (lambda: separation_power([1.0, np.nan], [1.0], [0.0, 1.0]), r"reference has NaN at row 1"),
        (lambda: separation_power([1.0], [[1.0]], [0.0, 1.0]), r"candidate must be a 1-D sample.*\(1, 1\)"),
        (lambda: separation_power([1.0], [1.0], [1.0, 0.0]), r"edges must be strictly increasing"),
        (lambda: separation_power([1.0], [1.0], [1.0]), r"edges must be a 1-D array of at least 2"),
        (lambda: separation_power(["a"], [1.0], [0.0, 1.0]), r"reference must be an array of numbers"),
        (lambda: reference_bins([1.0, 2.0], bins=0), r"bins must be a positive integer, got 0"),
        (lambda: reference_bins([-1.0, 0.0], log=True), r"log=True needs positive reference values"),
        (lambda: wasserstein([1.0, np.inf], [1.0]), r"wasserstein: reference has an infinite value at row 1"),
        (lambda: frechet_distance(np.ones((5, 3)), np.ones((5, 2))), r"x has 3 features per sample but y has 2"),
        (lambda: frechet_distance(np.ones((1, 3)), np.ones((5, 3))), r"x needs at least 2 samples, got 1"),
        (lambda: fpd(np.ones((0, 3)), np.ones((5, 3))), r"fpd: reference is empty"),
        (lambda: fpd(np.ones((10, 3)), np.ones((10, 4))), r"fpd: reference has 3 features .* candidate has 4"),
        (lambda: fpd(np.ones((10, 0)), np.ones((10, 0))), r"reference has no features"),
        (lambda: fpd(np.ones((2, 3)), np.ones((10, 3))), r"fpd: needs at least 3 samples on each side, got 2"),
        (lambda: fpd(np.ones((10, 3)), np.ones((10, 3)), min_samples=9, max_samples=9), r"must be smaller"),
        (lambda: fpd(np.ones((10, 3)), np.ones((10, 3)), num_points=2), r"num_points must be at least 3"),
        (lambda: fpd(np.ones((10, 3)), np.ones((10, 3)), seed=-1), r"seed must be a non-negative integer"),
        (lambda: kpd(np.ones((10, 2)), np.full((10, 2), np.nan)), r"kpd: candidate has NaN at row 0, column 0"),
        (lambda: kpd(np.ones((10, 2)), np.ones((10, 2)), batch_size=0), r"batch_size must be a positive integer"),
        (lambda: kpd(np.ones((10, 2)), np.ones((10, 2)), num_batches=1.5), r"num_batches must be a positive"),
        (lambda: kpd(np.ones((10, 2, 2)), np.ones((10, 2))), r"must be a \(samples, features\) array"),
    ],
)
def test_bad_input_raises_one_clear_line(call, match):
    with pytest.raises(CaloforgeError, match=match) as info:
        call()
    assert "\n" not in str(info.value)


def test_layer_separation_powers_skip_layers_empty_in_both_and_use_log_bins_for_energies():
    rng = np.random.default_rng(3)
    ref = np.stack([rng.lognormal(0, 1, 500), np.zeros(500), rng.lognormal(0, 1, 500)], axis=1)
    cand = ref.copy()
    cand[:, 2] *= 3.0  # a shifted energy scale in the last layer
    powers = layer_separation_powers(ref, cand, log=True)
    assert len(powers) == 2  # the layer empty in both is left out
    log_bins = reference_bins(ref[:, 2], log=True)
    assert powers[0] == 0.0
    assert powers[1] == separation_power(ref[:, 2], cand[:, 2], log_bins) > 0.2
    assert layer_separation_powers(ref, cand)[1] != powers[1]  # linear bins without log
    cand[:, 1] = 1.0  # a layer empty in the reference only is compared
    assert len(layer_separation_powers(ref, cand)) == 3
    with pytest.raises(CaloforgeError, match=r"\(N, L\)"):
        layer_separation_powers(ref, cand[:, :2])
