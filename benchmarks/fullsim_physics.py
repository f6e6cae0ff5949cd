"""Physics figures of caloforge's Geant4 reference simulation, for the project notes.

(a) sampling fraction of every built-in geometry (10 GeV e-, ``caloforge.fullsim.sampling_fraction``);
(b) par04-siw response E_sum/E_inc and resolution rms/mean of e- at fixed energies 1-100 GeV,
    linearity, and a fit sigma/E = a/sqrt(E) (+) b (sum in quadrature);
(c) par04-pbwo4 longitudinal shower maximum of e- at 10 and 50 GeV: a gamma-distribution fit of
    the mean layer profile, t_max = (a - 1)/b in X0, against PDG's ln(E/E_c) - 0.5;
(d) par04-pbwo4 radial containment radii R90 and R95 in Moliere radii, at 10 and 50 GeV;
(e) par04-pbwo4 gamma vs e- at 10 GeV: ratio of the mean energy sums, mean shower depth of each.

Showers come from ``caloforge.fullsim.simulate`` (calibrated MeV on the ds2 scoring mesh, normal
incidence). Energy sums, profiles and containment are those of the energy inside the mesh.

Run ``python benchmarks/fullsim_physics.py`` (minutes) or ``--quick`` (5 showers a point; the
sampling fractions are then measured without touching the cache). Results:
``benchmarks/results/fullsim_physics.json`` (``fullsim_physics_quick.json``).
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from typing import Any

import numpy as np
from _common import Recorder, log
from scipy.optimize import OptimizeWarning, curve_fit
from scipy.special import gammainc

from caloforge.data.showerfile import ShowerData
from caloforge.fullsim import PhysicsConfig, sampling_fraction, simulate
from caloforge.fullsim.calibration import measure_sampling_fraction
from caloforge.geometry import catalogue_names, get_geometry
from caloforge.geometry.layout import Calorimeter

# energy (GeV) -> showers
RESPONSE_POINTS = {1.0: 200, 2.0: 150, 5.0: 100, 10.0: 80, 20.0: 50, 50.0: 30, 100.0: 20}
PROFILE_RUNS = {("e-", 10.0): 200, ("e-", 50.0): 100, ("gamma", 10.0): 200}  # par04-pbwo4
SF_SHOWERS = 400
QUICK_SHOWERS = 5
QUICK_SF_SHOWERS = 20
PDG_C = {"e-": -0.5, "gamma": 0.5}  # t_max = ln(E/E_c) + C (PDG review "Passage of particles", EM cascades)
BOOTSTRAP = 200


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke run: 5 showers a point, 20 for sampling fractions")
    p.add_argument("-j", "--workers", type=int, default=2, help="Geant4 worker processes (default 2)")
    p.add_argument("--parts", default="abcde", help="which parts to run, e.g. 'bc' (default: all)")
    return p.parse_args()


# --- (a) sampling fractions ------------------------------------------------------------------------


def sampling_fractions(showers: int, workers: int, quick: bool) -> dict[str, Any]:
    """Measured sampling fraction of each catalogue geometry, with the MIP estimate beside it."""
    out = {}
    for name in catalogue_names():
        log(f"(a) sampling fraction {name}")
        geo = get_geometry(name)
        t0 = time.perf_counter()
        if quick:  # measured, not cached: a 20-shower value must not replace the real one
            sf = measure_sampling_fraction(geo, showers=showers, workers=workers)
        else:
            sf = sampling_fraction(geo, showers=showers, workers=workers)
        out[name] = {
            "value": sf.value,
            "error": sf.error,
            "relative_error": sf.error / sf.value,
            "showers": sf.showers,
            "energy_gev": sf.energy_gev,
            "physics": sf.physics,
            "data": sf.data,
            "measurement_s": sf.seconds,  # when it was measured (0 for homogeneous)
            "mip_estimate": geo.sampling_fraction_estimate,
            "measured_over_mip": sf.value / geo.sampling_fraction_estimate,
            "wall_s": time.perf_counter() - t0,
        }
    return out


# --- (b) response and resolution -------------------------------------------------------------------


def response_point(data: ShowerData) -> dict[str, float]:
    """Mean and rms/mean of E_sum/E_inc with their statistical errors."""
    r = data.showers.sum(axis=1, dtype=np.float64) / data.incident_energies.astype(np.float64)
    n = r.size
    mean, rms = float(r.mean()), float(r.std(ddof=1))
    resolution = rms / mean
    return {
        "showers": n,
        "response": mean,
        "response_error": rms / math.sqrt(n),
        "resolution": resolution,
        # relative error of an rms ~ 1/sqrt(2(n-1)), of the mean ~ resolution/sqrt(n)
        "resolution_error": resolution * math.sqrt(1 / (2 * (n - 1)) + resolution**2 / n),
    }


def resolution_model(e_gev: np.ndarray, a: float, b: float) -> np.ndarray:
    """sigma/E = a/sqrt(E) (+) b."""
    return np.sqrt(a**2 / e_gev + b**2)


def quiet_fit(*args: Any, **kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
    """``curve_fit`` with an inestimable covariance returned as inf (becomes null in the JSON), no warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        return curve_fit(*args, **kwargs)


