"""Stand-in Geant4 physics data, so that calzone (Geant4 11.4) runs its standard EM physics offline.

Geant4's stock EM constructors (``G4EmStandardPhysics`` option 0 and options 1-3) open a few hundred
data files at start-up. The official data sets cannot be downloaded on every machine, so this module
writes a tree in Geant4's own folder names, layout, formats and units, filled from the Elam tables of
:mod:`xraydb` (exact tabulations) and from textbook formulas (approximations). Which is which is
recorded per file family in the tree's ``caloforge-standin.json`` stamp and in the docstring of each
builder below. A user with the official data sets points ``CALOFORGE_G4DATA`` (or
``GEANT4_DATA_DIR``) at them and nothing else changes.

The stand-in reproduces the shower shape (t_max, R90, containment) of the data-free high-energy
models; thin-sampling fractions carry a ~1.5 % systematic from the approximate sub-GeV inputs.

References:
    Geant4 11.4 readers: G4SeltzerBergerModel, G4LivermorePhotoElectricModel,
    G4LivermoreRayleighModel, G4GammaNuclearXS, G4ShellData, G4FluoData, G4AugerData,
    G4IonICRU73Data, G4PhysicsVector::Retrieve, G4Physics2DVector::Retrieve.
    Koch and Motz, Rev. Mod. Phys. 31 (1959) 920 (formula 3BN); Elwert, Ann. Phys. 34 (1939) 178;
    Tsai, Rev. Mod. Phys. 46 (1974) 815; Davies, Bethe and Maximon, Phys. Rev. 93 (1954) 788;
    Elam, Ravel and Sieber, Radiat. Phys. Chem. 63 (2002) 121 (the xraydb tables).
"""

from __future__ import annotations

__all__ = ["DATA_VERSION", "build_standin", "configure_environment", "data_dir", "ensure_data"]

import datetime
import functools
import json
import math
import os
import shutil
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from caloforge.errors import SimulationError

DATA_VERSION: str = "1"
"""Version of the stand-in content; bump it whenever the built files change (old caches are rebuilt)."""

# Data set folders of Geant4 11.4 (fixed by the calzone 1.2.2 wheel) and the variable that points
# Geant4 at each. calzone's first run() refuses to start unless all twelve exist under GEANT4_DATA_DIR
# (measured: RadioactiveDecay6.1.2 is checked too), whatever the physics list.
_REQUIRED_DATASETS: dict[str, str] = {
    "G4NDL4.7.1": "G4NEUTRONHPDATA",
    "G4EMLOW8.8": "G4LEDATA",
    "PhotonEvaporation6.1.2": "G4LEVELGAMMADATA",
    "G4PARTICLEXS4.2": "G4PARTICLEXSDATA",
    "G4PII1.3": "G4PIIDATA",
    "RealSurface2.2": "G4REALSURFACEDATA",
    "G4SAIDDATA2.0": "G4SAIDXSDATA",
    "G4ABLA3.3": "G4ABLADATA",
    "G4INCL1.3": "G4INCLDATA",
    "G4ENSDFSTATE3.0": "G4ENSDFSTATEDATA",
    "G4CHANNELING2.0": "G4CHANNELINGDATA",
    "RadioactiveDecay6.1.2": "G4RADIOACTIVEDATA",
}
_EMLOW = "G4EMLOW8.8"
_STAMP = "caloforge-standin.json"

# Physical constants (CODATA 2018) in MeV, cm, mb.
_ME = 0.51099895  # electron mass, MeV
_AMU = 931.49410242  # atomic mass unit, MeV
_ALPHA = 1.0 / 137.035999084
_R0_CM = 2.8179403262e-13
_ALPHA_R0SQ_MB = _ALPHA * _R0_CM**2 / 1e-27  # alpha r0^2 in millibarn
_AVOGADRO = 6.02214076e23
_BARN_CM2 = 1e-24
_MB_MM2 = 1e-25  # Geant4's internal area unit is mm2

# Reach of the tables Geant4 asks for.
_Z_EM = range(1, 101)  # photoelectric, Rayleigh, Seltzer-Berger: Z = 1..100
_Z_GAMMA_NUCLEAR = range(1, 95)  # G4GammaNuclearXS reads every Z = 1..94 at start-up
_Z_ATOMIC = range(1, 105)  # G4AtomicTransitionManager: shells for Z = 1..104
_Z_DEEXCITATION = range(6, 105)  # fluorescence and Auger files: Z = 6..104
_Z_ELAM_MAX = 98  # xraydb's Elam tables stop at californium; heavier elements copy Z = 98
_ELAM_EMIN_EV, _ELAM_EMAX_EV = 100.0, 8.0e5  # range of the Elam tables (xraydb warns outside)

# EADL subshell designators, as Geant4's atomic de-excitation files use them.
_EADL_ID: dict[str, int] = {
    "K": 1,
    "L1": 3,
    "L2": 5,
    "L3": 6,
    "M1": 8,
    "M2": 10,
    "M3": 11,
    "M4": 13,
    "M5": 14,
    "N1": 16,
    "N2": 18,
    "N3": 19,
    "N4": 21,
    "N5": 22,
    "N6": 24,
    "N7": 25,
    "O1": 27,
    "O2": 29,
    "O3": 30,
    "O4": 32,
    "O5": 33,
    "O6": 35,
    "O7": 36,
    "P1": 41,
    "P2": 43,
    "P3": 44,
    "P4": 46,
    "P5": 47,
}

