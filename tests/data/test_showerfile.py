"""The HDF5 shower file: layout, round trip, validation, atomic writes, chunked and resumable writing."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from caloforge.data import (
    ShowerData,
    ShowerMeta,
    ShowerWriter,
    part_path,
    read_meta,
    read_showers,
    summarize_shower_file,
    validate_shower_file,
    write_showers,
)
from caloforge.errors import InvalidShowerFile
from caloforge.geometry import get_geometry, mesh_for

READERS = [read_showers, validate_shower_file]


def _assert_same(got: ShowerData, want: ShowerData) -> None:
    np.testing.assert_array_equal(got.incident_energies, want.incident_energies)
    np.testing.assert_array_equal(got.showers, want.showers)
    for name in ("theta", "phi"):
        if getattr(want, name) is None:
            assert getattr(got, name) is None
        else:
            np.testing.assert_array_equal(getattr(got, name), getattr(want, name))


def _raw_file(path: Path, energies: np.ndarray, showers: np.ndarray, attrs: dict | None = None, **extra) -> Path:
    """A file written by plain h5py, bypassing caloforge's checks."""
    with h5py.File(path, "w") as f:
        f.create_dataset("incident_energies", data=energies)
        f.create_dataset("showers", data=showers)
        for name, values in extra.items():
            f.create_dataset(name, data=values)
        f.attrs.update(attrs or {})
    return path


# --- layout and round trip ------------------------------------------------------------------------


@pytest.mark.parametrize("angles", [False, True], ids=["no-angles", "angles"])
def test_round_trip_is_exact(tmp_path, make_showers, siw_meta, angles):
    data = make_showers(7, angles=angles)
    path = write_showers(tmp_path / "s.h5", data)
    assert path == tmp_path / "s.h5"
    back = read_showers(path)
    _assert_same(back, data)
    assert back.incident_energies.dtype == np.float32
    assert back.showers.dtype == np.float32
    assert back.meta == siw_meta  # every field: mesh, geometry, geometry_json, SF, particle, generator, seed
    assert back.meta.seed == 987654321
    assert back.meta.sampling_fraction == 0.0362
    assert back.meta.generator == "caloforge-tests 0.0"
    assert back.meta.geometry_json == get_geometry("par04-siw").to_json()
    assert len(back) == 7
    meta, n = read_meta(path)
    assert (meta, n) == (siw_meta, 7)


def test_round_trip_keeps_extra_attributes_and_no_seed(tmp_path, make_showers, siw_meta):
    meta = ShowerMeta(mesh=siw_meta.mesh, geometry="par04-siw", seed=None, extra={"comment": "hi", "run": 3})
    data = make_showers(2, meta=meta)
    back = read_showers(write_showers(tmp_path / "s.h5", data))
    assert back.meta.seed is None
    assert dict(back.meta.extra) == {"comment": "hi", "run": 3}
    assert back.meta == meta


def test_file_has_calochallenge_layout(tmp_path, make_showers, siw_meta):
    data = make_showers(5, angles=True)
    path = write_showers(tmp_path / "s.h5", data)
    with h5py.File(path, "r") as f:
        assert f["incident_energies"].shape == (5, 1)
        assert f["incident_energies"].dtype == np.float32
        assert f["showers"].shape == (5, 6480)
        assert f["showers"].dtype == np.float32
        assert f["incident_theta"].shape == (5, 1)
        assert f["incident_phi"].shape == (5, 1)
        np.testing.assert_array_equal(f["incident_energies"][:, 0], data.incident_energies)
        np.testing.assert_array_equal(f["showers"][...], data.showers)
        assert list(f.attrs["mesh"]) == [45, 16, 9]
        assert f.attrs["cell_dz_mm"] == pytest.approx(3.4, abs=1e-12)
        assert f.attrs["cell_dr_mm"] == pytest.approx(4.65, abs=1e-12)
        assert f.attrs["seed"] == siw_meta.seed
        assert f.attrs["format_version"] == 1


