"""The training loop: DDP on torch.distributed, batched on-device augmentation, atomic checkpoints.

Batches and augmentations are pure functions of (seed, step, rank), and the optimizer state is in the
checkpoint, so `--resume` after a kill -9 continues the same loss curve.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.multiprocessing as mp
import yaml
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader

from loev_core.audio import resolve_corpus
from loev_core.augment import make_views
from loev_core.checkpoint import save_model
from loev_core.config import ExperimentConfig
from loev_core.config_parse import config_from_dict
from loev_core.losses import loev_loss
from loev_core.model import LOEVModel, build_model
from loev_core.train import distributed as D
from loev_core.train.data import CropDataset, StepBatchSampler, collate_crops, long_tracks, mixed_items
from loev_core.train.finetune import freeze_norm_statistics, init_weights, trainable_parameters
from loev_core.train.preflight import split_filter
from loev_core.train.provenance import CorpusRecord, corpus_record, data_summary, history_so_far, stage_record
from loev_core.train.record import RunReport
from loev_core.train.state import TRAIN_STATE, load_train_state, save_train_state


def lr_at(step: int, base_lr: float, warmup: int, total: int) -> float:
    """Linear warm-up then cosine decay to 1% of the base rate."""
    if step < warmup:
        return base_lr * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return base_lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


def seed_for(*parts: int) -> int:
    return hash(tuple(parts)) & 0x7FFFFFFFFFFF


def views_for(cfg: ExperimentConfig, windows: torch.Tensor, micro_step: int, rank: int):
    """Augmented views of one micro-batch, deterministic in (seed, micro_step, rank)."""
    gen = torch.Generator().manual_seed(seed_for(cfg.train.seed, micro_step, rank, 17))
    a = cfg.augment
    return make_views(windows, cfg.audio.sample_rate, cfg.audio.clip_samples, a.n_views, a.crop,
                      a.base, a.variant, gen)


def compute_loss(model: torch.nn.Module, cfg: ExperimentConfig, views) -> dict[str, torch.Tensor]:
    device = next(model.parameters()).device
    out = model(views.waves.to(device))
    heads = cfg.model.heads
    z = {h: out[f"Z.{h}"] for h in heads}
    flags = {h: views.applied[h].flag for h in heads if h != "invariant"}
    values = {h: views.applied[h].value for h in cfg.loss.graded}
    return loev_loss(z, views.clip_ids.to(device), flags, cfg.loss.temperature, cfg.loss.weights,
                     values, cfg.loss.graded, cfg.loss.graded_temperature, cfg.loss.graded_form)


def _worker(rank: int, world: int, cfg_dict: dict[str, Any], run_dir: str, resume: bool, accelerator: str,
            port: int | None, stop_after: int | None, progress: bool) -> None:
    cfg = config_from_dict(cfg_dict)
    if world > 1:
        backend = "nccl" if accelerator == "gpu" else "gloo"
        D.init_process(rank, world, backend, port=port)
    local = int(os.environ.get("LOCAL_RANK", rank))
    device = torch.device(f"cuda:{local}" if accelerator == "gpu" else "cpu")
    try:
        _train(cfg, Path(run_dir), resume, device, rank, world, stop_after, progress)
    finally:
        if world > 1:
            D.dist.destroy_process_group()


@dataclass(frozen=True)
class _Setup:
    """The model and optimizer, and the step training starts from (0, or the resumed state's)."""

    model: LOEVModel
    net: torch.nn.Module  # `model`, wrapped in DDP when there are several processes
    opt: torch.optim.Optimizer
    start: int
    ckpt: Path  # the resumable training state
    history: list[dict[str, Any]]  # the stages before this one (provenance.history_so_far)


@dataclass(frozen=True)
class _Data:
    """Micro-batches of raw windows for the remaining steps, and the corpora they come from."""

    loader: DataLoader
    corpora: tuple[CorpusRecord, ...]
    unreadable_files: int  # files left out of the draws (decoded up front: `train.cache_audio`)

    def summary(self, unreadable_draws: int) -> dict[str, Any]:
        """The corpora as recorded in checkpoints."""
        return data_summary(self.corpora, self.unreadable_files, unreadable_draws)


@dataclass(frozen=True)
class _Precision:
    """Mixed precision on CUDA (bf16, or fp16 with a loss scaler); full precision elsewhere."""

    enabled: bool
    dtype: torch.dtype
    scaler: torch.amp.GradScaler


@dataclass
class _Progress:
    """Where the loop is: optimizer steps and micro-batches done, and the losses of the step under way."""

    step: int
    micro: int
    losses: dict[str, float] = field(default_factory=dict)  # mean over the step's micro-batches so far
    last: dict[str, float] = field(default_factory=dict)  # of the last finished step
    unreadable_draws: int = 0  # draws of a file that failed to decode, replaced by a good window of the batch


def _setup(cfg: ExperimentConfig, run_dir: Path, resume: bool, device: torch.device, world: int) -> _Setup:
    """Seeded model (with `train.init` weights unless resuming), optimizer, and the saved state when resuming."""
    t = cfg.train
    torch.manual_seed(t.seed)
    model: LOEVModel = build_model(cfg)
    if world > 1:
        D.convert_sync_bn(model)
    ckpt = run_dir / "checkpoints" / TRAIN_STATE
    resuming = resume and ckpt.exists()
    if t.init and not resuming:
        init_weights(model, t.init)
    params = trainable_parameters(model, t.trainable)
    model.to(device)
    opt = torch.optim.Adam(params, lr=t.lr, weight_decay=t.weight_decay)
    resumed = load_train_state(ckpt, model, opt) if resuming else None
    start = int(resumed["steps"]) if resumed else 0
    net = DDP(model) if world > 1 else model
    return _Setup(model, net, opt, start, ckpt, history_so_far(resumed, t.init))


def _data(cfg: ExperimentConfig, start: int, rank: int, world: int, progress: bool) -> _Data:
    """This rank's share of every remaining micro-batch (`StepBatchSampler`), audio cached first if asked."""
    t = cfg.train
    clips = resolve_corpus(t.data, split=split_filter(t.split), allow_outside=True)
    mix = resolve_corpus(t.mix_data, split=split_filter(t.mix_split), allow_outside=True) if t.mix_data else []
    if t.mix_data and not mix:
        raise TrainingDataError(f"train.mix_data {t.mix_data}: no clips in split {t.mix_split!r}")
    window = cfg.audio.clip_seconds * (1 if cfg.augment.crop == "same" else cfg.augment.n_views)
    long = long_tracks(clips + mix, t.track_crops, window)
    places = [t.track_crops if is_long else 1 for is_long in long]
    mean = [sum(p) / len(p) if p else 1.0 for p in (places[:len(clips)], places[len(clips):])]
    items = mixed_items(len(clips), len(mix), t.mix_share, (mean[0], mean[1]))
    corpora: tuple[CorpusRecord, ...] = ()
    if rank == 0:  # the only process that saves, so the only one that hashes the corpora's bytes
        corpora = (corpus_record(t.data, t.split, clips, 1.0 - t.mix_share),)
        if mix:
            corpora += (corpus_record(t.mix_data, t.mix_split, mix, t.mix_share),)
    dataset = CropDataset(clips + mix, cfg.audio.sample_rate, window, items)
    unreadable = dataset.preload(progress=progress and rank == 0) if t.cache_audio else 0
    if unreadable:  # decoded once already: leave the files that failed out of every draw (the same on a resume)
        dataset.items = [i for i in items if dataset.cache[i] is not None]
        if not dataset.items:
            raise TrainingDataError(f"none of the {len(clips) + len(mix)} training files decodes; check the corpus")
    sampler = StepBatchSampler(len(dataset.items), t.batch_size, start * t.accumulate, t.steps * t.accumulate,
                               t.seed, rank, world, t.track_crops, [long[i] for i in dataset.items])
    workers = 0 if t.cache_audio else t.num_workers
    loader = DataLoader(dataset, batch_sampler=sampler, num_workers=workers, collate_fn=collate_crops,
                        persistent_workers=False, prefetch_factor=4 if workers else None)
    return _Data(loader, corpora, unreadable)


def _precision(device: torch.device, precision: str) -> _Precision:
    enabled = device.type == "cuda" and precision in ("auto", "bf16", "fp16")
    dtype = torch.float16 if precision == "fp16" else torch.bfloat16
    return _Precision(enabled, dtype, torch.amp.GradScaler(enabled=enabled and dtype == torch.float16))


class TrainingDataError(ValueError):
    """The training data cannot make a batch (no clips in a split, a batch of unreadable files): the user's to
    fix, said in one line by `loev train`."""


def _full_batch(windows: torch.Tensor, n_bad: int) -> torch.Tensor:
    """Keep every rank's batch the same size: unreadable files are replaced by good windows of the batch."""
    if windows.numel() == 0:
        raise TrainingDataError("a whole batch of training files was unreadable; check the corpus")
    return windows[torch.arange(windows.shape[0] + n_bad) % windows.shape[0]] if n_bad else windows


def _backward(cfg: ExperimentConfig, setup: _Setup, precision: _Precision, windows: torch.Tensor, micro: int,
              rank: int, world: int, sync: bool) -> dict[str, float]:
    """Forward and backward of one micro-batch, gradients added to .grad (all-reduced only when `sync`, on
    the step's last micro-batch); returns its losses."""
    device = next(setup.model.parameters()).device
    views = views_for(cfg, windows.to(device), micro, rank)
    no_sync = setup.net.no_sync() if (world > 1 and not sync) else contextlib.nullcontext()
    with no_sync, torch.autocast(device.type, dtype=precision.dtype, enabled=precision.enabled):
        losses = compute_loss(setup.net, cfg, views)
        precision.scaler.scale(losses["total"] / cfg.train.accumulate).backward()
    return {k: float(v.detach()) for k, v in losses.items()}


def _optimizer_step(setup: _Setup, precision: _Precision, lr: float) -> None:
    for g in setup.opt.param_groups:
        g["lr"] = lr
    precision.scaler.step(setup.opt)
    precision.scaler.update()
    setup.opt.zero_grad(set_to_none=True)


def _provenance(cfg: ExperimentConfig, run_dir: Path, setup: _Setup, data: _Data, state: _Progress) -> dict:
    """`data` (this stage's corpora) and `history` (every stage so far, this one up to the current step)."""
    summary = data.summary(state.unreadable_draws)
    stage = stage_record(cfg.to_dict(), run_dir, setup.start, state.step, summary)
    return {"data": summary, "history": [*setup.history, stage]}


def _train(cfg: ExperimentConfig, run_dir: Path, resume: bool, device: torch.device, rank: int, world: int,
           stop_after: int | None, progress: bool) -> None:
    """Set up, then micro-batches until `train.steps` (or `stop_after`) optimizer steps; rank 0 reports each
    step, saves the training state every `checkpoint_every` steps and the model at the end."""
    t = cfg.train
    setup = _setup(cfg, run_dir, resume, device, world)
    data = _data(cfg, setup.start, rank, world, progress)
    precision = _precision(device, t.precision)
    report = RunReport(cfg, run_dir, setup.start, rank, progress)
    state = _Progress(step=setup.start, micro=setup.start * t.accumulate)
    setup.net.train()
    freeze_norm_statistics(setup.model, t.trainable)
    for windows, n_bad in data.loader:
        state.unreadable_draws += n_bad
        last_micro = (state.micro + 1) % t.accumulate == 0
        losses = _backward(cfg, setup, precision, _full_batch(windows, n_bad), state.micro, rank, world, last_micro)
        for k, v in losses.items():
            state.losses[k] = state.losses.get(k, 0.0) + v / t.accumulate
        state.micro += 1
        if not last_micro:
            continue
        lr = lr_at(state.step, t.lr, t.warmup_steps, t.steps)
        _optimizer_step(setup, precision, lr)
        state.step += 1
        report.step(state.step, lr, state.losses)
        if rank == 0 and (state.step % t.checkpoint_every == 0 or state.step == t.steps):
            save_train_state(setup.ckpt, setup.model, setup.opt, state.step, state.losses,
                             _provenance(cfg, run_dir, setup, data, state))
        state.last, state.losses = state.losses, {}
        if stop_after is not None and state.step >= stop_after:
            break
    report.close()
    if rank == 0 and state.step == t.steps:
        save_model(setup.model, run_dir / "model", steps=state.step, last_losses=state.last,
                   **_provenance(cfg, run_dir, setup, data, state))


def train(cfg: ExperimentConfig, run_dir: str | Path, resume: bool = False, devices: int = 1,
          accelerator: str = "cpu", stop_after: int | None = None, progress: bool = True) -> Path:
    """Train (or resume) into `run_dir`; spawns `devices` processes unless already under torchrun."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    (run_dir / "run.json").write_text(json.dumps({"devices": devices, "accelerator": accelerator}))
    args = (cfg.to_dict(), str(run_dir), resume, accelerator)
    if "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1:  # launched by torchrun
        world, rank = int(os.environ["WORLD_SIZE"]), int(os.environ["RANK"])
        _worker(rank, world, *args, None, stop_after, progress)
    elif devices > 1:
        mp.spawn(_worker, args=(devices, *args, D.free_port(), stop_after, progress), nprocs=devices, join=True)
    else:
        _worker(0, 1, *args, None, stop_after, progress)
    return run_dir
