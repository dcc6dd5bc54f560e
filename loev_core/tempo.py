"""Tempo labels: parsing, matching within 4 % (the MIREX acc1 tolerance; acc2 forgives octave errors),
stretching, and the log-spaced classes a tempo probe predicts. One definition for datasets, corpora,
evaluation and the dashboard (keys: `loev_core.keys`)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

TEMPO_TOLERANCE = 0.04
OCTAVE_FACTORS = (1.0, 2.0, 0.5, 3.0, 1.0 / 3.0)
TEMPO_BIN_RATIO = 1.08  # bin centre is within sqrt(1.08) - 1 < 4 % of every tempo in its bin


def stretch_tempo(bpm: float | np.ndarray, rate: float | np.ndarray) -> float | np.ndarray:
    """Tempo after time stretching by `rate` (> 1 is faster, as in `loev_core.augment`)."""
    return np.asarray(bpm, dtype=float) * np.asarray(rate, dtype=float)


def tempo_match(estimate: np.ndarray | float, reference: np.ndarray | float,
                tol: float = TEMPO_TOLERANCE) -> np.ndarray:
    """acc1 criterion: |estimate - reference| <= tol * reference (broadcasts)."""
    est, ref = np.asarray(estimate, dtype=float), np.asarray(reference, dtype=float)
    return np.abs(est - ref) <= tol * ref


def tempo_match_octave(estimate: np.ndarray | float, reference: np.ndarray | float,
                       tol: float = TEMPO_TOLERANCE) -> np.ndarray:
    """acc2 criterion: within tol of reference x 1, 2, 1/2, 3 or 1/3 (octave errors forgiven)."""
    est, ref = np.asarray(estimate, dtype=float), np.asarray(reference, dtype=float)
    return np.any([tempo_match(est, ref * f, tol) for f in OCTAVE_FACTORS], axis=0)


def tempo_accuracy(estimate: Sequence[float], reference: Sequence[float]) -> dict[str, float]:
    """Share of clips meeting acc1 and acc2."""
    return {"acc1": float(np.mean(tempo_match(estimate, reference))),
            "acc2": float(np.mean(tempo_match_octave(estimate, reference)))}


def tempo_bins(train_bpm: Iterable[float], ratio: float = TEMPO_BIN_RATIO) -> tuple[np.ndarray, np.ndarray]:
    """Log-spaced bin edges covering the train tempi, and each bin's geometric centre.

    Built from the train split only. With ratio 1.08 a probe that picks the right bin is always
    within 4 % (acc1), so bin classification turns into BPM without a systematic error.
    """
    bpm = np.asarray(list(train_bpm), dtype=float)
    if bpm.size == 0 or not np.all(bpm > 0):
        raise ValueError("tempo bins need positive train tempi")
    lo, hi = bpm.min() / math.sqrt(ratio), bpm.max() * math.sqrt(ratio)
    n = max(1, math.ceil(math.log(hi / lo) / math.log(ratio)))
    edges = lo * ratio ** np.arange(n + 1)
    return edges, np.sqrt(edges[:-1] * edges[1:])


def tempo_to_bin(bpm: Sequence[float], edges: np.ndarray) -> np.ndarray:
    """Bin index of each tempo (tempi outside the edges go to the first / last bin)."""
    idx = np.searchsorted(edges, np.asarray(bpm, dtype=float), side="right") - 1
    return np.clip(idx, 0, len(edges) - 2)


def parse_tempo(value: object) -> float:
    """Manifest tempo cell -> BPM (float); ValueError for empty or non-positive values."""
    bpm = float(str(value).strip())
    if not bpm > 0 or not math.isfinite(bpm):
        raise ValueError(f"not a tempo: {value!r}")
    return bpm
