"""Finding a model by name or folder, and streaming its showers to a file."""

import numpy as np
import pytest

from caloforge.data import read_showers
from caloforge.errors import CaloforgeError
from caloforge.models.generate import BUILTIN_MODELS, builtin_model_path, generate_to_file, load_model


def test_stock_family_needs_a_geometry_and_unknown_names_list_what_exists():
    with pytest.raises(CaloforgeError, match="needs a geometry"):
        load_model("gflash")
    with pytest.raises(CaloforgeError, match=r"unknown model 'gflsh': .* gflash, par04-siw-diffusion"):
        load_model("gflsh", "par04-siw")
    assert load_model("gflash", "par04-pbwo4").geometry == "par04-pbwo4"


def test_builtin_models_resolve_inside_the_package():
    for name in BUILTIN_MODELS:
        assert builtin_model_path(name).parts[-2:] == ("pretrained", name)


def test_generated_file_is_reproducible_and_records_its_conditions(tmp_path):
    model = load_model("gflash", "par04-pbwo4")
    a = generate_to_file(model, tmp_path / "a.h5", n=250, energy_gev=(2.0, 20.0), theta=(1.0, 2.0), seed=4,
                         chunk_size=100)  # fmt: skip
    b = generate_to_file(model, tmp_path / "b.h5", n=250, energy_gev=(2.0, 20.0), theta=(1.0, 2.0), seed=4,
                         chunk_size=100)  # fmt: skip
    x, y = read_showers(a), read_showers(b)
    np.testing.assert_array_equal(x.showers, y.showers)
    assert x.theta is not None and x.theta.min() >= 1.0 and x.theta.max() <= 2.0
    assert x.incident_energies.min() >= 2e3 and x.incident_energies.max() <= 2e4
    with pytest.raises(CaloforgeError, match="n >= 1 and 0 < E_min <= E_max"):
        generate_to_file(model, tmp_path / "c.h5", n=0)