def _constant_squared(e: np.ndarray, res: np.ndarray, err: np.ndarray, a0: float) -> tuple[float, float, float]:
    """c = b^2 (may come out negative), its error and the error of a, from a fit in (a, c).

    Unlike the (a, b) fit, its errors stay finite when b ~ 0.
    """

    def model(x: np.ndarray, a: float, c: float) -> np.ndarray:
        return np.sqrt(np.clip(a**2 / x + c, 1e-12, None))

    (_, c), cov = quiet_fit(model, e, res, p0=(a0, 1e-4), sigma=err, absolute_sigma=True)
    return float(c), math.sqrt(cov[1, 1]), math.sqrt(cov[0, 0])


def fit_resolution(points: list[dict[str, float]]) -> dict[str, Any]:
    """Least-squares fit of the stochastic (a, sqrt(GeV)) and constant (b) terms.

    Where b is consistent with zero its error from the (a, b) fit is meaningless (the model is flat
    in b at b = 0); ``b_upper_95`` then comes from a fit in (a, b^2), and so does the error of a
    when the (a, b) one cannot be estimated.
    """
    e = np.array([p["energy_gev"] for p in points])
    res = np.array([p["resolution"] for p in points])
    err = np.array([p["resolution_error"] for p in points])
    try:
        (a, b), cov = quiet_fit(resolution_model, e, res, p0=(0.2, 0.01), sigma=err, absolute_sigma=True)
        c, c_error, a_error_c = _constant_squared(e, res, err, abs(a))
    except (RuntimeError, ValueError) as exc:
        return {"error": str(exc)}
    a, b = abs(a), abs(b)
    a_error = math.sqrt(cov[0, 0]) if np.isfinite(cov[0, 0]) else a_error_c
    chi2 = float((((res - resolution_model(e, a, b)) / err) ** 2).sum())
    return {
        "a_sqrt_gev": a,
        "a_error": a_error,
        "b": b,
        "b_error": math.sqrt(cov[1, 1]),
        "b_squared": c,
        "b_squared_error": c_error,
        "b_upper_95": math.sqrt(max(c, 0.0) + 1.645 * c_error),
        "chi2": chi2,
        "ndf": len(e) - 2,
    }


def linearity(points: list[dict[str, float]]) -> dict[str, float]:
    """Largest relative deviation of a point's mean response from the average over points."""
    means = np.array([p["response"] for p in points])
    average = float(means.mean())
    deviations = means / average - 1.0
    worst = int(np.argmax(np.abs(deviations)))
    return {
        "average_response": average,
        "max_abs_deviation": float(abs(deviations[worst])),
        "at_energy_gev": points[worst]["energy_gev"],
    }


