"""Compare candidate showers with a reference: every figure of the validation suite, as one dictionary.

This is the Python API behind ``caloforge evaluate`` and the validation during training. For each
candidate it computes, against the reference:

* separation power of the histogram of every high-level feature (scalars, and per layer the median
  over layers), binned on the reference (:mod:`caloforge.evaluation.distances`);
* the 1-D Wasserstein distance of each scalar feature;
* FPD and KPD on the CaloChallenge high-level vector;
* classifier two-sample tests on low-level inputs (cells / E_inc after the threshold, and
  log10 E_inc) and on the high-level vector (:mod:`caloforge.evaluation.classifier`);
* the separation power of E_sum/E_inc per incident-energy bin, so one sees where a model fails.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import Any

import numpy as np
from numpy.typing import NDArray

from caloforge.data.showerfile import ShowerData
from caloforge.errors import CaloforgeError
from caloforge.evaluation.classifier import classifier_two_sample_test
from caloforge.evaluation.distances import (
    fpd,
    kpd,
    layer_separation_powers,
    noise_floor,
    reference_bins,
    separation_power,
    wasserstein,
)
from caloforge.evaluation.features import DEFAULT_THRESHOLD_MEV, calochallenge_vector, high_level_features

__all__ = ["LAYER_FEATURES", "SCALAR_FEATURES", "check_compatible", "compare_showers"]

SCALAR_FEATURES = ("esum_over_einc", "e_sum", "depth", "depth_width", "r_mean", "r_width", "n_above")
LAYER_FEATURES = ("e_layer", "ec_x", "ec_y", "width_x", "width_y", "ec_r", "width_r", "sparsity")
_LOG_BINNED = {"e_sum", "e_layer"}


def check_compatible(
    reference: ShowerData, candidate: ShowerData, *, name: str = "candidate", force: bool = False
) -> None:
    """Stop with one line when two shower sets cannot be compared.

    The meshes must always agree; geometry and particle must agree unless ``force``.
    """
    ref, cand = reference.meta, candidate.meta
    if ref.mesh.shape != cand.mesh.shape:
        msg = f"{name}: mesh {cand.mesh.shape} differs from the reference's {ref.mesh.shape}"
        raise CaloforgeError(msg)
    if force:
        return
    for what in ("geometry", "particle"):
        a, b = getattr(ref, what), getattr(cand, what)
        if a and b and a != b:
            msg = f"{name}: {what} '{b}' differs from the reference's '{a}' (pass force to compare anyway)"
            raise CaloforgeError(msg)


def _histogram_distances(ref: Mapping[str, NDArray], cand: Mapping[str, NDArray]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in SCALAR_FEATURES:
        r, c = np.asarray(ref[key], dtype=np.float64), np.asarray(cand[key], dtype=np.float64)
        log = key in _LOG_BINNED and bool(np.all(r > 0))
        edges = reference_bins(r, log=log)
        out[key] = {"separation_power": separation_power(r, c, edges), "wasserstein": wasserstein(r, c)}
    for key in LAYER_FEATURES:
        powers = layer_separation_powers(ref[key], cand[key], log=key in _LOG_BINNED)
        out[key] = {
            "separation_power_median": float(np.median(powers)) if powers else 0.0,
            "separation_power_max": float(np.max(powers)) if powers else 0.0,
            "separation_power_per_layer": [float(p) for p in powers],
        }
    return out


def _low_level(data: ShowerData, threshold_mev: float) -> NDArray[np.float32]:
    """Classifier input of CaloChallenge's cls-low: log10 E_inc and cells / E_inc after the threshold."""
    cells = np.where(data.showers >= threshold_mev, data.showers, 0.0).astype(np.float32)
    e = data.incident_energies.astype(np.float32)
    return np.concatenate([np.log10(e)[:, None], cells / e[:, None]], axis=1)


def _bin_edges(values: NDArray, n_bins: int, *, log: bool) -> NDArray[np.float64]:
    """``n_bins`` bins spanning ``values`` (log-spaced for energies); one bin when they are all equal."""
    v = values.astype(np.float64)
    lo, hi = float(v.min()), float(v.max())
    if math.isclose(lo, hi, rel_tol=1e-6, abs_tol=1e-9):
        return np.array([lo - abs(lo) * 1e-6 - 1e-9, hi + abs(hi) * 1e-6 + 1e-9])
    spacing = np.geomspace if log and lo > 0 else np.linspace
    edges = spacing(lo, hi, n_bins + 1)
    edges[-1] = np.nextafter(hi, np.inf)
    return edges


