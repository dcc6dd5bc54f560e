"""Mixed corpora and the training record: shares of a mixed batch, content hashes, and a stage history
that survives fine-tunes (train.init), resumes and export."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from loev_core.audio import resolve_corpus
from loev_core.checkpoint import read_metadata
from loev_core.cli import main as loev
from loev_core.config import ConfigError
from loev_core.config_parse import config_from_dict
from loev_core.train.data import mixed_items
from loev_core.train.provenance import content_hash
from tests.train.test_train import write_cfg


def test_mixed_items_give_the_asked_share() -> None:
    items = mixed_items(3000, 88, 0.5)
    mix = sum(i >= 3000 for i in items)
    assert mix / len(items) == pytest.approx(0.5, abs=0.01)
    assert set(items) == set(range(3088))  # every clip of both corpora is drawn
    assert mixed_items(10, 0, 0.0) == list(range(10))
    assert sum(i >= 10 for i in mixed_items(10, 40, 0.2)) == 40  # a big mix corpus is listed once


def test_mix_config_is_checked() -> None:
    with pytest.raises(ConfigError, match="mix_share"):
        config_from_dict({"train": {"mix_data": "x", "mix_share": 1.0}})
    with pytest.raises(ConfigError, match="go together"):
        config_from_dict({"train": {"mix_data": "x"}})


def test_content_hash_follows_the_bytes_not_the_folder(tiny_corpus: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(tiny_corpus, copy)
    clips, copied = resolve_corpus(tiny_corpus), resolve_corpus(copy)
    assert content_hash(clips) == content_hash(copied)
    first = Path(copied[0].path)
    first.write_bytes(first.read_bytes() + b"\0")
    assert content_hash(copied) != content_hash(clips)
    assert content_hash(clips[:-1]) != content_hash(clips)


def test_mixed_training_records_both_corpora_and_every_stage(tiny_corpus: Path, tmp_path: Path) -> None:
    """A run on one corpus, then a fine-tune mixing in a second one, then a resume to more steps: the
    exported model lists both corpora (counts, shares, hashes) and all three stages in order."""
    other = tmp_path / "other"
    shutil.copytree(tiny_corpus, other)
    (other / "audio" / "clip000.ogg").unlink()  # a different corpus: one file fewer
    base = tmp_path / "base"
    assert loev(["train", "--config", str(write_cfg(tmp_path, tiny_corpus, train={"steps": 2})),
                 "--run-dir", str(base), "--no-progress"]) == 0
    (tmp_path / "cfg.yaml").unlink()
    cfg = write_cfg(tmp_path, tiny_corpus, train={"steps": 3, "init": str(base / "model"),
                                                 "mix_data": str(other), "mix_split": "*", "mix_share": 0.5})
    ft = tmp_path / "ft"
    assert loev(["train", "--config", str(cfg), "--run-dir", str(ft), "--no-progress"]) == 0
    assert loev(["train", "--resume", str(ft), "--set", "train.steps=4", "--no-progress"]) == 0
    out = tmp_path / "exported"
    assert loev(["export", str(ft), "--out", str(out)]) == 0
    meta = read_metadata(out / "model.safetensors")

    main, mixed = meta["data"]["corpora"]
    n_train = len(resolve_corpus(tiny_corpus, split="train"))
    assert (main["source"], main["clips"], main["share"]) == (str(tiny_corpus), n_train, 0.5)
    assert (mixed["source"], mixed["clips"], mixed["share"]) == (str(other), len(resolve_corpus(other)), 0.5)
    assert main["sha256"] == content_hash(resolve_corpus(tiny_corpus, split="train"))
    assert mixed["sha256"] == content_hash(resolve_corpus(other)) != main["sha256"]
    assert meta["data"]["clips"] == main["clips"] + mixed["clips"]

    stages = meta["history"]
    assert [(s["run"], s["from_step"], s["to_step"]) for s in stages] == [("base", 0, 2), ("ft", 0, 3),
                                                                        ("ft", 3, 4)]
    assert len(stages[0]["data"]["corpora"]) == 1 and len(stages[1]["data"]["corpora"]) == 2
    assert stages[1]["config"]["train"]["init"] == str(base / "model")
    assert [s["config"]["train"]["steps"] for s in stages] == [2, 3, 4]

    from loev_core.explore.runinfo import model_card  # the Models page says the same

    card = model_card(out / "model.safetensors")
    assert card["training stages"] == "base to step 2 → ft to step 3 → ft to step 4"
    assert f"from {other}" in card["training data"] and "50 % of a batch" in card["training data"]


def test_history_of_an_older_checkpoint_is_summarised(tmp_path: Path) -> None:
    """A fine-tune from a checkpoint saved before histories existed records that checkpoint's metadata as
    one summarised stage, so nothing about it is lost."""
    from loev_core.train.provenance import inherited_history

    bundled = Path(__file__).resolve().parents[2] / "assets" / "checkpoints" / "demo-simclr"
    meta = read_metadata(bundled / "model.safetensors")
    stages = inherited_history(str(bundled))
    if "history" in meta:
        assert stages == meta["history"]
    else:
        assert stages[0]["summarised"] and stages[0]["to_step"] == meta["steps"]
        assert stages[0]["config"] == meta["config"]
