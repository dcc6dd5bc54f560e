"""Fine-tuning: start from an exported checkpoint (train.init) and train only some parameters
(train.trainable); everything else, batch-norm statistics included, stays bit for bit as it was."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from loev_core import load_model
from loev_core.cli import main as loev
from tests.train.test_train import write_cfg


def test_head_only_fine_tune_leaves_the_rest_untouched(tiny_corpus: Path, tmp_path: Path) -> None:
    cfg = write_cfg(tmp_path, tiny_corpus, model={"kind": "loevpp"}, train={"steps": 3})
    assert loev(["train", "--config", str(cfg), "--run-dir", str(tmp_path / "base"), "--no-progress"]) == 0
    base = tmp_path / "base" / "model"
    run = tmp_path / "tuned"
    assert loev(["train", "--config", str(cfg), "--run-dir", str(run), "--no-progress",
                 "--set", f"train.init={base}", "--set", "train.trainable=[heads.pitch_shift]",
                 "--set", "loss.graded.pitch_shift=1.5"]) == 0
    before, after = load_model(base).state_dict(), load_model(run / "model").state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("heads.pitch_shift") for k in changed), changed
    assert any("running_mean" in k for k in before)  # the encoder has batch norms, and they did not move
    from loev_core.explore.runinfo import model_card

    assert model_card(run / "model")["fine-tuned from"] == f"{base} (training heads.pitch_shift)"
    # resuming a fine-tune keeps its frozen set (the optimizer state matches the trainable parameters)
    assert loev(["train", "--resume", str(run), "--no-progress", "--set", "train.steps=4"]) == 0
    again = load_model(run / "model").state_dict()
    assert all(torch.equal(before[k], again[k]) for k in before if not k.startswith("heads.pitch_shift"))


def test_fine_tuning_mistakes_are_refused_before_training(tiny_corpus: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    cfg = write_cfg(tmp_path, tiny_corpus, model={"kind": "simclr"}, train={"steps": 1})
    assert loev(["train", "--config", str(cfg), "--run-dir", str(tmp_path / "simclr"), "--no-progress"]) == 0
    other = write_cfg(tmp_path, tiny_corpus, model={"kind": "loevpp"})
    cases = {"another architecture": [f"train.init={tmp_path / 'simclr' / 'model'}"],
             "matches no parameter": ["train.trainable=[heads.pitch]"],
             "not found": [f"train.init={tmp_path / 'missing'}"]}
    for message, sets in cases.items():
        args = [a for s in sets for a in ("--set", s)]
        assert loev(["train", "--config", str(other), "--run-dir", str(tmp_path / "x"), "--no-progress", *args]) == 2
        assert message in capsys.readouterr().err.lower(), message
    assert not (tmp_path / "x" / "checkpoints").exists()
