"""`loev bench augment`: the default augmentation chain, batched, against a per-clip pipeline like the
reference code's (pedalboard PitchShift, librosa time_stretch, pedalboard effects, a loop over clips).

Both pipelines see the same clips, probabilities and ranges (AugmentConfig defaults, both chains) and
are timed alternately in the same process, so machine load hits both alike; `speedup` compares the
best run of each (the usual way to read timings on a shared machine), `speedup_median` the medians.
clips/s counts source clips (each gives `--views` views). Both run on one core by default, as the
per-clip pipeline cannot use more: `--threads 0` lets torch use its default thread count.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from loev_core.augment import make_views
from loev_core.bench.synthetic import synthetic_clips
from loev_core.config import PITCH_SHIFT_RANGE, TIME_STRETCH_RANGE, AugmentConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clips", type=int, default=64, help="source clips per batch")
    parser.add_argument("--views", type=int, default=2, help="views per clip")
    parser.add_argument("--seconds", type=float, default=3.0, help="view length in seconds")
    parser.add_argument("--sample-rate", type=int, default=16000)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each pipeline")
    parser.add_argument("--device", default="cpu", help="device of the batched pipeline (cpu, cuda)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--seed", type=int, default=0)


def _colored_noise(y: np.ndarray, sr: int, snr_db: float, decay: float, rng: np.random.Generator
                   ) -> np.ndarray:
    spec = np.fft.rfft(rng.standard_normal(y.shape[-1]))
    freqs = np.fft.rfftfreq(y.shape[-1], 1.0 / sr)
    spec *= (np.maximum(freqs, 20.0) / 1000.0) ** (-decay / 2)
    spec[0] = 0.0
    noise = np.fft.irfft(spec, n=y.shape[-1])
    scale = np.sqrt(np.mean(y**2)) / 10 ** (snr_db / 20) / (np.sqrt(np.mean(noise**2)) + 1e-12)
    return (y + scale * noise).astype(np.float32)


def per_clip_pipeline(clips: np.ndarray, sr: int, n_views: int, cfg: AugmentConfig, seed: int) -> np.ndarray:
    """The reference style: every view of every clip through pedalboard/librosa one at a time."""
    import librosa
    import pedalboard as pb

    rng = np.random.default_rng(seed)
    base, variant = cfg.base, cfg.variant

    def hit(name: str, chain: dict[str, dict[str, Any]]) -> bool:
        return name in chain and rng.random() < chain[name].get("p", 0.5)

    def fit(y: np.ndarray, n: int) -> np.ndarray:
        return y[:n] if y.shape[-1] >= n else np.pad(y, (0, n - y.shape[-1]))

    out = []
    for clip in clips:
        for _ in range(n_views):
            y = clip.copy()
            if hit("pitch_shift", variant):
                kw = variant["pitch_shift"]
                y = pb.PitchShift(semitones=rng.uniform(kw.get("low", PITCH_SHIFT_RANGE[0]),
                                                         kw.get("high", PITCH_SHIFT_RANGE[1])))(y, sr)
            if hit("time_stretch", variant):
                kw = variant["time_stretch"]
                rate = rng.uniform(kw.get("low", TIME_STRETCH_RANGE[0]), kw.get("high", TIME_STRETCH_RANGE[1]))
                y = fit(librosa.effects.time_stretch(y, rate=rate), clip.shape[-1])
            if hit("gain", base):
                y = pb.Gain(gain_db=rng.uniform(-15, 5))(y, sr)
            if hit("polarity", base):
                y = -y
            if hit("colored_noise", base):
                y = _colored_noise(y, sr, rng.uniform(3, 30), rng.uniform(-2, 2), rng)
            if hit("filter", base):
                kind = rng.integers(4)
                if kind == 0:
                    fc, bw = rng.uniform(200, 4000), rng.uniform(0.5, 1.99)
                    band = [pb.HighpassFilter(fc * (1 - bw / 2)), pb.LowpassFilter(fc * (1 + bw / 2))]
                    y = pb.Pedalboard(band)(y, sr)
                elif kind == 1:
                    y = pb.PeakFilter(rng.uniform(200, 4000), gain_db=-24, q=rng.uniform(0.5, 2.0))(y, sr)
                elif kind == 2:
                    y = pb.HighpassFilter(rng.uniform(200, 2400))(y, sr)
                else:
                    y = pb.LowpassFilter(rng.uniform(75, 7500))(y, sr)
            if hit("reverb", base):
                y = pb.Reverb(room_size=rng.uniform(0.1, 0.3), wet_level=0.5)(y, sr)
            if hit("delay", base):
                y = pb.Delay(delay_seconds=rng.uniform(0.1, 0.5), feedback=0.0, mix=0.33)(y, sr)
            if hit("distortion", base):
                y = pb.Distortion(drive_db=rng.uniform(5, 25))(y, sr)
            if hit("compression", base):
                y = pb.Compressor(threshold_db=rng.uniform(-30, -10), ratio=4.0)(y, sr)
            out.append(y)
    return np.stack(out)


def _time(fn: Callable[[], Any], sync: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - start


def measure(args: argparse.Namespace) -> dict[str, Any]:
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    cfg = AugmentConfig()
    sr, samples = args.sample_rate, int(round(args.seconds * args.sample_rate))
    clips_np = synthetic_clips(args.clips, samples, sr, args.seed)
    device = torch.device(args.device)
    clips = torch.from_numpy(clips_np).to(device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def batched(seed: int) -> None:
        gen = torch.Generator().manual_seed(seed)
        make_views(clips, sr, samples, args.views, cfg.crop, cfg.base, cfg.variant, gen)

    def per_clip(seed: int) -> None:
        per_clip_pipeline(clips_np, sr, args.views, cfg, seed)

    # Warm-up: first calls pay for lazy imports, plugin set-up and allocator growth.
    _time(lambda: batched(10_000), sync)
    per_clip_pipeline(clips_np[: max(1, args.clips // 8)], sr, args.views, cfg, 10_000)
    t_batched, t_per_clip = [], []
    for r in range(args.repeats):
        t_batched.append(_time(lambda r=r: batched(r), sync))
        t_per_clip.append(_time(lambda r=r: per_clip(r), sync))
    tb, tp = min(t_batched), min(t_per_clip)
    return {
        "clips": args.clips,
        "views": args.views,
        "seconds": args.seconds,
        "sample_rate": sr,
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "repeats": args.repeats,
        "batched_s": round(tb, 4),
        "per_clip_s": round(tp, 4),
        "batched_clips_per_s": round(args.clips / tb, 2),
        "per_clip_clips_per_s": round(args.clips / tp, 2),
        "batched_runs_s": [round(t, 4) for t in t_batched],
        "per_clip_runs_s": [round(t, 4) for t in t_per_clip],
        "speedup_median": round(statistics.median(t_per_clip) / statistics.median(t_batched), 2),
        "speedup": round(tp / tb, 2),
    }
