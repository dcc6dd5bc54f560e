"""Resumable training state in safetensors + JSON: model, optimizer, step and RNG, no pickle."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from loev_core.checkpoint import atomic_save, model_metadata, read_metadata, read_tensors
from loev_core.model import LOEVModel

TRAIN_STATE = "last.safetensors"


def _optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for pid, st in sd["state"].items():
        for name, v in st.items():
            if torch.is_tensor(v):
                tensors[f"optim.{pid}.{name}"] = v
            else:
                scalars[f"{pid}.{name}"] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def save_train_state(path: Path, model: LOEVModel, opt: torch.optim.Optimizer, step: int,
                     losses: dict[str, float], extra: dict[str, Any]) -> None:
    """Atomically write everything needed to continue training exactly where it stopped."""
    otensors, ometa = _optimizer_tensors(opt)
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()} | otensors
    tensors["rng.torch"] = torch.get_rng_state()
    np_state = np.random.get_state()
    meta = model_metadata(model, kind="train_state", steps=step, last_losses=losses,
                          optimizer=ometa, rng={"numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
                                                "python": _py_state()}, **extra)
    atomic_save(tensors, path, meta)


def _py_state() -> list:
    v, internal, gauss = random.getstate()
    return [v, list(internal), gauss]


def load_train_state(path: Path, model: LOEVModel, opt: torch.optim.Optimizer) -> dict[str, Any]:
    """Restore model/optimizer/RNG from `path`; returns the metadata (with "steps")."""
    meta = read_metadata(path)
    tensors = read_tensors(path)
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    sd = opt.state_dict()
    ometa = meta["optimizer"]
    state: dict[int, dict[str, Any]] = {}
    for k, v in tensors.items():
        if k.startswith("optim."):
            _, pid, name = k.split(".", 2)
            state.setdefault(int(pid), {})[name] = v
    for k, v in ometa["scalars"].items():
        pid, name = k.split(".", 1)
        state.setdefault(int(pid), {})[name] = v
    opt.load_state_dict({"state": state, "param_groups": ometa["param_groups"] or sd["param_groups"]})
    torch.set_rng_state(tensors["rng.torch"])
    n = meta["rng"]["numpy"]
    np.random.set_state((n[0], np.array(n[1], dtype=np.uint32), *n[2:]))
    p = meta["rng"]["python"]
    random.setstate((p[0], tuple(p[1]), p[2]))
    return meta
