"""The validation suite end to end on real Geant4 samples (PbWO4, 2 GeV e-: a few ms per shower)."""

from dataclasses import replace

import numpy as np
import pytest

from caloforge.errors import CaloforgeError
from caloforge.evaluation.compare import compare_showers
from caloforge.fullsim import simulate
from caloforge.geometry import ScoringMesh

N = 1500
FAST_CLASSIFIER = {"epochs": 30, "hidden": 64, "batch_size": 128, "lr": 1e-3}  # small samples: more steps


@pytest.fixture(scope="module")
def samples():
    """Two independent Geant4 samples of the same configuration."""
    options = {"n": N, "energy_gev": 2.0, "workers": 2, "chunk_size": 100}
    return simulate("par04-pbwo4", seed=101, **options), simulate("par04-pbwo4", seed=202, **options)


def _scaled(data, factor):
    return replace(data, showers=data.showers * np.float32(factor))


def _layers_permuted(data, rng):
    images = data.images[:, rng.permutation(data.meta.mesh.n_layers)]
    return replace(data, showers=np.ascontiguousarray(images.reshape(len(data), -1)))


@pytest.fixture(scope="module")
def report(samples):
    ref, other = samples
    rng = np.random.default_rng(7)
    candidates = {"geant4": other, "scaled": _scaled(other, 1.05), "permuted": _layers_permuted(other, rng)}
    return compare_showers(ref, candidates, classifier_options=FAST_CLASSIFIER, seed=3)


def test_two_geant4_samples_are_indistinguishable(report):
    g4 = report["candidates"]["geant4"]
    assert g4["classifier_high"]["auc"] == pytest.approx(0.5, abs=0.03 + 3 * g4["classifier_high"]["auc_error"])
    assert g4["classifier_low"]["auc"] == pytest.approx(0.5, abs=0.03 + 3 * g4["classifier_low"]["auc_error"])
    assert g4["histograms"]["esum_over_einc"]["separation_power"] < 0.02
    # FPD and KPD measure the two finite samples: for one distribution they sit at their noise floor
    for what in ("fpd", "kpd"):
        value, floor = g4[what], g4[f"{what}_noise_floor"]
        tolerance = 0.3 * floor["value"] + 3 * (floor["error"] + value["error"])
        assert value["value"] == pytest.approx(floor["value"], abs=tolerance), what


def test_scaled_cells_are_seen(report):
    g4, scaled = report["candidates"]["geant4"], report["candidates"]["scaled"]
    assert (
        scaled["histograms"]["esum_over_einc"]["separation_power"]
        > 10 * g4["histograms"]["esum_over_einc"]["separation_power"]
    )
    assert scaled["classifier_high"]["auc"] > g4["classifier_high"]["auc"] + 0.1
    for row in scaled["per_energy_bin"]:
        assert row["esum_over_einc_mean_ratio"] == pytest.approx(1.05, rel=0.01)


def test_permuted_layers_are_obvious(report):
    permuted = report["candidates"]["permuted"]
    for what in ("fpd", "kpd"):  # a 5 % scale hides in the noise of 1500 showers; a permutation does not
        assert permuted[what]["value"] > 5 * permuted[f"{what}_noise_floor"]["value"], what
    assert report["candidates"]["permuted"]["classifier_high"]["auc"] > 0.95
    assert report["candidates"]["permuted"]["classifier_low"]["auc"] > 0.95


def test_report_records_sizes_and_protocol(report):
    g4 = report["candidates"]["geant4"]
    assert report["reference"]["showers"] == N and g4["showers"] == N
    assert g4["classifier_low"]["n_test"] == int(0.2 * N)
    assert len(g4["histograms"]["e_layer"]["separation_power_per_layer"]) > 20


def test_mismatched_inputs_stop_with_one_line(samples):
    ref, other = samples
    wrong_mesh = replace(other, meta=replace(other.meta, mesh=ScoringMesh(45, 16, 9, dz_mm=1.0, dr_mm=1.0)))
    compare_showers(ref, {"same shape": wrong_mesh}, classifier=False, distances=False)  # sizes may differ
    other_mesh = replace(
        other, showers=other.showers[:, :6000], meta=replace(other.meta, mesh=ScoringMesh(45, 16, 9 - 1))
    )
    with pytest.raises(CaloforgeError, match=r"mesh \(45, 16, 8\) differs from the reference's \(45, 16, 9\)"):
        compare_showers(ref, {"x": other_mesh}, classifier=False)
    photons = replace(other, meta=replace(other.meta, particle="gamma"))
    with pytest.raises(CaloforgeError, match="particle 'gamma' differs from the reference's 'e-'"):
        compare_showers(ref, {"x": photons}, classifier=False)
    compare_showers(ref, {"x": photons}, classifier=False, distances=False, force=True)
