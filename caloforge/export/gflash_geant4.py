"""Export tuned GFlash parameters as a Geant4 tuning class (a C++ header).

Geant4's GFlash takes its coefficients from a tuning object handed to the parametrisation:
``GFlashHomoShowerParameterisation(material, new MyTuning)`` with ``MyTuning`` derived from
``GVFlashHomoShowerTuning``, or ``GFlashSamplingShowerParameterisation(mat1, mat2, d1, d2, new MyTuning)``
with ``MyTuning`` derived from ``GFlashSamplingShowerTuning``. The header written here defines that
class. The mapping from caloforge's parameters (see :mod:`caloforge.models.gflash`):

* Geant4 computes its own medium: ``Z`` and ``A`` mass-weighted, ``E_c = 2.66 (X0 Z / A)^1.1`` MeV (X0 in
  g/cm^2, the units the formula was fitted in: 8.0 MeV for tungsten), ``R_M = X0 * 21 MeV / E_c``
  (sampling: Geant4's effective X0, R_M, E_c, ``F_s = X0 / (d1 + d2)``
  and ``e_hat = 1 / (1 + 0.007 (Z1 - Z2))`` of the two materials). The export evaluates the same
  formulas on caloforge's material tables and converts: ``ln y`` shifts by ``ln(E_c^G4 / E_c)``, and
  every radius is multiplied by ``R_M / R_M^G4`` (Geant4 measures radii in its own R_M).
* Longitudinal: ``ParAveT1 = t0 + t1 ln(E_c^G4/E_c)`` (Geant4's slope in ln y is 1: with ``t1 != 1`` the
  header uses the value at the geometric-mean energy of the training range and says how far off
  ``<T>`` is at its ends), ``ParAveA1 = a0 + a1 ln(E_c^G4/E_c)``, ``ParAveA2 = a1``, ``ParAveA3 = 0``; widths
  and correlation likewise (``ParSigLogT1/2``, ``ParSigLogA1/2``, ``ParRho1/2``).
* Radial: ``ParRC1..4 = s rc0, s rc1, s rc2, 0``; ``ParWC1..6 = p1, 0, p2, 0, p30, p31``;
  ``ParRT1..6 = s k1, 0, k2, k3, k40, k41``; spots ``ParSpotT1 = spot_t``, ``ParSpotA1 = spot_a`` (their
  Z terms 0), ``ParSpotN1 = spot_n1 / ln Z`` (homogeneous) and ``ParSpotN2 = spot_n2``.
* Sampling calorimeters: Geant4 declares the sampling-only coefficients (``ParsAveT1``, ``ParsSigLogT1``,
  ``ParsRC1``, ``ParsSpotN1``, ...) non-virtual, so a derived class cannot change them; Geant4 always adds
  its default sampling corrections. The header compensates in the virtual terms where the correction
  is additive (``<T>``, ``<alpha>``), and lists the tuned sampling-only values in a comment block, to be
  put into a copy of ``GFlashSamplingShowerTuning.hh`` by whoever builds Geant4. The response and the
  sampling term have no tuning-class entry (they are the sensitive detector's calibration and
  ``SamplingResolution``); the header records them.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from caloforge.errors import CaloforgeError
from caloforge.geometry.layout import Calorimeter, geometry_from_dict
from caloforge.geometry.materials import get_material
from caloforge.models.gflash import GFlash

__all__ = ["export_gflash_geant4", "geant4_medium"]

_ES_G4 = 21.2  # MeV, Geant4's scale energy in GFlash


def _g4_critical_energy(name: str) -> tuple[float, float, float, float]:
    """(Z, A, X0 mm, E_c MeV) of a material as Geant4's GFlash computes them."""
    m = get_material(name)
    return m.z_eff, m.a_eff, m.x0_mm, 2.66 * (m.x0_g_cm2 * m.z_eff / m.a_eff) ** 1.1


