"""The simulation runner: reproducibility, files, resume, worker failures and bad input."""

import numpy as np
import pytest

from caloforge.cli import main
from caloforge.data import part_path, read_showers
from caloforge.errors import CaloforgeError, SimulationError
from caloforge.fullsim import simulate, simulate_to_file

FAST = {"energy_gev": 1.0, "chunk_size": 4}  # 1 GeV in PbWO4: a few ms per shower


def test_same_seed_same_showers_for_any_worker_count():
    one = simulate("par04-pbwo4", n=10, seed=5, workers=1, **FAST)
    two = simulate("par04-pbwo4", n=10, seed=5, workers=2, **FAST)
    other = simulate("par04-pbwo4", n=10, seed=6, workers=2, **FAST)
    np.testing.assert_array_equal(one.showers, two.showers)
    np.testing.assert_array_equal(one.incident_energies, two.incident_energies)
    assert not np.array_equal(one.showers, other.showers)


def test_energy_and_angle_sampling():
    data = simulate("par04-pbwo4", n=12, energy_gev=(1, 4), theta=(1.2, 1.9), phi=(0, 6.28), seed=1, chunk_size=6)
    assert np.all((data.incident_energies >= 1e3) & (data.incident_energies <= 4e3))
    assert data.theta is not None and np.all((data.theta >= 1.2) & (data.theta <= 1.9))
    assert np.ptp(data.phi) > 1.0
    # inclined showers stay on the mesh axis: most energy within the first radial bins
    radial = data.images.sum(axis=(0, 1, 2))
    assert radial[:2].sum() > 0.7 * radial.sum()


def test_file_has_the_metadata_of_the_run(tmp_path):
    path = simulate_to_file(tmp_path / "a.h5", "par04-pbwo4", n=6, seed=3, particle="e+", **FAST)
    data = read_showers(path)
    meta = data.meta
    assert (meta.geometry, meta.particle, meta.seed, meta.sampling_fraction) == ("par04-pbwo4", "e+", 3, 1.0)
    assert meta.generator.startswith("geant4 11.4.0 emstandard_opt0+emextra+decay cut=0.7mm")
    assert meta.mesh.shape == (45, 16, 9)
    assert 0.9 < (data.showers.sum(axis=1) / data.incident_energies).mean() < 1.0
    assert data.theta is None  # fixed angles are not stored


def test_interrupted_file_resumes_to_the_uninterrupted_result(tmp_path):
    straight = simulate_to_file(tmp_path / "straight.h5", "par04-pbwo4", n=10, seed=9, workers=2, **FAST)

    def stop_after_first(chunk):
        if chunk == 0:
            raise KeyboardInterrupt

    target = tmp_path / "resumed.h5"
    with pytest.raises(KeyboardInterrupt):
        simulate_to_file(target, "par04-pbwo4", n=10, seed=9, on_chunk=stop_after_first, **FAST)
    assert not target.exists()
    assert len(read_showers(part_path(target))) == 4  # the finished chunk survived
    with pytest.raises(SimulationError, match="exists: pass --resume"):
        simulate_to_file(target, "par04-pbwo4", n=10, seed=9, **FAST)
    with pytest.raises(SimulationError, match=r"other settings \(seed differ"):
        simulate_to_file(target, "par04-pbwo4", n=10, seed=8, resume=True, **FAST)
    simulate_to_file(target, "par04-pbwo4", n=10, seed=9, resume=True, workers=2, **FAST)
    a, b = read_showers(straight), read_showers(target)
    np.testing.assert_array_equal(a.showers, b.showers)
    np.testing.assert_array_equal(a.incident_energies, b.incident_energies)
    assert not part_path(target).exists()


@pytest.mark.parametrize("first", [8, 6])  # 6: the last chunk of the first run is cut short
def test_resume_extends_a_finished_file(tmp_path, first):
    path = simulate_to_file(tmp_path / "a.h5", "par04-pbwo4", n=first, seed=4, **FAST)
    assert len(read_showers(path)) == first
    simulate_to_file(path, "par04-pbwo4", n=12, seed=4, resume=True, **FAST)
    longer = simulate_to_file(tmp_path / "b.h5", "par04-pbwo4", n=12, seed=4, **FAST)
    np.testing.assert_array_equal(read_showers(path).showers, read_showers(longer).showers)


