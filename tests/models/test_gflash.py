"""The GFlash parametrisation: published values, fit-back of its own parameters, energy budget, files."""

import json
import math
from dataclasses import replace

import numpy as np
import pytest

from caloforge.errors import CaloforgeError
from caloforge.geometry import get_geometry, mesh_for
from caloforge.models import GFlash, GFlashMedium, GFlashParameters, stock_parameters
from caloforge.models.gflash_tune import longitudinal_moments


@pytest.fixture(scope="module")
def pbwo4():
    calo = get_geometry("par04-pbwo4")
    return GFlash.stock(calo, mesh_for(calo))


@pytest.fixture(scope="module")
def siw():
    calo = get_geometry("par04-siw")
    return GFlash.stock(calo, mesh_for(calo))


@pytest.mark.parametrize("energy_gev", [10.0, 50.0])
def test_stock_gives_the_published_shower_maximum_in_pbwo4(pbwo4, energy_gev):
    # GFlash (hep-ex/0001020, Geant4's GVFlashHomoShowerTuning): <T> = ln y - 0.812, y = E / E_c
    t_max, _ = pbwo4.longitudinal_parameters(np.full(20_000, energy_gev * 1e3), seed=1)
    expected = math.log(energy_gev * 1e3 / pbwo4.medium.critical_energy_mev) - 0.812
    assert math.exp(np.log(t_max).mean()) == pytest.approx(expected, rel=0.01)
    # the mean shower's profile peaks there too (PDG: 6.46 X0 at 10 GeV, 8.07 at 50 GeV in PbWO4)
    profile = pbwo4.sample(np.full(2000, energy_gev * 1e3), seed=2, fluctuate=False)
    layers = profile.reshape(2000, pbwo4.mesh.n_layers, -1).sum(axis=(0, 2))
    peak_x0 = (np.argmax(layers) + 0.5) * pbwo4.mesh.dz_mm / pbwo4.medium.x0_mm
    assert peak_x0 == pytest.approx(expected, abs=0.6)
    assert peak_x0 == pytest.approx({10.0: 6.46, 50.0: 8.07}[energy_gev], abs=0.8)


def test_sampled_profiles_fit_back_to_the_parameters_they_were_drawn_with(pbwo4):
    model = pbwo4.with_parameters(spot_n1=pbwo4.parameters.spot_n1 * 20)  # many spots: smooth profiles
    model = replace(model, medium=replace(model.medium, depth_mm=math.inf))  # the estimator, not the leakage
    energy = np.full(2000, 20_000.0)
    true_t, true_alpha = model.longitudinal_parameters(energy, seed=5)
    t_fit, alpha_fit, _, valid = longitudinal_moments(model.sample(energy, seed=5, fluctuate=False), model)
    assert valid.all()
    assert np.median(np.abs(t_fit / true_t - 1)) < 0.03
    assert np.median(np.abs(alpha_fit / true_alpha - 1)) < 0.06
    # and the ensemble statistics the parametrisation prescribes
    ln_y = math.log(20_000.0 / model.medium.critical_energy_mev)
    p = model.parameters
    assert np.log(t_fit).mean() == pytest.approx(math.log(p.t0 + p.t1 * ln_y), abs=0.02)
    assert np.log(t_fit).std() == pytest.approx(1 / (p.sigma_t0 + p.sigma_t1 * ln_y), rel=0.1)
    assert np.corrcoef(np.log(t_fit), np.log(alpha_fit))[0, 1] == pytest.approx(p.rho0 + p.rho1 * ln_y, abs=0.05)


@pytest.mark.parametrize("name", ["pbwo4", "siw"])
def test_spots_carry_exactly_the_deposited_energy(name, request):
    model = request.getfixturevalue(name)
    energy = np.geomspace(500.0, 200_000.0, 40)
    cells, leaked = model.sample_with_leakage(energy, seed=3)
    assert np.all(cells >= 0) and np.all(leaked >= -1e-6 * energy)
    np.testing.assert_allclose(cells.sum(axis=1) + leaked, energy * model.parameters.response, rtol=1e-9)
    assert np.all(leaked / energy < 0.2)  # the mesh holds the bulk of the shower


def test_sampling_fluctuations_keep_the_mean_and_add_c_squared_over_e(siw):
    energy = np.full(3000, 10_000.0)
    plain = siw.sample(energy, seed=4, fluctuate=False).sum(axis=1) / energy
    noisy = siw.sample(energy, seed=4).sum(axis=1) / energy
    assert noisy.mean() == pytest.approx(plain.mean(), rel=2e-3)
    c = siw.parameters.sampling_term
    assert noisy.var() - plain.var() == pytest.approx(c**2 / 10.0, rel=0.15)


def test_sampling_medium_and_stock_corrections(siw):
    medium = siw.medium
    assert medium.sampling and medium.e_hat == pytest.approx(1 / (1 + 0.007 * (74 - 14)), rel=1e-3)
    period = sum(layer.thickness_mm for layer in get_geometry("par04-siw").stacks[0].layers)  # W + Si
    assert medium.sampling_frequency == pytest.approx(medium.x0_mm / period)
    p = siw.parameters
    assert p.t0 == pytest.approx(-0.812 - 0.55 / medium.sampling_frequency - 0.69 * (1 - medium.e_hat))
    assert p.spot_n1 == pytest.approx(10.3 / 0.11) and p.sampling_term == 0.11


