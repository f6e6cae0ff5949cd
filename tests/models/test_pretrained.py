"""The built-in diffusion model: it ships with the package, loads, and deposits the energy Geant4 does."""

import numpy as np
import pytest

from caloforge.cli import main
from caloforge.data import read_showers
from caloforge.fullsim import simulate
from caloforge.geometry import get_geometry
from caloforge.models.generate import builtin_model_path, load_model

NAME = "par04-siw-diffusion"


@pytest.fixture(scope="module")
def model():
    assert (builtin_model_path(NAME) / "model.safetensors").is_file(), "the built-in model is not in the package"
    return load_model(NAME, "par04-siw")


def test_built_in_model_is_small_and_documented(model):
    folder = builtin_model_path(NAME)
    assert (folder / "model.safetensors").stat().st_size < 20 * 2**20
    card = (folder / "MODEL_CARD.md").read_text()
    for needed in ("Training", "Validation", "AUC cells", "Preprocessing", "seed"):
        assert needed in card
    assert model.geometry == "par04-siw" and model.mesh.shape == (45, 16, 9) and not model.distilled


@pytest.mark.parametrize(("energy_gev", "n_geant4", "seed"), [(10.0, 24, 31), (50.0, 8, 32)])
def test_built_in_model_deposits_the_energy_geant4_does(model, energy_gev, n_geant4, seed):
    g4 = simulate(get_geometry("par04-siw"), n=n_geant4, energy_gev=energy_gev, seed=seed, workers=2)
    g4_ratio = g4.showers.sum(1, dtype=np.float64).mean() / (energy_gev * 1e3)
    showers = model.sample(np.full(100, energy_gev * 1e3), seed=seed)
    ratio = showers.sum(1, dtype=np.float64).mean() / (energy_gev * 1e3)
    assert ratio == pytest.approx(g4_ratio, rel=0.05)
    layers = showers.reshape(100, 45, -1).sum(2).mean(0)
    g4_layers = g4.images.sum(axis=(2, 3), dtype=np.float64).mean(0)
    assert abs(int(np.argmax(layers)) - int(np.argmax(g4_layers))) <= 2  # shower maximum within 2 layers


def test_generate_by_name_on_the_command_line(tmp_path, model):
    out = tmp_path / "diffusion.h5"
    assert main(["generate", NAME, "-g", "par04-siw", "-E", "5:20", "-n", "3", "--steps", "4", "-o", str(out)]) == 0
    data = read_showers(out)
    assert len(data) == 3 and data.meta.generator == "caloforge diffusion (built-in)"
    assert np.all(data.showers.sum(1) > 0.5 * data.incident_energies)