@pytest.mark.parametrize(("layer", "alpha", "r"), [(0, 0, 1), (3, 5, 7), (44, 15, 8), (10, 0, 0)])
def test_flat_index_maps_to_layer_alpha_r(tmp_path, siw_meta, layer, alpha, r):
    showers = np.zeros((2, 6480), dtype=np.float32)
    flat = (layer * 16 + alpha) * 9 + r
    showers[1, flat] = 42.0
    data = ShowerData(np.array([1e3, 2e3], dtype=np.float32), showers, siw_meta)
    images = read_showers(write_showers(tmp_path / "s.h5", data)).images
    assert images.shape == (2, 45, 16, 9)
    assert images[1, layer, alpha, r] == 42.0
    assert images.sum() == 42.0


# --- plain CaloChallenge files ----------------------------------------------------------------------


def test_plain_calochallenge_file_read_with_geometry(tmp_path, rng):
    energies = rng.uniform(1e3, 1e6, size=(4, 1)).astype(np.float32)
    showers = rng.exponential(1.0, size=(4, 6480)).astype(np.float32)
    path = _raw_file(tmp_path / "plain.h5", energies, showers)
    data = read_showers(path, geometry="par04-siw")
    np.testing.assert_array_equal(data.incident_energies, energies[:, 0])
    np.testing.assert_array_equal(data.showers, showers)
    assert data.theta is None
    assert data.meta.mesh.shape == (45, 16, 9)
    assert data.meta.mesh.dz_mm == pytest.approx(3.4, abs=1e-9)
    assert data.meta.mesh.dr_mm == pytest.approx(4.65, abs=1e-9)
    assert data.meta.geometry == "par04-siw"
    assert validate_shower_file(path, geometry="par04-siw") == 4


def test_plain_calochallenge_file_needs_geometry(tmp_path):
    path = _raw_file(tmp_path / "plain.h5", np.ones((2, 1), np.float32), np.ones((2, 6480), np.float32))
    with pytest.raises(InvalidShowerFile, match="geometry") as info:
        read_showers(path)
    assert "\n" not in str(info.value)
    assert "--geometry" in str(info.value)


def test_plain_ds3_file_maps_to_ds3_mesh(tmp_path):
    path = _raw_file(tmp_path / "ds3.h5", np.full((2, 1), 5e4, np.float32), np.ones((2, 40500), np.float32))
    data = read_showers(path, geometry="par04-siw")
    assert data.meta.mesh == mesh_for(get_geometry("par04-siw"), "ds3")
    assert data.meta.mesh.shape == (45, 50, 18)
    assert data.images.shape == (2, 45, 50, 18)


def test_plain_file_of_unknown_cell_count(tmp_path):
    path = _raw_file(tmp_path / "odd.h5", np.ones((2, 1), np.float32), np.ones((2, 1000), np.float32))
    with pytest.raises(InvalidShowerFile, match="1000 cells per shower matches no known mesh"):
        read_showers(path, geometry="par04-siw")


# --- validation -------------------------------------------------------------------------------------


def _good_arrays(n: int = 6) -> tuple[np.ndarray, np.ndarray]:
    energies = np.linspace(1e3, 1e5, n, dtype=np.float32).reshape(n, 1)
    showers = np.zeros((n, 6480), dtype=np.float32)
    showers[:, ::7] = 1.5
    return energies, showers


def _bad_file(tmp_path: Path, siw_meta: ShowerMeta, problem: str) -> Path:
    path = tmp_path / f"{problem}.h5"
    e, s = _good_arrays()
    attrs = siw_meta.to_attrs()
    extra: dict[str, np.ndarray] = {}
    if problem == "not-2d":
        s = s.reshape(6, 45, 16, 9)
    elif problem == "mesh-mismatch":
        s = s[:, :6000]
    elif problem == "nan-shower":
        s[3, 100] = np.nan
    elif problem == "inf-shower":
        s[4, 0] = np.inf
    elif problem == "inf-energy":
        e[2, 0] = np.inf
    elif problem == "nan-energy":
        e[1, 0] = np.nan
    elif problem == "negative-cell":
        s[2, 17] = -0.5
    elif problem == "zero-energy":
        e[4, 0] = 0.0
    elif problem == "negative-energy":
        e[1, 0] = -3.0
    elif problem == "n-mismatch":
        e = e[:5]
    elif problem == "theta-shape":
        extra = {"incident_theta": np.ones((5, 1), np.float32), "incident_phi": np.ones((6, 1), np.float32)}
    elif problem == "nan-theta":
        extra = {"incident_theta": np.full((6, 1), np.nan, np.float32), "incident_phi": np.ones((6, 1), np.float32)}
    else:  # pragma: no cover
        raise AssertionError(problem)
    return _raw_file(path, e, s, attrs, **extra)


