"""Materials: density, effective Z/A, radiation length, Moliere radius and critical energy.

Element data (Z, molar mass, density) come from ``xraydb``; compounds and mixtures from the
package table ``geometry/data/materials.yaml`` (composition, density, source). The derived
quantities are computed, not tabulated:

* radiation length per element from the Tsai formula (PDG review "Passage of particles through
  matter", eq. 34.26, with the Coulomb correction f(Z) and L_rad, L'_rad as tabulated there);
  for mixtures ``1/X0 = sum_j w_j / X0_j`` with mass fractions ``w_j``;
* critical energy per element from the Rossi-definition fits to Geant4-era values
  (PDG fig. 34.13): ``610 MeV / (Z + 1.24)`` for solids and liquids, ``710 MeV / (Z + 0.92)`` for gases;
* Moliere radius ``R_M = X0 E_s / E_c`` with ``E_s = 21.2052 MeV``; for mixtures
  ``1/R_M = (1/E_s) sum_j w_j E_cj / X0_j`` (PDG eq. 34.37), and an effective critical energy
  ``E_c = E_s X0 / R_M`` that keeps the three consistent;
* minimum-ionising energy loss from the Bethe formula (no density effect, mean excitation energy
  ``I = 16 Z^0.9 eV``, Bragg additivity): only used for the *estimate* of a sampling fraction before
  caloforge has simulated it.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Any

import yaml

from caloforge.errors import UnknownMaterial, suggest

__all__ = [
    "E_S_MEV",
    "Material",
    "element",
    "get_material",
    "material_names",
    "radiation_length_tsai",
]

E_S_MEV = 21.2052  # scale energy m_e c^2 sqrt(4 pi / alpha), MeV (PDG)
_ALPHA = 1 / 137.035999
_X0_PREFACTOR = 716.408  # g/cm^2 mol: 1 / (4 alpha r_e^2 N_A)
_ME_MEV = 0.51099895
_BETHE_K = 0.307075  # MeV cm^2 / mol
# L_rad and L'_rad for Z = 1..4, where the Thomas-Fermi forms fail (PDG table 34.2).
_LRAD_LIGHT = {1: (5.31, 6.144), 2: (4.79, 5.621), 3: (4.74, 5.805), 4: (4.71, 5.924)}


@dataclass(frozen=True)
class Material:
    """A homogeneous material with the electromagnetic shower constants caloforge needs.

    Lengths are in mm, energies in MeV, density in g/cm^3.
    """

    name: str
    density_g_cm3: float
    mass_fractions: dict[str, float]
    z_eff: float
    a_eff: float
    z_over_a: float
    x0_g_cm2: float
    rm_g_cm2: float
    mip_dedx_mev_cm2_g: float
    state: str = "solid"
    geant4_name: str | None = None
    source: str = ""

    @property
    def x0_mm(self) -> float:
        """Radiation length in mm."""
        return 10.0 * self.x0_g_cm2 / self.density_g_cm3

    @property
    def rm_mm(self) -> float:
        """Moliere radius in mm."""
        return 10.0 * self.rm_g_cm2 / self.density_g_cm3

    @property
    def critical_energy_mev(self) -> float:
        """Critical energy (Rossi definition) in MeV, consistent with X0 and R_M."""
        return E_S_MEV * self.x0_g_cm2 / self.rm_g_cm2

    @property
    def mip_dedx_mev_mm(self) -> float:
        """Energy loss of a minimum-ionising particle in MeV/mm (Bethe estimate)."""
        return self.mip_dedx_mev_cm2_g * self.density_g_cm3 / 10.0


def radiation_length_tsai(z: int, a: float) -> float:
    """Radiation length of element (Z, A [g/mol]) in g/cm^2, Tsai's formula (PDG eq. 34.26)."""
    if z in _LRAD_LIGHT:
        lrad, lrad_prime = _LRAD_LIGHT[z]
    else:
        lrad = math.log(184.15 * z ** (-1 / 3))
        lrad_prime = math.log(1194.0 * z ** (-2 / 3))
    a2 = (_ALPHA * z) ** 2
    coulomb = a2 * (1 / (1 + a2) + 0.20206 - 0.0369 * a2 + 0.0083 * a2**2 - 0.002 * a2**3)
    return _X0_PREFACTOR * a / (z * z * (lrad - coulomb) + z * lrad_prime)


def _critical_energy_rossi(z: float, state: str) -> float:
    """Electron critical energy in MeV from the PDG fits (Rossi definition)."""
    return 710.0 / (z + 0.92) if state == "gas" else 610.0 / (z + 1.24)


