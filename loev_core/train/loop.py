"""The training loop: DDP on torch.distributed, batched on-device augmentation, atomic checkpoints.

Batches and augmentations are pure functions of (seed, step, rank), and the optimizer state is in the
checkpoint, so `--resume` after a kill -9 continues the same loss curve.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import torch
import torch.multiprocessing as mp
import yaml
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from loev_core.audio import resolve_corpus
from loev_core.augment import make_views
from loev_core.checkpoint import load_model, save_model
from loev_core.config import ConfigError, ExperimentConfig, config_from_dict
from loev_core.losses import loev_loss
from loev_core.model import LOEVModel, build_model
from loev_core.train import distributed as D
from loev_core.train.data import CropDataset, StepBatchSampler, collate_crops
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


class MetricsLog:
    """metrics.csv (truncated to the resume step, so the curve has no duplicates) plus TensorBoard."""

    def __init__(self, run_dir: Path, heads: tuple[str, ...], start_step: int) -> None:
        self.path = run_dir / "metrics.csv"
        self.fields = ["step", "lr", "loss", *[f"loss.{h}" for h in heads], "seconds"]
        rows = []
        if self.path.exists() and start_step > 0:
            with self.path.open() as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= start_step]
        with self.path.open("w", newline="") as f:
            w = csv.DictWriter(f, self.fields)
            w.writeheader()
            w.writerows(rows)
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(run_dir / "tensorboard"), purge_step=start_step + 1)
        except Exception:  # tensorboard is optional at run time
            self.tb = None

    def write(self, step: int, lr: float, losses: dict[str, float], seconds: float) -> None:
        row = {"step": step, "lr": f"{lr:.6g}", "loss": f"{losses['total']:.6f}", "seconds": f"{seconds:.3f}"}
        row |= {f"loss.{h}": f"{v:.6f}" for h, v in losses.items() if h != "total"}
        with self.path.open("a", newline="") as f:
            csv.DictWriter(f, self.fields).writerow(row)
        if self.tb:
            for k, v in losses.items():
                self.tb.add_scalar(f"loss/{k}", v, step)
            self.tb.add_scalar("lr", lr, step)

    def close(self) -> None:
        if self.tb:
            self.tb.close()


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


def init_weights(model: LOEVModel, path: str) -> None:
    """Fine-tuning: copy the weights of an exported checkpoint (loaded safely, never unpickled) into a model
    of the same architecture; a different one is refused with the names that do not match."""
    source = load_model(path).state_dict()
    missing, extra = set(model.state_dict()) - set(source), set(source) - set(model.state_dict())
    if missing or extra:
        raise ConfigError(f"train.init {path}: another architecture (missing {sorted(missing)[:3]}, "
                          f"unexpected {sorted(extra)[:3]}); the run's model config must match the checkpoint's")
    model.load_state_dict(source)


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    """Is parameter/module `name` inside one of `prefixes` (whole dotted parts: heads.pitch is not
    heads.pitch_shift)?"""
    return any(name == p or name.startswith(p.rstrip(".") + ".") for p in prefixes)


def trainable_parameters(model: LOEVModel, prefixes: tuple[str, ...]) -> list[torch.nn.Parameter]:
    """Parameters the optimizer updates: all, or those whose names start with one of `prefixes` (the rest
    get requires_grad=False). A prefix that matches nothing is an error, not a silently frozen model."""
    if not prefixes:
        return list(model.parameters())
    for prefix in prefixes:
        if not any(_under(n, (prefix,)) for n, _ in model.named_parameters()):
            names = sorted({".".join(n.split(".")[:2]) for n, _ in model.named_parameters()})
            raise ConfigError(f"train.trainable: {prefix!r} matches no parameter (e.g. {', '.join(names)})")
    for name, p in model.named_parameters():
        p.requires_grad_(_under(name, prefixes))
    return [p for p in model.parameters() if p.requires_grad]


def check_fine_tuning(cfg: ExperimentConfig) -> None:
    """Fail before any process starts when train.init or train.trainable cannot apply (ConfigError or
    CheckpointError with the reason)."""
    model = build_model(cfg)
    if cfg.train.init:
        init_weights(model, cfg.train.init)
    trainable_parameters(model, cfg.train.trainable)


def freeze_norm_statistics(model: torch.nn.Module, prefixes: tuple[str, ...]) -> None:
    """Frozen parts stay frozen in train mode too: batch norms outside the trainable prefixes keep their
    running statistics (eval mode), so a head-only fine-tune leaves the encoder exactly as it was."""
    if not prefixes:
        return
    for name, m in model.named_modules():
        if isinstance(m, torch.nn.modules.batchnorm._NormBase) and not _under(name, prefixes):
            m.eval()


def _train(cfg: ExperimentConfig, run_dir: Path, resume: bool, device: torch.device, rank: int, world: int,
           stop_after: int | None, progress: bool) -> None:
    t = cfg.train
    torch.manual_seed(t.seed)
    model: LOEVModel = build_model(cfg)
    if world > 1:
        D.convert_sync_bn(model)
    ckpt = run_dir / "checkpoints" / TRAIN_STATE
    if t.init and not (resume and ckpt.exists()):
        init_weights(model, t.init)
    params = trainable_parameters(model, t.trainable)
    model.to(device)
    opt = torch.optim.Adam(params, lr=t.lr, weight_decay=t.weight_decay)
    start = 0
    if resume and ckpt.exists():
        start = int(load_train_state(ckpt, model, opt)["steps"])
    net = DDP(model) if world > 1 else model
    clips = resolve_corpus(t.data, split=t.split or None)
    window = cfg.audio.clip_seconds * (1 if cfg.augment.crop == "same" else cfg.augment.n_views)
    dataset = CropDataset(clips, cfg.audio.sample_rate, window)
    if t.cache_audio:
        dataset.preload(progress=progress and rank == 0)
    sampler = StepBatchSampler(len(clips), t.batch_size, start * t.accumulate, t.steps * t.accumulate, t.seed,
                               rank, world)
    workers = 0 if t.cache_audio else t.num_workers
    loader = DataLoader(dataset, batch_sampler=sampler, num_workers=workers, collate_fn=collate_crops,
                        persistent_workers=False, prefetch_factor=4 if workers else None)
    use_amp = device.type == "cuda" and t.precision in ("auto", "bf16", "fp16")
    amp_dtype = torch.float16 if t.precision == "fp16" else torch.bfloat16
    scaler = torch.amp.GradScaler(enabled=use_amp and amp_dtype == torch.float16)
    log = MetricsLog(run_dir, cfg.model.heads, start) if rank == 0 else None
    bar = tqdm(total=t.steps, initial=start, desc=f"train {cfg.model.kind}", disable=not progress or rank != 0,
               dynamic_ncols=True)
    summary = {"clips": len(clips), "source": str(t.data), "skipped_files": 0}
    step, micro, acc_losses, t0 = start, start * t.accumulate, {}, time.perf_counter()
    last_losses: dict[str, float] = {}
    net.train()
    freeze_norm_statistics(model, t.trainable)
    for windows, n_bad in loader:
        summary["skipped_files"] += n_bad
        if windows.numel() == 0:
            raise RuntimeError("a whole batch of training files was unreadable; check the corpus")
        if n_bad:  # keep every rank's batch the same size: refill with good windows of this batch
            windows = windows[torch.arange(windows.shape[0] + n_bad) % windows.shape[0]]
        views = views_for(cfg, windows.to(device), micro, rank)
        last_micro = (micro + 1) % t.accumulate == 0
        sync = net.no_sync() if (world > 1 and not last_micro) else contextlib.nullcontext()
        with sync, torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
            losses = compute_loss(net, cfg, views)
            scaler.scale(losses["total"] / t.accumulate).backward()
        for k, v in losses.items():
            acc_losses[k] = acc_losses.get(k, 0.0) + float(v.detach()) / t.accumulate
        micro += 1
        if not last_micro:
            continue
        lr = lr_at(step, t.lr, t.warmup_steps, t.steps)
        for g in opt.param_groups:
            g["lr"] = lr
        scaler.step(opt)
        scaler.update()
        opt.zero_grad(set_to_none=True)
        step += 1
        if rank == 0:
            bar.update(1)
            bar.set_postfix({k.replace("_", "")[:8]: f"{v:.3f}" for k, v in acc_losses.items()})
            if step % t.log_every == 0 or step == t.steps:
                log.write(step, lr, acc_losses, time.perf_counter() - t0)
            if step % t.checkpoint_every == 0 or step == t.steps:
                save_train_state(ckpt, model, opt, step, acc_losses, {"data": summary})
        last_losses, acc_losses = acc_losses, {}
        if stop_after is not None and step >= stop_after:
            break
    bar.close()
    if rank == 0:
        log.close()
        if step == t.steps:
            save_model(model, run_dir / "model", steps=step, last_losses=last_losses, data=summary)


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