_BIN_MIN_SHOWERS = 10  # per side, for the histogram figures of a bin
_BIN_MIN_CLASSIFIER = 200  # per side, for a bin's high-level classifier


def _per_bin(
    key: str,
    ref_values: NDArray,
    cand_values: NDArray,
    edges: NDArray[np.float64],
    ref_f: Mapping[str, NDArray],
    cand_f: Mapping[str, NDArray],
    classifier: Mapping[str, Any] | None,
) -> list[dict[str, Any]]:
    """The scalar-feature figures (and a high-level classifier) inside each bin of a condition."""
    rows = []
    scale = 1e-3 if key == "energy_gev" else 1.0  # energies are MeV in files, GeV in reports
    for lo, hi in itertools.pairwise(edges):
        r_sel = (ref_values >= lo) & (ref_values < hi)
        c_sel = (cand_values >= lo) & (cand_values < hi)
        row: dict[str, Any] = {key: [lo * scale, hi * scale], "n_reference": int(r_sel.sum()),
                               "n_candidate": int(c_sel.sum())}  # fmt: skip
        if min(r_sel.sum(), c_sel.sum()) >= _BIN_MIN_SHOWERS:
            ratio = cand_f["esum_over_einc"][c_sel].mean() / ref_f["esum_over_einc"][r_sel].mean()
            row["esum_over_einc_mean_ratio"] = float(ratio)
            row["separation_power"] = {
                name: separation_power(ref_f[name][r_sel], cand_f[name][c_sel], reference_bins(ref_f[name][r_sel]))
                for name in SCALAR_FEATURES
            }
        if classifier is not None and min(r_sel.sum(), c_sel.sum()) >= _BIN_MIN_CLASSIFIER:
            res = classifier_two_sample_test(
                calochallenge_vector(_select(ref_f, r_sel)), calochallenge_vector(_select(cand_f, c_sel)),
                label="high-level, this bin", **classifier,
            )  # fmt: skip
            row["classifier_high_auc"], row["classifier_high_auc_error"] = res.auc, res.auc_error
        rows.append(row)
    return rows


def polar_angles(data: ShowerData) -> NDArray:
    """Polar angles of a sample; NaN (in no angle bin) where the file records none."""
    return data.theta if data.theta is not None else np.full(len(data), np.nan)


def _select(features: Mapping[str, NDArray], mask: NDArray[np.bool_]) -> dict[str, NDArray]:
    return {k: v[mask] for k, v in features.items()}


