"""`loev train` refuses what would lose a run or train on the wrong rows, in one line, before writing anything:
a fresh run into another run's folder, a resume whose --set no longer fits its checkpoint, a manifest whose
test rows would be trained on, missing or empty data, a batch of one."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from loev_core.cli import main as loev
from tests.train.test_train import write_cfg


def digest(folder: Path) -> dict[str, str]:
    """Every file under `folder` and its content hash: what "nothing was changed" means."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def finished(tiny_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A finished 6-step run of the tiny config (and that config)."""
    root = tmp_path_factory.mktemp("refusals")
    cfg = write_cfg(root, tiny_corpus)
    run = root / "run"
    assert loev(["train", "--config", str(cfg), "--run-dir", str(run), "--no-progress"]) == 0
    return cfg, run


def test_a_fresh_run_into_a_run_folder_is_refused_and_the_run_kept(finished, capsys) -> None:
    cfg, run = finished
    before = digest(run)
    assert loev(["train", "--config", str(cfg), "--run-dir", str(run), "--no-progress",
                 "--set", "train.steps=2"]) == 2
    err = capsys.readouterr().err
    assert "already holds a run" in err and f"--resume {run}" in err and "Traceback" not in err
    assert digest(run) == before


def test_a_resume_whose_settings_do_not_fit_leaves_the_run_resumable(finished, tmp_path: Path, capsys) -> None:
    _, run = finished
    copy = tmp_path / "copy"
    copy.mkdir()
    for name, _ in digest(run).items():
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        (copy / name).write_bytes((run / name).read_bytes())
    before = digest(copy)
    assert loev(["train", "--resume", str(copy), "--set", "model.width=16", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "does not fit these settings" in err and "Traceback" not in err
    assert digest(copy) == before  # config.yaml untouched: a plain resume still works
    assert loev(["train", "--resume", str(copy), "--no-progress"]) == 0
    assert "already at step 6 of 6: nothing to do" in capsys.readouterr().out
    assert loev(["train", "--resume", str(copy), "--set", "train.steps=8", "--no-progress"]) == 0
    assert digest(copy)["model/model.safetensors"] != before["model/model.safetensors"]  # trained on to step 8


def test_resume_takes_neither_a_config_nor_a_run_dir(finished, capsys) -> None:
    cfg, run = finished
    assert loev(["train", "--resume", str(run), "--config", str(cfg)]) == 2
    assert loev(["train", "--resume", str(run), "--run-dir", str(run.parent / "other")]) == 2
    assert "leave out --config" in capsys.readouterr().err and not (run.parent / "other").exists()


@pytest.mark.parametrize("over, told", [
    ({"split": ""}, "has a split column (test 6, train 18)"),  # the tiny corpus: 18 train, 6 test clips
    ({"split": "val"}, "no rows in split 'val'"),
    ({"data": "/nonexistent/corpus"}, "no such folder or manifest"),
    ({"batch_size": 1}, "batch_size must be >= 2"),
])
def test_bad_training_data_is_refused_before_a_run_folder_appears(tiny_corpus: Path, tmp_path: Path, capsys,
                                                                  over: dict, told: str) -> None:
    cfg = write_cfg(tmp_path, tiny_corpus, train=over)
    run = tmp_path / "run"
    assert loev(["train", "--config", str(cfg), "--run-dir", str(run), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert told in err and "Traceback" not in err, err
    assert not run.exists()


def test_every_row_on_purpose_and_an_empty_folder(tiny_corpus: Path, tmp_path: Path, capsys) -> None:
    cfg = write_cfg(tmp_path, tiny_corpus, train={"split": "*", "steps": 1})
    assert loev(["train", "--config", str(cfg), "--run-dir", str(tmp_path / "all"), "--no-progress"]) == 0
    empty = tmp_path / "empty"
    empty.mkdir()
    cfg = write_cfg(tmp_path, empty)
    assert loev(["train", "--config", str(cfg), "--run-dir", str(tmp_path / "run"), "--no-progress"]) == 2
    assert "no audio files" in capsys.readouterr().err and not (tmp_path / "run").exists()


def test_processes_that_cannot_share_the_batch_or_missing_gpus(tiny_corpus: Path, tmp_path: Path, capsys,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Checked before a run folder exists (a spawned process's traceback used to leave one that blocked the
    corrected retry)."""
    import loev_core.cli.train as cli_train

    cfg = write_cfg(tmp_path, tiny_corpus)  # batch size 4
    run = tmp_path / "run"
    assert loev(["train", "--config", str(cfg), "--run-dir", str(run), "--devices", "3", "--no-progress"]) == 2
    assert "cannot be shared by 3 processes" in capsys.readouterr().err and not run.exists()
    monkeypatch.setattr(cli_train, "_cuda_count", lambda: 0)  # a machine without CUDA, whatever this one has
    assert loev(["train", "--config", str(cfg), "--run-dir", str(run), "--accelerator", "gpu", "--no-progress"]) == 2
    assert "needs 1 CUDA device(s) and this machine has 0" in capsys.readouterr().err and not run.exists()
