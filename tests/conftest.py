"""Shared fixtures: a tiny labelled corpus of real audio files, made on the fly (no downloads)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

os.environ.setdefault("OMP_NUM_THREADS", "2")

SR = 16000
NOTES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]


def write_tone_clip(path: Path, tonic: int, bpm: float, seconds: float = 3.5, seed: int = 0) -> None:
    """A tonic triad with note onsets on the beat: key and tempo are both audible."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f0 = 220.0 * 2 ** ((tonic - 9) / 12)
    chord = sum(np.sin(2 * np.pi * f0 * r * t + rng.uniform(0, 6)) for r in (1.0, 2 ** (4 / 12), 2 ** (7 / 12)))
    beat = 60.0 / bpm
    env = np.exp(-((t % beat) / (0.25 * beat)))
    y = 0.2 * chord * env + 0.003 * rng.standard_normal(t.size)
    sf.write(path, y.astype(np.float32), SR, format="OGG", subtype="VORBIS")


def make_corpus(root: Path, n: int = 24, seed: int = 0) -> Path:
    (root / "audio").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        tonic, bpm = i % 12, 70 + (i * 37) % 100
        rel = f"audio/clip{i:03d}.ogg"
        write_tone_clip(root / rel, tonic, bpm, seed=seed + i)
        rows.append({"path": rel, "split": "test" if i % 4 == 3 else "train", "key": f"{NOTES[tonic]} major",
                     "tempo": bpm, "instrument": ["piano", "organ"][i % 2], "piece": f"p{i // 2}", "drums": "no"})
    with (root / "manifest.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return root


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 labelled 3.5 s clips (ogg) with manifest.csv; train/test split by clip."""
    return make_corpus(tmp_path_factory.mktemp("corpus"))
