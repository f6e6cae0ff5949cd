"""High-level shower features on any scoring mesh, as CaloChallenge's evaluation defines them.

The features are the ones of CaloChallenge's ``HighLevelFeatures.py`` and ``evaluate.py``
(github.com/CaloChallenge/homepage, ``code/``; C. Krause et al., "CaloChallenge 2022: A Community
Challenge for Fast Calorimeter Simulation", arXiv:2410.21611), computed for any
:class:`~caloforge.geometry.ScoringMesh` from its cell centres: layer centres ``z = (l + 1/2) dz``,
radial centres ``r = (k + 1/2) dr`` and angular centres ``alpha = (j + 1/2) 2 pi / A - pi``, so that
``x = r cos(alpha)`` and ``y = r sin(alpha)`` (CaloChallenge calls them "eta" and "phi"; here they are
mm in the shower frame).

Cells below the readout threshold are set to zero before anything is computed, as ``evaluate.py``
does (``np.where(shower < min_energy, 0, shower)``), so every feature sees the same thresholded
shower. Everything is computed in float64, in chunks of showers, fully vectorised.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from caloforge.errors import CaloforgeError
from caloforge.geometry.mesh import ScoringMesh

__all__ = [
    "CALOCHALLENGE_THRESHOLD_MEV",
    "DEFAULT_THRESHOLD_MEV",
    "FEATURE_NAMES",
    "calochallenge_vector",
    "calochallenge_vector_names",
    "cell_energies",
    "high_level_features",
]

# evaluate.py: min_energy = 0.5e-3 / 0.033 MeV for datasets 2 and 3 (0.5 keV in Si, divided by the
# sampling fraction 0.033 the files are calibrated with): 15.15 keV.
CALOCHALLENGE_THRESHOLD_MEV = 0.5e-3 / 0.033
DEFAULT_THRESHOLD_MEV = CALOCHALLENGE_THRESHOLD_MEV

FEATURE_NAMES = (
    "e_inc",
    "e_sum",
    "esum_over_einc",
    "depth",
    "depth_width",
    "r_mean",
    "r_width",
    "n_above",
    "e_layer",
    "ec_x",
    "ec_y",
    "width_x",
    "width_y",
    "ec_r",
    "width_r",
    "sparsity",
    "occupancy",
    "longitudinal_profile",
    "radial_profile",
)

_CHUNK = 256  # showers per float64 block: ~13 MB for 6480 cells, cache-friendly and fast
_VECTOR_KEYS = ("e_inc", "e_layer", "ec_x", "ec_y", "width_x", "width_y", "e_sum", "sparsity", "ec_r", "width_r")


def _check_threshold(threshold_mev: float) -> float:
    """The threshold as a float, rejected when negative or not finite."""
    thr = float(threshold_mev)
    if not np.isfinite(thr) or thr < 0:
        msg = f"threshold_mev must be a finite number >= 0 MeV, got {threshold_mev!r}"
        raise CaloforgeError(msg)
    return thr


def _as_showers(showers: ArrayLike, mesh: ScoringMesh) -> NDArray:
    """Showers as an (N, L*A*R) array (a view where possible), checked against the mesh."""
    arr = np.asarray(showers)
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        msg = f"showers must be real numbers (MeV), got dtype {arr.dtype}"
        raise CaloforgeError(msg)
    L, A, R = mesh.shape
    if arr.ndim == 2 and arr.shape[1] == mesh.n_cells:
        return arr
    if arr.ndim == 4 and arr.shape[1:] == mesh.shape:
        return arr.reshape(arr.shape[0], mesh.n_cells)
    msg = f"showers have shape {arr.shape}, but the {L}x{A}x{R} mesh needs (N, {mesh.n_cells}) or (N, {L}, {A}, {R})"
    raise CaloforgeError(msg)


def _as_energies(energies_mev: ArrayLike, n: int) -> NDArray[np.float64]:
    """Incident energies as (N,) float64 MeV: finite, > 0 and one per shower."""
    e = np.asarray(energies_mev, dtype=np.float64)
    if e.ndim == 2 and e.shape[1] == 1:
        e = e[:, 0]
    if e.ndim != 1:
        msg = f"incident energies must have shape (N,) or (N, 1), got {e.shape}"
        raise CaloforgeError(msg)
    if e.shape[0] != n:
        msg = f"{e.shape[0]} incident energies for {n} showers"
        raise CaloforgeError(msg)
    bad = ~(np.isfinite(e) & (e > 0))
    if bad.any():
        i = int(np.argmax(bad))
        msg = f"incident energies must be finite and > 0 MeV; shower {i} has {e[i]!r}"
        raise CaloforgeError(msg)
    return e


def _divide(num: NDArray[np.float64], den: NDArray[np.float64]) -> NDArray[np.float64]:
    """num / den, and 0 where den is 0 (an empty layer or shower has no centre)."""
    return np.divide(num, den, out=np.zeros(np.broadcast_shapes(num.shape, den.shape)), where=den > 0)


def _moments(
    weights: NDArray[np.float64], coords: NDArray[np.float64], total: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Weighted mean and rms over the last axis, two-pass (centred): no cancellation for narrow showers.

    Args:
        weights: (..., K) non-negative energies.
        coords: (K,) coordinate of each of the K cells.
        total: (...) ``weights.sum(-1)``.
    """
    mean = _divide(weights @ coords, total)
    dev = coords - mean[..., None]
    dev *= dev
    var = _divide(np.einsum("...k,...k->...", weights, dev), total)
    return mean, np.sqrt(var)