def response_and_resolution(counts: dict[float, int], workers: int) -> dict[str, Any]:
    points = []
    for i, (energy, n) in enumerate(counts.items()):
        log(f"(b) par04-siw e- {energy:g} GeV x {n}")
        data = simulate("par04-siw", n=n, energy_gev=energy, seed=100 + i, workers=workers)
        points.append({"energy_gev": energy, **response_point(data)})
    return {
        "geometry": "par04-siw",
        "particle": "e-",
        "sampling_fraction": data.meta.sampling_fraction,
        "points": points,
        "linearity": linearity(points),
        "fit": fit_resolution(points),
    }


# --- (c, d, e) shower shapes in par04-pbwo4 --------------------------------------------------------


def layer_depths_x0(data: ShowerData, geo: Calorimeter) -> tuple[np.ndarray, np.ndarray]:
    """Layer edges and centres of the mesh, in the geometry's radiation lengths."""
    mesh = data.meta.mesh
    dz = mesh.dz_mm / geo.x0_mm
    edges = np.arange(mesh.n_layers + 1) * dz
    return edges, 0.5 * (edges[1:] + edges[:-1])


def gamma_binned(edges: np.ndarray, energy: float, a: float, b: float) -> np.ndarray:
    """Energy per layer of dE/dt = E b (bt)^(a-1) e^(-bt) / Gamma(a), integrated over each layer."""
    return energy * np.diff(gammainc(a, b * edges))


def fit_longitudinal(layers: np.ndarray, edges: np.ndarray, centres: np.ndarray) -> dict[str, float]:
    """Fit the mean layer profile (MeV per layer) with the gamma distribution; t_max = (a-1)/b."""
    mean = layers.mean(axis=0)
    sem = layers.std(axis=0, ddof=1) / math.sqrt(len(layers))
    sigma = np.maximum(sem, 1e-3 * mean.max())  # empty tail layers: no zero weights
    total = mean.sum()
    depth = (centres * mean).sum() / total
    variance = ((centres - depth) ** 2 * mean).sum() / total
    b0 = depth / variance  # moments of the gamma distribution: mean a/b, variance a/b^2
    try:
        (energy, a, b), cov = quiet_fit(
            gamma_binned,
            edges,
            mean,
            p0=(total, depth * b0, b0),
            sigma=sigma,
            absolute_sigma=True,
            bounds=((0, 1.0, 1e-3), (np.inf, 100.0, 10.0)),
        )
    except (RuntimeError, ValueError) as exc:
        return {"error": str(exc)}
    t_max = (a - 1) / b
    grad = np.array([0.0, 1 / b, -(a - 1) / b**2])
    return {
        "a": a,
        "b_per_x0": b,
        "fitted_energy_mev": energy,
        "t_max_x0": t_max,
        "t_max_error_x0": math.sqrt(float(grad @ cov @ grad)),
        "chi2": float((((mean - gamma_binned(edges, energy, a, b)) / sigma) ** 2).sum()),
        "ndf": len(mean) - 3,
    }


def containment_radius(radial: np.ndarray, dr: float, fraction: float) -> float:
    """Radius holding ``fraction`` of the energy: cumulative profile, linear within a bin."""
    cumulative = np.concatenate([[0.0], np.cumsum(radial)]) / radial.sum()
    return float(np.interp(fraction, cumulative, np.arange(len(radial) + 1) * dr))


def containment(radial: np.ndarray, dr_rm: float, rng: np.random.Generator) -> dict[str, float]:
    """R90 and R95 (Moliere radii) of the mean radial profile; errors by bootstrap over showers."""
    out = {}
    for f in (0.90, 0.95):
        key = f"r{round(100 * f)}_rm"
        out[key] = containment_radius(radial.mean(axis=0), dr_rm, f)
        boots = [
            containment_radius(radial[rng.integers(0, len(radial), len(radial))].mean(axis=0), dr_rm, f)
            for _ in range(BOOTSTRAP)
        ]
        out[f"{key}_error"] = float(np.std(boots, ddof=1))
    out["mesh_radius_rm"] = radial.shape[1] * dr_rm
    return out


