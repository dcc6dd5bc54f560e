"""Checkpoints: round trip, and every hostile file refused with a clear error and nothing executed."""

import json
import os
import pickle
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from loev_core import CheckpointError, ExperimentConfig, build_model, load_model, save_model
from loev_core.checkpoint import atomic_save, checkpoint_id, checkpoint_label, model_id, read_metadata
from loev_core.config import ModelConfig


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    m = build_model(ExperimentConfig(model=ModelConfig(kind="loevpp")))
    return save_model(m, tmp_path_factory.mktemp("ck") / "m", steps=3)


def test_round_trip_same_outputs(ckpt: Path) -> None:
    m = load_model(ckpt)
    assert not m.training and m.kind == "loevpp" and m.metadata["steps"] == 3
    meta = json.loads((ckpt / "model.json").read_text())
    for key in ("format_version", "model_kind", "subspaces", "variant_augs", "frontend", "sample_rate",
                "clip_seconds", "created", "package_version"):
        assert key in meta
    x = torch.randn(2, 48000) * 0.1
    a, b = m.embed(x, 16000), load_model(ckpt / "model.safetensors").embed(x, 16000)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_truncated(ckpt: Path, tmp_path: Path) -> None:
    data = (ckpt / "model.safetensors").read_bytes()
    for n in (4, len(data) // 2, len(data) - 10):
        p = tmp_path / f"t{n}.safetensors"
        p.write_bytes(data[:n])
        with pytest.raises(CheckpointError, match=f"{p.name}.*truncated"):
            load_model(p)


def test_random_bytes(tmp_path: Path) -> None:
    p = tmp_path / "noise.safetensors"
    p.write_bytes(os.urandom(4096))
    with pytest.raises(CheckpointError, match="noise.safetensors"):
        load_model(p)


class Boom:
    def __reduce__(self):
        return (Path.touch, (Path(os.environ["LOEV_PWNED"]),))


def test_pickle_refused_and_not_executed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "pwned"
    monkeypatch.setenv("LOEV_PWNED", str(marker))
    for name, payload in [("evil.safetensors", pickle.dumps(Boom())), ("evil.pt", None)]:
        p = tmp_path / name
        if payload is None:
            torch.save({"x": Boom()}, p)  # zip container holding the same pickle
        else:
            p.write_bytes(payload)
        with pytest.raises(CheckpointError, match="pickle"):
            load_model(p)
    assert not marker.exists()


def test_newer_format_version(tmp_path: Path) -> None:
    p = tmp_path / "new.safetensors"
    save_file({"w": torch.zeros(1)}, str(p), metadata={"loev": json.dumps({"format_version": 99})})
    with pytest.raises(CheckpointError, match="newer"):
        load_model(p)


def test_foreign_safetensors(tmp_path: Path) -> None:
    p = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(1)}, str(p))
    with pytest.raises(CheckpointError, match="not a LOEV checkpoint"):
        load_model(p)


def test_weights_not_matching_config(ckpt: Path, tmp_path: Path) -> None:
    meta = read_metadata(ckpt)
    meta["config"]["model"]["kind"] = "simclr"
    m = build_model(ExperimentConfig(model=ModelConfig(kind="loevpp")))
    p = tmp_path / "mismatch.safetensors"
    atomic_save(m.state_dict(), p, meta)
    with pytest.raises(CheckpointError, match="do not match"):
        load_model(p)


def test_failed_write_keeps_previous(ckpt: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import loev_core.checkpoint as C

    target = tmp_path / "keep.safetensors"
    m = load_model(ckpt)
    atomic_save(m.state_dict(), target, read_metadata(ckpt))
    before = target.read_bytes()

    def disk_full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(C, "save_file", disk_full)
    with pytest.raises(OSError):
        atomic_save(m.state_dict(), target, read_metadata(ckpt))
    assert target.read_bytes() == before
    assert list(tmp_path.glob(".keep*")) == []
    load_model(target)


def test_header_size_lies(tmp_path: Path) -> None:
    p = tmp_path / "liar.safetensors"
    p.write_bytes(struct.pack("<Q", 10**12) + b"{}")
    with pytest.raises(CheckpointError, match="truncated|not a safetensors"):
        load_model(p)


@pytest.mark.parametrize("target, mod", [(0x80, 256), (0x4B50, 65536)])  # first bytes 0x80 / "PK"
def test_header_size_that_looks_like_a_pickle_still_loads(ckpt: Path, tmp_path: Path, target: int, mod: int) -> None:
    """A header length whose first bytes happen to read like a pickle or a zip is still a checkpoint."""
    meta = read_metadata(ckpt)
    p = tmp_path / "lucky.safetensors"
    pad = 0
    for _ in range(5):  # converge on a header size n with n % mod == target (safetensors pads to 8)
        meta["padding"] = "x" * pad
        atomic_save({"w": torch.zeros(2)}, p, meta)
        n = struct.unpack("<Q", p.read_bytes()[:8])[0]
        if n % mod == target:
            break
        pad += (target - n) % mod
    assert n % mod == target
    assert read_metadata(p)["padding"] == "x" * pad


def test_model_identity_is_its_weights(ckpt: Path, tmp_path: Path) -> None:
    """One id per model: the loaded model's `model_id` is its file's `checkpoint_id`; a re-export of the same
    weights (new metadata, new timestamp) keeps it; changing one weight changes it."""
    m = load_model(ckpt)
    assert model_id(m) == checkpoint_id(ckpt) == checkpoint_id(ckpt / "model.safetensors")
    copy = save_model(m, tmp_path / "copy", note="re-exported")
    assert (copy / "model.safetensors").read_bytes() != (ckpt / "model.safetensors").read_bytes()
    assert checkpoint_id(copy) == checkpoint_id(ckpt)
    with torch.no_grad():
        next(m.parameters()).add_(1.0)
    assert model_id(m) != checkpoint_id(ckpt) and checkpoint_id(save_model(m, tmp_path / "changed")) == model_id(m)


def test_checkpoint_label(tmp_path: Path) -> None:
    assert checkpoint_label("runs/demo-loev") == "demo-loev"
    assert checkpoint_label("runs/demo-loev/model.safetensors") == "demo-loev"
    assert checkpoint_label("runs/exp1/checkpoints/last.safetensors") == "exp1"
    assert checkpoint_label("uploads/mine.safetensors") == "mine"
    (tmp_path / "weights.bin").write_bytes(b"")
    assert checkpoint_label(tmp_path / "weights.bin") == "weights" and checkpoint_label("/") == "model"
