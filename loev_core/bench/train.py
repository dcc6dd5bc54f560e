"""`loev bench train`: step time of SimCLR, LOEV and LOEV++ on the same encoder, batch and machine.

Also times the data pipeline (decode + batched augmentation) for one batch, serially, so its share
of a training step is an upper bound (the trainer overlaps decoding in worker processes).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from loev_core.audio import Clip
from loev_core.bench.synthetic import write_clips
from loev_core.config import ExperimentConfig, ModelConfig, TrainConfig
from loev_core.model import build_model
from loev_core.train.data import CropDataset, collate_crops
from loev_core.train.loop import compute_loss, views_for


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--batch-size", type=int, default=32, help="clips per step (x2 views)")
    p.add_argument("--steps", type=int, default=5, help="timed steps per model (after 2 warm-up steps)")
    p.add_argument("--encoder", default="compact")
    p.add_argument("--width", type=int, default=32)


def measure(args: argparse.Namespace) -> dict:
    torch.manual_seed(0)
    b = args.batch_size
    base = ExperimentConfig(train=TrainConfig(batch_size=b))
    result: dict = {"batch_clips": b, "views": b * base.augment.n_views, "encoder": args.encoder,
                    "threads": torch.get_num_threads()}
    with tempfile.TemporaryDirectory() as tmp:
        clips = [Clip(str(p)) for p in write_clips(Path(tmp), b, seconds=3.5, sr=16000)]
        ds = CropDataset(clips, base.audio.sample_rate, base.audio.clip_seconds)
        t0 = time.perf_counter()
        windows, _ = collate_crops([ds[(i, i)] for i in range(b)])
        decode = time.perf_counter() - t0
    views_for(base, windows, 0, 0)  # warm-up
    t0 = time.perf_counter()
    for s in range(args.steps):
        views = views_for(base, windows, s + 1, 0)
    augment = (time.perf_counter() - t0) / args.steps
    for kind in ("simclr", "loev", "loevpp"):
        cfg = ExperimentConfig(model=ModelConfig(kind=kind, encoder=args.encoder, width=args.width),
                               train=base.train)
        model = build_model(cfg).train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
        times = []
        for _ in range(args.steps + 2):
            t0 = time.perf_counter()
            loss = compute_loss(model, cfg, views)["total"]
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            times.append(time.perf_counter() - t0)
        result[f"{kind}_step_ms"] = round(1000 * float(np.median(times[2:])), 1)
        result[f"{kind}_params"] = sum(p.numel() for p in model.parameters())
    result["decode_ms"] = round(1000 * decode, 1)
    result["augment_ms"] = round(1000 * augment, 1)
    data = result["decode_ms"] + result["augment_ms"]
    result["data_fraction_of_loev_step"] = round(data / (data + result["loev_step_ms"]), 3)
    result["loev_over_simclr"] = round(result["loev_step_ms"] / result["simclr_step_ms"], 3)
    result["loevpp_over_simclr"] = round(result["loevpp_step_ms"] / result["simclr_step_ms"], 3)
    return result