def shower_depth(layers: np.ndarray, centres: np.ndarray) -> tuple[float, float]:
    """Mean over showers of the first moment of the longitudinal profile (X0), and its error."""
    depth = (layers * centres).sum(axis=1) / layers.sum(axis=1)
    return float(depth.mean()), float(depth.std(ddof=1) / math.sqrt(depth.size))


def shape_run(particle: str, energy: float, n: int, seed: int, workers: int) -> dict[str, Any]:
    """One par04-pbwo4 run: longitudinal fit, containment radii, energy sum and depth."""
    geo = get_geometry("par04-pbwo4")
    log(f"(c-e) par04-pbwo4 {particle} {energy:g} GeV x {n}")
    data = simulate(geo, n=n, particle=particle, energy_gev=energy, seed=seed, workers=workers)
    images = data.images.astype(np.float64)
    layers, radial = images.sum(axis=(2, 3)), images.sum(axis=(1, 2))
    edges, centres = layer_depths_x0(data, geo)
    sums = images.sum(axis=(1, 2, 3))
    depth, depth_error = shower_depth(layers, centres)
    return {
        "particle": particle,
        "energy_gev": energy,
        "showers": n,
        "layer_dz_x0": float(edges[1]),
        "longitudinal_fit": fit_longitudinal(layers, edges, centres),
        "t_max_pdg_x0": math.log(energy * 1e3 / geo.critical_energy_mev) + PDG_C[particle],
        "containment": containment(radial, data.meta.mesh.dr_mm / geo.rm_mm, np.random.default_rng(seed)),
        "mean_sum_mev": float(sums.mean()),
        "mean_sum_error_mev": float(sums.std(ddof=1) / math.sqrt(n)),
        "mean_depth_x0": depth,
        "mean_depth_error_x0": depth_error,
    }


def gamma_vs_electron(gamma: dict[str, Any], electron: dict[str, Any]) -> dict[str, float]:
    """Ratio of mean sums (gamma/e-) and depth difference, with propagated errors."""
    ratio = gamma["mean_sum_mev"] / electron["mean_sum_mev"]
    rel = math.hypot(
        gamma["mean_sum_error_mev"] / gamma["mean_sum_mev"], electron["mean_sum_error_mev"] / electron["mean_sum_mev"]
    )
    return {
        "energy_gev": gamma["energy_gev"],
        "sum_ratio_gamma_over_e": ratio,
        "sum_ratio_error": ratio * rel,
        "depth_gamma_x0": gamma["mean_depth_x0"],
        "depth_electron_x0": electron["mean_depth_x0"],
        "depth_difference_x0": gamma["mean_depth_x0"] - electron["mean_depth_x0"],
        "depth_difference_error_x0": math.hypot(gamma["mean_depth_error_x0"], electron["mean_depth_error_x0"]),
        "pdg_t_max_difference_x0": PDG_C["gamma"] - PDG_C["e-"],
    }


def shower_shapes(counts: dict[tuple[str, float], int], workers: int, parts: str) -> dict[str, Any]:
    runs = {
        f"{p}_{e:g}gev": shape_run(p, e, n, seed=200 + i, workers=workers)
        for i, ((p, e), n) in enumerate(counts.items())
        if p == "e-" or "e" in parts
    }
    geo = get_geometry("par04-pbwo4")
    out: dict[str, Any] = {
        "geometry": "par04-pbwo4",
        "x0_mm": geo.x0_mm,
        "rm_mm": geo.rm_mm,
        "critical_energy_mev": geo.critical_energy_mev,
    }
    electrons = [r for r in runs.values() if r["particle"] == "e-"]
    if "c" in parts:
        out["longitudinal"] = [
            {
                "energy_gev": r["energy_gev"],
                **r["longitudinal_fit"],
                "t_max_pdg_x0": r["t_max_pdg_x0"],
                "t_max_minus_pdg_x0": r["longitudinal_fit"].get("t_max_x0", math.nan) - r["t_max_pdg_x0"],
            }
            for r in electrons
        ]
    if "d" in parts:
        out["containment"] = [{"energy_gev": r["energy_gev"], **r["containment"]} for r in electrons]
    if "e" in parts:
        out["gamma_vs_electron"] = gamma_vs_electron(runs["gamma_10gev"], runs["e-_10gev"])
    out["runs"] = runs
    return out


