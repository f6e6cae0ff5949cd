"""The Geant4 GFlash tuning-class export reproduces caloforge's parametrisation in Geant4's conventions."""

import math
import re

import numpy as np
import pytest

from caloforge.export import export_gflash_geant4, geant4_medium
from caloforge.geometry import get_geometry, mesh_for
from caloforge.models import GFlash


def _values(text: str) -> dict[str, float]:
    return {k: float(v) for k, v in re.findall(r"G4double (\w+)\(\) override \{ return ([-+0-9.eE]+); \}", text)}


def test_homogeneous_export_gives_the_same_shower_maximum_and_radii(tmp_path):
    calo = get_geometry("par04-pbwo4")
    model = GFlash.stock(calo, mesh_for(calo)).with_parameters(t0=-0.5, rc0=0.03)
    text = export_gflash_geant4(model, tmp_path / "t.hh").read_text()
    values = _values(text)
    assert len(values) == 32 and "public GVFlashHomoShowerTuning" in text
    g4 = geant4_medium(calo)
    for e_mev in (1e3, 1e4, 1e5):  # Geant4: <T> = ln(E / E_c^G4) + ParAveT1; caloforge: t0 + t1 ln(E / E_c)
        ours = model.parameters.t0 + math.log(e_mev / model.medium.critical_energy_mev)
        assert math.log(e_mev / g4["ec_mev"]) + values["ParAveT1"] == pytest.approx(ours, abs=1e-6)
    # radii in Geant4's Moliere radius: the same length in mm
    assert values["ParRC1"] * g4["rm_mm"] == pytest.approx(0.03 * model.medium.rm_mm, rel=1e-6)
    assert values["ParSpotN1"] * math.log(g4["z"]) == pytest.approx(model.parameters.spot_n1, rel=1e-6)


def test_sampling_export_lists_what_geant4_cannot_override(tmp_path):
    calo = get_geometry("par04-siw")
    model = GFlash.stock(calo, mesh_for(calo))
    text = export_gflash_geant4(model, tmp_path / "s.hh", class_name="SiWTuning").read_text()
    assert "class SiWTuning : public GFlashSamplingShowerTuning" in text
    assert "non-virtual" in text and "ParsAveT1() = 0" in text
    assert re.search(r"ParsSigLogT1\(\) = -2\.[0-9]+", text)  # Geant4's -2.5, moved by the E_c conversion
    assert all(np.isfinite(list(_values(text).values())))
