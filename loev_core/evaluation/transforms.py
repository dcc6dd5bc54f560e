"""Deterministic transforms for evaluation, and how each one moves the labels.

A thin adapter over `loev_core.augment` (`fn(x, sr, value=...) -> (y, Applied)`), so evaluation uses
exactly the signal processing the models were trained with. Waves of different lengths are grouped by
length, since the augmentations work on `[B, T]` batches.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from loev_core.evaluation.labels import stretch_tempo
from loev_core.keys import transpose_key

IDENTITY: dict[str, float] = {"pitch_shift": 0.0, "time_stretch": 1.0, "gain": 0.0}
UNITS: dict[str, str] = {"pitch_shift": "semitones", "time_stretch": "rate", "gain": "dB"}
TRANSFORMS = tuple(IDENTITY)


def _function(name: str) -> Callable[..., Any]:
    if name not in IDENTITY:
        raise ValueError(f"unknown transform {name!r}; expected one of {TRANSFORMS}")
    from loev_core import augment  # lazy: importing evaluation must not need the DSP stack

    return getattr(augment, name)


def apply_transform(name: str, waves: torch.Tensor, sample_rate: int,
                    value: float | Sequence[float] | np.ndarray | torch.Tensor) -> torch.Tensor:
    """Apply transform `name` with `value` (scalar, or one per row) to `waves` [B, T]; same shape back.

    Rows whose value is the identity are returned untouched, so the identity costs nothing and gives
    exactly the input (zero distance on the equivariance curves).
    """
    fn = _function(name)
    if waves.dim() != 2:
        raise ValueError(f"apply_transform expects [B, T] waves, got shape {tuple(waves.shape)}")
    vals = torch.as_tensor(np.asarray(value, dtype=np.float32)).float().flatten()
    if vals.numel() == 1:
        vals = vals.expand(waves.shape[0]).clone()
    if vals.numel() != waves.shape[0]:
        raise ValueError(f"{name}: got {vals.numel()} values for {waves.shape[0]} waves")
    if bool((vals == IDENTITY[name]).all()):
        return waves
    y, _ = fn(waves, int(sample_rate), value=vals)
    return y


def valid_length(name: str, length: int, value: float) -> int:
    """Samples of a transformed wave that hold audio: a speed-up (rate > 1) is zero-padded back to the
    input length by the augmentation, and that digital silence would dominate any distance."""
    if name == "time_stretch" and value > 1.0:
        return max(1, int(length / value))
    return length


def transform_waves(name: str, waves: Sequence[torch.Tensor], sample_rate: int,
                    values: Sequence[float] | np.ndarray, batch_size: int = 32) -> list[torch.Tensor]:
    """Transform a ragged list of 1-D waves, one value each, batching waves of equal length.

    Outputs are trimmed to `valid_length` (a sped-up clip is shorter, not padded with silence);
    `model.embed` loops clips shorter than its training length.
    """
    if len(values) != len(waves):
        raise ValueError(f"{name}: got {len(values)} values for {len(waves)} waves")
    groups: dict[int, list[int]] = defaultdict(list)
    for i, w in enumerate(waves):
        groups[int(w.shape[-1])].append(i)
    out: list[torch.Tensor | None] = [None] * len(waves)
    for idx in groups.values():
        for s in range(0, len(idx), batch_size):
            rows = idx[s:s + batch_size]
            y = apply_transform(name, torch.stack([waves[i] for i in rows]), sample_rate,
                                np.asarray([values[i] for i in rows]))
            for j, i in enumerate(rows):
                out[i] = y[j, :valid_length(name, y.shape[-1], float(values[i]))]
    return [w for w in out if w is not None]


def moved_labels(name: str, labels: dict[str, Any], value: float) -> dict[str, Any]:
    """Labels of a clip after the transform: key transposed by round(semitones), tempo x rate."""
    new = dict(labels)
    if name == "pitch_shift" and new.get("key") not in (None, ""):
        new["key"] = transpose_key(str(new["key"]), value)
    elif name == "time_stretch" and new.get("tempo") not in (None, ""):
        new["tempo"] = float(stretch_tempo(float(new["tempo"]), value))
    return new
