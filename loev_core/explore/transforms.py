"""Transformed audio for the dashboard: hear a transform, trace a clip's trajectory, cached curves.

Everything goes through `loev_core.evaluation` (itself a thin layer over `loev_core.augment`), so
what the dashboard plays and plots is exactly the signal processing used for training and
evaluation. Equivariance curves are cached on disk as JSON, keyed like every other derived result.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from loev_core.audio import AudioError, load_audio, load_excerpt
from loev_core.config import stretch_rates
from loev_core.embeddings.index import normalize
from loev_core.explore.cache import CorpusData
from loev_core.explore.paths import check_clip_path
from loev_core.explore.projection import projection_key
from loev_core.files import atomic_write_text

TRANSFORM_LABELS = {"pitch_shift": "Pitch shift (semitones)", "time_stretch": "Time stretch (rate)",
                    "gain": "Gain (dB)"}
TRAJECTORY_VALUES = {"pitch_shift": [float(v) for v in range(-6, 7)],
                     "time_stretch": stretch_rates(0.05),
                     "gain": [float(v) for v in range(-12, 7, 3)]}
CURVE_CLIPS = 24  # quick first look; few clips give a noisy curve, so `loev eval` averages up to 256
CURVE_CLIP_CHOICES = (24, 48, 96, 144, 256)  # the Equivariance page's "Clips averaged" control
PREVIEW_SECONDS = 30.0  # what the dashboard decodes of a longer file: its middle 30 s
# modules the stored curves are computed by: the curve maths, the transforms and the crops
CURVE_CODE = ("loev_core.evaluation.equivariance", "loev_core.evaluation.transforms", "loev_core.embeddings.waves",
              "loev_core.augment.variant", "loev_core.augment.dsp", "loev_core.augment.base")


def clip_wave(data: CorpusData, row: int, sample_rate: int, roots: Sequence[Path]) -> torch.Tensor:
    """Decoded mono audio of one corpus row (only inside the allowed folders): a segment row as it was
    embedded; a whole-file row whole, or its middle PREVIEW_SECONDS when longer. A folder of full tracks then
    costs bounded memory per cached clip, transform and player, at the price that a trajectory's
    starting point (the middle 30 s) can sit a little off the map point (the mean over the whole file)."""
    r = data.meta.iloc[int(row)]
    path = check_clip_path(r["path"], roots)
    duration = float(r.get("duration") or 0.0)
    offset = float(r.get("offset") or 0.0)
    if offset or 0.0 < duration <= PREVIEW_SECONDS:  # a `loev embed --chunk` segment, or a short file
        return load_audio(path, sample_rate, offset=offset, duration=duration or None)
    return load_excerpt(path, sample_rate, PREVIEW_SECONDS)


def transformed(wave: torch.Tensor, sample_rate: int, transform: str, values: Sequence[float]) -> torch.Tensor:
    """One row per value: [len(values), T] copies of a mono wave, each transformed by that amount."""
    from loev_core.evaluation.transforms import apply_transform

    batch = wave.reshape(1, -1).expand(len(values), -1).contiguous()
    return apply_transform(transform, batch, sample_rate, np.asarray(values, dtype=np.float32))


def embed_unit(model: Any, waves: torch.Tensor, sample_rate: int) -> dict[str, np.ndarray]:
    """Unit vectors per subspace for [B, T] (or [T]) waves, embedded as the corpus was."""
    out = model.embed(waves if waves.dim() == 2 else waves.unsqueeze(0), sample_rate)
    return {k: normalize(v) for k, v in out.items()}


def trajectory(model: Any, wave: torch.Tensor, sample_rate: int, transform: str,
               values: Sequence[float]) -> dict[str, np.ndarray]:
    """Where one clip goes in every subspace as the transform sweeps `values`: {subspace: [V, D]}."""
    return embed_unit(model, transformed(wave, sample_rate, transform, values), sample_rate)


def curve_rows(data: CorpusData, n: int = CURVE_CLIPS, seed: int = 0) -> np.ndarray:
    """A fixed sample of rows for the curves, from the test split when the corpus has one."""
    meta = data.meta
    pool = meta.index[meta["split"].astype(str) == "test"] if "split" in meta.columns else meta.index
    if len(pool) < 2:
        pool = meta.index
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(np.asarray(pool), size=min(n, len(pool)), replace=False))


def cached_curves(model: Any, checkpoint_id: str, data: CorpusData, transform: str, values: Sequence[float],
                  roots: Sequence[Path], cache_dir: Path, n_clips: int = CURVE_CLIPS) -> dict[str, dict]:
    """Equivariance curves of one model on a fixed corpus sample, computed once then read from disk."""
    from loev_core.embeddings.waves import centre_crop, stack_common, transform_span
    from loev_core.evaluation.equivariance import equivariance_curve

    values = [float(v) for v in values]
    key = projection_key("curves", curves_version(), checkpoint_id, data.key, transform, values, n_clips)
    path = Path(cache_dir) / f"curves-{key}.json"
    if path.is_file():
        try:
            return json.loads(path.read_text())["curves"]
        except (OSError, ValueError, KeyError):
            path.unlink(missing_ok=True)
    window = int(round(model.clip_seconds * model.sample_rate))
    waves = []
    for r in curve_rows(data, n_clips):
        try:
            waves.append(centre_crop(clip_wave(data, int(r), model.sample_rate, roots),
                                     transform_span(window, model.sample_rate)))
        except (AudioError, ValueError):
            continue
    if not waves:
        raise AudioError(str(data.source), "no clip of the corpus could be decoded for the curves")
    curves = equivariance_curve(model, stack_common(waves), model.sample_rate, transform, values,
                                window=window, n_boot=500, progress=False)
    atomic_write_text(path, json.dumps({"curves": curves, "n_clips": len(waves)}))
    return curves


@functools.cache
def curves_version() -> str:
    """Version of the stored curves: a hash of the code that computes them (`CURVE_CODE`, and this module's
    sampling and cropping), so changing how curves are computed or what they hold never reads a stale entry."""
    from loev_core.checkpoint import package_version

    try:
        code = [inspect.getsource(importlib.import_module(m)) for m in CURVE_CODE]
        code += [inspect.getsource(f) for f in (clip_wave, curve_rows, cached_curves)]
    except (OSError, TypeError):  # installed without sources: fall back to the package's version
        code = [package_version()]
    return hashlib.sha256("\n".join(code).encode()).hexdigest()[:16]
