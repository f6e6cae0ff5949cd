"""Material constants against the PDG tables (Atomic and Nuclear Properties, pdg.lbl.gov, 2024)."""

import pytest

from caloforge.errors import UnknownMaterial
from caloforge.geometry.materials import get_material, material_names, radiation_length_tsai

# PDG "Atomic and nuclear properties of materials": X0 (mm) and Moliere radius (mm).
PDG = {
    "W": (3.504, 9.327),
    "Pb": (5.612, 16.02),
    "PbWO4": (8.903, 19.59),
    "Si": (93.70, 48.65),
}


@pytest.mark.parametrize("name", PDG)
def test_radiation_length_matches_pdg(name):
    assert get_material(name).x0_mm == pytest.approx(PDG[name][0], rel=0.02)


@pytest.mark.parametrize("name", PDG)
def test_moliere_radius_matches_pdg(name):
    assert get_material(name).rm_mm == pytest.approx(PDG[name][1], rel=0.05)


def test_tsai_radiation_length_in_g_cm2():
    # PDG X0 in g/cm2: W 6.76, Pb 6.37, Si 21.82, H 63.04, C 42.70
    assert radiation_length_tsai(74, 183.84) == pytest.approx(6.76, rel=0.005)
    assert radiation_length_tsai(82, 207.2) == pytest.approx(6.37, rel=0.005)
    assert radiation_length_tsai(14, 28.085) == pytest.approx(21.82, rel=0.005)
    assert radiation_length_tsai(1, 1.008) == pytest.approx(63.04, rel=0.005)
    assert radiation_length_tsai(6, 12.011) == pytest.approx(42.70, rel=0.005)


def test_critical_energy_rossi_fit_near_pdg():
    # PDG electron critical energies: W 7.97 MeV, Pb 7.43 MeV, Si 40.19 MeV
    assert get_material("W").critical_energy_mev == pytest.approx(7.97, rel=0.05)
    assert get_material("Pb").critical_energy_mev == pytest.approx(7.43, rel=0.05)
    assert get_material("Si").critical_energy_mev == pytest.approx(40.19, rel=0.05)


def test_mip_energy_loss_near_pdg_minimum():
    # PDG minimum ionisation: W 1.145, Si 1.664, Pb 1.122 MeV cm2/g; the Bethe estimate has no density effect
    assert get_material("W").mip_dedx_mev_cm2_g == pytest.approx(1.145, rel=0.05)
    assert get_material("Si").mip_dedx_mev_cm2_g == pytest.approx(1.664, rel=0.05)
    assert get_material("Pb").mip_dedx_mev_cm2_g == pytest.approx(1.122, rel=0.05)


def test_compound_mass_fractions_and_mixture_rule():
    m = get_material("PbWO4")
    assert sum(m.mass_fractions.values()) == pytest.approx(1.0)
    assert m.mass_fractions["O"] == pytest.approx(4 * 15.999 / (207.2 + 183.84 + 4 * 15.999), rel=1e-3)
    inv = sum(w / get_material(s).x0_g_cm2 for s, w in m.mass_fractions.items() if s != "O")
    assert 1 / m.x0_g_cm2 > inv  # oxygen adds to 1/X0


@pytest.mark.parametrize("name", ["W", "Si", "Pb", "PbWO4", "Fe", "Cu", "Al", "polystyrene", "lAr", "G10", "air"])
def test_required_materials_exist_with_physical_values(name):
    m = get_material(name)
    assert m.density_g_cm3 > 0 and m.x0_mm > 0 and m.rm_mm > 0 and 1 < m.z_eff < 100
    assert name in material_names()


def test_any_element_by_symbol():
    ni = get_material("Ni")
    assert ni.z_eff == 28
    assert ni.x0_mm == pytest.approx(14.24, rel=0.02)  # PDG nickel 14.24 mm


def test_unknown_material_suggests_close_names():
    with pytest.raises(UnknownMaterial, match="unknown material 'PbW04'; did you mean 'PbWO4'"):
        get_material("PbW04")