def high_level_features(
    showers: ArrayLike,
    energies_mev: ArrayLike,
    mesh: ScoringMesh,
    *,
    threshold_mev: float = DEFAULT_THRESHOLD_MEV,
) -> dict[str, NDArray]:
    """The CaloChallenge high-level features of each shower, plus depth and radius moments.

    Cells with ``E < threshold_mev`` are zeroed first, for every feature. The definitions follow
    CaloChallenge's ``HighLevelFeatures.CalculateFeatures`` (github.com/CaloChallenge/homepage,
    ``code/HighLevelFeatures.py``), with lengths in mm from the mesh's cell centres. Centres are
    energy-weighted first moments of cell-centre coordinates; widths are the energy-weighted rms about
    that centre (square root of the second central moment, computed centred rather than as
    CaloChallenge's ``sqrt(E[x^2] - E[x]^2)``: the same number without its cancellation, so one cell
    has width 0 to ~1e-15 mm instead of ~1e-7 mm). An empty layer (or shower) has centre and width 0,
    not NaN (CaloChallenge divides by ``E + 1e-16``, which gives the same 0).

    Scalars, (N,) float64 (``n_above`` int64):

    - ``e_inc``: incident energy, MeV.
    - ``e_sum``: deposited (thresholded, calibrated) energy, MeV; ``esum_over_einc`` = e_sum / e_inc.
    - ``depth``, ``depth_width``: mean and rms of the layer-centre z over the longitudinal profile, mm.
    - ``r_mean``, ``r_width``: mean and rms of the cell-centre radius over the whole shower, mm.
    - ``n_above``: number of cells kept by the threshold (E >= threshold and E > 0).

    Per layer, (N, L) float64:

    - ``e_layer``: energy per layer, MeV (also ``longitudinal_profile``).
    - ``ec_x``, ``ec_y``: centre of energy in x = r cos(alpha), y = r sin(alpha), mm
      (CaloChallenge's EC_eta, EC_phi); ``width_x``, ``width_y``: rms about it, mm.
    - ``ec_r``, ``width_r``: radial centre of energy and rms per layer, mm.
    - ``sparsity``: fraction of the layer's A*R cells left EMPTY by the threshold, CaloChallenge's
      definition ``1 - mean(E > 0)`` (1 for an empty layer).
    - ``occupancy``: fraction of the layer's cells above threshold, ``1 - sparsity``.

    Profiles: ``longitudinal_profile`` (N, L) = e_layer; ``radial_profile`` (N, R), energy per radial
    bin summed over layers and angles, MeV.

    Args:
        showers: (N, L*A*R) or (N, L, A, R) cell energies, MeV (any real dtype; float32 in files).
        energies_mev: (N,) or (N, 1) incident energies, MeV.
        mesh: the scoring mesh the showers live on (counts and cell sizes).
        threshold_mev: readout threshold per cell, MeV (default: CaloChallenge ds2/ds3, 15.15 keV).

    Returns:
        Feature name -> array, the names of :data:`FEATURE_NAMES`.

    Raises:
        CaloforgeError: showers that do not fit the mesh, NaN/inf cells, a number of energies other
            than N, energies that are not finite and > 0, or a negative threshold.

    Warning:
        With A = 1 the angle is unbinned (alpha centre 0), so ec_x = ec_r and ec_y = 0; CaloChallenge
        leaves such layers out of its x/y features.

    Example:
        >>> from caloforge.geometry import ScoringMesh
        >>> mesh = ScoringMesh(3, 4, 2, dz_mm=10.0, dr_mm=5.0)
        >>> shower = np.zeros((1, 3, 4, 2)); shower[0, 1, 0, 1] = 2.0   # layer 1, alpha bin 0, r bin 1
        >>> f = high_level_features(shower, [100.0], mesh)
        >>> float(f["depth"][0]), float(f["r_mean"][0]), int(f["n_above"][0])
        (15.0, 7.5, 1)
    """
    thr = _check_threshold(threshold_mev)
    flat = _as_showers(showers, mesh)
    n = flat.shape[0]
    e_inc = _as_energies(energies_mev, n)
    L, A, R = mesh.shape
    z_c, alpha_c, r_c = mesh.cell_centres()
    z = z_c[:, 0, 0]  # (L,)
    r = r_c[0, 0, :]  # (R,)
    cx = (r_c[0] * np.cos(alpha_c[0])).reshape(A * R)  # cell order (alpha, r), r fastest
    cy = (r_c[0] * np.sin(alpha_c[0])).reshape(A * R)

    e_lr = np.empty((n, L, R))
    count = np.empty((n, L), dtype=np.int64)
    ec_x, ec_y, width_x, width_y = (np.empty((n, L)) for _ in range(4))
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        x = flat[start:stop].astype(np.float64)  # always a copy: the caller's array is not touched
        if not np.isfinite(x).all():
            i = start + int(np.argmax(~np.isfinite(x).all(axis=1)))
            msg = f"showers contain NaN or inf (first in shower {i})"
            raise CaloforgeError(msg)
        x[x < thr] = 0.0
        x = x.reshape(stop - start, L, A * R)
        count[start:stop] = np.count_nonzero(x, axis=-1)
        e_lr[start:stop] = x.reshape(stop - start, L, A, R).sum(axis=2)
        e_l = e_lr[start:stop].sum(axis=-1)
        ec_x[start:stop], width_x[start:stop] = _moments(x, cx, e_l)
        ec_y[start:stop], width_y[start:stop] = _moments(x, cy, e_l)

    e_layer = e_lr.sum(axis=-1)
    radial = e_lr.sum(axis=1)
    e_sum = e_layer.sum(axis=-1)
    ec_r, width_r = _moments(e_lr, r, e_layer)
    depth, depth_width = _moments(e_layer, z, e_sum)
    r_mean, r_width = _moments(radial, r, e_sum)
    occupancy = count / float(A * R)
    return {
        "e_inc": e_inc,
        "e_sum": e_sum,
        "esum_over_einc": e_sum / e_inc,
        "depth": depth,
        "depth_width": depth_width,
        "r_mean": r_mean,
        "r_width": r_width,
        "n_above": count.sum(axis=-1),
        "e_layer": e_layer,
        "ec_x": ec_x,
        "ec_y": ec_y,
        "width_x": width_x,
        "width_y": width_y,
        "ec_r": ec_r,
        "width_r": width_r,
        "sparsity": 1.0 - occupancy,
        "occupancy": occupancy,
        "longitudinal_profile": e_layer.copy(),
        "radial_profile": radial,
    }


