"""Equivariance curves: how far each subspace moves when the input is transformed by a known amount.

For every transform value v, each clip x gives d(v) = 1 - cos(f(x), f(T_v x)) in each subspace; the
curve is the mean over clips with a 95 % interval. An invariant subspace stays flat near 0; a subspace
that is equivariant to the transform rises with |v| (the paper's pitch-shift figure).

Public, stable API (also used by the dashboard):
    equivariance_curve(model, waves, sample_rate, transform, values) -> {subspace: curve}
    curve = {"values": [v...], "mean": [...], "lo": [...], "hi": [...]}   (lists of floats, same length)
            + "between": mean distance between two different clean clips (the scale a distance is read on)
            + "rise", "rise_lo", "rise_hi": Spearman of the mean distance against the transform's size
              (`amount`) and its 95 % bootstrap interval over clips (is "it rises" a property of the
              model or of the clips that happened to be drawn?)
            + pitch shift with +-1 and +-4 among the values: "near_far", "near_far_lo", "near_far_hi": the mean
              distance at +-1 semitone over that at +-4 (`near_far`) and its 95 % bootstrap interval over clips
              (the issue's "+-1 clearly below +-4")
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from loev_core.config import PITCH_SHIFT_RANGE, stretch_rates
from loev_core.embeddings.waves import centre_crop
from loev_core.evaluation.transforms import IDENTITY, apply_transform, valid_length

DEFAULT_VALUES: dict[str, list[float]] = {
    "pitch_shift": [float(v) for v in range(-6, 7)],
    "time_stretch": stretch_rates(0.1),  # the trained range
    "gain": [float(v) for v in range(-12, 7, 3)],
}
Curve = dict[str, Any]  # "values", "mean", "lo", "hi": lists of floats; "between": a float


def cosine_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise 1 - cosine similarity of two [N, D] arrays."""
    num = np.sum(a * b, axis=1, dtype=np.float64)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return 1.0 - num / np.maximum(den, 1e-12)


