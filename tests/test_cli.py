"""The ``caloforge`` command: exit codes, one-line errors, fast start-up, geometries and inspect."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

import caloforge
from caloforge.cli import main
from caloforge.data import write_showers

BUILTINS = ["par04-siw", "par04-scipb", "par04-pbwo4", "odd-like", "cld-like", "allegro-like"]


def _cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "caloforge.cli", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture
def good_file(tmp_path, make_showers) -> Path:
    return write_showers(tmp_path / "good.h5", make_showers(7))


@pytest.fixture
def plain_file(tmp_path, rng) -> Path:
    path = tmp_path / "plain_calochallenge.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("incident_energies", data=rng.uniform(1e3, 1e5, size=(3, 1)).astype(np.float32))
        f.create_dataset("showers", data=rng.exponential(1.0, size=(3, 6480)).astype(np.float32))
    return path


@pytest.fixture
def truncated_file(tmp_path, make_showers) -> Path:
    path = write_showers(tmp_path / "truncated.h5", make_showers(20))
    os.truncate(path, path.stat().st_size // 2)
    return path


@pytest.fixture
def nan_file(tmp_path, make_showers) -> Path:
    data = make_showers(4)
    path = write_showers(tmp_path / "nan.h5", data)
    with h5py.File(path, "r+") as f:
        f["showers"][2, 10] = np.nan
    return path


# --- real processes ---------------------------------------------------------------------------------


def test_version_subprocess_is_fast():
    start = time.perf_counter()
    proc = _cli("--version")
    elapsed = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"caloforge {caloforge.__version__}"
    assert elapsed < 2.0


def test_version_does_not_import_heavy_libraries():
    code = (
        "import sys; from caloforge.cli import main; rc = main(['--version']); "
        "print(rc, 'torch' in sys.modules, 'calzone' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines == [f"caloforge {caloforge.__version__}", "0 False False"]


def test_missing_file_subprocess_exit_code(tmp_path):
    proc = _cli("inspect", str(tmp_path / "nope.h5"))
    assert proc.returncode == 1
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ")
    assert "no such file" in lines[0]
    assert "Traceback" not in proc.stderr


def test_unknown_option_subprocess_exit_code(good_file):
    proc = _cli("inspect", str(good_file), "--no-such-option")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "No such option" in proc.stderr


def test_inspect_subprocess_ok(good_file):
    proc = _cli("inspect", str(good_file), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["showers"] == 7


# --- in-process -------------------------------------------------------------------------------------


def test_version_in_process(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"caloforge {caloforge.__version__}\n"


def test_geometries_table_lists_builtins(capsys):
    assert main(["geometries"]) == 0
    out = capsys.readouterr().out
    for name in BUILTINS:
        assert name in out


def test_geometries_json(capsys):
    assert main(["geometries", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    by_name = {row["name"]: row for row in rows}
    assert sorted(by_name) == sorted(BUILTINS)
    siw = by_name["par04-siw"]
    assert siw["cell_dz_mm"] == pytest.approx(3.4, abs=1e-9)
    assert siw["cell_dr_mm"] == pytest.approx(4.65, abs=1e-9)
    assert siw["x0_mm"] == pytest.approx(4.22, rel=0.02)
    assert siw["mesh"] == [45, 16, 9]


def test_geometries_json_ds3(capsys):
    assert main(["geometries", "--json", "--mesh", "ds3"]) == 0
    siw = {row["name"]: row for row in json.loads(capsys.readouterr().out)}["par04-siw"]
    assert siw["mesh"] == [45, 50, 18]
    assert siw["cell_dr_mm"] == pytest.approx(4.65 / 2, abs=1e-9)


def test_inspect_good_file(capsys, good_file):
    assert main(["inspect", str(good_file)]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    row = next(line for line in captured.out.splitlines() if "showers" in line)
    assert "7" in row.split("showers", 1)[1]
    assert "par04-siw" in captured.out


def test_inspect_good_file_json(capsys, good_file):
    assert main(["inspect", str(good_file), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["showers"] == 7
    assert summary["mesh"] == [45, 16, 9]
    assert summary["geometry"] == "par04-siw"
    assert summary["complete"] is True


@pytest.mark.parametrize(
    ("which", "problem"),
    [("missing", "no such file"), ("truncated", "not a readable HDF5 file"), ("nan", "NaN")],
)
def test_inspect_bad_file_is_one_error_line(capsys, tmp_path, request, which, problem):
    path = tmp_path / "nope.h5" if which == "missing" else request.getfixturevalue(f"{which}_file")
    assert main(["inspect", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("error: ")
    assert str(path) in lines[0]
    assert problem in lines[0]
    assert "Traceback" not in captured.err


def test_unknown_option_exits_2(capsys, good_file):
    assert main(["inspect", str(good_file), "--no-such-option"]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_inspect_plain_file_with_geometry(capsys, plain_file):
    assert main(["inspect", str(plain_file), "-g", "par04-siw", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["showers"] == 3
    assert summary["mesh"] == [45, 16, 9]
    assert summary["geometry"] == "par04-siw"
    assert summary["cell_dz_mm"] == pytest.approx(3.4, abs=1e-9)
    assert main(["inspect", str(plain_file), "--geometry", "par04-siw"]) == 0


def test_inspect_plain_file_without_geometry(capsys, plain_file):
    assert main(["inspect", str(plain_file)]) == 1
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ")
    assert "--geometry" in lines[0]
    assert "Traceback" not in captured.err


def test_inspect_plain_file_unknown_geometry(capsys, plain_file):
    assert main(["inspect", str(plain_file), "-g", "par04-sw"]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: unknown geometry 'par04-sw'")
    assert "par04-siw" in lines[0]  # the suggestion
