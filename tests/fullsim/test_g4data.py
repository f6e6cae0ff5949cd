"""Tests of caloforge.fullsim.g4data: atomic versioned build, Geant4 file formats, physics, one Geant4 run."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from caloforge.errors import SimulationError
from caloforge.fullsim import g4data

LOOKUP_VARIABLES = ("CALOFORGE_G4DATA", "GEANT4_DATA_DIR", "XDG_CACHE_HOME")
DATASETS = tuple(g4data._REQUIRED_DATASETS)


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real stand-in tree, built once per module through ensure_data into a private cache."""
    cache = tmp_path_factory.mktemp("xdg-cache")
    with pytest.MonkeyPatch.context() as mp:
        for name in LOOKUP_VARIABLES:
            mp.delenv(name, raising=False)
        mp.setenv("XDG_CACHE_HOME", str(cache))
        return g4data.ensure_data()


@pytest.fixture
def cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty stand-in cache location with no official data configured; returns the final path."""
    for name in LOOKUP_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "caloforge" / f"g4data-v{g4data.DATA_VERSION}"


def fake_build(dest: Path, *, progress: bool = False) -> None:
    """A tiny stand-in for build_standin: the data-set folders and the stamp, nothing else."""
    for name in DATASETS:
        (Path(dest) / name).mkdir(parents=True, exist_ok=True)
    g4data._write_stamp(Path(dest))


def stamp_of(path: Path) -> dict:
    return json.loads((path / "caloforge-standin.json").read_text())


def read_pv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Parse a G4PhysicsVector ascii file as G4PhysicsVector::Retrieve does, checking its header."""
    tokens = path.read_text().split()
    emin, emax, n, n_again = float(tokens[0]), float(tokens[1]), int(tokens[2]), int(tokens[3])
    pairs = np.array(tokens[4:], dtype=float)
    assert n >= 2 and n == n_again and pairs.size == 2 * n, path
    energies, values = pairs[0::2], pairs[1::2]
    assert energies[0] == emin and energies[-1] == emax, path
    assert np.all(np.diff(energies) > 0), path
    return energies, values


