"""Fuzzing `read_metadata` and `load_model`: mutated checkpoints (header length, header JSON, tensor entries,
LOEV metadata, weights' shapes, dtypes and values, plain bytes) give a model with finite weights or a
CheckpointError naming the file, nothing else; nothing is unpickled and no forged size is allocated."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
import torch
from hypothesis import example, given

from loev_core import ExperimentConfig, build_model
from loev_core.bench.fuzz import Tally, ci_budget, run_case
from loev_core.bench.fuzz_checkpoints import checkpoint_cases, checkpoint_seed, pack, split
from loev_core.bench.fuzz_inputs import Case
from loev_core.checkpoint import CheckpointError, declared_size, load_model
from loev_core.config import AudioConfig, ModelConfig

TALLY = Tally()
FUZZ_CLASS = "checkpoint"  # tests/fuzz/conftest.py prints TALLY under this name


def edited(note: str, header: bytes | None = None, meta: dict | None = None, length: int | None = None) -> Case:
    """The seed checkpoint with its header, its LOEV metadata or its header length replaced."""
    data = checkpoint_seed()[0]
    hdr, body = split(data)
    if meta is not None:
        hdr["__metadata__"]["loev"] = json.dumps(meta)
    out = pack(header if header is not None else hdr, body)
    if length is not None:
        out = struct.pack("<Q", length) + out[8:]
    return Case({"ckpt.safetensors": out}, "ckpt.safetensors", note)


def seed_meta(**config: dict) -> dict:
    meta = json.loads(split(checkpoint_seed()[0])[0]["__metadata__"]["loev"])
    for section, values in config.items():
        meta["config"][section].update(values)
    return meta


@pytest.mark.timeout(180)
@ci_budget(200)
@given(case=checkpoint_cases())
@example(case=edited("header length 2**64 - 1", length=2**64 - 1))
@example(case=edited("header not UTF-8", header=b"\xff\xfe{}"))
@example(case=edited("header nested too deeply", header=b"[" * 100_000))
@example(case=edited("header number too long", header=b"1" * 5000))
@example(case=edited("tensor entry without offsets", header=b'{"w": {"dtype": "F32", "shape": [1]}}'))
@example(case=edited("metadata not a string", header=b'{"__metadata__": {"loev": 5}}'))
@example(case=edited("metadata a list", meta=[1, 2]))  # type: ignore[arg-type]
@example(case=edited("width 2**31", meta=seed_meta(model={"width": 2**31})))
def test_checkpoints_load_or_name_the_file(case: Case) -> None:
    TALLY.outcomes[run_case("checkpoint", case)] += 1


def test_nan_weights_are_refused(tmp_path: Path) -> None:
    from safetensors.torch import load, save

    data = checkpoint_seed()[0]
    tensors = load(data)
    tensors["heads.invariant.0.weight"][0, 0] = float("nan")
    (tmp_path / "nan.safetensors").write_bytes(save(tensors, metadata=split(data)[0]["__metadata__"]))
    with pytest.raises(CheckpointError, match="nan.safetensors: NaN or infinite weights in heads.invariant.0.weight"):
        load_model(tmp_path / "nan.safetensors")


def test_forged_sizes_are_refused_before_building(tmp_path: Path) -> None:
    """A config asking for a model of terabytes is refused by counting, not by trying to allocate it."""
    p = tmp_path / "huge.safetensors"
    p.write_bytes(edited("", meta=seed_meta(model={"width": 2**20}, audio={"n_mels": 2**20})).files["ckpt.safetensors"])
    with pytest.raises(CheckpointError, match="huge.safetensors: weights do not match the config"):
        load_model(p)


@pytest.mark.parametrize("encoder", ["compact", "compact_rhythm", "resnet"])
@pytest.mark.parametrize("kind", ["simclr", "loev", "loevpp"])
def test_declared_size_counts_what_build_model_makes(encoder: str, kind: str) -> None:
    """`declared_size` mirrors LOEVModel.__init__: it must count exactly the state the real model has."""
    cfg = ExperimentConfig(model=ModelConfig(kind=kind, encoder=encoder, width=4, head_hidden=8, head_out=4),
                           audio=AudioConfig(n_mels=16, n_fft=256, win_length=200, hop_length=128)).validate()
    torch.manual_seed(0)
    assert declared_size(cfg) == sum(t.numel() for t in build_model(cfg).state_dict().values())
