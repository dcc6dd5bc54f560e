"""Synthetic music for the benchmarks: harmonic notes in sequence over a little noise.

Pitched, with onsets and decaying envelopes, so decoders, augmentations and models do the work
they do on music rather than on silence or white noise; seeded, so every run times the same audio.
Timings, not what the audio sounds like, are what the benchmarks report.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

SUBTYPES = {"ogg": "VORBIS", "mp3": "MPEG_LAYER_III", "flac": "PCM_16", "wav": "PCM_16"}  # mp3: libsndfile >= 1.1


def synth_clip(n_samples: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """One clip of `n_samples`: 2-5 harmonic notes in sequence (peak 0.5, float32)."""
    out = np.zeros(n_samples, np.float32)
    n_notes = int(rng.integers(2, 6))
    bounds = np.linspace(0, n_samples, n_notes + 1).astype(int)
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        f0 = 440.0 * 2 ** ((rng.integers(40, 80) - 69) / 12)
        t = np.arange(b - a) / sr
        env = np.exp(-t * rng.uniform(1.0, 6.0))
        for h in range(1, int(rng.integers(3, 8))):
            if f0 * h < sr / 2:
                out[a:b] += (rng.uniform(0.2, 1.0) / h) * np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 6.3)) * env
    out += 0.01 * rng.standard_normal(n_samples).astype(np.float32)
    return (0.5 * out / max(float(np.abs(out).max()), 1e-12)).astype(np.float32)


def synthetic_clips(n: int, n_samples: int, sr: int, seed: int = 0) -> np.ndarray:
    """`n` clips as one float32 array [n, n_samples] (in-memory benchmarks)."""
    rng = np.random.default_rng(seed)
    return np.stack([synth_clip(n_samples, sr, rng) for _ in range(n)]) if n else np.zeros((0, n_samples), np.float32)


def write_clips(folder: Path, n: int, seconds: float, sr: int, formats: tuple[str, ...] = ("ogg",),
                seed: int = 0) -> list[Path]:
    """Write `n` clips as `clipNNNN.<ext>` into `folder`, cycling through `formats` (ogg, mp3, flac, wav)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        ext = formats[i % len(formats)]
        p = folder / f"clip{i:04d}.{ext}"
        sf.write(p, synth_clip(int(seconds * sr), sr, rng), sr, format=ext.upper(), subtype=SUBTYPES[ext])
        paths.append(p)
    return paths