def read_sb(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse a Seltzer-Berger table as G4Physics2DVector::Retrieve does: kappa, ln T, chi (ny, nx)."""
    tokens = path.read_text().split()
    nx, ny = int(tokens[1]), int(tokens[2])
    kappa = np.array(tokens[3 : 3 + nx], dtype=float)
    log_t = np.array(tokens[3 + nx : 3 + nx + ny], dtype=float)
    chi = np.array(tokens[3 + nx + ny :], dtype=float)
    assert chi.size == nx * ny, path
    return kappa, log_t, chi.reshape(ny, nx)


# --- location, atomic build, versioning ----------------------------------------------------------


def test_build_lands_stamped_in_the_versioned_cache(standin: Path):
    assert standin.name == f"g4data-v{g4data.DATA_VERSION}"
    assert standin.parent.name == "caloforge"
    assert [p.name for p in standin.parent.iterdir()] == [standin.name]  # no build or stale leftovers
    stamp = stamp_of(standin)
    assert stamp["version"] == g4data.DATA_VERSION
    assert stamp["xraydb"] and stamp["built"]
    assert {entry["kind"] for entry in stamp["contents"]} == {"exact", "approximation", "placeholder"}
    assert all((standin / name).is_dir() for name in DATASETS)


def test_second_call_does_not_rebuild(standin: Path, monkeypatch: pytest.MonkeyPatch):
    for name in LOOKUP_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(standin.parent.parent))
    calls = []
    monkeypatch.setattr(g4data, "build_standin", lambda dest, **kw: calls.append(dest))
    before = (standin / "caloforge-standin.json").stat().st_mtime_ns
    assert g4data.ensure_data() == standin
    assert calls == []
    assert (standin / "caloforge-standin.json").stat().st_mtime_ns == before


def test_stale_stamp_version_triggers_a_rebuild(cache: Path, monkeypatch: pytest.MonkeyPatch):
    fake_build(cache)
    old = stamp_of(cache) | {"version": "0"}
    (cache / "caloforge-standin.json").write_text(json.dumps(old))
    (cache / "old-file").write_text("from version 0")
    calls = []
    monkeypatch.setattr(g4data, "build_standin", lambda dest, **kw: (calls.append(dest), fake_build(dest)))
    assert g4data.ensure_data() == cache
    assert len(calls) == 1 and calls[0] != cache  # built beside, then renamed into place
    assert stamp_of(cache)["version"] == g4data.DATA_VERSION
    assert not (cache / "old-file").exists()
    assert [p.name for p in cache.parent.iterdir()] == [cache.name]


def test_loser_of_a_build_race_discards_its_copy(cache: Path, monkeypatch: pytest.MonkeyPatch):
    def build_while_another_process_finishes(dest: Path, **kw: object) -> None:
        fake_build(dest)
        fake_build(cache)  # the other process renames its tree into place first
        (cache / "winner").write_text("")

    monkeypatch.setattr(g4data, "build_standin", build_while_another_process_finishes)
    assert g4data.ensure_data() == cache
    assert (cache / "winner").exists()
    assert [p.name for p in cache.parent.iterdir()] == [cache.name]


def test_interrupted_build_leaves_nothing_that_looks_complete(cache: Path, monkeypatch: pytest.MonkeyPatch):
    def crash(dest: Path, **kw: object) -> None:
        (Path(dest) / "G4EMLOW8.8").mkdir()
        raise KeyboardInterrupt

    monkeypatch.setattr(g4data, "build_standin", crash)
    with pytest.raises(KeyboardInterrupt):
        g4data.ensure_data()
    assert not cache.exists()
    assert list(cache.parent.iterdir()) == []


# --- official data and environment -----------------------------------------------------------------


def test_official_folder_lacking_a_data_set_names_it(tmp_path: Path):
    for name in DATASETS:
        if name != "G4PARTICLEXS4.2":
            (tmp_path / name).mkdir()
    with pytest.raises(SimulationError, match=r"lacks G4PARTICLEXS4\.2;") as error:
        g4data.ensure_data(official=tmp_path)
    assert "\n" not in str(error.value) and "official= argument" in str(error.value)
    with pytest.raises(SimulationError, match="does not exist"):
        g4data.ensure_data(official=tmp_path / "nowhere")


def test_official_folder_is_used_unchanged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for name in DATASETS:
        (tmp_path / name).mkdir()
    for name in LOOKUP_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CALOFORGE_G4DATA", str(tmp_path))
    assert g4data.ensure_data() == tmp_path
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(DATASETS)  # nothing written there


def test_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    official, geant4 = tmp_path / "official", tmp_path / "geant4"
    (geant4 / "G4EMLOW8.8").mkdir(parents=True)
    for name in LOOKUP_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    standin = tmp_path / "xdg" / "caloforge" / f"g4data-v{g4data.DATA_VERSION}"
    assert g4data.data_dir() == standin
    monkeypatch.setenv("GEANT4_DATA_DIR", str(tmp_path / "empty"))  # no G4EMLOW8.8: not data
    assert g4data.data_dir() == standin
    monkeypatch.setenv("GEANT4_DATA_DIR", str(geant4))
    assert g4data.data_dir() == geant4
    (geant4 / "caloforge-standin.json").write_text(json.dumps({"version": "0"}))  # an old stand-in
    assert g4data.data_dir() == standin
    monkeypatch.setenv("CALOFORGE_G4DATA", str(official))
    assert g4data.data_dir() == official
    assert g4data.data_dir(official=tmp_path) == tmp_path


def test_configure_environment_overrides_stale_variables(standin: Path, monkeypatch: pytest.MonkeyPatch):
    variables = ["GEANT4_DATA_DIR", *g4data._REQUIRED_DATASETS.values()]
    for name in variables:
        monkeypatch.setenv(name, "/stale/geant4/data")  # also restores the caller's values afterwards
    g4data.configure_environment(standin)
    assert os.environ["GEANT4_DATA_DIR"] == str(standin.resolve())
    assert os.environ["G4LEDATA"] == str(standin.resolve() / "G4EMLOW8.8")
    assert all(os.environ[name].startswith(str(standin.resolve())) for name in variables)


# --- file formats ------------------------------------------------------------------------------------


def test_pv_ascii_round_trip(tmp_path: Path):
    energies = np.geomspace(1e-4, 1e5, 37)
    values = np.sin(energies) ** 2 + 1e-3
    path = tmp_path / "vector"
    path.write_text(g4data._pv_text(energies, values))
    e, v = read_pv(path)
    np.testing.assert_allclose(e, energies, rtol=1e-9)
    np.testing.assert_allclose(v, values, rtol=1e-7)
    with pytest.raises(ValueError, match="two nodes"):
        g4data._pv_text(energies[:1], values[:1])


def test_every_element_geant4_asks_for_is_there(standin: Path):
    emlow = standin / "G4EMLOW8.8"
    expected = [standin / "G4PARTICLEXS4.2" / "gamma" / f"inel{z}" for z in range(1, 95)]
    for z in range(1, 101):
        expected += [emlow / "brem_SB" / f"br{z}", emlow / "epics2017" / "rayl" / f"re-cs-{z}.dat"]
        expected += [emlow / "epics2017" / "phot" / f"pe-{kind}-{z}.dat" for kind in ("cs", "high", "low")]
    for z in range(6, 105):
        expected += [emlow / "fluor" / f"fl-tr-pr-{z}.dat", emlow / "auger" / f"au-tr-pr-{z}.dat"]
    expected += [emlow / "ion_stopping_data" / "icru73" / f"z{zp}_{t}.dat" for zp in (3, 80) for t in (5, 79)]
    expected += [emlow / "ion_stopping_data" / "icru90" / f"z{zp}_{t}.dat" for zp in (3, 18) for t in (1, 8)]
    assert [p for p in expected if not p.is_file()] == []
    files = [p for p in standin.rglob("*") if p.is_file()]
    empty = [p.relative_to(standin).as_posix() for p in files if p.stat().st_size == 0]
    assert empty == ["G4ENSDFSTATE3.0/ENSDFSTATE.dat"]  # any other empty file hangs or kills Geant4


def test_vectors_parse_with_the_grids_geant4_needs(standin: Path):
    e, sigma = read_pv(standin / "G4PARTICLEXS4.2" / "gamma" / "inel82")
    np.testing.assert_allclose(np.diff(e), np.diff(e)[0], rtol=1e-9)  # read as a linear-binned vector
    assert sigma.max() > 0 and sigma.min() >= 0
    e, _ = read_pv(standin / "G4EMLOW8.8" / "ion_stopping_data" / "icru73" / "z6_14.dat")
    assert len(e) == 21 and e[0] == 0.025 and e[-1] == 2.5
    for name in ("phot/pe-cs-74.dat", "phot/pe-le-cs-74.dat", "rayl/re-cs-74.dat", "phot/pe-cs-1.dat"):
        _, values = read_pv(standin / "G4EMLOW8.8" / "epics2017" / name)
        assert np.all(values > 0), name


def test_seltzer_berger_table_covers_kappa_0_to_1_and_t_to_10_gev(standin: Path):
    for z in (1, 14, 74, 100):
        kappa, log_t, chi = read_sb(standin / "G4EMLOW8.8" / "brem_SB" / f"br{z}")
        assert kappa[0] == 0.0 and kappa[-1] == 1.0 and np.all(np.diff(kappa) > 0)
        assert log_t[0] <= math.log(1e-3) + 1e-9 and log_t[-1] >= math.log(1e4)
        assert np.all(np.isfinite(chi)) and chi.min() >= 0 and chi[:, 0].min() > 0


def test_photoelectric_shells_add_up_to_the_total(standin: Path):
    phot = standin / "G4EMLOW8.8" / "epics2017" / "phot"
    header = (phot / "pe-high-74.dat").read_text().split()
    n_rows, n_shells = int(header[0]), int(header[1])
    rows = np.array(header[3:], dtype=float).reshape(n_rows, 7)
    assert n_rows == n_shells == 14  # W: K, L1-3, M1-5, N1-5 (edges >= 100 eV)
    assert rows[0, 0] == pytest.approx(69.525e-3) and np.all(rows[:, 1:] == 0)
    assert (phot / "pe-low-74.dat").read_text() == (phot / "pe-high-74.dat").read_text()
    tokens = (phot / "pe-ss-cs-74.dat").read_text().split()
    shells, i = {}, 0
    while i < len(tokens):
        n, index = int(tokens[i + 2]), int(tokens[i + 3])
        pairs = np.array(tokens[i + 4 : i + 4 + 2 * n], dtype=float)
        shells[index] = (pairs[0::2], pairs[1::2])
        i += 4 + 2 * n
    assert sorted(shells) == list(range(n_shells))
    for index, (energies, _) in shells.items():
        assert energies[0] == pytest.approx(rows[index, 0])  # each shell starts at its binding energy
    e_total, total = read_pv(phot / "pe-cs-74.dat")
    summed = sum(np.interp(e_total, *shells[k], left=0.0) for k in shells)
    np.testing.assert_allclose(summed, total, rtol=1e-6)


def test_deexcitation_files_are_closed_as_the_readers_expect(standin: Path):
    fluor = standin / "G4EMLOW8.8" / "fluor"
    binding = (fluor / "binding.dat").read_text().split("\n")
    assert binding.count("-1 -1") == 104 and binding[-2] == "-2 -2"
    blocks = (fluor / "fl-tr-pr-74.dat").read_text().strip().split("-1 -1 -1")
    assert blocks[-1].strip() == "-2 -2 -2"
    k_block = np.array(blocks[0].split(), dtype=float)
    assert k_block[:3].tolist() == [1, 1, 1]  # vacancy id, as the header of a block
    k_lines = k_block[3:].reshape(-1, 3)
    assert k_lines[:, 1].sum() == pytest.approx(0.983, abs=2e-3)  # = W K fluorescence yield
    assert k_lines[:, 2].max() < 69.525e-3  # line energies below the K edge, MeV
    assert (standin / "G4EMLOW8.8" / "auger" / "au-tr-pr-74.dat").read_text().split()[-4:] == ["-2"] * 4


# --- physics -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("z", "molar_mass", "density", "x0_pdg_cm"),
    [(74, 183.84, 19.30, 0.3504), (82, 207.2, 11.35, 0.5612)],
    ids=["W", "Pb"],
)
def test_radiation_length_from_the_brems_table(
    standin: Path, z: int, molar_mass: float, density: float, x0_pdg_cm: float
):
    """1/X0 = n * integral of k dsigma/dk over k at 1 GeV, with k dsigma/dk = Z^2 chi / beta^2 mb."""
    kappa, log_t, chi = read_sb(standin / "G4EMLOW8.8" / "brem_SB" / f"br{z}")
    kinetic = 1000.0
    row = np.array([np.interp(math.log(kinetic), log_t, column) for column in chi.T])
    total = kinetic + 0.51099895
    beta2 = 1.0 - (0.51099895 / total) ** 2
    loss_per_atom = z**2 / beta2 * np.trapezoid(row, kappa) * kinetic * 1e-27  # MeV cm2
    x0 = total / (density * 6.02214076e23 / molar_mass * loss_per_atom)
    assert x0 == pytest.approx(x0_pdg_cm, rel=0.02)


def test_photon_cross_sections_carry_the_right_units(standin: Path):
    """sigma*E^3 in barn MeV^3 (photoelectric) and sigma*E^2 in mm2 MeV^2 (Rayleigh), W at 60 keV."""
    import xraydb

    energy, to_cm2_per_g = 0.06, 6.02214076e23 / 183.84
    e, v = read_pv(standin / "G4EMLOW8.8" / "epics2017" / "phot" / "pe-le-cs-74.dat")
    photo = np.interp(energy, e, v) / energy**3 * 1e-24 * to_cm2_per_g
    e, v = read_pv(standin / "G4EMLOW8.8" / "epics2017" / "rayl" / "re-cs-74.dat")
    coherent = np.interp(energy, e, v) / energy**2 * 1e-2 * to_cm2_per_g
    assert photo == pytest.approx(xraydb.mu_elam(74, energy * 1e6, kind="photo"), rel=5e-3)
    assert coherent == pytest.approx(xraydb.mu_elam(74, energy * 1e6, kind="coh"), rel=5e-3)


GEANT4_RUN = textwrap.dedent(
    """
    import json, sys
    from caloforge.fullsim.g4data import configure_environment
    configure_environment(sys.argv[1])  # before calzone is imported
    import calzone
    import numpy as np

    depth, n, energy = 22.26, 20, 1000.0  # 25 X0 of PbWO4, 1 GeV e-
    block = {"material": "PbWO4", "role": "record_deposits", "cylinder": {"length": depth, "radius": 30.0}}
    sim = calzone.Simulation({
        "World": {"material": "G4_Galactic", "box": 100.0, "Block": block},
        "materials": {"molecules": {"PbWO4": {"density": 8.28, "state": "solid"}}},
    })
    sim.physics = calzone.Physics("standard", default_cut=0.07)
    sim.random = calzone.Random(20261201)
    sim.sample_deposits = "brief"
    front = (0, 0, -depth / 2 + 1e-4)
    result = sim.run(calzone.particles(n, pid="e-", energy=energy, position=front, direction=(0, 0, 1)))
    deposits = result.deposits if hasattr(result, "deposits") else result
    per_event = np.zeros(n)
    for values in deposits.values():
        np.add.at(per_event, values["event"].astype(int), values["value"])
    print(json.dumps({"fraction": float(per_event.mean() / energy), "min": float(per_event.min() / energy)}))
    """
)


@pytest.mark.skipif(importlib.util.find_spec("calzone") is None, reason="calzone (Geant4) not installed")
def test_geant4_showers_run_on_the_standin(standin: Path):
    """Real Geant4 11.4 EM option 0 in a subprocess: a fatal Geant4 error would abort the interpreter."""
    env = {k: v for k, v in os.environ.items() if k != "GEANT4_DATA_DIR"}
    run = subprocess.run(
        [sys.executable, "-c", GEANT4_RUN, str(standin)], capture_output=True, text=True, timeout=300, env=env
    )
    output = f"{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    assert run.returncode == 0, f"Geant4 run failed ({run.returncode}):\n{output}"
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert 0.95 < result["fraction"] <= 1.0 + 1e-9
    assert result["min"] > 0.8
