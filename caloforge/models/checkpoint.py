"""Checkpoints as safetensors + JSON: weights never go through pickle, so a file from anyone is safe to open.

A run folder holds ``model.safetensors`` (the EMA weights, the raw weights, the shower transform; the
model's config JSON in the file's metadata, so the file describes itself) and ``state.safetensors``
(optimizer moments, random-generator state; the step, the optimizer's scalars and the history as JSON
metadata). Writing goes through a temporary file and a rename, so an interrupted save leaves the
previous checkpoint intact.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from caloforge.errors import CaloforgeError

__all__ = ["load_tensors", "optimizer_from_flat", "optimizer_to_flat", "save_tensors"]


def save_tensors(path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, Any]) -> Path:
    """Write tensors with JSON metadata (each value JSON-encoded under its key), atomically."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    flat = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    save_file(flat, str(tmp), metadata={k: json.dumps(v) for k, v in metadata.items()})
    os.replace(tmp, path)
    return path


def load_tensors(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a file written by :func:`save_tensors`; anything else stops with one clear line."""
    path = Path(path)
    if not path.is_file():
        msg = f"{path}: no such checkpoint file"
        raise CaloforgeError(msg)
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = f.metadata() or {}
        tensors = load_file(str(path))
        metadata = {k: json.loads(v) for k, v in raw.items()}
    except (SafetensorError, OSError, ValueError) as err:
        msg = f"{path}: not a caloforge checkpoint (safetensors) file, or it is corrupt ({err})"
        raise CaloforgeError(msg) from None
    return tensors, metadata


def optimizer_to_flat(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """An optimizer ``state_dict`` as named tensors plus JSON-able scalars."""
    tensors, scalars = {}, {"param_groups": state["param_groups"], "state": {}}
    for index, entry in state["state"].items():
        scalars["state"][str(index)] = {}
        for key, value in entry.items():
            if torch.is_tensor(value):
                tensors[f"optimizer.{index}.{key}"] = value
            else:
                scalars["state"][str(index)][key] = value
    return tensors, scalars


def optimizer_from_flat(tensors: dict[str, torch.Tensor], scalars: dict[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`optimizer_to_flat`."""
    state: dict[int, dict[str, Any]] = {int(i): dict(v) for i, v in scalars["state"].items()}
    for name, value in tensors.items():
        if name.startswith("optimizer."):
            _, index, key = name.split(".", 2)
            state.setdefault(int(index), {})[key] = value
    return {"state": state, "param_groups": scalars["param_groups"]}