@cache
def _element_data(symbol: str) -> tuple[int, float, float]:
    """(Z, molar mass g/mol, density g/cm^3) of an element, from xraydb."""
    import xraydb

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            z = int(xraydb.atomic_number(symbol))
        except ValueError:
            z = 0
        if z <= 0 or xraydb.atomic_symbol(z) != symbol:
            msg = f"unknown element symbol '{symbol}'"
            raise UnknownMaterial(msg) from None
        return z, float(xraydb.atomic_mass(symbol)), float(xraydb.atomic_density(symbol))


def _mean_excitation_ev(z: int) -> float:
    """Mean excitation energy, the Bloch-type fit I = 16 Z^0.9 eV (19.2 eV for hydrogen)."""
    return 19.2 if z == 1 else 16.0 * z**0.9


def _build(
    name: str,
    mass_fractions: dict[str, float],
    density: float,
    state: str,
    geant4_name: str | None = None,
    source: str = "",
) -> Material:
    """Combine element constants into a material with mass-fraction mixing rules."""
    inv_x0 = inv_rm = z_eff = a_eff = z_over_a = ln_i = 0.0
    for symbol, w in mass_fractions.items():
        z, a, _ = _element_data(symbol)
        x0 = radiation_length_tsai(z, a)
        inv_x0 += w / x0
        inv_rm += w * _critical_energy_rossi(z, state) / x0 / E_S_MEV
        z_eff += w * z  # GFlash convention: mass-weighted Z and A
        a_eff += w * a
        z_over_a += w * z / a
        ln_i += w * (z / a) * math.log(_mean_excitation_ev(z))
    mean_i_mev = math.exp(ln_i / z_over_a) * 1e-6
    return Material(
        name=name,
        density_g_cm3=density,
        mass_fractions=dict(mass_fractions),
        z_eff=z_eff,
        a_eff=a_eff,
        z_over_a=z_over_a,
        x0_g_cm2=1.0 / inv_x0,
        rm_g_cm2=1.0 / inv_rm,
        mip_dedx_mev_cm2_g=_bethe_mip(z_over_a, mean_i_mev),
        state=state,
        geant4_name=geant4_name,
        source=source,
    )


def _bethe_mip(z_over_a: float, mean_i_mev: float, beta_gamma: float = 3.5) -> float:
    """Bethe mean energy loss of a muon at beta*gamma ~ 3.5 (near minimum), MeV cm^2/g."""
    m_mu = 105.658
    gamma = math.hypot(1.0, beta_gamma)
    beta2 = (beta_gamma / gamma) ** 2
    ratio = _ME_MEV / m_mu
    w_max = 2 * _ME_MEV * beta_gamma**2 / (1 + 2 * gamma * ratio + ratio**2)
    log_term = 0.5 * math.log(2 * _ME_MEV * beta_gamma**2 * w_max / mean_i_mev**2)
    return _BETHE_K * z_over_a / beta2 * (log_term - beta2)


@lru_cache(maxsize=1)
def _table() -> dict[str, dict[str, Any]]:
    """The materials table shipped with the package."""
    text = resources.files("caloforge.geometry").joinpath("data/materials.yaml").read_text()
    return yaml.safe_load(text)["materials"]


def _mass_fractions(name: str, composition: dict[str, dict[str, float]]) -> dict[str, float]:
    """Normalised mass fractions from a composition given by atoms or by mass."""
    if "atoms" in composition:
        masses = {s: n * _element_data(s)[1] for s, n in composition["atoms"].items()}
    elif "mass" in composition:
        masses = dict(composition["mass"])
    else:
        msg = f"material '{name}': composition needs 'atoms' or 'mass'"
        raise UnknownMaterial(msg)
    total = sum(masses.values())
    return {s: m / total for s, m in masses.items()}


def material_names() -> list[str]:
    """Names of the materials in the built-in table (any element symbol is accepted too)."""
    return list(_table())


@cache
def element(symbol: str) -> Material:
    """A pure element by chemical symbol, at the density xraydb gives for it."""
    _z, _, density = _element_data(symbol)
    state = "gas" if density < 0.01 else "solid"
    return _build(symbol, {symbol: 1.0}, density, state, source="xraydb element data")


@cache
def get_material(name: str) -> Material:
    """Look up a material: a name of the built-in table first, else a chemical element symbol.

    Raises:
        UnknownMaterial: neither a table entry nor an element; the message lists close names.
    """
    table = _table()
    if name in table:
        entry = table[name]
        return _build(
            name,
            _mass_fractions(name, entry["composition"]),
            float(entry["density_g_cm3"]),
            entry.get("state", "solid"),
            entry.get("geant4"),
            entry.get("source", ""),
        )
    try:
        return element(name)
    except UnknownMaterial:
        msg = (
            f"unknown material '{name}'{suggest(name, table)} "
            f"(built-in: {', '.join(table)}; or any element symbol such as 'Fe')"
        )
        raise UnknownMaterial(msg) from None