BAD_FILES = {
    "not-2d": r"'showers' must be 2-D \(N, cells\), has shape \(6, 45, 16, 9\)",
    "mesh-mismatch": r"'showers' has 6000 cells per shower but the mesh has 6480",
    "nan-shower": r"'showers' holds NaN or inf \(first at row 3\)",
    "inf-shower": r"'showers' holds NaN or inf \(first at row 4\)",
    "inf-energy": r"'incident_energies' holds NaN or inf \(first at row 2\)",
    "nan-energy": r"'incident_energies' holds NaN or inf \(first at row 1\)",
    "negative-cell": r"'showers' holds negative energies \(first at row 2\)",
    "zero-energy": r"'incident_energies' holds energies <= 0 \(first at row 4\)",
    "negative-energy": r"'incident_energies' holds energies <= 0 \(first at row 1\)",
    "n-mismatch": r"'incident_energies' has shape \(5, 1\), expected \(6, 1\)",
    "theta-shape": r"'incident_theta' has shape \(5, 1\), expected \(6, 1\)",
    "nan-theta": r"'incident_theta' holds NaN or inf",
}


@pytest.mark.parametrize("reader", READERS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("problem", list(BAD_FILES))
def test_validation_rejects_bad_file(tmp_path, siw_meta, problem, reader):
    path = _bad_file(tmp_path, siw_meta, problem)
    with pytest.raises(InvalidShowerFile, match=BAD_FILES[problem]) as info:
        reader(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path))


def test_the_good_arrays_pass(tmp_path, siw_meta):
    e, s = _good_arrays()
    path = _raw_file(tmp_path / "good.h5", e, s, siw_meta.to_attrs())
    assert validate_shower_file(path) == 6
    assert len(read_showers(path)) == 6


def test_read_without_validation_skips_values(tmp_path, siw_meta):
    path = _bad_file(tmp_path, siw_meta, "nan-shower")
    data = read_showers(path, validate=False)
    assert np.isnan(data.showers[3, 100])


@pytest.mark.parametrize("reader", [*READERS, read_meta], ids=lambda f: f.__name__)
def test_missing_dataset(tmp_path, siw_meta, reader):
    path = tmp_path / "m.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("showers", data=np.ones((2, 6480), np.float32))
        f.attrs.update(siw_meta.to_attrs())
    with pytest.raises(InvalidShowerFile, match=r"missing dataset 'incident_energies' \(has: showers\)") as info:
        reader(path)
    assert "\n" not in str(info.value)


def _truncated(tmp_path: Path, data: ShowerData) -> Path:
    path = write_showers(tmp_path / "t.h5", data)
    size = path.stat().st_size
    os.truncate(path, size // 2)
    assert path.stat().st_size == size // 2
    return path


def _text(tmp_path: Path) -> Path:
    path = tmp_path / "notes.h5"
    path.write_text("incident_energies, showers\n1, 2, 3\n")
    return path


@pytest.mark.parametrize("reader", [*READERS, read_meta, summarize_shower_file], ids=lambda f: f.__name__)
@pytest.mark.parametrize("kind", ["truncated", "text", "missing"])
def test_unreadable_files(tmp_path, make_showers, reader, kind):
    if kind == "truncated":
        path, match = _truncated(tmp_path, make_showers(20)), "not a readable HDF5 file"
    elif kind == "text":
        path, match = _text(tmp_path), "not a readable HDF5 file"
    else:
        path, match = tmp_path / "nope.h5", "no such file"
    with pytest.raises(InvalidShowerFile, match=match) as info:
        reader(path)
    assert "\n" not in str(info.value)
    assert str(path) in str(info.value)


def test_newer_format_version_is_refused(tmp_path, siw_meta):
    e, s = _good_arrays()
    path = _raw_file(tmp_path / "v9.h5", e, s, {**siw_meta.to_attrs(), "format_version": 9})
    with pytest.raises(InvalidShowerFile, match="format_version 9 is newer"):
        read_showers(path)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ("cells", r"showers have 6000 cells, the mesh \(45, 16, 9\) has 6480"),
        ("n", r"incident_energies: 3 values for 4 showers"),
        ("theta", r"incident_theta: 3 values for 4 showers"),
        ("nan", "shower cell energies must be finite and >= 0"),
        ("negative", "shower cell energies must be finite and >= 0"),
        ("zero-energy", "incident energies must be finite and > 0"),
    ],
)
def test_write_rejects_bad_arrays(tmp_path, make_showers, siw_meta, change, match):
    good = make_showers(4, angles=True)
    e, s, t = good.incident_energies.copy(), good.showers.copy(), good.theta.copy()
    if change == "cells":
        s = s[:, :6000]
    elif change == "n":
        e = e[:3]
    elif change == "theta":
        t = t[:3]
    elif change == "nan":
        s[0, 0] = np.nan
    elif change == "negative":
        s[1, 1] = -1.0
    else:
        e[0] = 0.0
    path = tmp_path / "w.h5"
    with pytest.raises(InvalidShowerFile, match=match):
        write_showers(path, ShowerData(e, s, siw_meta, theta=t, phi=good.phi))
    assert not path.exists()
    assert not part_path(path).exists()