def cell_energies(showers: ArrayLike, *, threshold_mev: float = DEFAULT_THRESHOLD_MEV) -> NDArray[np.float64]:
    """Energies of all cells kept by the threshold, flat: the sample behind the cell-energy spectrum.

    CaloChallenge histograms every voxel on log bins starting at the threshold, so empty and
    below-threshold cells never enter; this returns exactly the entries that do.

    Args:
        showers: cell energies of any shape, MeV.
        threshold_mev: readout threshold, MeV.

    Returns:
        (M,) float64 MeV, the cells with ``E >= threshold_mev`` and ``E > 0``, in flat (C) order.
    """
    thr = _check_threshold(threshold_mev)
    x = np.asarray(showers).reshape(-1)
    if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
        msg = f"showers must be real numbers (MeV), got dtype {x.dtype}"
        raise CaloforgeError(msg)
    x = x.astype(np.float64, copy=False)
    if not np.isfinite(x).all():
        msg = "showers contain NaN or inf"
        raise CaloforgeError(msg)
    return x[(x >= thr) & (x > 0)]


def calochallenge_vector_names(n_layers: int) -> list[str]:
    """Column names of :func:`calochallenge_vector` for ``n_layers`` layers (lengths are in units of 100 mm)."""

    def per_layer(name: str) -> list[str]:
        return [f"{name}_{i}" for i in range(n_layers)]

    return [
        "log10_e_inc",
        *per_layer("log10_e_layer"),
        *per_layer("ec_x"),
        *per_layer("ec_y"),
        *per_layer("width_x"),
        *per_layer("width_y"),
        "log10_e_sum",
        *per_layer("sparsity"),
        *per_layer("ec_r"),
        *per_layer("width_r"),
    ]


