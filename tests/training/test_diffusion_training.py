"""Training the diffusion model: checkpoints, resume, reproducible generation, and bad input."""

import pickle
import warnings
from dataclasses import replace

import numpy as np
import pytest
import torch

from caloforge.cli import main
from caloforge.data import ShowerData, ShowerMeta, read_showers, write_showers
from caloforge.errors import CaloforgeError
from caloforge.geometry import ScoringMesh, get_geometry, mesh_for
from caloforge.models import GFlash
from caloforge.models.checkpoint import load_tensors, save_tensors
from caloforge.models.diffusion import DiffusionModel
from caloforge.training import TrainSettings, train_diffusion

TINY = {"patch": [5, 4, 3], "dim": 32, "depth": 1, "heads": 2}
QUICK = TrainSettings(steps=6, batch_size=16, checkpoint_every=3, validate_every=6, validation_showers=100,
                      validation_steps=2, warmup_steps=2)  # fmt: skip


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Fast stand-in training data (GFlash showers of par04-siw: these tests are about the machinery)."""
    folder = tmp_path_factory.mktemp("diffusion")
    calo = get_geometry("par04-siw")
    model = GFlash.stock(calo, mesh_for(calo))
    energy = np.geomspace(1e3, 1e5, 300).astype(np.float32)
    meta = ShowerMeta(mesh=model.mesh, geometry=calo.name, geometry_json=calo.to_json(), particle="e-", seed=1)
    data = ShowerData(energy, model.sample(energy, seed=1), meta)
    other = replace(data, showers=data.showers[:, :5760], meta=replace(meta, mesh=ScoringMesh(45, 16, 8)))
    return {"train": write_showers(folder / "train.h5", data), "val": write_showers(folder / "val.h5", data),
            "other_mesh": write_showers(folder / "other.h5", other), "folder": folder}  # fmt: skip


def _weights(run):
    return load_tensors(run / "model.safetensors")[0]


def test_resume_continues_the_same_run_bit_for_bit(files, tmp_path):
    straight, split = tmp_path / "straight", tmp_path / "split"
    train_diffusion([files["train"]], straight, settings=QUICK, config=TINY)
    train_diffusion([files["train"]], split, settings=QUICK, config=TINY, stop_after=3)  # an interrupted run
    train_diffusion([files["train"]], split, settings=QUICK, config=TINY, resume=True)
    a, b = _weights(straight), _weights(split)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    state = load_tensors(split / "state.safetensors")[1]
    assert state["step"] == 6 and [row["step"] for row in state["history"]] == [3, 6]
    assert (split / "log.csv").read_text().count("\n") == 3  # header and two rows
    with pytest.raises(CaloforgeError, match="already holds a run"):
        train_diffusion([files["train"]], straight, settings=QUICK, config=TINY)


def test_checkpoint_round_trip_and_reproducible_generation(files, tmp_path):
    run = train_diffusion([files["train"]], tmp_path / "run", validation=files["val"], settings=QUICK, config=TINY)
    model = DiffusionModel.load(run)
    again = DiffusionModel.load(run)
    for (name, p), q in zip(model.denoiser.state_dict().items(), again.denoiser.state_dict().values(), strict=True):
        assert torch.equal(p, q), name
    energies = np.array([2e3, 2e4, 5e4])
    x = model.sample(energies, steps=3, seed=5)
    assert x.shape == (3, 6480) and x.dtype == np.float32 and np.all(np.isfinite(x)) and np.all(x >= 0)
    np.testing.assert_array_equal(x, again.sample(energies, steps=3, seed=5))
    assert not np.array_equal(x, model.sample(energies, steps=3, seed=6))
    row = load_tensors(run / "state.safetensors")[1]["history"][-1]
    assert {"val_sp_esum_over_einc", "val_auc_cells", "val_auc_high_level"} <= row.keys()


def test_validation_runs_on_its_own_cadence_between_checkpoints(files, tmp_path):
    settings = replace(QUICK, checkpoint_every=4, validate_every=3)  # 3 is no checkpoint step: it becomes one
    run = train_diffusion([files["train"]], tmp_path / "run", validation=files["val"], settings=settings, config=TINY)
    history = load_tensors(run / "state.safetensors")[1]["history"]
    assert [row["step"] for row in history] == [3, 4, 6]
    assert ["val_auc_cells" in row for row in history] == [True, False, True]  # and the last step, always


def test_conditions_outside_the_training_range_are_clamped_with_a_warning(files, tmp_path):
    model = DiffusionModel.load(train_diffusion([files["train"]], tmp_path / "run", settings=QUICK, config=TINY))
    with pytest.warns(RuntimeWarning, match="1 energies .* outside the training range .*clamped"):
        model.sample(np.array([5e5, 5e3]), steps=2, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.sample(np.array([5e3]), steps=2, seed=1)


def test_bad_checkpoints_and_data_stop_with_one_clear_line(files, tmp_path):
    with pytest.raises(CaloforgeError, match=r"mesh \(45, 16, 8\) differs"):
        train_diffusion([files["train"], files["other_mesh"]], tmp_path / "x", settings=QUICK, config=TINY)
    with pytest.raises(CaloforgeError, match="no such checkpoint"):
        DiffusionModel.load(tmp_path / "nothing")
    run = train_diffusion([files["train"]], tmp_path / "run", settings=QUICK, config=TINY)
    blob = (run / "model.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(CaloforgeError, match=r"not a caloforge checkpoint .* or it is corrupt"):
        DiffusionModel.load(tmp_path / "cut.safetensors")
    (tmp_path / "pickled.safetensors").write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    with pytest.raises(CaloforgeError, match="not a caloforge checkpoint"):
        DiffusionModel.load(tmp_path / "pickled.safetensors")
    with pytest.raises(CaloforgeError, match="no such checkpoint"):
        train_diffusion([files["train"]], tmp_path / "fresh", settings=QUICK, config=TINY, resume=True)
    tensors, meta = load_tensors(run / "model.safetensors")
    save_tensors(tmp_path / "old.safetensors", tensors, meta | {"format_version": 1})
    with pytest.raises(CaloforgeError, match=r"older caloforge .* cell-only transform.*retrain"):
        DiffusionModel.load(tmp_path / "old.safetensors")
    save_tensors(tmp_path / "six.safetensors", tensors, meta | {"format_version": 6})
    with pytest.raises(CaloforgeError, match=r"format 6 was an experiment .* retrain"):
        DiffusionModel.load(tmp_path / "six.safetensors")
    save_tensors(tmp_path / "new.safetensors", tensors, meta | {"format_version": 99})
    with pytest.raises(CaloforgeError, match="format 99 is newer than this caloforge reads"):
        DiffusionModel.load(tmp_path / "new.safetensors")
    with pytest.raises(CaloforgeError, match="does not combine with --resume"):
        train_diffusion([files["train"]], run, settings=QUICK, resume=True, init=run)
    with pytest.raises(
        CaloforgeError, match=r"mesh \(45, 16, 8\) does not match the mesh \(45, 16, 9\) of the teacher"
    ):
        train_diffusion([files["other_mesh"]], tmp_path / "student", settings=QUICK, teacher=run)
    with pytest.raises(CaloforgeError, match=r"does not match the mesh \(45, 16, 9\) of the run being resumed"):
        train_diffusion([files["other_mesh"]], run, settings=QUICK, resume=True)


def test_cli_trains_and_generates(files, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "diffusion", "-d", str(files["train"]), "-o", str(run), "--steps", "4", "--batch-size", "8",
            "--dim", "32", "--depth", "1", "--heads", "2", "--patch", "5,4,3"]  # fmt: skip
    assert main(args) == 0
    out = tmp_path / "gen.h5"
    assert main(["generate", str(run), "-o", str(out), "-n", "5", "-E", "2:20", "--steps", "2", "--seed", "3"]) == 0
    data = read_showers(out)
    assert len(data) == 5 and data.meta.generator == "caloforge diffusion"
    capsys.readouterr()
    assert main(["generate", str(run), "-g", "par04-pbwo4", "-o", str(tmp_path / "x.h5"), "-n", "2"]) == 1
    assert "trained on geometry 'par04-siw', not 'par04-pbwo4'" in capsys.readouterr().err


def test_distillation_gives_a_few_step_generator(files, tmp_path):
    teacher = train_diffusion([files["train"]], tmp_path / "teacher", settings=QUICK, config=TINY)
    student = train_diffusion([files["train"]], tmp_path / "student", settings=replace(QUICK, steps=4),
                              teacher=teacher, validation=files["val"])  # fmt: skip
    model = DiffusionModel.load(student)
    assert model.distilled and model.default_steps == 1 and model.label == "diffusion (distilled)"
    assert model.config == DiffusionModel.load(teacher).config
    for steps in (1, 2, 4):
        x = model.sample(np.array([3e3, 3e4]), steps=steps, seed=2)
        assert x.shape == (2, 6480) and np.all(np.isfinite(x)) and np.all(x >= 0)
    np.testing.assert_array_equal(model.sample(np.array([3e3]), seed=9), model.sample(np.array([3e3]), seed=9))
    # a distillation continued with a new budget starts from the earlier student, not from the teacher
    more = train_diffusion([files["train"]], tmp_path / "more", settings=replace(QUICK, steps=1, lr=0.0),
                           teacher=teacher, init=student)  # fmt: skip
    (a, b), meta = (_weights(student), _weights(more)), load_tensors(more / "model.safetensors")[1]
    assert meta["init"] == {"run": str(student), "tensors": len([k for k in b if k.startswith("model.")])}
    assert DiffusionModel.load(more).transform.spread_window  # the teacher's spread tables, and how they were fitted
    assert all(torch.equal(a[f"ema.{k[6:]}"], b[k]) for k in b if k.startswith("model."))
    name = "backbone.embed_layers.weight"
    assert not torch.equal(a[f"ema.{name}"], _weights(teacher)[f"ema.{name}"])  # the student had moved away


def test_a_new_run_starts_from_a_trained_run_where_shapes_match(files, tmp_path):
    """Warm start across vector layouts: the format-2 layout (no ring fractions) into the current one."""
    format2 = {"ring_fractions": False, "absolute_cells": False, "energy_moments": False}
    old = train_diffusion([files["train"]], tmp_path / "old", settings=QUICK, config=TINY | format2)
    tensors, meta = load_tensors(old / "model.safetensors")
    save_tensors(old / "model.safetensors", tensors, meta | {"format_version": 2})  # as a format-2 run is stored
    assert not DiffusionModel.load(old).config.ring_fractions  # format 2 reads as the layout without rings
    new = train_diffusion([files["train"]], tmp_path / "new", settings=replace(QUICK, steps=1, lr=0.0), config=TINY,
                          init=old)  # fmt: skip
    a, (b, meta) = _weights(old), load_tensors(new / "model.safetensors")
    shared = [k for k in b if k.startswith("model.") and a[f"ema.{k[6:]}"].shape == b[k].shape]
    assert meta["init"] == {"run": str(old), "tensors": len(shared)} and meta["config"]["ring_fractions"]
    assert "model.backbone.embed_layers.weight" not in shared  # layer tokens now carry ring fractions too
    assert all(torch.equal(a[f"ema.{k[6:]}"], b[k]) for k in shared)


def test_a_run_with_hit_channels_starts_from_one_without(files, tmp_path):
    """Format 5 into format 7: the trained cell embedding and head serve the energies, the hits start at zero."""
    old = train_diffusion([files["train"]], tmp_path / "old", settings=QUICK, config=TINY)
    tensors, meta = load_tensors(old / "model.safetensors")
    save_tensors(old / "model.safetensors", tensors, meta | {"format_version": 5})  # as a format-5 run is stored
    new = train_diffusion([files["train"]], tmp_path / "new", settings=replace(QUICK, steps=1, lr=0.0),
                          config=TINY | {"hit_cells": True}, init=old)  # fmt: skip
    a, b = _weights(old), _weights(new)
    embed, out, bias = (a[f"ema.backbone.{k}"] for k in ("embed.weight", "out.weight", "out.bias"))
    torch.testing.assert_close(b["model.backbone.embed.weight"], torch.cat([embed, torch.zeros_like(embed)], 1))
    torch.testing.assert_close(b["model.backbone.out.weight"], torch.cat([out, torch.zeros_like(out)], 0))
    torch.testing.assert_close(b["model.backbone.out.bias"], torch.cat([bias, torch.zeros_like(bias)]))
    model = DiffusionModel.load(new)
    assert model.config.hit_cells and model.transform.hits
    x = model.sample(np.array([5e3, 5e4]), seed=1)
    assert x.shape == (2, 6480) and np.all(np.isfinite(x)) and np.all(x >= 0)
    assert not DiffusionModel.load(old).config.hit_cells  # format 5 reads without hit channels
    with pytest.raises(CaloforgeError, match="not a student of this layout"):  # its hit weights would be lost
        train_diffusion([files["train"]], tmp_path / "student", settings=QUICK, teacher=new, init=old)