# --- main ------------------------------------------------------------------------------------------


def settings_for(args: argparse.Namespace) -> dict[str, Any]:
    n = QUICK_SHOWERS if args.quick else None
    return {
        "quick": args.quick,
        "workers": args.workers,
        "parts": args.parts,
        "sampling_fraction_showers": QUICK_SF_SHOWERS if args.quick else SF_SHOWERS,
        "response_points": {e: n or k for e, k in RESPONSE_POINTS.items()},
        "profile_runs": {f"{p} {e:g} GeV": n or k for (p, e), k in PROFILE_RUNS.items()},
        "physics": PhysicsConfig().describe(),
        "mesh": "ds2",
        "incidence": "normal",
    }


def print_summary(figures: dict[str, Any]) -> None:
    for name, sf in figures.get("sampling_fractions", {}).items():
        print(f"(a) {name:14s} f = {sf['value']:.5f} +- {sf['error']:.5f}  (MIP estimate {sf['mip_estimate']:.5f})")
    resp = figures.get("response")
    if resp:
        for p in resp["points"]:
            print(
                f"(b) {p['energy_gev']:6g} GeV  response {p['response']:.4f} +- {p['response_error']:.4f}  "
                f"sigma/E {p['resolution']:.4f} +- {p['resolution_error']:.4f}"
            )
        fit = resp["fit"]
        if "a_sqrt_gev" in fit:
            b_ok = math.isfinite(fit["b_error"]) and fit["b"] > 2 * fit["b_error"]
            b_text = f"= {fit['b']:.4f} +- {fit['b_error']:.4f}" if b_ok else f"< {fit['b_upper_95']:.4f} (95 %)"
            print(
                f"(b) a = {fit['a_sqrt_gev']:.4f} +- {fit['a_error']:.4f} sqrt(GeV), b {b_text}, "
                f"chi2/ndf = {fit['chi2']:.1f}/{fit['ndf']}; linearity {resp['linearity']['max_abs_deviation']:.4f}"
            )
    shapes = figures.get("shapes", {})
    for r in shapes.get("longitudinal", []):
        print(f"(c) {r['energy_gev']:g} GeV  t_max = {r.get('t_max_x0', math.nan):.2f} X0, PDG {r['t_max_pdg_x0']:.2f}")
    for r in shapes.get("containment", []):
        print(f"(d) {r['energy_gev']:g} GeV  R90 = {r['r90_rm']:.3f} R_M, R95 = {r['r95_rm']:.3f} R_M")
    g = shapes.get("gamma_vs_electron")
    if g:
        print(
            f"(e) sum gamma/e- = {g['sum_ratio_gamma_over_e']:.4f} +- {g['sum_ratio_error']:.4f}; depth "
            f"gamma {g['depth_gamma_x0']:.2f}, e- {g['depth_electron_x0']:.2f} X0"
        )


def main() -> None:
    args = parse_args()
    settings = settings_for(args)
    rec = Recorder("fullsim_physics_quick" if args.quick else "fullsim_physics", settings)
    figures: dict[str, Any] = {}
    if "a" in args.parts:
        figures["sampling_fractions"] = sampling_fractions(
            settings["sampling_fraction_showers"], args.workers, args.quick
        )
    if "b" in args.parts:
        figures["response"] = response_and_resolution(settings["response_points"], args.workers)
    if any(c in args.parts for c in "cde"):
        figures["shapes"] = shower_shapes(
            {(p, e): settings["profile_runs"][f"{p} {e:g} GeV"] for p, e in PROFILE_RUNS},
            args.workers,
            args.parts,
        )
    path = rec.write(figures)
    print_summary(figures)
    log(f"wrote {path}")


if __name__ == "__main__":
    main()