def geant4_medium(calorimeter: Calorimeter) -> dict[str, float]:
    """Z, E_c, R_M (and F_s, e_hat for sampling) as Geant4's GFlash parametrisation computes them.

    Sampling stacks are reduced to the two materials Geant4's class takes: the densest passive and the
    densest active material of the deepest stack, with their thicknesses per period.
    """
    if calorimeter.homogeneous:
        masses = {}
        for layer in calorimeter.layers:
            masses[layer.material] = (
                masses.get(layer.material, 0.0) + layer.thickness_mm * layer.properties.density_g_cm3
            )
        name = max(masses, key=masses.get)
        z, _, x0, ec = _g4_critical_energy(name)
        return {"z": z, "ec_mev": ec, "rm_mm": x0 * _ES_G4 / ec, "materials": name}
    stack = max(calorimeter.stacks, key=lambda s: s.thickness_mm * s.repeat)
    passive = [layer for layer in stack.layers if not layer.active]
    active = [layer for layer in stack.layers if layer.active]
    if not passive or not active:
        msg = f"{calorimeter.name}: its deepest stack needs passive and active layers for a GFlash sampling export"
        raise CaloforgeError(msg)
    p = max(passive, key=lambda layer: layer.properties.density_g_cm3)
    a = max(active, key=lambda layer: layer.properties.density_g_cm3)
    d1 = sum(layer.thickness_mm for layer in passive)
    d2 = sum(layer.thickness_mm for layer in active)
    (z1, _, x01, ec1), (z2, _, x02, ec2) = _g4_critical_energy(p.material), _g4_critical_energy(a.material)
    rho1, rho2 = p.properties.density_g_cm3, a.properties.density_g_cm3
    w1, w2 = d1 * rho1 / (d1 * rho1 + d2 * rho2), d2 * rho2 / (d1 * rho1 + d2 * rho2)
    rho_eff = (d1 * rho1 + d2 * rho2) / (d1 + d2)
    x0_eff = 1.0 / (w1 * rho_eff / (x01 * rho1) + w2 * rho_eff / (x02 * rho2))
    rm_eff = _ES_G4 / (w1 * ec1 / x01 + w2 * ec2 / x02)
    ec_eff = x0_eff * (w1 * ec1 / x01 + w2 * ec2 / x02)
    materials = f"{p.material} {d1:g} mm / {a.material} {d2:g} mm"
    return {"z": w1 * z1 + w2 * z2, "ec_mev": ec_eff, "rm_mm": rm_eff, "fs": x0_eff / (d1 + d2),
            "e_hat": 1.0 / (1.0 + 0.007 * (z1 - z2)), "materials": materials}  # fmt: skip


