"""Helpers shared by tests in several folders: tiny labelled audio, tiny untrained checkpoints.

The models are untrained (the tests check behaviour, not what a model learned) and tiny, so a whole
corpus embeds in about a second on a CPU. The fixtures built from them are in tests/conftest.py.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from loev_core import ExperimentConfig, build_model, save_model
from loev_core.config import AudioConfig, ModelConfig

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


def keep_columns(corpus: Path, columns: tuple[str, ...] = ("path", "split")) -> Path:
    """Rewrite a corpus's manifest.csv with only `columns`: a corpus without key labels (the real-music set, a
    user's folder) made from a labelled one."""
    with (corpus / "manifest.csv").open(newline="") as f:
        rows = [{c: r[c] for c in columns} for r in csv.DictReader(f)]
    with (corpus / "manifest.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, list(columns))
        w.writeheader()
        w.writerows(rows)
    return corpus


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


def tiny_checkpoint(folder: Path, kind: str) -> Path:
    """An untrained model small enough to embed a corpus in about a second."""
    import torch

    torch.manual_seed(0)
    cfg = ExperimentConfig(model=ModelConfig(kind=kind, width=8, head_hidden=32, head_out=16),
                           audio=AudioConfig(n_mels=32))
    return save_model(build_model(cfg), folder)


@dataclass
class DashEnv:
    root: Path
    checkpoints: dict[str, Path]
    corpus: Path
    env: dict[str, str]