def _classifier_options(options: Mapping[str, Any] | None, n: int, seed: int) -> dict[str, Any]:
    """The classifier settings: the caller's, with a batch size that suits small samples by default.

    CaloChallenge's 1000-shower batches give a few thousand steps at 100k showers but only a few
    dozen at 2k, too few to learn anything; below 10k showers a side the batch shrinks to n/10
    (at least 128) so that small comparisons are not falsely reassuring.
    """
    opts = {"seed": seed, **(options or {})}
    opts.setdefault("batch_size", int(min(1000, max(128, n // 10))))
    return opts


def compare_showers(
    reference: ShowerData,
    candidates: Mapping[str, ShowerData],
    *,
    threshold_mev: float = DEFAULT_THRESHOLD_MEV,
    classifier: bool = True,
    distances: bool = True,
    energy_bins: int = 4,
    angle_bins: int = 3,
    seed: int = 0,
    force: bool = False,
    classifier_options: Mapping[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
    features: dict[str, dict[str, NDArray]] | None = None,
) -> dict[str, Any]:
    """Every figure of the validation suite for each candidate against the reference.

    Args:
        reference: the showers taken as truth (usually Geant4).
        candidates: name -> showers to judge (a model's output, or a second Geant4 sample).
        threshold_mev: cell readout threshold applied to both before any feature (15.15 keV default).
        classifier: run the classifier two-sample tests (the slow part).
        distances: compute FPD and KPD.
        energy_bins: number of log-spaced incident-energy bins for the per-bin figures.
        angle_bins: number of polar-angle bins, used when the reference's angles vary.
        seed: seed of the classifier splits and of the FPD/KPD resampling.
        force: compare even when geometry or particle differ (the mesh must always agree).
        classifier_options: extra keyword arguments of :func:`classifier_two_sample_test`.
        progress: called with a short line as each stage starts (the CLI prints it).
        features: a cache of high-level features by name ("reference" and the candidates' names),
            filled here where missing, so that :func:`~caloforge.evaluation.write_report` can reuse them.

    Returns:
        ``{"reference": {...}, "candidates": {name: {"histograms": ..., "fpd", "kpd" and their "fpd_noise_floor",
        "kpd_noise_floor": ..., "classifier_low": ..., "classifier_high": ..., "per_energy_bin": [...],
        "per_theta_bin": [...] (when the reference's angles vary)}}}``. FPD and KPD of a candidate mean
        something only against their noise floor, what a second full-simulation sample of the same
        size would get (see :func:`~caloforge.evaluation.noise_floor`).
    """
    if not candidates:
        msg = "no candidate to compare with the reference"
        raise CaloforgeError(msg)
    for name, cand in candidates.items():  # all checked before any slow work
        check_compatible(reference, cand, name=name, force=force)
    say = progress or (lambda _line: None)
    features = {} if features is None else features

    def features_of(name: str, data: ShowerData) -> dict[str, NDArray]:
        if name not in features:
            features[name] = high_level_features(data.showers, data.incident_energies, data.meta.mesh,
                                                 threshold_mev=threshold_mev)  # fmt: skip
        return features[name]

    say("reference: high-level features")
    ref_f = features_of("reference", reference)
    ref_vec = calochallenge_vector(ref_f)
    ref_low = _low_level(reference, threshold_mev) if classifier else None
    varies_angle = reference.theta is not None and float(np.ptp(reference.theta)) > 1e-6
    energy_edges = _bin_edges(reference.incident_energies, energy_bins, log=True)
    theta_edges = _bin_edges(reference.theta, angle_bins, log=False) if varies_angle else None
    result: dict[str, Any] = {
        "threshold_mev": threshold_mev,
        "seed": seed,
        "reference": {
            "showers": len(reference),
            "generator": reference.meta.generator,
            "geometry": reference.meta.geometry,
            "particle": reference.meta.particle,
        },
        "candidates": {},
    }
    floors: dict[tuple[str, int], tuple[float, float]] = {}  # (distance, candidate size) -> noise floor
    for name, cand in candidates.items():
        say(f"{name}: features, histograms and slices")
        cand_f = features_of(name, cand)
        cand_vec = calochallenge_vector(cand_f)
        opts = _classifier_options(classifier_options, min(len(reference), len(cand)), seed) if classifier else None
        entry: dict[str, Any] = {
            "showers": len(cand),
            "generator": cand.meta.generator,
            "histograms": _histogram_distances(ref_f, cand_f),
            "per_energy_bin": _per_bin(
                "energy_gev", reference.incident_energies, cand.incident_energies, energy_edges, ref_f, cand_f, opts
            ),
        }
        if theta_edges is not None:
            entry["per_theta_bin"] = _per_bin("theta_rad", reference.theta, polar_angles(cand), theta_edges, ref_f,
                                              cand_f, opts)  # fmt: skip
        if distances:
            say(f"{name}: FPD and KPD")
            for what, function in (("fpd", fpd), ("kpd", kpd)):
                entry[what] = dict(zip(("value", "error"), function(ref_vec, cand_vec, seed=seed + 42), strict=True))
                if (what, len(cand)) not in floors:
                    floors[what, len(cand)] = noise_floor(ref_vec, len(cand), distance=what, seed=seed + 43)
                entry[f"{what}_noise_floor"] = dict(zip(("value", "error"), floors[what, len(cand)], strict=True))
        if opts is not None:
            say(f"{name}: classifiers")
            low = classifier_two_sample_test(ref_low, _low_level(cand, threshold_mev),
                                             label="low-level: cells/E_inc + log10 E_inc", **opts)  # fmt: skip
            high = classifier_two_sample_test(ref_vec, cand_vec, label="high-level (CaloChallenge 362)", **opts)
            entry["classifier_low"], entry["classifier_high"] = asdict(low), asdict(high)
        result["candidates"][name] = entry
    return result