def mean_interval(d: np.ndarray, interval: str = "bootstrap", n_boot: int = 2000,
                  rng: np.random.Generator | None = None) -> tuple[float, float, float]:
    """Mean of `d` and its 95 % interval: percentile bootstrap of the mean, or Student t."""
    d = np.asarray(d, dtype=np.float64)
    m = float(d.mean())
    if d.size < 2:
        return m, m, m
    if interval == "t":
        from scipy import stats

        half = float(stats.t.ppf(0.975, d.size - 1) * d.std(ddof=1) / np.sqrt(d.size))
        return m, m - half, m + half
    if interval != "bootstrap":
        raise ValueError(f"interval must be 'bootstrap' or 't', got {interval!r}")
    rng = rng or np.random.default_rng(0)
    means = d[rng.integers(0, d.size, size=(n_boot, d.size))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return m, float(lo), float(hi)


def amount(transform: str, values: Sequence[float]) -> np.ndarray:
    """How big each transform value is: |semitones|, |dB| or |log rate| (x0.8 and x1.25 are equally big)."""
    v = np.asarray(values, dtype=np.float64)
    return np.abs(np.log(v)) if transform == "time_stretch" else np.abs(v - IDENTITY[transform])


def spearman_rows(size: np.ndarray, curves: np.ndarray) -> np.ndarray:
    """Spearman of each row of `curves` [B, V] against `size` [V] (average ranks for ties, as scipy's
    spearmanr); NaN for a constant row. One definition for the curves' `rise`, the target check and the
    noise study, vectorised over bootstrap draws."""
    from scipy.stats import rankdata

    rs = rankdata(size) - (len(size) + 1) / 2
    rc = rankdata(curves, axis=1)
    rc = rc - rc.mean(axis=1, keepdims=True)
    den = np.sqrt((rc ** 2).sum(axis=1) * (rs ** 2).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (rc @ rs) / np.where(den > 0, den, 1.0), np.nan)


def rise(size: np.ndarray, dist: np.ndarray, n_boot: int = 1000,
         rng: np.random.Generator | None = None) -> tuple[float, float, float]:
    """Spearman of the clip-mean distance against `size` ([V] sizes, [V, N] per-clip distances), and
    its 95 % percentile-bootstrap interval from resampling the N clips. NaN where undefined (constant
    curve or sizes, fewer than 3 values)."""
    size = np.asarray(size, dtype=np.float64)
    if len(size) < 3 or np.ptp(size) == 0:
        return float("nan"), float("nan"), float("nan")
    point = float(spearman_rows(size, dist.mean(axis=1)[None])[0])
    n = dist.shape[1]
    if n < 2 or np.isnan(point):  # one clip (or an undefined point): nothing to resample
        return point, float("nan"), float("nan")
    rng = rng or np.random.default_rng(0)
    idx = rng.integers(0, n, size=(n_boot, n))
    draws = spearman_rows(size, dist[:, idx].mean(axis=2).T)
    draws = draws[~np.isnan(draws)]
    if not draws.size:
        return point, point, point
    lo, hi = np.percentile(draws, [2.5, 97.5])
    return point, float(lo), float(hi)


def near_far(size: np.ndarray, dist: np.ndarray, near: float = 1.0, far: float = 4.0, n_boot: int = 1000,
             rng: np.random.Generator | None = None) -> tuple[float, float, float]:
    """Mean distance at size `near` over that at size `far` ([V] sizes, [V, N] per-clip distances; both signs
    pooled), and its 95 % percentile-bootstrap interval from resampling the N clips. Well under 1: the
    subspace grades a small shift as small; near 1: it jumps at the first step (a step, not a ramp). NaN
    when either size is missing or the far distance is 0."""
    size = np.asarray(size, dtype=np.float64)
    rows_near, rows_far = np.isclose(size, near), np.isclose(size, far)
    if not rows_near.any() or not rows_far.any():
        return float("nan"), float("nan"), float("nan")

    def ratio(d: np.ndarray) -> np.ndarray:  # d: [V, ..., N'] -> ratio of clip means per leading draw
        lo, hi = d[rows_near].mean(axis=(0, -1)), d[rows_far].mean(axis=(0, -1))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(hi > 0, lo / np.where(hi > 0, hi, 1.0), np.nan)

    point = float(ratio(dist))
    n = dist.shape[1]
    if n < 2 or np.isnan(point):
        return point, float("nan"), float("nan")
    rng = rng or np.random.default_rng(0)
    draws = ratio(dist[:, rng.integers(0, n, size=(n_boot, n))])
    draws = draws[~np.isnan(draws)]
    lo, hi = np.percentile(draws, [2.5, 97.5]) if draws.size else (point, point)
    return point, float(lo), float(hi)


def between_clips(emb: np.ndarray) -> float:
    """Mean cosine distance between different clips: how far "moved as far as another clip" is in this
    subspace. A curve value means little without it (0.13 is far in a space where clips sit 0.2 apart,
    nothing where they sit 0.9 apart). NaN for fewer than two clips."""
    n = emb.shape[0]
    if n < 2:
        return float("nan")
    unit = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    sims = unit @ unit.T
    return float(1.0 - (sims.sum() - np.trace(sims)) / (n * (n - 1)))


def _embed(model: Any, waves: torch.Tensor, sample_rate: int, batch_size: int) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in model.embed(waves, sample_rate, batch_size=batch_size).items()}


def transform_distances(models: Mapping[str, Any], waves: torch.Tensor, sample_rate: int, transform: str,
                        values: Sequence[float], *, window: int | None = None, batch_size: int = 32,
                        progress: bool = True) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, dict[str, float]]]:
    """Per-clip distances behind the curves: ({model: {subspace: [len(values), N]}}, {model: {subspace:
    between}}). Each transformed batch is computed once and embedded by every model. `window` (samples)
    centre-crops clean and transformed waves *after* the transform, so a time stretch does not leave
    padded silence inside the window. Kept separate from the averaging so a study can resample clips."""
    if transform not in IDENTITY:
        raise ValueError(f"unknown transform {transform!r}; expected one of {tuple(IDENTITY)}")
    if waves.dim() != 2 or waves.shape[0] == 0:
        raise ValueError(f"waves must be a non-empty [N, T] tensor, got shape {tuple(waves.shape)}")
    values = [float(v) for v in values]
    n = waves.shape[0]
    chunks = [slice(s, min(s + batch_size, n)) for s in range(0, n, batch_size)]
    clean = {name: [_embed(m, centre_crop(waves[c], window), sample_rate, batch_size) for c in chunks]
             for name, m in models.items()}
    dist: dict[str, dict[str, np.ndarray]] = {
        name: {k: np.zeros((len(values), n)) for k in clean[name][0]} for name in models}
    todo = [i for i, v in enumerate(values) if v != IDENTITY[transform]]  # identity: distance exactly 0
    with tqdm(total=len(todo) * len(chunks), desc=f"curves {transform}", unit="batch",
              disable=not progress, leave=False) as bar:
        for i in todo:
            for j, c in enumerate(chunks):
                moved = apply_transform(transform, waves[c], sample_rate, values[i])
                moved = centre_crop(moved[:, :valid_length(transform, moved.shape[-1], values[i])], window)
                for name, m in models.items():
                    emb = _embed(m, moved, sample_rate, batch_size)
                    for k, v in emb.items():
                        dist[name][k][i, c] = cosine_distance(clean[name][j][k], v)
                bar.update(1)
    between = {name: {k: between_clips(np.concatenate([c[k] for c in clean[name]])) for k in dist[name]}
               for name in models}
    return dist, between


