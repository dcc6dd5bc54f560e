"""Repeated moments: windows of one recording whose audio recurs in another of its windows.

Game and dance music loop, and songs repeat whole sections: a 3 s window can come back sample for sample a
minute later. Such a pair is one moment twice. A degraded copy that finds the repeat has found its moment (by
the own-clip-only rule every model would be flipping a coin there), and a clip whose nearest other clip is its
repeat has not recognised the recording from another part of it (a free hit that measures how much a
collection loops, not the model). `repeats` finds them from the waveforms, within each track only.
"""

from __future__ import annotations

import numpy as np
import torch

REPEAT_SHARE = 0.8  # at least 80 % of a window's waveform recurs, aligned, in the other (2.4 s of a 3 s window)


def peak_correlation(waves: np.ndarray) -> np.ndarray:
    """[n, n] peak normalised cross-correlation of n equally long windows over every lag (diagonal 1).

    Each window has its mean removed and unit energy, and the correlation is not rescaled by the overlap: a
    window that recurs whole in another scores 1, one whose first 2.4 s of 3 s recur scores about 0.8 (the
    share of the window found again), unrelated music about 0.1-0.3."""
    n, length = waves.shape
    spec = _unit_spectra(waves)
    peak = np.eye(n)
    for i in range(n - 1):
        corr = np.fft.irfft(spec[i] * np.conj(spec[i + 1:]), 2 * length, axis=1)
        peak[i, i + 1:] = peak[i + 1:, i] = corr.max(axis=1)
    return peak


def peak_correlation_to(query: np.ndarray, others: list[np.ndarray]) -> np.ndarray:
    """`peak_correlation` of one window with each of `others` (the dashboard asks it for one query clip).

    Windows of other lengths are zero-padded (or cut) to the query's: a clip at the end of a track may be short."""
    length = len(query)
    waves = np.zeros((1 + len(others), length))
    for i, w in enumerate([query, *others]):
        waves[i, :min(length, len(w))] = w[:length]
    spec = _unit_spectra(waves)
    return np.fft.irfft(spec[0] * np.conj(spec[1:]), 2 * length, axis=1).max(axis=1)


def _unit_spectra(waves: np.ndarray) -> np.ndarray:
    """Spectra (FFT length 2T, so no lag wraps around) of the windows with their mean removed and unit energy."""
    x = waves.astype(np.float64) - waves.mean(axis=1, keepdims=True)
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return np.fft.rfft(x, 2 * waves.shape[1], axis=1)


def repeats(waves: torch.Tensor, tracks: np.ndarray, share: float = REPEAT_SHARE) -> list[np.ndarray]:
    """Per window, the indices of the other windows of its track that repeat it (`peak_correlation` >= `share`).

    Only within a track: comparing every pair of a collection would cost n^2 long FFTs, and two recordings
    that share audio are a fact about the collection the mixed-up table already shows."""
    out = [np.zeros(0, dtype=np.int64) for _ in range(len(tracks))]
    data = waves.numpy()
    for name in dict.fromkeys(tracks.tolist()):
        idx = np.nonzero(tracks == name)[0]
        if len(idx) < 2:
            continue
        close = peak_correlation(data[idx]) >= share
        np.fill_diagonal(close, False)
        for row, i in enumerate(idx):
            out[i] = idx[close[row]]
    return out


def repeated_count(twins: list[np.ndarray]) -> int:
    """How many windows repeat at least one other."""
    return sum(1 for t in twins if len(t))
