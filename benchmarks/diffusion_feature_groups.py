"""Which of the CaloChallenge high-level features a classifier tells a model from Geant4 by, and the cell spectrum.

    python benchmarks/diffusion_feature_groups.py                      # the built-in distilled generator, 10k
    python benchmarks/diffusion_feature_groups.py --run par04-siw-diffusion -n 2000

The model generates at the incident energies of the first N held-out Geant4 showers (seed 11, its default
steps). The validation suite's classifier is trained on each group of the 362 high-level columns alone (with
log10 E_inc): the layer energies, the centres and widths in x and y and in r, and the sparsity (each layer's
fraction of cells below the readout threshold). Beside it, cells per shower in bins of cell energy and the
mean number of cells above the threshold in a few layers: where a group separates, what in the showers does.
Writes benchmarks/results/diffusion_feature_groups.json (``--output NAME``: NAME.json).
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import Recorder, log

from caloforge.data import read_showers
from caloforge.evaluation.classifier import classifier_two_sample_test
from caloforge.evaluation.features import (
    DEFAULT_THRESHOLD_MEV,
    calochallenge_vector,
    calochallenge_vector_names,
    high_level_features,
)
from caloforge.models.generate import load_model

GROUPS = {"e_layer": ("log10_e_layer",), "ec_xy": ("ec_x", "ec_y"), "width_xy": ("width_x", "width_y"),
          "e_sum": ("log10_e_sum",), "sparsity": ("sparsity",), "ec_r": ("ec_r",), "width_r": ("width_r",)}  # fmt: skip
EDGES_MEV = [0.0, DEFAULT_THRESHOLD_MEV, 0.1, 0.5, 1.0, 2.0, 3.0, 5.0, np.inf]
LAYERS = (0, 5, 10, 15, 20, 30, 40)


def _spectrum(showers: np.ndarray) -> list[float]:
    """Non-empty cells per shower in each bin of EDGES_MEV."""
    return (np.histogram(showers[showers > 0], EDGES_MEV)[0] / len(showers)).round(2).tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="par04-siw-diffusion-distilled", help="run folder or built-in model")
    parser.add_argument("--reference", default="data/par04-siw/e-_normal_val.h5")
    parser.add_argument("-n", type=int, default=10_000)
    parser.add_argument("--output", default="diffusion_feature_groups", help="name of the results JSON")
    args = parser.parse_args()
    rec = Recorder(args.output, vars(args))
    ref = read_showers(args.reference, stop=args.n)
    model = load_model(args.run)
    log(f"{args.run}: generating {len(ref)} showers")
    x = model.sample(ref.incident_energies, seed=11, batch_size=200)
    features = [high_level_features(s, ref.incident_energies, model.mesh) for s in (ref.showers, x)]
    vectors = [calochallenge_vector(f) for f in features]
    names = calochallenge_vector_names(model.mesh.n_layers)
    auc = {}
    for group, stems in GROUPS.items():  # each with log10 E_inc, column 0
        cols = [0, *(i for i, c in enumerate(names) if c in stems or c.rsplit("_", 1)[0] in stems)]
        auc[group] = classifier_two_sample_test(vectors[0][:, cols], vectors[1][:, cols]).auc
        log(f"  {group}: AUC {auc[group]:.3f}")
    auc["all"] = classifier_two_sample_test(*vectors).auc
    cells_per_layer = model.mesh.n_alpha * model.mesh.n_r
    hits = [f["occupancy"] * cells_per_layer for f in features]  # cells above the readout threshold, per layer
    figures = {
        "auc_by_group": auc,
        "cell_energy_edges_mev": EDGES_MEV,
        "cells_per_shower": {"geant4": _spectrum(ref.showers), "model": _spectrum(x)},
        "hits_above_threshold_by_layer": {
            str(layer): {"geant4": float(hits[0][:, layer].mean()), "model": float(hits[1][:, layer].mean())}
            for layer in LAYERS
        },
    }
    log(f"wrote {rec.write(figures)}")


if __name__ == "__main__":
    main()