def test_empty_data_round_trip(tmp_path, siw_meta):
    data = ShowerData(np.zeros(0, np.float32), np.zeros((0, 6480), np.float32), siw_meta)
    back = read_showers(write_showers(tmp_path / "empty.h5", data))
    assert len(back) == 0
    assert back.showers.shape == (0, 6480)


# --- atomic write -----------------------------------------------------------------------------------


def test_write_does_not_replace_existing_file(tmp_path, make_showers):
    path = write_showers(tmp_path / "s.h5", make_showers(3))
    before = path.read_bytes()
    with pytest.raises(InvalidShowerFile, match="exists"):
        write_showers(path, make_showers(5))
    assert path.read_bytes() == before
    assert not part_path(path).exists()


def test_write_overwrite_replaces_and_leaves_no_part_file(tmp_path, make_showers):
    path = write_showers(tmp_path / "s.h5", make_showers(3))
    assert not part_path(path).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.h5"]
    new = make_showers(5)
    write_showers(path, new, overwrite=True)
    _assert_same(read_showers(path), new)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.h5"]


def test_part_path():
    assert part_path("/a/b/run.h5") == Path("/a/b/run.h5.part")


# --- ShowerWriter -----------------------------------------------------------------------------------


def test_writer_appends_chunks(tmp_path, make_showers, siw_meta):
    chunks = [make_showers(n, angles=True) for n in (3, 1, 4)]
    path = tmp_path / "w.h5"
    with ShowerWriter(path, siw_meta, with_angles=True) as w:
        for i, c in enumerate(chunks):
            w.append(c.incident_energies, c.showers, theta=c.theta, phi=c.phi)
            assert w.n_written == sum(len(x) for x in chunks[: i + 1])
            assert not path.exists()
            assert part_path(path).exists()
    assert path.exists()
    assert not part_path(path).exists()
    back = read_showers(path)
    np.testing.assert_array_equal(back.incident_energies, np.concatenate([c.incident_energies for c in chunks]))
    np.testing.assert_array_equal(back.showers, np.concatenate([c.showers for c in chunks]))
    np.testing.assert_array_equal(back.theta, np.concatenate([c.theta for c in chunks]))
    np.testing.assert_array_equal(back.phi, np.concatenate([c.phi for c in chunks]))
    assert back.meta == siw_meta


def test_writer_accepts_images(tmp_path, make_showers, siw_meta):
    c = make_showers(2)
    with ShowerWriter(tmp_path / "w.h5", siw_meta) as w:
        w.append(c.incident_energies, c.images)
    np.testing.assert_array_equal(read_showers(tmp_path / "w.h5").showers, c.showers)


def test_writer_set_attrs(tmp_path, make_showers, siw_meta):
    c = make_showers(1)
    with ShowerWriter(tmp_path / "w.h5", siw_meta) as w:
        w.append(c.incident_energies, c.showers)
        w.set_attrs(generator="gflash 2")
    assert read_showers(tmp_path / "w.h5").meta.generator == "gflash 2"


def test_writer_refuses_existing_file(tmp_path, make_showers, siw_meta):
    path = write_showers(tmp_path / "w.h5", make_showers(2))
    with pytest.raises(InvalidShowerFile, match="exists"):
        ShowerWriter(path, siw_meta)


