"""The built-in diffusion models (full sampler and distilled): they ship with the package, load, and deposit
the energy Geant4 does."""

import functools

import numpy as np
import pytest

from caloforge.cli import main
from caloforge.data import read_showers
from caloforge.fullsim import simulate
from caloforge.geometry import get_geometry
from caloforge.models.generate import builtin_model_path, load_model

NAMES = ("par04-siw-diffusion", "par04-siw-diffusion-distilled")


@pytest.fixture(scope="module", params=NAMES)
def built_in(request):
    """(name, model) of each built-in model."""
    path = builtin_model_path(request.param)
    assert (path / "model.safetensors").is_file(), f"the built-in model {request.param} is not in the package"
    return request.param, load_model(request.param, "par04-siw")


@pytest.fixture(scope="module")
def geant4():
    """Geant4 showers by (energy, n, seed), simulated once for both built-in models."""
    return functools.cache(lambda energy_gev, n, seed: simulate(get_geometry("par04-siw"), n=n, energy_gev=energy_gev,
                                                                seed=seed, workers=2))  # fmt: skip


def test_built_in_model_is_small_and_documented(built_in):
    name, model = built_in
    folder = builtin_model_path(name)
    assert (folder / "model.safetensors").stat().st_size < 20 * 2**20
    card = (folder / "MODEL_CARD.md").read_text()
    for needed in ("Training", "Validation", "AUC cells", "Preprocessing", "seed"):
        assert needed in card
    assert model.geometry == "par04-siw" and model.mesh.shape == (45, 16, 9)
    assert model.distilled == name.endswith("-distilled") and model.default_steps == (1 if model.distilled else 18)


@pytest.mark.parametrize(("energy_gev", "n_geant4", "seed"), [(10.0, 24, 31), (50.0, 8, 32)])
def test_built_in_model_deposits_the_energy_geant4_does(built_in, geant4, energy_gev, n_geant4, seed):
    model = built_in[1]
    g4 = geant4(energy_gev, n_geant4, seed)
    g4_ratio = g4.showers.sum(1, dtype=np.float64).mean() / (energy_gev * 1e3)
    showers = model.sample(np.full(100, energy_gev * 1e3), seed=seed)
    ratio = showers.sum(1, dtype=np.float64).mean() / (energy_gev * 1e3)
    assert ratio == pytest.approx(g4_ratio, rel=0.05)
    layers = showers.reshape(100, 45, -1).sum(2).mean(0)
    g4_layers = g4.images.sum(axis=(2, 3), dtype=np.float64).mean(0)
    assert abs(int(np.argmax(layers)) - int(np.argmax(g4_layers))) <= 2  # shower maximum within 2 layers


def test_generate_by_name_on_the_command_line(tmp_path, built_in):
    out = tmp_path / "diffusion.h5"
    name, model = built_in
    assert main(["generate", name, "-g", "par04-siw", "-E", "5:20", "-n", "3", "--steps", "4", "-o", str(out)]) == 0
    data = read_showers(out)
    label = "diffusion (distilled, built-in)" if model.distilled else "diffusion (built-in)"
    assert len(data) == 3 and data.meta.generator == f"caloforge {label}"
    assert np.all(data.showers.sum(1) > 0.5 * data.incident_energies)