# What each file family holds: the stamp records this, the README summarises it.
_CONTENTS: tuple[dict[str, str], ...] = (
    {
        "files": "G4ENSDFSTATE3.0/ENSDFSTATE.dat",
        "kind": "placeholder",
        "source": "empty: ground-state table of ions, irrelevant to EM showers",
    },
    {
        "files": "G4PARTICLEXS4.2/gamma/inel{Z}, Z=1..94",
        "kind": "approximation",
        "source": "giant-dipole Lorentzian with the TRK sum rule (Geant4 uses CHIPS above 150 MeV, "
        "and everywhere for Z=1, 40, 74)",
    },
    {
        "files": "G4EMLOW8.8/brem_SB/br{Z}, Z=1..100",
        "kind": "approximation",
        "source": "Koch-Motz 3BN x Elwert (T<=2 MeV), Tsai screened + DBM Coulomb correction "
        "(T>=20 MeV), log-T blend between",
    },
    {
        "files": "G4EMLOW8.8/epics2017/phot/pe-cs-{Z}.dat, pe-le-cs-{Z}.dat",
        "kind": "exact",
        "source": "Elam photoabsorption (xraydb mu_elam photo) 100 eV-800 keV; sigma ~ 1/E above",
    },
    {
        "files": "G4EMLOW8.8/epics2017/phot/pe-high-{Z}.dat, pe-low-{Z}.dat",
        "kind": "exact",
        "source": "Elam binding energies (xraydb xray_edges); fit branch disabled (coefficients 0)",
    },
    {
        "files": "G4EMLOW8.8/epics2017/phot/pe-ss-cs-{Z}.dat",
        "kind": "approximation",
        "source": "Elam total split into shells by edge jump ratios",
    },
    {
        "files": "G4EMLOW8.8/epics2017/rayl/re-cs-{Z}.dat",
        "kind": "exact",
        "source": "Elam coherent scattering (xraydb mu_elam coh) 100 eV-800 keV; sigma ~ 1/E^2 above",
    },
    {"files": "G4EMLOW8.8/fluor/binding.dat", "kind": "exact", "source": "Elam binding energies (xraydb xray_edges)"},
    {
        "files": "G4EMLOW8.8/fluor/fl-tr-pr-{Z}.dat, Z=6..104",
        "kind": "approximation",
        "source": "Elam lines (xraydb xray_lines) x fluorescence yields; combined levels -> first shell",
    },
    {
        "files": "G4EMLOW8.8/auger/au-tr-pr-{Z}.dat, Z=6..104",
        "kind": "placeholder",
        "source": "one K vacancy without transitions (no Auger electrons)",
    },
    {
        "files": "G4EMLOW8.8/ion_stopping_data/icru90, icru73",
        "kind": "approximation",
        "source": "Bethe (log clipped) with Pierce-Blann charge, harmonic with Lindhard-Scharff",
    },
    {
        "files": "G4NDL4.7.1, PhotonEvaporation6.1.2, G4PII1.3, RealSurface2.2, G4SAIDDATA2.0, "
        "G4ABLA3.3, G4INCL1.3, G4CHANNELING2.0, RadioactiveDecay6.1.2",
        "kind": "placeholder",
        "source": "empty folders: not opened by EM physics",
    },
)

# Targets of the ion stopping tables (G4IonICRU73Data): ICRU 90 for light ions in H, C, N, O; ICRU 73
# for ions up to Z = 80 in these elements (other elements are scaled from the nearest listed one).
_ICRU90_TARGETS = (1, 6, 7, 8)
_ICRU73_TARGETS = (
    5,
    6,
    7,
    8,
    13,
    14,
    15,
    16,
    22,
    26,
    28,
    29,
    30,
    31,
    32,
    33,
    34,
    40,
    47,
    48,
    49,
    51,
    52,
    72,
    73,
    74,
    79,
)


# ---------------------------------------------------------------------------------------------------
# Where the data live
# ---------------------------------------------------------------------------------------------------


def data_dir(*, official: str | os.PathLike[str] | None = None) -> Path:
    """Return the folder Geant4 data will be taken from, without building or checking anything.

    Order: the ``official`` argument; ``$CALOFORGE_G4DATA`` (official data sets, used unchanged);
    ``$GEANT4_DATA_DIR`` if it holds ``G4EMLOW8.8`` (and, if it is a caloforge stand-in, one of the
    current version); else the stand-in cache ``$XDG_CACHE_HOME/caloforge/g4data-v{DATA_VERSION}``.

    Args:
        official: a folder holding the official Geant4 11.4 data sets (G4EMLOW8.8, ...).

    Returns:
        The folder to hand to :func:`configure_environment`.

    Example:
        >>> str(data_dir(official="/opt/geant4-data"))
        '/opt/geant4-data'
    """
    return _resolve(official)[0]


def ensure_data(*, official: str | os.PathLike[str] | None = None, progress: bool = False) -> Path:
    """Return a folder ready for Geant4, building the stand-in tree on first use.

    The stand-in is built into a temporary sibling folder and renamed into place, so an interrupted
    build leaves nothing that looks complete, and several processes may build at once: the first
    rename wins and the others discard their copy. A tree whose stamp has another version is rebuilt.
    Official folders are only checked for the data-set folders calzone requires.

    Args:
        official: a folder holding the official Geant4 11.4 data sets; see :func:`data_dir`.
        progress: print one line per build stage to stderr.

    Returns:
        The data folder (pass it to :func:`configure_environment` before importing calzone).

    Raises:
        SimulationError: an official folder that does not exist or lacks a required data set.
    """
    path, origin = _resolve(official)
    if origin != "stand-in":
        _check_official(path, origin)
        return path
    if _is_current_standin(path):
        return path
    return _build_atomically(path, progress=progress)


