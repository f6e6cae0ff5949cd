"""The classifier two-sample test: rank AUC, calibration, the protocol's physics limits, determinism, errors."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import norm

from caloforge.errors import CaloforgeError
from caloforge.evaluation.classifier import (
    MIN_PER_CLASS,
    ClassifierResult,
    _isotonic_fit,
    _isotonic_predict,
    classifier_two_sample_test,
    roc_auc,
)

SMALL = {"hidden": 64, "epochs": 30, "device": "cpu"}  # a test-sized network; the protocol is unchanged


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny networks run ~10x faster on one thread on a shared machine (no OpenMP waits); restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _profiles(rng, n, layers=45):
    """Longitudinal shower profiles: energy per layer, Gamma-shaped with a fluctuating shower maximum."""
    t = np.arange(layers) + 0.5
    a = rng.normal(6.0, 0.6, size=(n, 1))
    e = np.exp(rng.normal(np.log(100.0), 0.05, size=(n, 1)))
    prof = t ** (a - 1) * np.exp(-0.5 * t)
    prof = e * prof / prof.sum(axis=1, keepdims=True)
    return np.log10(prof * np.exp(rng.normal(0.0, 0.1, size=prof.shape)) + 1e-6)


# ---------------------------------------------------------------- roc_auc


@pytest.mark.parametrize(
    ("labels", "scores", "expected"),
    [
        ([0, 0, 1, 1], [1, 2, 3, 4], 1.0),  # perfect
        ([0, 0, 1, 1], [4, 3, 2, 1], 0.0),  # inverted
        ([0, 1, 0, 1], [7, 7, 7, 7], 0.5),  # all tied
        ([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], 0.75),  # 3 of 4 pairs ordered
        ([0, 1, 0, 1], [1, 1, 2, 3], 0.625),  # (1<1 tie: 1/2) + (1<3) + (2>1: 0) + (2<3) = 2.5 / 4
        ([True, False, True], [0.9, 0.1, 0.2], 1.0),  # booleans
    ],
)
def test_roc_auc_hand_computed(labels, scores, expected):
    assert roc_auc(labels, scores) == pytest.approx(expected, abs=1e-12)


def test_roc_auc_equals_pair_count_with_ties(rng):
    labels = rng.integers(0, 2, size=300)
    scores = rng.integers(0, 10, size=300).astype(float)  # many ties
    pos, neg = scores[labels == 1], scores[labels == 0]
    diff = pos[:, None] - neg[None, :]
    brute = ((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size
    assert roc_auc(labels, scores) == pytest.approx(brute, abs=1e-12)
    assert roc_auc(labels, np.exp(scores)) == pytest.approx(brute, abs=1e-12)  # rank-based: monotone-invariant


@pytest.mark.parametrize(
    ("labels", "scores", "match"),
    [
        ([0, 1], [0.1], "2 labels but 1 scores"),
        ([0, 2], [0.1, 0.2], "labels must be 0 or 1"),
        ([1, 1], [0.1, 0.2], "needs both classes, got 0 negatives and 2 positives"),
        ([0, 1], [0.1, math.nan], "1 scores are NaN or infinite"),
    ],
)
def test_roc_auc_rejects_bad_input(labels, scores, match):
    with pytest.raises(CaloforgeError, match=match):
        roc_auc(labels, scores)


# ---------------------------------------------------------------- isotonic calibration


def test_pool_adjacent_violators_known_case():
    knots, fitted = _isotonic_fit(np.arange(1.0, 6.0), np.array([1.0, 0.0, 1.0, 0.0, 1.0]))
    np.testing.assert_allclose(knots, [1, 2, 3, 4, 5])
    np.testing.assert_allclose(fitted, [0.5, 0.5, 0.5, 0.5, 1.0])
    np.testing.assert_allclose(_isotonic_predict(knots, fitted, np.array([0.0, 4.5, 9.0])), [0.5, 0.75, 1.0])


def test_isotonic_fit_is_monotone_and_preserves_the_mean(rng):
    x = rng.integers(0, 50, size=500).astype(float)  # ties share one knot
    y = (rng.random(500) < 1 / (1 + np.exp(-(x - 25) / 8))).astype(float)
    knots, fitted = _isotonic_fit(x, y)
    assert np.all(np.diff(knots) > 0) and np.all(np.diff(fitted) >= 0)
    assert np.all((fitted >= 0) & (fitted <= 1))
    assert _isotonic_predict(knots, fitted, x).mean() == pytest.approx(y.mean(), abs=1e-12)


# ---------------------------------------------------------------- the two-sample test


def test_same_distribution_is_indistinguishable(rng):
    ref, cand = rng.normal(size=(3000, 20)), rng.normal(size=(3000, 20))
    res = classifier_two_sample_test(ref, cand, label="gauss-20", **SMALL)
    assert isinstance(res, ClassifierResult)
    assert (res.n_train, res.n_val, res.n_test, res.n_features) == (1800, 600, 600, 20)
    assert abs(res.auc - 0.5) < 0.04
    assert abs(res.auc - 0.5) < 3 * res.auc_error
    assert res.auc_error == pytest.approx(0.0167, abs=5e-4)  # Hanley-McNeil at AUC 0.5, 600 + 600
    assert -0.05 < res.jsd < 0.02
    assert res.jsd == pytest.approx((math.log(2) - res.bce_test) / math.log(2))
    assert 1 <= res.best_epoch <= res.epochs_run <= 30 and res.stop_reason in {"patience", "epochs"}
    assert (res.inputs, res.device, res.seed, res.calibrated) == ("gauss-20", "cpu", 0, True)


def test_mean_shift_is_found_but_not_beyond_the_bayes_limit(rng):
    # 0.3 sigma in each of 20 features: Mahalanobis distance d = 0.3 sqrt(20), best AUC = Phi(d / sqrt 2)
    ref, cand = rng.normal(size=(3000, 20)), rng.normal(0.3, 1.0, size=(3000, 20))
    bayes = norm.cdf(0.3 * math.sqrt(20) / math.sqrt(2))
    res = classifier_two_sample_test(ref, cand, **SMALL)
    assert res.auc > 0.6 and res.jsd > 0.05
    assert res.auc < bayes + 3 * res.auc_error


def test_energy_scale_reaches_the_bayes_limit(rng):
    # log-normal energies of 2 % resolution, candidate scaled by 1.05 (a 1-D input): best AUC = 0.958
    ref = np.exp(rng.normal(np.log(50.0), 0.02, size=3000))
    cand = 1.05 * np.exp(rng.normal(np.log(50.0), 0.02, size=3000))
    bayes = norm.cdf(math.log(1.05) / 0.02 / math.sqrt(2))
    res = classifier_two_sample_test(ref, cand, **SMALL)
    assert res.n_features == 1
    assert res.auc == pytest.approx(bayes, abs=max(0.02, 3 * res.auc_error))


def test_permuted_layers_are_obvious(rng):
    ref, cand = _profiles(rng, 2000), _profiles(rng, 2000)
    cand = cand[:, rng.permutation(cand.shape[1])]  # the same showers with their layers shuffled
    res = classifier_two_sample_test(ref, cand, **SMALL)
    assert res.auc > 0.95
    assert res.jsd > 0.5


def test_equal_classes_use_the_smaller_sample(rng):
    res = classifier_two_sample_test(
        rng.normal(size=(500, 3)), rng.normal(size=(200, 3)), hidden=16, epochs=2, device="cpu"
    )
    assert (res.n_train, res.n_val, res.n_test) == (120, 40, 40)
    assert res.epochs_run == 2


def test_same_seed_same_result_without_touching_global_rngs(rng):
    ref, cand = rng.normal(size=(1000, 8)), rng.normal(0.2, 1.0, size=(1000, 8))
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()[1].copy()
    opts = {"hidden": 32, "epochs": 8, "device": "cpu"}
    first = classifier_two_sample_test(ref, cand, seed=3, **opts)
    again = classifier_two_sample_test(ref, cand, seed=3, **opts)
    other = classifier_two_sample_test(ref, cand, seed=4, **opts)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], numpy_state)
    assert (first.auc, first.jsd, first.best_epoch) == (again.auc, again.jsd, again.best_epoch)
    assert (other.auc, other.jsd) != (first.auc, first.jsd)  # another split and initialisation
    assert other.seed == 4


def test_uncalibrated_and_time_limited(rng):
    ref, cand = rng.normal(size=(300, 4)), rng.normal(size=(300, 4))
    res = classifier_two_sample_test(ref, cand, hidden=16, calibrate=False, max_seconds=1e-9, device="cpu")
    assert (res.stop_reason, res.epochs_run, res.best_epoch, res.calibrated) == ("time", 1, 1, False)


def test_float32_torch_input_and_constant_features(rng):
    ref = torch.from_numpy(rng.normal(size=(200, 3)).astype(np.float32))
    cand = rng.normal(size=(200, 3)).astype(np.float32)
    ref[:, 1] = 0.0  # a cell that is always empty: scale 1, no division by zero
    cand[:, 1] = 0.0
    res = classifier_two_sample_test(ref, cand, hidden=16, epochs=2, device="cpu")
    assert math.isfinite(res.auc) and math.isfinite(res.jsd)


# ---------------------------------------------------------------- bad input


def _bad(ref, cand, match, **kwargs):
    with pytest.raises(CaloforgeError, match=match):
        classifier_two_sample_test(ref, cand, device="cpu", **kwargs)


def test_too_few_samples_says_how_many(rng):
    assert MIN_PER_CLASS == 50
    _bad(rng.normal(size=(49, 3)), rng.normal(size=(500, 3)), r"49 reference and 500 candidate.*>= 50 of each")


def test_non_finite_inputs_are_rejected(rng):
    ref, cand = rng.normal(size=(100, 3)), rng.normal(size=(100, 3))
    cand[7, 2] = np.nan
    _bad(ref, cand, r"candidate: 1 values are NaN or infinite \(in 1 samples, first row 7\)")
    ref[3, 0] = np.inf
    _bad(ref, cand, "reference: 1 values are NaN or infinite")


def test_feature_mismatch_and_shapes(rng):
    _bad(rng.normal(size=(100, 3)), rng.normal(size=(100, 4)), "reference has 3 features .* candidate has 4")
    _bad(rng.normal(size=(100, 3, 2)), rng.normal(size=(100, 6)), r"expected an \(N, features\) array")
    _bad(np.array([["a"]] * 100), rng.normal(size=(100, 1)), "expected numbers")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"split": (0.5, 0.2, 0.2)}, "must add up to 1"),
        ({"split": (0.6, 0.4, 0.0)}, "three positive fractions"),
        ({"split": (0.9, 0.05, 0.05)}, r"gives 90/5/5; each part needs >= 10"),
        ({"hidden": 0}, "hidden must be an integer >= 1"),
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"lr": -1.0}, "lr must be a positive number"),
        ({"max_seconds": 0.0}, "max_seconds must be positive"),
        ({"device": "gpu0"}, "'gpu0' is not a torch device"),
    ],
)
def test_invalid_options(rng, kwargs, match):
    with pytest.raises(CaloforgeError, match=match):
        classifier_two_sample_test(rng.normal(size=(100, 2)), rng.normal(size=(100, 2)), **kwargs)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message when CUDA is missing")
def test_cuda_requested_without_cuda(rng):
    with pytest.raises(CaloforgeError, match="CUDA is not available"):
        classifier_two_sample_test(rng.normal(size=(100, 2)), rng.normal(size=(100, 2)), device="cuda")