def export_gflash_geant4(
    model: GFlash, path: str | Path, *, energy_range_gev: tuple[float, float] = (1.0, 100.0), class_name: str = ""
) -> Path:
    """Write a C++ header with a Geant4 GFlash tuning class holding the model's parameters.

    Args:
        model: a (tuned) GFlash model; it must carry its geometry description.
        path: the header to write (``.hh``).
        energy_range_gev: the range the model was tuned on (where the slope approximation is centred).
        class_name: the C++ class name (default from the geometry name).

    Returns:
        The path written.
    """
    if not model.geometry_json:
        msg = "this GFlash model does not carry its geometry description; retune it with this caloforge"
        raise CaloforgeError(msg)
    calo = geometry_from_dict(json.loads(model.geometry_json), where="the model's geometry")
    g4 = geant4_medium(calo)
    p = model.parameters
    shift = math.log(g4["ec_mev"] / model.medium.critical_energy_mev)  # ln y_ours = ln y_G4 + shift
    s = model.medium.rm_mm / g4["rm_mm"]
    ln_y_mid = math.log(1e3 * math.sqrt(energy_range_gev[0] * energy_range_gev[1]) / g4["ec_mev"])
    t_at = lambda ln_y_g4: p.t0 + p.t1 * (ln_y_g4 + shift)  # noqa: E731 - <T> in caloforge's form
    par_t1 = t_at(ln_y_mid) - ln_y_mid
    ends = [math.log(1e3 * e / g4["ec_mev"]) for e in energy_range_gev]
    t_error = max(abs(t_at(x) - (x + par_t1)) for x in ends)
    values = {
        "ParAveT1": par_t1, "ParAveA1": p.a0 + p.a1 * shift, "ParAveA2": p.a1, "ParAveA3": 0.0,
        "ParSigLogT1": p.sigma_t0 + p.sigma_t1 * shift, "ParSigLogT2": p.sigma_t1,
        "ParSigLogA1": p.sigma_a0 + p.sigma_a1 * shift, "ParSigLogA2": p.sigma_a1,
        "ParRho1": p.rho0 + p.rho1 * shift, "ParRho2": p.rho1,
        "ParRC1": s * p.rc0, "ParRC2": s * p.rc1, "ParRC3": s * p.rc2, "ParRC4": 0.0,
        "ParWC1": p.p1, "ParWC2": 0.0, "ParWC3": p.p2, "ParWC4": 0.0, "ParWC5": p.p30, "ParWC6": p.p31,
        "ParRT1": s * p.k1, "ParRT2": 0.0, "ParRT3": p.k2, "ParRT4": p.k3, "ParRT5": p.k40, "ParRT6": p.k41,
        "ParSpotT1": p.spot_t, "ParSpotT2": 0.0, "ParSpotA1": p.spot_a, "ParSpotA2": 0.0,
        "ParSpotN1": p.spot_n1 / math.log(g4["z"]), "ParSpotN2": p.spot_n2,
    }  # fmt: skip
    notes = [f"tuned on {model.geometry} ({g4['materials']}), {model.particle}, {energy_range_gev[0]:g}-"
             f"{energy_range_gev[1]:g} GeV", f"caloforge medium: Z {model.medium.z_eff:.3f}, E_c "
             f"{model.medium.critical_energy_mev:.4f} MeV, R_M {model.medium.rm_mm:.4f} mm; Geant4's: Z {g4['z']:.3f}, "
             f"E_c {g4['ec_mev']:.4f} MeV, R_M {g4['rm_mm']:.4f} mm", f"<T> = ln y + ParAveT1 reproduces caloforge's "
             f"t0 + t1 ln y to {t_error:.3f} X0 over the range (t1 = {p.t1:.4f})",
             f"response {p.response:.5f} (calibrate the sensitive detector by it), sampling term "
             f"{p.sampling_term:.5f} GeV^1/2",
             "compare the Geant4 medium above with what GFlash prints at start-up (E_c, R_M, F_s, e_hat): "
             "the conversion assumes they agree"]  # fmt: skip
    base = "GVFlashHomoShowerTuning"
    sampling_block = []
    if model.medium.sampling:
        base = "GFlashSamplingShowerTuning"
        fs, one_minus_e = g4["fs"], 1.0 - g4["e_hat"]
        sampling = {"ParsSigLogT1": values["ParSigLogT1"], "ParsSigLogT2": values["ParSigLogT2"],
                    "ParsSigLogA1": values["ParSigLogA1"], "ParsSigLogA2": values["ParSigLogA2"],
                    "ParsRho1": values["ParRho1"], "ParsRho2": values["ParRho2"], "ParsAveT1": 0.0, "ParsAveT2": 0.0,
                    "ParsAveA1": 0.0, "ParsRC1": 0.0, "ParsRC2": s * p.rc3 * fs,
                    "ParsWC1": p.pw0 / one_minus_e if one_minus_e else 0.0,
                    "ParsWC2": p.pw1 * fs / one_minus_e if one_minus_e else 0.0,
                    "ParsRT1": s * p.rt0 / one_minus_e if one_minus_e else 0.0, "ParsRT2": s * p.rt1 * fs,
                    "ParsSpotN1": p.spot_n1 * max(p.sampling_term, 1e-6), "ParsSpotN2": p.spot_n2,
                    "SamplingResolution": max(p.sampling_term, 1e-6)}  # fmt: skip
        # an unpatched Geant4 adds its default corrections to <T> and <alpha>: these values cancel them
        compensated_t = values["ParAveT1"] + 0.55 / fs + 0.69 * one_minus_e
        compensated_a = values["ParAveA1"] + 0.476 / fs
        notes.append(f"F_s {fs:.4f}, e_hat {g4['e_hat']:.4f} (Geant4's, from the two materials)")
        sampling_block = [
            "// Sampling-only coefficients. Geant4 declares them non-virtual, so this class cannot override",
            "// them. With an unpatched Geant4 use the *_unpatched values of ParAveT1 and ParAveA1 below (they",
            "// cancel Geant4's default <T> and <alpha> corrections); the widths, correlation, radial sampling",
            "// terms and spot count then keep Geant4's defaults. For the full tuning, set these in a copy of",
            "// GFlashSamplingShowerTuning.hh:",
            *[f"//   {k}() = {v:.6g}" for k, v in sampling.items()],
            f"//   ParAveT1_unpatched = {compensated_t:.6g}, ParAveA1_unpatched = {compensated_a:.6g}",
        ]
    name = class_name or "Caloforge" + "".join(w.capitalize() for w in re.split(r"[^A-Za-z0-9]+", model.geometry) if w)
    name += "" if name.endswith("Tuning") else "Tuning"
    lines = [
        f"// GFlash tuning for {model.geometry}, written by caloforge (caloforge export --format gflash-geant4).",
        *[f"// {note}" for note in notes],
        *sampling_block,
        f"#ifndef {name.upper()}_HH",
        f"#define {name.upper()}_HH",
        "",
        f'#include "{base}.hh"',
        "",
        f"class {name} : public {base}",
        "{",
        "  public:",
        *[f"    G4double {k}() override {{ return {v:.8g}; }}" for k, v in values.items()],
        "};",
        "",
        "#endif",
        "",
    ]
    out = Path(path)
    out.write_text("\n".join(lines), encoding="utf-8")
    return out
