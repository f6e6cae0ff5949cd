"""Validation against full simulation: high-level features, distances, classifier tests, comparison.

The HTML report and the ``caloforge evaluate`` command build on :func:`compare_showers`.
"""

from caloforge.evaluation.classifier import MIN_PER_CLASS, ClassifierResult, classifier_two_sample_test, roc_auc
from caloforge.evaluation.compare import LAYER_FEATURES, SCALAR_FEATURES, check_compatible, compare_showers
from caloforge.evaluation.distances import (
    fpd,
    fpd_batch_sizes,
    frechet_distance,
    kpd,
    noise_floor,
    reference_bins,
    separation_power,
    wasserstein,
)
from caloforge.evaluation.features import (
    CALOCHALLENGE_THRESHOLD_MEV,
    DEFAULT_THRESHOLD_MEV,
    FEATURE_NAMES,
    calochallenge_vector,
    calochallenge_vector_names,
    cell_energies,
    high_level_features,
)

__all__ = [
    "CALOCHALLENGE_THRESHOLD_MEV",
    "DEFAULT_THRESHOLD_MEV",
    "FEATURE_NAMES",
    "LAYER_FEATURES",
    "MIN_PER_CLASS",
    "SCALAR_FEATURES",
    "ClassifierResult",
    "calochallenge_vector",
    "calochallenge_vector_names",
    "cell_energies",
    "check_compatible",
    "classifier_two_sample_test",
    "compare_showers",
    "fpd",
    "fpd_batch_sizes",
    "frechet_distance",
    "high_level_features",
    "kpd",
    "noise_floor",
    "reference_bins",
    "roc_auc",
    "separation_power",
    "wasserstein",
]


def __dir__() -> list[str]:
    return list(__all__)
