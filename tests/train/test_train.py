"""A small real run: train, kill -9, resume, export; DDP with 2 CPU processes matches one process."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
import yaml

from loev_core import ExperimentConfig, load_model
from loev_core.checkpoint import CheckpointError, read_metadata
from loev_core.cli import main as loev
from loev_core.config_parse import config_from_dict

# the single-process runs take about a second each (the inner loop); the multi-process ones are slow
TINY = {"model": {"kind": "loev", "width": 8, "head_hidden": 32, "head_out": 16},
        "audio": {"clip_seconds": 1.0},
        "train": {"batch_size": 4, "steps": 6, "lr": 0.001, "warmup_steps": 2, "num_workers": 0,
                  "checkpoint_every": 1, "log_every": 1, "seed": 3, "split": "train"}}


def write_cfg(tmp: Path, corpus: Path, **over: dict) -> Path:
    data = yaml.safe_load(yaml.safe_dump(TINY))
    data["train"]["data"] = str(corpus)
    for section, kv in over.items():
        data.setdefault(section, {}).update(kv)
    p = tmp / "cfg.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def losses(run: Path) -> list[float]:
    with (run / "metrics.csv").open() as f:
        return [float(r["loss"]) for r in csv.DictReader(f)]


def test_train_resume_export(tiny_corpus: Path, tmp_path: Path) -> None:
    cfg = write_cfg(tmp_path, tiny_corpus)
    full = tmp_path / "full"
    assert loev(["train", "--config", str(cfg), "--run-dir", str(full), "--no-progress"]) == 0
    assert (full / "model" / "model.safetensors").exists()
    assert read_metadata(full / "model")["steps"] == 6
    curve = losses(full)
    assert len(curve) == 6 and all(x == x for x in curve)
    assert list((full / "tensorboard").iterdir())

    # stop after 3 steps (as if killed right after a checkpoint), then resume: same curve
    part = tmp_path / "part"
    assert loev(["train", "--config", str(cfg), "--run-dir", str(part), "--no-progress", "--stop-after", "3"]) == 0
    assert not (part / "model").exists()
    with pytest.raises(CheckpointError, match="a training run without its final model yet"):
        load_model(part)  # says what the folder is and what to do
    assert loev(["train", "--resume", str(part), "--no-progress"]) == 0
    assert load_model(part).metadata["steps"] == 6  # a finished run folder loads as its model
    assert losses(part) == pytest.approx(curve, rel=1e-4, abs=1e-5)

    out = tmp_path / "exported"
    assert loev(["export", str(full), "--out", str(out)]) == 0
    m = load_model(out)
    assert m.subspaces[:2] == ["V", "Z.invariant"] and "optimizer" not in m.metadata


def first_row(run: Path) -> dict[str, float]:
    with (run / "metrics.csv").open() as f:
        return {k: float(v) for k, v in next(csv.DictReader(f)).items()}


def test_graded_pitch_head_trains_on_the_real_shifts(tiny_corpus: Path, tmp_path: Path) -> None:
    """Same seed, same views: the graded runs' invariant loss is unchanged while their pitch head's loss
    differs (it saw the drawn semitones; the log form differs again), and the checkpoint records the graded
    scale and form."""
    cfg = write_cfg(tmp_path, tiny_corpus, train={"steps": 2})
    runs = {}
    graded_args = ["--set", "loss.graded.pitch_shift=2"]
    for name, extra in (("plain", []), ("graded", graded_args),
                        ("log", [*graded_args, "--set", "loss.graded_form=log"])):
        runs[name] = tmp_path / name
        assert loev(["train", "--config", str(cfg), "--run-dir", str(runs[name]), "--no-progress", *extra]) == 0
    plain, graded = first_row(runs["plain"]), first_row(runs["graded"])
    assert graded["loss.invariant"] == pytest.approx(plain["loss.invariant"], rel=1e-5)
    assert graded["loss.pitch_shift"] != pytest.approx(plain["loss.pitch_shift"], rel=1e-3)
    assert read_metadata(runs["graded"] / "model")["config"]["loss"]["graded"] == {"pitch_shift": 2.0}
    log = first_row(runs["log"])  # the log form reaches the trainer: same views, another pitch loss
    assert log["loss.invariant"] == pytest.approx(plain["loss.invariant"], rel=1e-5)
    assert log["loss.pitch_shift"] != pytest.approx(graded["loss.pitch_shift"], rel=1e-3)
    assert read_metadata(runs["log"] / "model")["config"]["loss"]["graded_form"] == "log"
    assert load_model(runs["graded"] / "model").subspaces[:2] == ["V", "Z.invariant"]


@pytest.mark.slow
def test_kill9_then_resume(tiny_corpus: Path, tmp_path: Path) -> None:
    cfg = write_cfg(tmp_path, tiny_corpus, train={"steps": 12})
    ref = tmp_path / "ref"
    assert loev(["train", "--config", str(cfg), "--run-dir", str(ref), "--no-progress"]) == 0
    run = tmp_path / "killed"
    cmd = [sys.executable, "-m", "loev_core.cli", "train", "--config", str(cfg), "--run-dir", str(run),
           "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = run / "checkpoints" / "last.safetensors"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if ckpt.exists() and read_metadata(ckpt)["steps"] >= 4:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = read_metadata(ckpt)["steps"]
    assert 1 <= killed_at < 12, "the run should have been killed mid-way"
    assert loev(["train", "--resume", str(run), "--no-progress"]) == 0
    assert losses(run) == pytest.approx(losses(ref), rel=1e-4, abs=1e-5)


def _ddp_worker(rank: int, world: int, port: int, cfg_dict: dict, views: dict, out: dict) -> None:
    from loev_core.train import distributed as D

    D.init_process(rank, world, "gloo", port=port)
    try:
        out[rank] = _one_step(config_from_dict(cfg_dict), views, rank, world)
    finally:
        D.dist.destroy_process_group()


def _one_step(cfg: ExperimentConfig, views: dict, rank: int, world: int) -> tuple[float, float]:
    from types import SimpleNamespace

    from torch.nn.parallel import DistributedDataParallel as DDP

    from loev_core.model import build_model
    from loev_core.train import distributed as D
    from loev_core.train.loop import compute_loss

    torch.manual_seed(0)
    model = build_model(cfg)
    if world > 1:
        D.convert_sync_bn(model)
    net = DDP(model) if world > 1 else model
    n = views["waves"].shape[0] // world
    sl = slice(rank * n, (rank + 1) * n)
    applied = {k: SimpleNamespace(flag=f[sl]) for k, f in views["flags"].items()}
    v = SimpleNamespace(waves=views["waves"][sl], clip_ids=views["clip_ids"][sl] - views["clip_ids"][sl].min(),
                        applied=applied)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = compute_loss(net, cfg, v)["total"]
    loss.backward()
    opt.step()
    return float(loss.detach()), float(sum(p.detach().double().sum() for p in model.parameters()))


@pytest.mark.slow
def test_ddp_two_cpu_processes_match_single_process() -> None:
    cfg = config_from_dict(TINY)
    g = torch.Generator().manual_seed(0)
    views = {"waves": torch.randn(8, 16000, generator=g) * 0.1, "clip_ids": torch.arange(4).repeat_interleave(2),
             "flags": {k: torch.rand(8, generator=g) > 0.5 for k in ("pitch_shift", "time_stretch")}}
    single = _one_step(cfg, views, 0, 1)
    from loev_core.train.distributed import free_port

    manager = mp.Manager()
    out = manager.dict()
    mp.spawn(_ddp_worker, args=(2, free_port(), cfg.to_dict(), views, out), nprocs=2, join=True)
    for r in (0, 1):
        assert out[r][0] == pytest.approx(single[0], rel=1e-5)  # same global-batch loss on every rank
        assert out[r][1] == pytest.approx(single[1], rel=1e-5)  # same update after DDP gradient averaging


@pytest.mark.slow
def test_trainer_two_processes_same_curve_as_one(tiny_corpus: Path, tmp_path: Path) -> None:
    """`loev train --devices 2` with deterministic views (no random augmentation) = one process."""
    no_aug = {"augment": {"base": {}, "variant": {"pitch_shift": {"p": 0.0}, "time_stretch": {"p": 0.0}}},
              "train": {"steps": 3}}
    cfg = write_cfg(tmp_path, tiny_corpus, **no_aug)
    one, two = tmp_path / "one", tmp_path / "two"
    assert loev(["train", "--config", str(cfg), "--run-dir", str(one), "--no-progress"]) == 0
    assert loev(["train", "--config", str(cfg), "--run-dir", str(two), "--no-progress", "--devices", "2"]) == 0
    assert losses(two) == pytest.approx(losses(one), rel=1e-3)


def test_cached_audio_and_bad_files_skipped(tiny_corpus: Path, tmp_path: Path) -> None:
    """`train.cache_audio` decodes once; an unreadable file in the corpus is skipped, not fatal."""
    import shutil

    corpus = tmp_path / "corpus"
    shutil.copytree(tiny_corpus, corpus)
    (corpus / "audio" / "clip000.ogg").write_bytes(b"not audio at all")
    cfg = write_cfg(tmp_path, corpus, train={"steps": 2, "cache_audio": True})
    run = tmp_path / "cached"
    assert loev(["train", "--config", str(cfg), "--run-dir", str(run), "--no-progress"]) == 0
    meta = read_metadata(run / "model")
    assert meta["steps"] == 2 and meta["data"]["clips"] == 18
    # the file that failed to decode is counted once and never drawn (not replaced by copies of other windows)
    assert (meta["data"]["skipped_files"], meta["data"]["unreadable_draws"]) == (1, 0)
    cfg = write_cfg(tmp_path, corpus, train={"steps": 5, "cache_audio": False})  # 20 draws: every file once
    run = tmp_path / "streamed"  # decoded at crop time: a bad file is only found when drawn, and each draw counts
    assert loev(["train", "--config", str(cfg), "--run-dir", str(run), "--no-progress"]) == 0
    meta = read_metadata(run / "model")
    assert meta["data"]["skipped_files"] == 0 and meta["data"]["unreadable_draws"] >= 1