def test_photons_start_about_nine_sevenths_of_a_radiation_length_deeper():
    calo = get_geometry("par04-pbwo4")
    electrons, photons = GFlash.stock(calo, mesh_for(calo)), GFlash.stock(calo, mesh_for(calo), particle="gamma")
    energy = np.full(3000, 10_000.0)
    depth = [longitudinal_moments(m.sample(energy, seed=6), m)[2].mean() for m in (electrons, photons)]
    assert depth[1] - depth[0] == pytest.approx(9 / 7, abs=0.3)
    with pytest.raises(CaloforgeError, match="not 'pi-'"):
        GFlash.stock(calo, mesh_for(calo), particle="pi-")


def test_nothing_is_deposited_behind_the_calorimeter(pbwo4):
    energy = np.full(200, 100_000.0)
    layers = pbwo4.sample(energy, seed=8).reshape(200, pbwo4.mesh.n_layers, -1).sum(axis=(0, 2))
    back = int(np.ceil(pbwo4.medium.depth_mm / pbwo4.mesh.dz_mm))  # 240 mm of PbWO4 in a 45-layer mesh
    assert back < pbwo4.mesh.n_layers and layers[back:].sum() == 0 and layers[back - 2] > 0
    inclined = pbwo4.sample(energy, theta=np.full(200, 0.6), seed=8).reshape(200, pbwo4.mesh.n_layers, -1)
    assert inclined.sum(axis=(0, 2))[back:].sum() > 0  # at theta = 0.6 the path through it is 1/sin(0.6) longer


def test_energies_outside_the_published_range_do_not_break_it(siw):
    energy = np.array([50.0, 300.0, 1e6, 3e6])  # 50 MeV to 3 TeV
    cells = siw.sample(energy, seed=7)
    assert np.all(np.isfinite(cells)) and np.all(cells >= 0)
    assert np.all(cells.sum(axis=1) < 1.5 * energy)
    for bad in ([0.0], [np.nan], [-5.0]):
        with pytest.raises(CaloforgeError, match="finite and > 0 MeV"):
            siw.sample(bad)
    assert siw.sample([]).shape == (0, 6480)


def test_radial_probabilities_are_a_distribution(siw):
    probs = siw.radial_probabilities(np.array([2e3, 5e4]), np.linspace(0.1, 3.0, 12)[None, :].repeat(2, 0))
    assert probs.shape == (2, 12, siw.mesh.n_r + 1)
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0, atol=1e-12)
    assert np.all(probs >= 0)


def test_same_seed_same_showers(siw):
    energy = np.geomspace(1e3, 1e5, 300)  # more than one internal chunk
    np.testing.assert_array_equal(siw.sample(energy, seed=11), siw.sample(energy, seed=11))
    assert not np.array_equal(siw.sample(energy, seed=11), siw.sample(energy, seed=12))


def test_parameter_file_round_trip_and_errors(siw, tmp_path):
    tuned = siw.with_parameters(t0=0.1, spot_n1=50.0)
    path = tuned.save(tmp_path / "gflash.json", fit={"note": "kept"})
    assert GFlash.load(tmp_path) == tuned and json.loads(path.read_text())["fit"] == {"note": "kept"}
    d = json.loads(path.read_text())
    d["parameters"]["spot_n1"] = -3.0
    (tmp_path / "neg.json").write_text(json.dumps(d))
    with pytest.raises(CaloforgeError, match=r"outside their physical range: spot_n1=-3"):
        GFlash.load(tmp_path / "neg.json")
    del d["parameters"]["t0"]
    d["parameters"]["t9"] = 1.0
    (tmp_path / "bad.json").write_text(json.dumps(d))
    with pytest.raises(CaloforgeError, match="unknown t9; missing t0"):
        GFlash.load(tmp_path / "bad.json")
    (tmp_path / "text.json").write_text("not json")
    with pytest.raises(CaloforgeError, match="not valid JSON"):
        GFlash.load(tmp_path / "text.json")
    with pytest.raises(CaloforgeError, match="no GFlash parameter file here"):
        GFlash.load(tmp_path / "empty")
    with pytest.raises(CaloforgeError, match="physical range: sampling_term=2"):
        siw.with_parameters(sampling_term=2.0)


def test_stock_parameters_of_a_homogeneous_medium_are_the_published_set():
    medium = GFlashMedium(z_eff=68.0, x0_mm=8.9, rm_mm=20.0, critical_energy_mev=9.5, sampling=False)
    p = stock_parameters(medium)
    assert (p.t0, p.t1, p.a0, p.sigma_t0, p.rho0, p.k40, p.spot_n2) == (-0.812, 1.0, 0.81, -1.4, 0.705, 0.3585, 0.876)
    assert p.a1 == pytest.approx(0.458 + 2.26 / 68.0) and p.sampling_term == 0.0
    assert isinstance(GFlashParameters.from_dict(p.to_dict()), GFlashParameters)
