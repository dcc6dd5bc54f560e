"""`loev bench embed`: real-time factor of `embed_corpus` with the compact encoder.

Generates short synthetic melodies (harmonic notes with decaying envelopes plus noise) as ogg and
flac files at a typical consumer sample rate, so decoding and resampling are paid as in a real
collection, then times the whole pipeline: worker decoding, batched inference, shard writing and
the final merge. The model-only factor (waves already in memory) is reported beside it to show
where the time goes.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch

from loev_core.audio import load_audio
from loev_core.config import ENCODERS


def synth_clip(seconds: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """A few harmonic notes in sequence: pitched, with onsets, like music rather than noise."""
    n = int(seconds * sr)
    out = np.zeros(n, np.float32)
    n_notes = int(rng.integers(2, 6))
    bounds = np.linspace(0, n, n_notes + 1).astype(int)
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        f0 = 440.0 * 2 ** ((rng.integers(40, 80) - 69) / 12)
        t = np.arange(b - a) / sr
        env = np.exp(-t * rng.uniform(1.0, 6.0))
        for h in range(1, int(rng.integers(3, 8))):
            if f0 * h < sr / 2:
                out[a:b] += (rng.uniform(0.2, 1.0) / h) * np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 6.3)) * env
    out += 0.01 * rng.standard_normal(n).astype(np.float32)
    return (0.5 * out / np.abs(out).max()).astype(np.float32)


def write_corpus(folder: Path, clips: int, seconds: float, sr: int, fmt: str, seed: int = 0) -> list[Path]:
    rng = np.random.default_rng(seed)
    formats = ("ogg", "flac") if fmt == "mixed" else (fmt,)
    paths = []
    for i in range(clips):
        ext = formats[i % len(formats)]
        p = folder / f"clip{i:04d}.{ext}"
        sf.write(p, synth_clip(seconds, sr, rng), sr, format=ext.upper(),
                 subtype="VORBIS" if ext == "ogg" else "PCM_16")
        paths.append(p)
    return paths


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
    from loev_core.embeddings.compute import _default_workers, embed_corpus
    from loev_core.model import build_model

    cfg = ExperimentConfig()
    cfg = replace(cfg, model=replace(cfg.model, encoder=args.encoder))
    model = build_model(cfg).eval()
    workers = _default_workers() if args.workers is None else args.workers
    with tempfile.TemporaryDirectory(prefix="loev-bench-embed-") as tmp:
        root = Path(tmp)
        (root / "audio").mkdir()
        (root / "warm").mkdir()
        paths = write_corpus(root / "audio", args.clips, args.seconds, args.file_sr, args.format)
        write_corpus(root / "warm", 8, args.seconds, args.file_sr, args.format, seed=1)
        kw = {"batch_size": args.batch_size, "workers": workers, "progress": False}
        embed_corpus(model, root / "warm", root / "warm-out", **kw)  # first-call costs out of the timing
        report = embed_corpus(model, root / "audio", root / "out", **kw)
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