def equivariance_curves(models: Mapping[str, Any], waves: torch.Tensor, sample_rate: int, transform: str,
                        values: Sequence[float], *, window: int | None = None, batch_size: int = 32,
                        interval: str = "bootstrap", n_boot: int = 2000, seed: int = 0,
                        progress: bool = True) -> dict[str, dict[str, Curve]]:
    """Curves for several models at once (`transform_distances`, then the mean and 95 % interval over
    clips of each row). Returns {model: {subspace: curve}}."""
    values = [float(v) for v in values]
    dist, between = transform_distances(models, waves, sample_rate, transform, values, window=window,
                                        batch_size=batch_size, progress=progress)
    size = amount(transform, values)
    out: dict[str, dict[str, Curve]] = {}
    for name, per_space in dist.items():
        out[name] = {}
        for k, d in per_space.items():
            rng = np.random.default_rng(seed)
            stats = [mean_interval(row, interval, n_boot, rng) for row in d]
            r = rise(size, d, min(n_boot, 1000), np.random.default_rng(seed))
            out[name][k] = {"values": list(values), "mean": [s[0] for s in stats],
                            "lo": [s[1] for s in stats], "hi": [s[2] for s in stats],
                            "between": between[name][k], "rise": r[0], "rise_lo": r[1], "rise_hi": r[2]}
            if transform == "pitch_shift" and {1.0, float(PITCH_SHIFT_RANGE[1])} <= set(size.tolist()):
                nf = near_far(size, d, 1.0, PITCH_SHIFT_RANGE[1], min(n_boot, 1000), np.random.default_rng(seed))
                out[name][k].update(near_far=nf[0], near_far_lo=nf[1], near_far_hi=nf[2])
    return out


def equivariance_curve(model: Any, waves: torch.Tensor, sample_rate: int, transform: str,
                       values: Sequence[float] | None = None, *, window: int | None = None,
                       batch_size: int = 32, interval: str = "bootstrap", n_boot: int = 2000, seed: int = 0,
                       progress: bool = True) -> dict[str, Curve]:
    """Mean and 95 % interval of the cosine distance between each clip and its transformed copy.

    model: anything with `embed(wave [B, T], sample_rate, batch_size=...) -> {subspace: Tensor [B, D]}`
        (a `LOEVModel`).
    waves: [N, T] float tensor of clips at `sample_rate` (N >= 1; N >= 2 for a non-degenerate interval).
    transform: "pitch_shift" (semitones), "time_stretch" (rate, > 1 faster) or "gain" (dB).
    values: transform amounts; default `DEFAULT_VALUES[transform]`.
    window: optional crop length in samples taken from the centre after transforming. A time stretch
        with rate > 1 is first trimmed to the audio it holds (the augmentation pads it with silence
        back to T; that silence, not the tempo change, would dominate the distance).
    interval: "bootstrap" (percentile, `n_boot` resamples, seeded) or "t" (Student t).
    Returns {subspace: {"values", "mean", "lo", "hi"}} in `model.subspaces` order; the identity value
    (0 st, rate 1, 0 dB) has distance exactly 0.
    """
    vals = DEFAULT_VALUES[transform] if values is None else values
    return equivariance_curves({"model": model}, waves, sample_rate, transform, vals, window=window,
                               batch_size=batch_size, interval=interval, n_boot=n_boot, seed=seed,
                               progress=progress)["model"]
