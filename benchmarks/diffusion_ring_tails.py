"""Why a diffusion model's showers are too wide: the tails of its ring fractions, in the model's own units.

    python benchmarks/diffusion_ring_tails.py                   # the built-in model, 2000 held-out showers
    python benchmarks/diffusion_ring_tails.py --run runs/par04-siw-diffusion -n 1000

The model generates at the incident energies of the first N held-out Geant4 showers (seed 11, its default
steps); above ``--min-gev`` both sides are put through the model's transform, and for the ring fractions of
layers 5-24 the figures compare, ring by ring: the mean, spread and quantiles of the standardised values,
the mean linear ring fraction (layer by layer), and the validation suite's mean radius (mm) of the
model, of the model with its ring spread shrunk to Geant4's, and of Geant4. Without any network, it also widens the
ring spread of Geant4's own showers 1.15 and 1.5 times under transforms with other ring offsets
(``ring_eps``, fitted on the first 6000 training showers) and reports how much the mean radius grows: how
much an imprecise model's spread costs in each representation. Writes
benchmarks/results/diffusion_ring_tails.json.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from _common import Recorder, log

from caloforge.data import read_showers
from caloforge.evaluation.features import high_level_features
from caloforge.geometry import ScoringMesh
from caloforge.models.diffusion.preprocessing import ShowerTransform
from caloforge.models.generate import load_model

_LAYERS = slice(5, 25)  # the shower's body: the core of the radial error
_QUANTILES = (0.01, 0.1, 0.5, 0.9, 0.99)


def _ring_channels(z: torch.Tensor, transform: ShowerTransform) -> torch.Tensor:
    n, L, R = transform.n_cells, transform.layers, transform.rings
    return z[:, n : n + L * R].reshape(-1, L, R)


def _mean_radius(showers: np.ndarray, energies: torch.Tensor, mesh: ScoringMesh) -> float:
    """The validation suite's mean radius (mm, after its readout threshold), averaged over the showers."""
    return float(high_level_features(showers, energies.numpy(), mesh)["r_mean"].mean())


def _widened(z: torch.Tensor, transform: ShowerTransform, factor: float | torch.Tensor) -> torch.Tensor:
    """The ring channels' deviations from their sample mean scaled by ``factor`` (the rest unchanged)."""
    n, w = transform.n_cells, transform.layers * transform.rings
    out, rings = z.clone(), z[:, n : n + w]
    out[:, n : n + w] = rings.mean(0) + (rings - rings.mean(0)) * factor
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="par04-siw-diffusion")
    parser.add_argument("--reference", default="data/par04-siw/e-_normal_val.h5")
    parser.add_argument("--train", default="data/par04-siw/e-_normal_train.h5")
    parser.add_argument("-n", type=int, default=2000)
    parser.add_argument("--min-gev", type=float, default=10.0)
    args = parser.parse_args()
    rec = Recorder("diffusion_ring_tails", vars(args))
    ref = read_showers(args.reference, stop=args.n)
    model = load_model(args.run)
    tr = model.transform
    L, R, mesh = tr.layers, tr.rings, ref.meta.mesh
    high = ref.incident_energies > args.min_gev * 1e3
    e = torch.as_tensor(ref.incident_energies[high], dtype=torch.float64)
    log(f"{args.run}: generating {int(high.sum())} showers above {args.min_gev:g} GeV")
    showers = model.sample(ref.incident_energies[high], seed=11)
    g4 = ref.showers[high]
    z_model, z_g4 = tr.forward(torch.as_tensor(showers), e), tr.forward(torch.as_tensor(g4), e)
    a, b = _ring_channels(z_model, tr)[:, _LAYERS], _ring_channels(z_g4, tr)[:, _LAYERS]

    def by_ring(t: torch.Tensor) -> list[float]:
        return t.mean(0).numpy().round(3).tolist()  # mean over the layers of _LAYERS, ring by ring

    def ring_shares(x: np.ndarray) -> np.ndarray:
        e_ring = x.reshape(len(x), L, -1, R).sum(2)[:, _LAYERS]
        return (e_ring / np.clip(e_ring.sum(-1, keepdims=True), 1e-30, None)).mean(0)

    spread_ratio = _ring_channels(z_g4, tr).std(0) / _ring_channels(z_model, tr).std(0)
    figures = {
        "showers": int(high.sum()),
        "z_mean_shift_model_minus_geant4": by_ring(a.mean(0) - b.mean(0)),
        "z_spread_ratio_model_over_geant4": by_ring(a.std(0) / b.std(0)),
        "z_quantiles": {
            str(q): {"model": by_ring(torch.quantile(a, q, dim=0)), "geant4": by_ring(torch.quantile(b, q, dim=0))}
            for q in _QUANTILES
        },
        "linear_ring_fraction_ratio_model_over_geant4": (ring_shares(showers) / ring_shares(g4)).round(3).tolist(),
        "mean_radius_mm": {
            "geant4": _mean_radius(g4, e, mesh),
            "model": _mean_radius(showers, e, mesh),
            "model_ring_spread_as_geant4": _mean_radius(
                tr.inverse(_widened(z_model, tr, spread_ratio.reshape(-1)), e).numpy(), e, mesh
            ),
        },
    }
    log("widening Geant4's ring spread under other ring offsets")
    train = read_showers(args.train, stop=6000)
    sensitivity = {}
    for ring_eps in (1e-3, 1e-2, 3e-2, 1e-1):
        other = ShowerTransform.fit(train.showers, train.incident_energies, L, rings=R, ring_eps=ring_eps,
                                    absolute_cells=True, energy_moments=True)  # fmt: skip
        z = other.forward(torch.as_tensor(g4), e)
        exact = _mean_radius(other.inverse(z, e).numpy(), e, mesh)
        widened = {f: _mean_radius(other.inverse(_widened(z, other, f), e).numpy(), e, mesh) for f in (1.15, 1.5)}
        sensitivity[f"{ring_eps:g}"] = {f"x{f:g}": round(r / exact - 1, 4) for f, r in widened.items()}
    figures["mean_radius_growth_when_geant4_ring_spread_widened"] = sensitivity
    log(f"wrote {rec.write(figures)}")


if __name__ == "__main__":
    main()