def configure_environment(path: str | os.PathLike[str]) -> None:
    """Point Geant4 at ``path``: set ``GEANT4_DATA_DIR`` and each data set's own variable.

    Call it before ``import calzone`` (calzone fills ``GEANT4_DATA_DIR`` on import when it is unset).
    The per-data-set variables (``G4LEDATA``, ``G4PARTICLEXSDATA``, ...) are set as well, because
    Geant4 prefers them to ``GEANT4_DATA_DIR``: a stale one left by another Geant4 installation would
    otherwise win. Variables of data sets absent from ``path`` are left as they are.

    Args:
        path: a folder from :func:`ensure_data`.
    """
    root = Path(path).expanduser().resolve()
    os.environ["GEANT4_DATA_DIR"] = str(root)
    for folder, variable in _REQUIRED_DATASETS.items():
        if (root / folder).is_dir():
            os.environ[variable] = str(root / folder)


def _resolve(official: str | os.PathLike[str] | None) -> tuple[Path, str]:
    """Apply the look-up order of :func:`data_dir`; return the folder and where it came from."""
    if official is not None:
        return Path(official).expanduser(), "the official= argument"
    from_caloforge = os.environ.get("CALOFORGE_G4DATA", "")
    if from_caloforge:
        return Path(from_caloforge).expanduser(), "$CALOFORGE_G4DATA"
    from_geant4 = os.environ.get("GEANT4_DATA_DIR", "")
    if from_geant4:
        candidate = Path(from_geant4).expanduser()
        stamp = _read_stamp(candidate)
        if (candidate / _EMLOW).is_dir() and (stamp is None or stamp.get("version") == DATA_VERSION):
            return candidate, "$GEANT4_DATA_DIR"
    cache = os.environ.get("XDG_CACHE_HOME", "") or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "caloforge" / f"g4data-v{DATA_VERSION}", "stand-in"


def _check_official(path: Path, origin: str) -> None:
    """Raise a one-line SimulationError if an official data folder lacks what calzone checks."""
    if not path.is_dir():
        msg = f"Geant4 data folder {path} (from {origin}) does not exist"
        raise SimulationError(msg)
    missing = [name for name in _REQUIRED_DATASETS if not (path / name).is_dir()]
    if missing:
        msg = (
            f"Geant4 data folder {path} (from {origin}) lacks {', '.join(missing)}; "
            "Geant4 11.4 needs exactly these versions (unset it to use caloforge's stand-in data)"
        )
        raise SimulationError(msg)