def calochallenge_vector(features: dict[str, NDArray]) -> NDArray[np.float64]:
    """The high-level input of CaloChallenge's classifier and of its FPD/KPD, from the features.

    Same columns, order and scaling as ``prepare_high_data_for_classifier`` in CaloChallenge's
    ``evaluate.py`` (without its label column), so scores are comparable with published ones:
    log10(E_inc); log10(E_layer + 1e-8) x L; ec_x/100, ec_y/100, width_x/100, width_y/100 x L each;
    log10(E_sum + 1e-8); sparsity x L (CaloChallenge's: fraction of EMPTY cells); ec_r/100,
    width_r/100 x L each. Energies in MeV, lengths in mm (so /100 gives units of 10 cm).

    Args:
        features: the output of :func:`high_level_features`.

    Returns:
        (N, 1 + L + 4L + 1 + L + 2L) float64; 362 columns for L = 45 (names: :func:`calochallenge_vector_names`).

    Raises:
        CaloforgeError: a feature missing, or shapes that do not agree.
    """
    missing = [k for k in _VECTOR_KEYS if k not in features]
    if missing:
        msg = f"features lack {', '.join(missing)} (pass the dict high_level_features returns)"
        raise CaloforgeError(msg)
    f = {k: np.asarray(features[k], dtype=np.float64) for k in _VECTOR_KEYS}
    n = f["e_inc"].shape[0]
    layer_shape = f["e_layer"].shape
    if f["e_inc"].shape != (n,) or f["e_sum"].shape != (n,) or len(layer_shape) != 2 or layer_shape[0] != n:
        msg = f"features disagree in shape: e_inc {f['e_inc'].shape}, e_sum {f['e_sum'].shape}, e_layer {layer_shape}"
        raise CaloforgeError(msg)
    bad = [k for k in _VECTOR_KEYS[1:] if k != "e_sum" and f[k].shape != layer_shape]
    if bad:
        msg = f"features {', '.join(bad)} do not have the shape {layer_shape} of e_layer"
        raise CaloforgeError(msg)
    return np.concatenate(
        [
            np.log10(f["e_inc"])[:, None],
            np.log10(f["e_layer"] + 1e-8),
            f["ec_x"] / 100.0,
            f["ec_y"] / 100.0,
            f["width_x"] / 100.0,
            f["width_y"] / 100.0,
            np.log10(f["e_sum"] + 1e-8)[:, None],
            f["sparsity"],
            f["ec_r"] / 100.0,
            f["width_r"] / 100.0,
        ],
        axis=1,
    )