def _interrupted(path: Path, chunks: list[ShowerData], meta: ShowerMeta) -> None:
    with pytest.raises(RuntimeError, match="stop"), ShowerWriter(path, meta) as w:
        for c in chunks:
            w.append(c.incident_energies, c.showers)
        raise RuntimeError("stop")


def test_writer_exception_leaves_part_file(tmp_path, make_showers, siw_meta):
    path = tmp_path / "w.h5"
    chunks = [make_showers(2), make_showers(3)]
    _interrupted(path, chunks, siw_meta)
    assert not path.exists()
    part = read_showers(part_path(path))
    np.testing.assert_array_equal(part.showers, np.concatenate([c.showers for c in chunks]))
    np.testing.assert_array_equal(part.incident_energies, np.concatenate([c.incident_energies for c in chunks]))
    assert summarize_shower_file(part_path(path))["complete"] is False


def test_writer_resume_continues_part_file(tmp_path, make_showers, siw_meta):
    path = tmp_path / "w.h5"
    chunks = [make_showers(2), make_showers(3)]
    _interrupted(path, chunks, siw_meta)
    more = make_showers(4)
    with ShowerWriter(path, siw_meta, resume=True) as w:
        assert w.n_written == 5
        w.append(more.incident_energies, more.showers)
        assert w.n_written == 9
    assert not part_path(path).exists()
    back = read_showers(path)
    assert len(back) == 9
    np.testing.assert_array_equal(back.showers, np.concatenate([c.showers for c in [*chunks, more]]))
    np.testing.assert_array_equal(
        back.incident_energies, np.concatenate([c.incident_energies for c in [*chunks, more]])
    )
    assert back.meta == siw_meta


def test_writer_resume_adds_to_finished_file(tmp_path, make_showers, siw_meta):
    first, more = make_showers(2), make_showers(1)
    path = write_showers(tmp_path / "w.h5", first)
    with ShowerWriter(path, siw_meta, resume=True) as w:
        assert w.n_written == 2
        w.append(more.incident_energies, more.showers)
    np.testing.assert_array_equal(read_showers(path).showers, np.concatenate([first.showers, more.showers]))


def _ds3_meta() -> ShowerMeta:
    return ShowerMeta(mesh=mesh_for(get_geometry("par04-siw"), "ds3"), geometry="par04-siw")


def test_writer_resume_with_other_mesh_raises(tmp_path, make_showers, siw_meta):
    path = tmp_path / "w.h5"
    _interrupted(path, [make_showers(2)], siw_meta)
    before = part_path(path).read_bytes()
    with pytest.raises(InvalidShowerFile, match=r"mesh \(45, 16, 9\) differs from the requested \(45, 50, 18\)"):
        ShowerWriter(path, _ds3_meta(), resume=True)
    assert part_path(path).read_bytes() == before
    assert not path.exists()
    assert len(read_showers(part_path(path))) == 2


def test_writer_resume_of_finished_file_with_other_mesh_leaves_it_finished(tmp_path, make_showers):
    path = write_showers(tmp_path / "w.h5", make_showers(2))
    with pytest.raises(InvalidShowerFile, match="differs from the requested"):
        ShowerWriter(path, _ds3_meta(), resume=True)
    # the failed resume must not turn a complete file into an unfinished one
    assert path.exists()
    assert not part_path(path).exists()
    assert len(read_showers(path)) == 2


