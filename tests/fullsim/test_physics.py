"""Physics of the Geant4 reference showers against textbook and published values (small samples).

References: PDG review "Passage of particles through matter" (t_max = ln(E/E_c) - 0.5 for electrons,
Moliere-radius containment); CaloChallenge datasets 2/3 calibrate par04-siw with 1/0.033.
"""

import math

import numpy as np
import pytest
from scipy.optimize import curve_fit
from scipy.special import gammaln

from caloforge.evaluation.features import DEFAULT_THRESHOLD_MEV
from caloforge.fullsim import sampling_fraction, simulate
from caloforge.geometry import get_geometry, mesh_for

PBWO4 = get_geometry("par04-pbwo4")
SIW = get_geometry("par04-siw")


@pytest.fixture(scope="module")
def pbwo4():
    """e- and gamma showers in PbWO4 at 10 and 50 GeV."""
    return {
        ("e-", 10): simulate(PBWO4, n=100, energy_gev=10, seed=11, workers=2),
        ("e-", 50): simulate(PBWO4, n=30, energy_gev=50, seed=12, workers=2),
        ("gamma", 10): simulate(PBWO4, n=100, energy_gev=10, seed=13, workers=2, particle="gamma"),
    }


@pytest.fixture(scope="module")
def siw_response():
    """Calibrated par04-siw e- showers at fixed energies: {E_GeV: E_sum / E_inc per shower}."""
    out = {}
    for energy, n, seed in ((1, 60, 21), (10, 24, 22), (100, 8, 23)):
        data = simulate(SIW, n=n, energy_gev=energy, seed=seed, workers=2)
        out[energy] = data.showers.sum(axis=1, dtype=np.float64) / data.incident_energies
    return out


def _profile(data):
    """Mean longitudinal profile per layer and depth of layer centres in X0."""
    mesh = mesh_for(PBWO4)
    layers = data.images.sum(axis=(2, 3), dtype=np.float64).mean(axis=0)
    t = (np.arange(mesh.n_layers) + 0.5) * mesh.dz_mm / PBWO4.x0_mm
    return t, layers, mesh.dz_mm / PBWO4.x0_mm


def _gamma_tmax(data):
    t, layers, width = _profile(data)

    def model(t, e0, a, b):
        return e0 * width * np.exp(a * np.log(b) + (a - 1) * np.log(t) - b * t - gammaln(a))

    (_, a, b), _ = curve_fit(model, t, layers, p0=(layers.sum(), 4.0, 0.5))
    return (a - 1) / b


def test_par04_siw_sampling_fraction_near_calochallenge_value():
    sf = sampling_fraction(SIW, showers=200, workers=2)
    assert sf.error < 0.01 * sf.value  # 1 % precision
    assert sf.value == pytest.approx(0.033, rel=0.05)


@pytest.mark.parametrize("energy", [10, 50])
def test_shower_maximum_in_pbwo4_matches_pdg(pbwo4, energy):
    pdg = math.log(energy * 1e3 / PBWO4.critical_energy_mev) - 0.5
    assert _gamma_tmax(pbwo4[("e-", energy)]) == pytest.approx(pdg, abs=0.5)


@pytest.mark.parametrize("energy", [10, 50])
def test_radial_containment_in_moliere_radii(pbwo4, energy):
    mesh = mesh_for(PBWO4)
    radial = pbwo4[("e-", energy)].images.sum(axis=(0, 1, 2), dtype=np.float64)
    edges = np.arange(mesh.n_r + 1) * mesh.dr_mm / PBWO4.rm_mm
    cumulative = np.concatenate([[0.0], np.cumsum(radial) / radial.sum()])
    r90, r95 = np.interp([0.90, 0.95], cumulative, edges)
    assert r90 == pytest.approx(1.0, rel=0.15)
    assert r95 < 2.0


def test_gamma_and_electron_deposit_the_same_but_gamma_starts_deeper(pbwo4):
    e, g = pbwo4[("e-", 10)], pbwo4[("gamma", 10)]
    esum, gsum = e.showers.sum(axis=1).mean(), g.showers.sum(axis=1).mean()
    assert gsum == pytest.approx(esum, rel=0.02)
    t, _, _ = _profile(e)

    def depth(data):
        layers = data.images.sum(axis=(2, 3), dtype=np.float64)
        return ((layers * t).sum(axis=1) / layers.sum(axis=1)).mean()

    assert depth(g) > depth(e) + 0.5  # photons convert after ~9/7 X0 on average


def test_calibrated_response_of_par04_siw(siw_response):
    means = {e: r.mean() for e, r in siw_response.items()}
    for energy, mean in means.items():
        assert 0.9 < mean < 1.02, (energy, mean)
    average = np.mean(list(means.values()))
    assert max(abs(m / average - 1) for m in means.values()) < 0.02  # linear within 2 %


def test_resolution_improves_with_energy(siw_response):
    rel = {e: r.std() / r.mean() for e, r in siw_response.items()}
    assert rel[1] > rel[10] > rel[100]
    assert rel[10] == pytest.approx(rel[1] / math.sqrt(10), rel=0.4)  # stochastic term dominates


def test_silicon_cells_hold_at_least_a_fraction_of_a_mip():
    """A cell of a sampling calorimeter is empty or crossed by a charged track: its calibrated energy is near
    or above one MIP's deposit in 0.3 mm Si divided by the sampling fraction (3.6 MeV), hardly ever a
    soft fraction of it; a fast simulator has to reproduce this gap (benchmarks/diffusion_diagnosis.py).
    """
    data = simulate(SIW, n=10, energy_gev=10, seed=24, workers=2)
    (silicon,) = {layer for layer in SIW.layers if layer.active}
    mip = silicon.properties.mip_dedx_mev_mm * silicon.thickness_mm / sampling_fraction(SIW).value
    cells = data.showers[data.showers >= DEFAULT_THRESHOLD_MEV]
    assert 3.0 < mip < 4.5
    assert (cells < mip / 4).mean() < 0.06  # measured 2.2 %
    assert 0.4 * mip < np.quantile(cells, 0.1) < 1.2 * mip  # Landau: most probable below the mean loss