def test_a_dying_worker_is_reported_replaced_and_the_run_goes_on(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("CALOFORGE_FAULT_CHUNK", "1")
    path = simulate_to_file(tmp_path / "f.h5", "par04-pbwo4", n=12, seed=2, workers=2, **FAST)
    err = capfd.readouterr().err
    assert "chunk 1: Geant4 worker died (exit code -6): caloforge fault injection: aborting on chunk 1" in err
    assert "retrying it" in err and "skipped, a new chunk takes its place" in err
    import h5py

    with h5py.File(path) as f:
        assert list(f.attrs["failed_chunks"]) == [1]
        assert f["showers"].shape == (12, 6480)


def test_geant4_fatal_error_message_reaches_the_user(tmp_path, private_cache):
    import shutil

    from caloforge.fullsim import ensure_data

    broken = tmp_path / "g4data"
    shutil.copytree(ensure_data(), broken)
    (broken / "caloforge-standin.json").unlink()
    (broken / "G4EMLOW8.8" / "brem_SB" / "br74").unlink()  # tungsten bremsstrahlung table
    with pytest.raises(SimulationError, match=r"G4SeltzerBergerModel.*em0003.*br74.*G4Exception"):
        simulate("par04-pbwo4", n=2, data_dir=str(broken), **FAST)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"geometry": "par04-sw"}, "unknown geometry 'par04-sw'; did you mean 'par04-siw'"),
        ({"particle": "electron"}, "unknown particle 'electron'"),
        ({"particle": "pi-"}, "pi- needs Geant4's hadronic data sets"),
        ({"energy_gev": 0.0}, "energy must be > 0 GeV"),
        ({"energy_gev": (1.0, 2000.0)}, "above 1 TeV; pass --force"),
        ({"n": 0}, "number of showers must be > 0"),
        ({"theta": (0.0, 1.0)}, r"theta must lie in \(0, pi\)"),
        ({"em_model": "option9"}, "unknown EM physics 'option9'"),
        ({"em_model": "option4"}, "option 4 needs Geant4's Goudsmit-Saunderson"),
        ({"workers": 0}, "workers must be >= 1"),
    ],
)
def test_bad_options_fail_before_anything_is_written(tmp_path, options, message):
    kwargs = {"geometry": "par04-pbwo4", "n": 4, **FAST, **options}
    geometry = kwargs.pop("geometry")
    with pytest.raises(CaloforgeError, match=message):
        simulate_to_file(tmp_path / "x.h5", geometry, **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_unwritable_or_missing_directory(tmp_path):
    with pytest.raises(SimulationError, match="does not exist"):
        simulate_to_file(tmp_path / "no" / "x.h5", "par04-pbwo4", n=2, **FAST)
    with pytest.raises(SimulationError, match="not writable"):  # even root cannot create files in /proc
        simulate_to_file("/proc/x.h5", "par04-pbwo4", n=2, **FAST)


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["-g", "nope", "-n", "2", "-o", "{d}/x.h5"], "error: unknown geometry 'nope'"),
        (["-E", "-5", "-n", "2", "-o", "{d}/x.h5"], "error: energy must be > 0 GeV"),
        (["-E", "1:abc", "-n", "2", "-o", "{d}/x.h5"], "error: energy: cannot read '1:abc'"),
        (["-n", "-1", "-o", "{d}/x.h5"], "error: number of showers must be > 0"),
        (["-p", "mu-", "-n", "2", "-o", "{d}/x.h5"], "error: unknown particle 'mu-'"),
        (["-n", "2", "-o", "{d}/exists.h5"], "exists: pass --resume to continue it or --overwrite"),
        (["-n", "2", "-o", "/proc/x.h5"], "error: output directory /proc is not writable"),
        (["-n", "2"], "error: missing output file: -o FILE.h5"),
    ],
)
def test_cli_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, args, line):
    (tmp_path / "exists.h5").write_bytes(b"old")
    code = main(["simulate", *[a.format(d=tmp_path) for a in args]])
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert line in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exists.h5"]
    assert (tmp_path / "exists.h5").read_bytes() == b"old"


def test_cli_simulate_writes_a_file(tmp_path, capsys):
    out = tmp_path / "cli.h5"
    code = main(["simulate", "-g", "par04-pbwo4", "-E", "1", "-n", "3", "-o", str(out), "--seed", "1"])
    assert code == 0 and out.exists()
    assert len(read_showers(out)) == 3


def test_a_run_leaves_the_callers_environment_alone(tmp_path):
    """Regression: importing calzone in the caller once redirected later data look-ups (GEANT4_DATA_DIR)."""
    import os

    before = dict(os.environ)
    simulate("par04-pbwo4", n=2, **FAST)
    assert dict(os.environ) == before
