"""`loev bench embed`: real-time factor of `embed_corpus` with the compact encoder.

Generates short synthetic melodies (`loev_core.bench.synthetic`) as ogg and flac files at a typical
consumer sample rate, so decoding and resampling are paid as in a real collection, then times the
whole pipeline: worker decoding, batched inference, shard writing and the final merge. The model-only
factor (waves already in memory) is reported beside it to show where the time goes.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from loev_core.audio import load_audio
from loev_core.bench.synthetic import write_clips
from loev_core.config import ENCODERS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clips", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each clip")
    parser.add_argument("--file-sr", type=int, default=44100, help="sample rate of the generated files")
    parser.add_argument("--format", choices=("mixed", "ogg", "flac", "wav"), default="mixed")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=None, help="decoding processes (default: embed's)")
    parser.add_argument("--encoder", choices=ENCODERS, default="compact")


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from dataclasses import replace

    from loev_core.config import ExperimentConfig
    from loev_core.embeddings.compute import EmbedOptions, embed_corpus
    from loev_core.embeddings.decode import default_workers
    from loev_core.model import build_model

    cfg = ExperimentConfig()
    cfg = replace(cfg, model=replace(cfg.model, encoder=args.encoder))
    model = build_model(cfg).eval()
    workers = default_workers() if args.workers is None else args.workers
    with tempfile.TemporaryDirectory(prefix="loev-bench-embed-") as tmp:
        root = Path(tmp)
        formats = ("ogg", "flac") if args.format == "mixed" else (args.format,)
        paths = write_clips(root / "audio", args.clips, args.seconds, args.file_sr, formats)
        write_clips(root / "warm", 8, args.seconds, args.file_sr, formats, seed=1)
        options = EmbedOptions(batch_size=args.batch_size, workers=workers, progress=False)
        embed_corpus(model, root / "warm", root / "warm-out", options)  # first-call costs out of the timing
        report = embed_corpus(model, root / "audio", root / "out", options)
        waves = torch.stack([load_audio(p, model.sample_rate) for p in paths])
        t = time.perf_counter()
        with torch.inference_mode():
            for i in range(0, len(waves), args.batch_size):
                model.embed(waves[i:i + args.batch_size], model.sample_rate)
        model_s = time.perf_counter() - t
    audio_s = args.clips * args.seconds
    return {
        "realtime_factor": round(report.realtime_factor, 1),
        "goal": 200.0,
        "audio_seconds": round(report.audio_seconds, 1),
        "wall_seconds": round(report.wall_seconds, 3),
        "clips_embedded": report.n_embedded,
        "clips_skipped": report.n_skipped,
        "model_only_realtime_factor": round(audio_s / model_s, 1),
        "encoder": args.encoder, "clip_seconds": args.seconds, "file_sample_rate": args.file_sr,
        "format": args.format, "batch_size": args.batch_size, "workers": workers,
        "torch_threads": torch.get_num_threads(), "n_parameters": sum(p.numel() for p in model.parameters()),
    }
