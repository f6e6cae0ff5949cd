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
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

import numpy as np
from numpy.typing import NDArray

from caloforge.data.showerfile import ShowerData
from caloforge.errors import CaloforgeError
from caloforge.evaluation.classifier import classifier_two_sample_test
from caloforge.evaluation.distances import fpd, kpd, reference_bins, separation_power, wasserstein
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
        r, c = np.asarray(ref[key], dtype=np.float64), np.asarray(cand[key], dtype=np.float64)
        powers = []
        for layer in range(r.shape[1]):
            if np.ptp(r[:, layer]) == 0 and np.ptp(c[:, layer]) == 0:
                continue  # an empty layer in both: nothing to compare
            log = key in _LOG_BINNED and bool(np.all(r[:, layer] > 0))
            powers.append(separation_power(r[:, layer], c[:, layer], reference_bins(r[:, layer], log=log)))
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


def _energy_bins(reference: ShowerData, n_bins: int) -> NDArray[np.float64]:
    e = reference.incident_energies.astype(np.float64)
    lo, hi = float(e.min()), float(e.max())
    if math.isclose(lo, hi, rel_tol=1e-6):
        return np.array([lo * (1 - 1e-6), hi * (1 + 1e-6)])
    return np.geomspace(lo, hi * (1 + 1e-9), n_bins + 1)


def _per_energy_bin(
    ref: ShowerData, ref_f: Mapping[str, NDArray], cand: ShowerData, cand_f: Mapping[str, NDArray], n_bins: int
) -> list[dict[str, Any]]:
    edges = _energy_bins(ref, n_bins)
    rows = []
    for lo, hi in itertools.pairwise(edges):
        r_sel = (ref.incident_energies >= lo) & (ref.incident_energies < hi)
        c_sel = (cand.incident_energies >= lo) & (cand.incident_energies < hi)
        row: dict[str, Any] = {"e_min_gev": lo / 1e3, "e_max_gev": hi / 1e3, "n_reference": int(r_sel.sum()),
                               "n_candidate": int(c_sel.sum())}  # fmt: skip
        if r_sel.sum() >= 10 and c_sel.sum() >= 10:
            r, c = ref_f["esum_over_einc"][r_sel], cand_f["esum_over_einc"][c_sel]
            row["esum_over_einc_separation_power"] = separation_power(r, c, reference_bins(r))
            row["esum_over_einc_mean_ratio"] = float(c.mean() / r.mean())
        rows.append(row)
    return rows


def compare_showers(
    reference: ShowerData,
    candidates: Mapping[str, ShowerData],
    *,
    threshold_mev: float = DEFAULT_THRESHOLD_MEV,
    classifier: bool = True,
    distances: bool = True,
    energy_bins: int = 4,
    seed: int = 0,
    force: bool = False,
    classifier_options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Every figure of the validation suite for each candidate against the reference.

    Args:
        reference: the showers taken as truth (usually Geant4).
        candidates: name -> showers to judge (a model's output, or a second Geant4 sample).
        threshold_mev: cell readout threshold applied to both before any feature (15.15 keV default).
        classifier: run the classifier two-sample tests (the slow part).
        distances: compute FPD and KPD.
        energy_bins: number of log-spaced incident-energy bins for the per-bin figures.
        seed: seed of the classifier splits and of the FPD/KPD resampling.
        force: compare even when geometry or particle differ (the mesh must always agree).
        classifier_options: extra keyword arguments of :func:`classifier_two_sample_test`.

    Returns:
        ``{"reference": {...sizes}, "candidates": {name: {"histograms": ..., "fpd": ..., "kpd": ...,
        "classifier_low": ..., "classifier_high": ..., "per_energy_bin": [...]}}}``.
    """
    if not candidates:
        msg = "no candidate to compare with the reference"
        raise CaloforgeError(msg)
    ref_f = high_level_features(reference.showers, reference.incident_energies, reference.meta.mesh,
                                threshold_mev=threshold_mev)  # fmt: skip
    ref_vec = calochallenge_vector(ref_f)
    ref_low = _low_level(reference, threshold_mev) if classifier else None
    result: dict[str, Any] = {
        "threshold_mev": threshold_mev,
        "reference": {"showers": len(reference), "generator": reference.meta.generator},
        "candidates": {},
    }
    for name, cand in candidates.items():
        check_compatible(reference, cand, name=name, force=force)
        cand_f = high_level_features(cand.showers, cand.incident_energies, cand.meta.mesh,
                                     threshold_mev=threshold_mev)  # fmt: skip
        cand_vec = calochallenge_vector(cand_f)
        entry: dict[str, Any] = {
            "showers": len(cand),
            "generator": cand.meta.generator,
            "histograms": _histogram_distances(ref_f, cand_f),
            "per_energy_bin": _per_energy_bin(reference, ref_f, cand, cand_f, energy_bins),
        }
        if distances:
            entry["fpd"] = dict(zip(("value", "error"), fpd(ref_vec, cand_vec, seed=seed + 42), strict=True))
            entry["kpd"] = dict(zip(("value", "error"), kpd(ref_vec, cand_vec, seed=seed + 42), strict=True))
        if classifier:
            opts = dict(classifier_options or {})
            low = classifier_two_sample_test(ref_low, _low_level(cand, threshold_mev), seed=seed,
                                             label="low-level: cells/E_inc + log10 E_inc", **opts)  # fmt: skip
            high = classifier_two_sample_test(ref_vec, cand_vec, seed=seed, label="high-level (CaloChallenge 362)",
                                              **opts)  # fmt: skip
            entry["classifier_low"], entry["classifier_high"] = asdict(low), asdict(high)
        result["candidates"][name] = entry
    return result