def test_killed_writer_leaves_readable_part_file(tmp_path):
    path = tmp_path / "killed.h5"
    script = textwrap.dedent(
        f"""
        import os
        import numpy as np
        from caloforge.data import ShowerMeta, ShowerWriter
        from caloforge.geometry import get_geometry, mesh_for
        meta = ShowerMeta(mesh=mesh_for(get_geometry("par04-siw")), geometry="par04-siw", seed=7)
        w = ShowerWriter({str(path)!r}, meta)
        for k in range(2):
            s = np.zeros((3, 6480), dtype=np.float32)
            s[:, k] = 10.0 + k
            w.append(np.full(3, 1000.0 * (k + 1)), s)
        os._exit(1)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 1, proc.stderr
    assert not path.exists()
    data = read_showers(part_path(path))
    assert len(data) == 6
    np.testing.assert_array_equal(data.incident_energies, [1000.0] * 3 + [2000.0] * 3)
    assert np.all(data.showers[:3, 0] == 10.0)
    assert np.all(data.showers[3:, 1] == 11.0)
    assert data.showers.sum() == pytest.approx(3 * 10.0 + 3 * 11.0)
    assert data.meta.seed == 7


@pytest.mark.parametrize("bad", ["cells", "nan", "negative", "angles", "theta-only"])
def test_writer_rejects_bad_chunk(tmp_path, make_showers, siw_meta, bad):
    good = make_showers(3, angles=True)
    e, s = good.incident_energies, good.showers.copy()
    kwargs: dict[str, np.ndarray] = {}
    if bad == "cells":
        s = s[:, :6479]
    elif bad == "nan":
        s[1, 5] = np.nan
    elif bad == "negative":
        s[2, 5] = -1e-3
    elif bad == "angles":
        kwargs = {"theta": good.theta, "phi": good.phi}
    else:
        kwargs = {"theta": good.theta}
    with ShowerWriter(tmp_path / "w.h5", siw_meta) as w:
        w.append(e, good.showers)
        with pytest.raises(InvalidShowerFile):
            w.append(e, s, **kwargs)
        assert w.n_written == 3
    assert len(read_showers(tmp_path / "w.h5")) == 3


def test_writer_with_angles_needs_angles(tmp_path, make_showers, siw_meta):
    c = make_showers(2, angles=True)
    with ShowerWriter(tmp_path / "w.h5", siw_meta, with_angles=True) as w:
        with pytest.raises(InvalidShowerFile, match="pass theta and phi"):
            w.append(c.incident_energies, c.showers)
        with pytest.raises(InvalidShowerFile, match="pass theta and phi"):
            w.append(c.incident_energies, c.showers, theta=c.theta)
        assert w.n_written == 0


# --- summary ----------------------------------------------------------------------------------------


def test_summary_figures(tmp_path, make_showers, siw_meta):
    data = make_showers(12, angles=True)
    path = write_showers(tmp_path / "s.h5", data)
    summary = summarize_shower_file(path)
    e = data.incident_energies.astype(np.float64)
    assert summary["showers"] == 12
    assert summary["energy_min_gev"] == pytest.approx(e.min() / 1e3, rel=1e-12)
    assert summary["energy_max_gev"] == pytest.approx(e.max() / 1e3, rel=1e-12)
    ratio = np.mean(data.showers.astype(np.float64).sum(axis=1) / e)
    assert summary["mean_esum_over_einc"] == pytest.approx(ratio, rel=1e-9)
    assert summary["mesh"] == [45, 16, 9]
    assert summary["cell_dz_mm"] == pytest.approx(3.4)
    assert summary["geometry"] == "par04-siw"
    assert summary["generator"] == "caloforge-tests 0.0"
    assert summary["seed"] == siw_meta.seed
    assert summary["complete"] is True
    assert summary["theta_range_rad"] == pytest.approx([data.theta.min(), data.theta.max()])
    assert summary["phi_range_rad"] == pytest.approx([data.phi.min(), data.phi.max()])


def test_summary_of_known_values(tmp_path, siw_meta):
    showers = np.zeros((2, 6480), np.float32)
    showers[0, :10] = 100.0  # 1000 MeV in a 2000 MeV shower: 0.5
    showers[1, 5] = 250.0  # 250 MeV in a 1000 MeV shower: 0.25
    path = write_showers(tmp_path / "s.h5", ShowerData(np.array([2000.0, 1000.0], np.float32), showers, siw_meta))
    summary = summarize_shower_file(path)
    assert summary["showers"] == 2
    assert summary["energy_min_gev"] == pytest.approx(1.0)
    assert summary["energy_max_gev"] == pytest.approx(2.0)
    assert summary["mean_esum_over_einc"] == pytest.approx(0.375)
    assert "theta_range_rad" not in summary


def test_summary_of_plain_file_needs_geometry(tmp_path):
    path = _raw_file(tmp_path / "plain.h5", np.full((3, 1), 1e4, np.float32), np.ones((3, 6480), np.float32))
    summary = summarize_shower_file(path, geometry="par04-siw")
    assert summary["showers"] == 3
    assert summary["mean_esum_over_einc"] == pytest.approx(6480 / 1e4)
    assert summary["generator"] == "(not recorded)"
    with pytest.raises(InvalidShowerFile, match="geometry"):
        summarize_shower_file(path)