def _read_stamp(path: Path) -> dict | None:
    """Return the parsed stand-in stamp of a tree, or None when there is none or it is unreadable."""
    try:
        return json.loads((path / _STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _is_current_standin(path: Path) -> bool:
    """Whether ``path`` is a complete stand-in tree of the current DATA_VERSION."""
    stamp = _read_stamp(path)
    if stamp is None or stamp.get("version") != DATA_VERSION:
        return False
    return all((path / name).is_dir() for name in _REQUIRED_DATASETS)


def _build_atomically(final: Path, *, progress: bool) -> Path:
    """Build into a temporary sibling, then rename it into place; the first finished process wins."""
    final.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{final.name}.build-", dir=final.parent))
    try:
        work.chmod(0o755)  # mkdtemp makes it private; the finished tree is ordinary read-only data
        build_standin(work, progress=progress)
        if _read_stamp(work) is None:
            msg = f"stand-in Geant4 data build in {work} wrote no {_STAMP}"
            raise SimulationError(msg)
        for _ in range(3):
            try:
                os.rename(work, final)
                if progress:
                    print(f"caloforge: stand-in Geant4 data ready in {final}", file=sys.stderr)
                return final
            except OSError:  # the target exists: another process finished first, or a stale tree
                if _is_current_standin(final):
                    return final
                _discard_stale(final)
        msg = f"could not move the stand-in Geant4 data into {final}"
        raise SimulationError(msg)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _discard_stale(final: Path) -> None:
    """Move an outdated or incomplete tree out of the way (atomically), then delete it."""
    trash = final.with_name(f".{final.name}.stale-{uuid.uuid4().hex[:8]}")
    try:
        os.rename(final, trash)
    except OSError:  # vanished meanwhile, or another process is replacing it
        return
    shutil.rmtree(trash, ignore_errors=True)


# ---------------------------------------------------------------------------------------------------
# The builder
# ---------------------------------------------------------------------------------------------------


def build_standin(dest: str | os.PathLike[str], *, progress: bool = False) -> None:
    """Write the stand-in Geant4 data tree for EM options 0-3 into ``dest``, stamp last.

    Not atomic by itself: :func:`ensure_data` calls it on a temporary folder. Takes a few seconds.

    Args:
        dest: folder to fill (created if needed); it becomes a ``GEANT4_DATA_DIR``.
        progress: print one line per stage to stderr.
    """
    root = Path(dest)
    root.mkdir(parents=True, exist_ok=True)
    stages: tuple[tuple[str, Callable[[Path], None]], ...] = (
        ("data-set folders", _build_skeleton),
        ("gamma-nuclear cross sections", _build_gamma_nuclear),
        ("Seltzer-Berger bremsstrahlung tables", _build_bremsstrahlung),
        ("photoelectric cross sections", _build_photoelectric),
        ("Rayleigh cross sections", _build_rayleigh),
        ("atomic binding energies", _build_binding),
        ("fluorescence transitions", _build_fluorescence),
        ("Auger placeholders", _build_auger),
        ("ion stopping powers", _build_ion_stopping),
    )
    start = time.perf_counter()
    with warnings.catch_warnings():  # xraydb warns at the edges of the Elam range, by design here
        warnings.simplefilter("ignore", UserWarning)
        for number, (label, build) in enumerate(stages, start=1):
            if progress:
                print(f"caloforge: stand-in Geant4 data {number}/{len(stages)}: {label}", file=sys.stderr)
            build(root)
    _write_stamp(root)
    if progress:
        print(f"caloforge: stand-in Geant4 data built in {time.perf_counter() - start:.1f} s", file=sys.stderr)


def _write_stamp(root: Path) -> None:
    """Write the stamp that marks a complete tree: version, sources, and exact vs approximate files."""
    import xraydb

    stamp = {
        "format": "caloforge stand-in Geant4 data",
        "version": DATA_VERSION,
        "geant4": "11.4",
        "xraydb": getattr(xraydb, "__version__", "unknown"),
        "numpy": np.__version__,
        "built": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "physics": "G4EmStandardPhysics options 0-3 (option 4, livermore, penelope: not covered)",
        "contents": list(_CONTENTS),
    }
    (root / _STAMP).write_text(json.dumps(stamp, indent=1) + "\n", encoding="utf-8")


def _write(path: Path, text: str) -> None:
    """Write one data file, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="ascii")


def _pv_text(energies: np.ndarray, values: np.ndarray) -> str:
    """Format a G4PhysicsVector in its ascii form: ``emin emax n``, ``n``, then n lines ``E value``."""
    n = len(energies)
    if n < 2:  # Geant4 rejects shorter vectors with a fatal error
        msg = "a Geant4 physics vector needs at least two nodes"
        raise ValueError(msg)
    body = "\n".join(f"{e:.10g} {v:.8g}" for e, v in zip(energies, values, strict=True))
    return f"{energies[0]:.10g} {energies[-1]:.10g} {n}\n{n}\n{body}\n"


def _log_grid(emin: float, emax: float, per_decade: int) -> np.ndarray:
    """Log-spaced nodes from emin to emax, both included, about per_decade per factor 10."""
    n = max(2, round(per_decade * math.log10(emax / emin)) + 1)
    return np.geomspace(emin, emax, n)


def _build_skeleton(root: Path) -> None:
    """PLACEHOLDER: the twelve data-set folders calzone checks (empty where EM never looks).

    ``ENSDFSTATE.dat`` is the one file that may be empty (G4NuclideTable reads it to EOF).
    """
    for name in _REQUIRED_DATASETS:
        (root / name).mkdir(parents=True, exist_ok=True)
    _write(root / "G4ENSDFSTATE3.0" / "ENSDFSTATE.dat", "")


# --- Elam data (xraydb) ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Shell:
    """One atomic subshell from the Elam tables."""

    name: str  # "K", "L1", ...
    binding_mev: float
    fluorescence_yield: float
    jump_ratio: float


@dataclass(frozen=True)
class _Line:
    """One fluorescence line from the Elam tables: a vacancy filled from ``origin``."""

    vacancy: str
    origin: str
    energy_mev: float
    intensity: float


@dataclass(frozen=True)
class _Element:
    """What the builders need of one element (Z > 98 carries the data of Z = 98)."""

    z: int
    molar_mass: float  # g/mol
    shells: tuple[_Shell, ...]  # K, L1, L2, ... in Geant4's (EADL) order
    lines: tuple[_Line, ...]

    def to_barn(self, mu: np.ndarray) -> np.ndarray:
        """Convert a mass attenuation coefficient in cm2/g into a cross section per atom in barn."""
        return mu * self.molar_mass / _AVOGADRO / _BARN_CM2


@functools.cache
def _element(z: int) -> _Element:
    """EXACT (Elam via xraydb): molar mass, subshell binding energies, yields, jump ratios, lines."""
    import xraydb

    source = min(z, _Z_ELAM_MAX)
    shells = tuple(
        _Shell(name, edge.energy * 1e-6, edge.fyield, edge.jump_ratio)
        for name, edge in xraydb.xray_edges(source).items()
        if name in _EADL_ID and edge.energy > 0
    )
    lines = tuple(
        _Line(
            _first_level(line.initial_level),
            _first_level(line.final_level),
            line.energy * 1e-6,
            line.intensity,
        )
        for line in xraydb.xray_lines(source).values()
        if line.energy > 0 and line.intensity > 0
    )
    return _Element(source, float(xraydb.atomic_mass(source)), shells, lines)


def _first_level(level: str) -> str:
    """Map a combined Elam level ("M4,5", "N6,7") to its first subshell ("M4", "N6")."""
    return level.split(",")[0].strip()


def _mu_elam(element: _Element, energies_mev: np.ndarray, kind: str) -> np.ndarray:
    """EXACT (Elam via xraydb) inside 100 eV-800 keV: mass attenuation in cm2/g, for ``kind``."""
    import xraydb

    return np.asarray(xraydb.mu_elam(element.z, energies_mev * 1e6, kind=kind), dtype=float)


# --- gamma-nuclear (G4PARTICLEXS) ------------------------------------------------------------------


def _build_gamma_nuclear(root: Path) -> None:
    """APPROXIMATION: giant-dipole resonance as a Lorentzian that satisfies the TRK sum rule.

    E0 = 31.2 A^-1/3 + 20.6 A^-1/6 MeV, width 5 MeV, integral 60 NZ/A mb MeV, zero below 7 MeV;
    201 equally spaced nodes on 0-40 MeV (G4GammaNuclearXS reads most Z as a linear-binned vector),
    sigma in mm2. Geant4 joins the table end linearly to its CHIPS value at 150 MeV.
    """
    energies = np.linspace(0.0, 40.0, 201)
    width = 5.0
    for z in _Z_GAMMA_NUCLEAR:
        a = round(_element(z).molar_mass)
        n = a - z
        peak = 31.2 * a ** (-1 / 3) + 20.6 * a ** (-1 / 6)
        sigma0 = 60.0 * n * z / a / (0.5 * math.pi * width)  # mb, so that the integral is 60 NZ/A
        e2 = energies**2
        sigma_mb = sigma0 * e2 * width**2 / ((e2 - peak**2) ** 2 + e2 * width**2)
        sigma_mb[energies < 7.0] = 0.0
        _write(root / "G4PARTICLEXS4.2" / "gamma" / f"inel{z}", _pv_text(energies, sigma_mb * _MB_MM2))


# --- bremsstrahlung (G4SeltzerBergerModel) ---------------------------------------------------------

# Seltzer-Berger grid: kappa = k/T in [0, 1] (dense near the tip) and ln(T/MeV) from 1 keV to 10 GeV
# (Geant4 evaluates the table at kappa = 0.97, T = 10 GeV at start-up, so it must reach that far).
_SB_KAPPA = np.array(
    [
        0.0,
        0.025,
        0.05,
        0.075,
        0.1,
        0.15,
        0.2,
        0.25,
        0.3,
        0.35,
        0.4,
        0.45,
        0.5,
        0.55,
        0.6,
        0.65,
        0.7,
        0.75,
        0.8,
        0.85,
        0.9,
        0.925,
        0.95,
        0.97,
        0.99,
        0.995,
        0.999,
        0.9995,
        0.9999,
        1.0,
    ]
)
_SB_LOG_T = np.log(1e-3) + np.arange(57) * (np.log(10.0) / 8)  # 8 nodes per decade, 1 keV .. 10 GeV
_SB_LOW_T, _SB_HIGH_T = 2.0, 20.0  # MeV: 3BN below, Tsai above, log-T blend between

# Tsai's radiation logarithms for Z < 5 (Rev. Mod. Phys. 46, table B.2); Thomas-Fermi values above.
_TSAI_LRAD = {1: (5.31, 6.144), 2: (4.79, 5.621), 3: (4.74, 5.805), 4: (4.71, 5.924)}


def _build_bremsstrahlung(root: Path) -> None:
    """APPROXIMATION: scaled bremsstrahlung DCS chi = (beta^2/Z^2) k dsigma/dk in mb, per Z.

    The real tables are partial-wave results; here 3BN x Elwert (T <= 2 MeV) and Tsai (T >= 20 MeV)
    are blended. File: ``type nx ny``, the kappa nodes, the ln(T) nodes, then ny rows of nx values.
    """
    header_x = " ".join(f"{x:.6g}" for x in _SB_KAPPA)
    header_y = " ".join(f"{y:.10g}" for y in _SB_LOG_T)
    for z in _Z_EM:
        chi = _sb_table(z)
        rows = "\n".join(" ".join(f"{v:.6g}" for v in row) for row in chi)
        text = f"2 {len(_SB_KAPPA)} {len(_SB_LOG_T)}\n{header_x}\n{header_y}\n{rows}\n"
        _write(root / _EMLOW / "brem_SB" / f"br{z}", text)


def _sb_table(z: int) -> np.ndarray:
    """APPROXIMATION: chi on the (ln T, kappa) grid, shape (57, 30), mb, never negative."""
    kinetic = np.exp(_SB_LOG_T)
    weight = np.clip(np.log(kinetic / _SB_LOW_T) / np.log(_SB_HIGH_T / _SB_LOW_T), 0.0, 1.0)[:, None]
    chi = (1.0 - weight) * _chi_3bn_elwert(z, kinetic, _SB_KAPPA) + weight * _chi_tsai(z, kinetic, _SB_KAPPA)
    return np.maximum(chi, 0.0)


def _chi_3bn_elwert(z: int, kinetic_mev: np.ndarray, kappa: np.ndarray) -> np.ndarray:
    """Koch-Motz 3BN (Born, unscreened) times the Elwert factor, as chi in mb.

    Screening enters only as a floor on the photon fraction: below the k where the minimum momentum
    transfer q_min = p0 - p - k falls under 1/a_TF (a_TF = 121 Z^-1/3 in m_e c units), chi is held at
    its value there. The tip (kappa -> 1) is evaluated at kappa = 0.999, where the formula is finite.
    """
    t = kinetic_mev[:, None] / _ME
    e0 = t + 1.0
    p0 = np.sqrt(e0**2 - 1.0)
    q_screen = z ** (1 / 3) / 121.0
    k_screen = (p0**2 - (p0 - q_screen) ** 2) / (2.0 * (e0 - p0 + q_screen))  # where q_min = 1/a_TF
    k = np.minimum(kappa[None, :], 0.999) * t
    k = np.maximum(k, np.minimum(k_screen, 0.999 * t))
    e = e0 - k
    p = np.sqrt(e**2 - 1.0)
    eps0 = np.log((e0 + p0) / (e0 - p0))
    eps = np.log((e + p) / (e - p))
    big_l = 2.0 * np.log((e0 * e + p0 * p - 1.0) / k)
    pp, pp3 = p0 * p, p0**3 * p**3
    outside_log = 4.0 / 3.0 - 2.0 * e0 * e * (p**2 + p0**2) / pp**2
    outside_log = outside_log + eps0 * e / p0**3 + eps * e0 / p**3 - eps * eps0 / pp
    inner = eps0 * (e0 * e + p0**2) / p0**3 - eps * (e0 * e + p**2) / p**3 + 2.0 * k * e0 * e / pp**2
    with_log = 8.0 * e0 * e / (3.0 * pp) + k**2 * (e0**2 * e**2 + pp**2) / pp3 + k / (2.0 * pp) * inner
    bracket = outside_log + big_l * with_log
    beta0, beta = p0 / e0, p / e
    coulomb_phase = -2.0 * np.pi * _ALPHA * z
    elwert = (beta0 / beta) * np.expm1(coulomb_phase / beta0) / np.expm1(coulomb_phase / beta)
    return beta0**2 * _ALPHA_R0SQ_MB * (p / p0) * bracket * elwert


def _chi_tsai(z: int, kinetic_mev: np.ndarray, kappa: np.ndarray) -> np.ndarray:
    """Tsai's screened DCS (Thomas-Fermi screening functions, atomic-electron term), as chi in mb.

    The Davies-Bethe-Maximon Coulomb correction f(Z) is faded in as 1 - exp(-T/50 MeV). Each of the
    nuclear and electron terms is clipped at zero near the tip, where the formula is not valid.
    """
    t = kinetic_mev[:, None] / _ME
    e = t + 1.0
    k = kappa[None, :] * t
    e_final = e - k
    y = k / e
    gamma = 100.0 * k / (e * e_final * z ** (1 / 3))
    epsilon = 100.0 * k / (e * e_final * z ** (2 / 3))
    # screening functions relative to complete screening: phi1(gamma) - phi1(0), psi1(eps) - psi1(0)
    d_phi1 = -2.0 * np.log1p((0.55846 * gamma) ** 2) - 4.0
    d_phi1 = d_phi1 + 2.4 * np.exp(-0.9 * gamma) + 1.6 * np.exp(-1.5 * gamma)
    d_psi1 = -2.0 * np.log1p((3.621 * epsilon) ** 2) - 4.0
    d_psi1 = d_psi1 + 2.8 * np.exp(-8.0 * epsilon) + 1.2 * np.exp(-29.2 * epsilon)
    phi1_minus_phi2 = (2.0 / 3.0) / (1.0 + 6.5 * gamma + 6.0 * gamma**2)
    psi1_minus_psi2 = (2.0 / 3.0) / (1.0 + 40.0 * epsilon + 400.0 * epsilon**2)
    thomas_fermi = (math.log(184.15 * z ** (-1 / 3)), math.log(1194.0 * z ** (-2 / 3)))
    l_rad, l_rad_prime = _TSAI_LRAD.get(z, thomas_fermi)
    a2 = (_ALPHA * z) ** 2
    coulomb = a2 * (1 / (1 + a2) + 0.20206 - 0.0369 * a2 + 0.0083 * a2**2 - 0.002 * a2**3)
    coulomb = coulomb * -np.expm1(-kinetic_mev[:, None] / 50.0)
    nuclear = np.maximum(4.0 * l_rad + d_phi1 - 4.0 * coulomb, 0.0)
    electrons = np.maximum(4.0 * l_rad_prime + d_psi1, 0.0)
    dcs = (4 / 3 - 4 / 3 * y + y**2) * (z**2 * nuclear + z * electrons) + (2 / 3) * (1 - y) * (
        z**2 * phi1_minus_phi2 + z * psi1_minus_psi2
    )
    beta2 = 1.0 - 1.0 / e**2
    return beta2 * _ALPHA_R0SQ_MB * dcs / z**2


# --- photoelectric effect (G4LivermorePhotoElectricModel, epics2017 layout) ------------------------


@dataclass(frozen=True)
class _PhotoTables:
    """The photoelectric file contents of one element."""

    high: str  # pe-high and pe-low (identical: the fit branch is disabled)
    total: str  # pe-cs: at and above the first row's binding energy
    below: str | None  # pe-le-cs: below it (only read when there is more than one row)
    shells: str | None  # pe-ss-cs: per-shell split (only read when there is more than one shell)


def _build_photoelectric(root: Path) -> None:
    """EXACT total (Elam) 100 eV-800 keV, 1/E above; APPROXIMATE shell split (jump ratios).

    Rows of pe-high / pe-low are the subshells K, L1, ... whose edge is >= 100 eV (the leading ones, so
    that row i is Geant4's shell i for de-excitation); light elements without such an edge get one
    pseudo-shell at their K binding energy. The threshold of the fit branch is 1e12 MeV (never used).
    Cross sections are written as sigma*E^3 in barn MeV^3 (the reader multiplies by barn).
    """
    folder = root / _EMLOW / "epics2017" / "phot"
    tables: dict[int, _PhotoTables] = {}
    for z in _Z_EM:
        source = min(z, _Z_ELAM_MAX)
        if source not in tables:
            tables[source] = _photo_tables(_element(source))
        t = tables[source]
        _write(folder / f"pe-high-{z}.dat", t.high)
        _write(folder / f"pe-low-{z}.dat", t.high)
        _write(folder / f"pe-cs-{z}.dat", t.total)
        if t.below is not None:
            _write(folder / f"pe-le-cs-{z}.dat", t.below)
        if t.shells is not None:
            _write(folder / f"pe-ss-cs-{z}.dat", t.shells)


def _photo_rows(element: _Element) -> tuple[_Shell, ...]:
    """The leading subshells with an edge inside the Elam range, or one pseudo-shell (K)."""
    rows: list[_Shell] = []
    for shell in element.shells:
        if shell.binding_mev * 1e6 < _ELAM_EMIN_EV:
            break
        rows.append(shell)
    return tuple(rows) if rows else element.shells[:1]


def _photo_nodes(element: _Element) -> tuple[np.ndarray, np.ndarray]:
    """Energy nodes (MeV) and where to evaluate them: 400 log points plus both sides of each edge.

    Each edge E gets a node at E(1 - 1e-4) with the value below it, and a node at E with the value
    just above it (at E(1 + 1e-4)), so that linear interpolation keeps the jump sharp.
    """
    emin, emax = _ELAM_EMIN_EV * 1e-6, _ELAM_EMAX_EV * 1e-6
    grid = np.geomspace(emin, emax, 400)
    edges = np.array([s.binding_mev for s in element.shells if emin < s.binding_mev < emax])
    nodes = np.concatenate([grid, edges * (1 - 1e-4), edges])
    where = np.concatenate([grid, edges * (1 - 1e-4), edges * (1 + 1e-4)])
    order = np.argsort(nodes, kind="stable")
    nodes, where = nodes[order], where[order]
    keep = np.concatenate([[True], np.diff(nodes) > 1e-9 * nodes[1:]])
    return nodes[keep], where[keep]


def _photo_tables(element: _Element) -> _PhotoTables:
    """Build the four kinds of photoelectric file for one element."""
    rows = _photo_rows(element)
    nodes, where = _photo_nodes(element)
    sigma = element.to_barn(_mu_elam(element, where, "photo"))
    # APPROXIMATION above 800 keV: sigma ~ 1/E up to 100 GeV (photoeffect < 1 % of attenuation there)
    tail = _log_grid(nodes[-1], 1e5, 20)[1:]
    nodes = np.concatenate([nodes, tail])
    sigma = np.concatenate([sigma, sigma[-1] * nodes[-len(tail) - 1] / tail])

    first = rows[0].binding_mev
    above = nodes >= first * (1 - 1e-9)
    e3 = nodes**3
    total = _pv_text(nodes[above], sigma[above] * e3[above])
    below = _pv_text(nodes[~above], sigma[~above] * e3[~above]) if len(rows) > 1 else None
    shells = _shell_split_text(rows, nodes, sigma) if len(rows) > 1 else None

    lines = [f"{len(rows)} {len(rows)} 1e12"]
    lines += [f"{s.binding_mev:.10g} 0 0 0 0 0 0" for s in rows]
    return _PhotoTables("\n".join(lines) + "\n", total, below, shells)


def _shell_split_text(rows: tuple[_Shell, ...], nodes: np.ndarray, sigma: np.ndarray) -> str:
    """APPROXIMATION: split the total by jump ratios, K first; the last open row takes the rest.

    Above edge s, sigma_s = remaining * (1 - 1/J_s). Each shell's vector starts at its binding energy;
    the header of a shell is ``emin emax n shell_index``, then n lines ``E sigma_s*E^3``.
    """
    binding = np.array([s.binding_mev for s in rows])
    is_open = nodes[:, None] >= binding[None, :] * (1 - 1e-9)  # (nodes, rows)
    last_open = np.where(is_open.any(axis=1), is_open.shape[1] - 1 - np.argmax(is_open[:, ::-1], axis=1), -1)
    remaining = sigma.copy()
    split = np.zeros_like(is_open, dtype=float)
    for i, shell in enumerate(rows):
        fraction = 1.0 - 1.0 / shell.jump_ratio if shell.jump_ratio > 1.0 else 0.0
        part = np.where(is_open[:, i], np.where(last_open == i, remaining, remaining * fraction), 0.0)
        split[:, i] = part
        remaining = remaining - part
    blocks = []
    for i in range(len(rows)):
        mask = is_open[:, i]
        energies, values = nodes[mask], split[mask, i] * nodes[mask] ** 3
        body = "\n".join(f"{e:.10g} {v:.8g}" for e, v in zip(energies, values, strict=True))
        blocks.append(f"{energies[0]:.10g} {energies[-1]:.10g} {len(energies)} {i}\n{body}")
    return "\n".join(blocks) + "\n"


# --- Rayleigh scattering (G4LivermoreRayleighModel) ------------------------------------------------


def _build_rayleigh(root: Path) -> None:
    """EXACT (Elam coherent, xraydb) on 300 log points 100 eV-800 keV: sigma*E^2 in mm2 MeV2.

    The reader does not rescale; above the last node Geant4 uses last value / E^2.
    """
    energies = np.geomspace(_ELAM_EMIN_EV * 1e-6, _ELAM_EMAX_EV * 1e-6, 300)
    folder = root / _EMLOW / "epics2017" / "rayl"
    texts: dict[int, str] = {}
    for z in _Z_EM:
        element = _element(z)
        if element.z not in texts:
            sigma_mm2 = element.to_barn(_mu_elam(element, energies, "coh")) * _BARN_CM2 * 100.0
            texts[element.z] = _pv_text(energies, sigma_mm2 * energies**2)
        _write(folder / f"re-cs-{z}.dat", texts[element.z])


# --- atomic de-excitation (G4ShellData, G4FluoData, G4AugerData) -----------------------------------


def _build_binding(root: Path) -> None:
    """EXACT (Elam edges, xraydb): ``fluor/binding.dat``, pairs ``EADL_id binding[MeV]`` per Z.

    ``-1 -1`` closes each Z = 1..104 in order, ``-2 -2`` ends the file (an empty file hangs Geant4).
    """
    blocks = []
    for z in _Z_ATOMIC:
        pairs = [f"{_EADL_ID[s.name]} {s.binding_mev:.8g}" for s in _element(z).shells]
        blocks.append("\n".join([*pairs, "-1 -1"]))
    _write(root / _EMLOW / "fluor" / "binding.dat", "\n".join(blocks) + "\n-2 -2\n")


def _build_fluorescence(root: Path) -> None:
    """APPROXIMATION: ``fl-tr-pr-{Z}.dat`` from the lines Elam lists, times the fluorescence yield.

    One block per vacancy shell from K to the last one with a line (empty blocks in between, so that
    no vacancy borrows another shell's lines): ``id id id``, then ``origin_id probability E[MeV]``,
    ``-1 -1 -1`` closes a block, ``-2 -2 -2`` ends. Probabilities of a vacancy sum to its yield.
    """
    folder = root / _EMLOW / "fluor"
    for z in _Z_DEEXCITATION:
        _write(folder / f"fl-tr-pr-{z}.dat", _fluorescence_text(_element(z)))


def _fluorescence_text(element: _Element) -> str:
    """Format the fluorescence transitions of one element."""
    shells = {s.name: s for s in element.shells}
    with_lines = [s.name for s in element.shells if any(line.vacancy == s.name for line in element.lines)]
    names = [s.name for s in element.shells]
    last = names.index(with_lines[-1]) if with_lines else 0
    blocks = []
    for name in names[: last + 1]:
        eadl = _EADL_ID[name]
        lines = [line for line in element.lines if line.vacancy == name and line.origin in _EADL_ID]
        total = sum(line.intensity for line in lines)
        rows = [f"{eadl} {eadl} {eadl}"]
        rows += [
            f"{_EADL_ID[line.origin]} {shells[name].fluorescence_yield * line.intensity / total:.6g} "
            f"{line.energy_mev:.8g}"
            for line in lines
        ]
        blocks.append("\n".join([*rows, "-1 -1 -1"]))
    return "\n".join(blocks) + "\n-2 -2 -2\n"


def _build_auger(root: Path) -> None:
    """PLACEHOLDER: ``au-tr-pr-{Z}.dat`` with one K vacancy and no transition (no Auger electrons).

    G4AugerData loads these at start-up even with Auger emission off; an empty file hangs the reader.
    """
    text = "1 1 1 1\n-1 -1 -1 -1\n-2 -2 -2 -2\n"
    for z in _Z_DEEXCITATION:
        _write(root / _EMLOW / "auger" / f"au-tr-pr-{z}.dat", text)


# --- ion stopping powers (G4IonICRU73Data, option 3) -----------------------------------------------


def _build_ion_stopping(root: Path) -> None:
    """APPROXIMATION: electronic stopping of ions Z = 3..80, S in MeV cm2/mg at 0.025-2.5 MeV/u.

    Files are PV ascii on 21 log nodes, the grid G4IonICRU73Data resamples to. Only ions (nuclear
    recoils) use them; a missing file for an element of a compound crashes Geant4, so all are written.
    """
    energies = np.geomspace(0.025, 2.5, 21)
    folder = root / _EMLOW / "ion_stopping_data"
    jobs = (("icru90", range(3, 19), _ICRU90_TARGETS), ("icru73", range(3, 81), _ICRU73_TARGETS))
    for sub, projectiles, targets in jobs:
        for target in targets:
            stopping = _ion_stopping(np.array(projectiles), target, _element(target).molar_mass, energies)
            for zp, values in zip(projectiles, stopping, strict=True):
                _write(folder / sub / f"z{zp}_{target}.dat", _pv_text(energies, values))


def _ion_stopping(zp: np.ndarray, z2: int, a2: float, energy_per_u: np.ndarray) -> np.ndarray:
    """Bethe with ln(1+x), Pierce-Blann charge, Bloch I = 10 Z eV, harmonic with Lindhard-Scharff.

    Returns shape (len(zp), len(energy_per_u)), MeV cm2/mg.
    """
    zp = zp[:, None].astype(float)
    gamma = 1.0 + energy_per_u[None, :] / _AMU
    beta2 = 1.0 - 1.0 / gamma**2
    velocity = np.sqrt(beta2) / _ALPHA  # in Bohr velocities
    z_eff = zp * -np.expm1(-0.95 * velocity * zp ** (-2 / 3))
    mean_excitation = 10.0 * z2 * 1e-6  # MeV
    bethe = 0.307075 * z_eff**2 * z2 / a2 / beta2 * np.log1p(2 * _ME * beta2 * gamma**2 / mean_excitation)
    # Lindhard-Scharff: eV / (1e15 atoms/cm2) at sqrt(E[keV/u]); converted to MeV cm2/g
    lindhard_ev = 1.212 * zp ** (7 / 6) * z2 / (zp ** (2 / 3) + z2 ** (2 / 3)) ** 1.5
    lindhard = lindhard_ev * np.sqrt(energy_per_u[None, :] * 1e3) * (1e-6 * 1e-15 * _AVOGADRO / a2)
    return 1e-3 / (1.0 / bethe + 1.0 / lindhard)
