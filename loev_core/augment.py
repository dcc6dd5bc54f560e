"""Batched augmentations on `[B, T]` waveforms and the multi-view builder used by training.

Contract (ARCHITECTURE.md): every augmentation is a named function
`fn(x, sample_rate, *, p, <ranges>, generator, value) -> (y, Applied(flag, value))`; the base chain lives
in `augment_base`, the variant chain (pitch shift, time stretch: the transformations LOEV keeps
equivariant) here. Both variants run one batched phase vocoder with per-example parameters, so a
training batch costs a few large tensor ops instead of a Python loop over clips.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from loev_core import dsp
from loev_core.augment_base import (
    BASE_AUGMENTATIONS,
    Applied,
    as_float,
    colored_noise,
    compression,
    delay,
    distortion,
    draw,
    filter,
    gain,
    map_rows,
    polarity,
    reverb,
    scratch,
    set_scratch,
)
from loev_core.config import CROPS, AugmentConfig

__all__ = [
    "AUGMENTATIONS", "Applied", "BASE_AUGMENTATIONS", "VARIANT_AUGMENTATIONS", "Views", "apply_chain",
    "colored_noise", "compression", "delay", "distortion", "filter", "gain", "make_views", "octave_shift",
    "pitch_shift", "polarity", "reverb", "time_stretch",
]


class Views(NamedTuple):
    """`waves[b * n_views + v]` is view v of clip `clip_ids[...] == b`; `applied[name]` covers every view."""

    waves: Tensor
    clip_ids: Tensor
    applied: dict[str, Applied]


def pitch_shift(x: Tensor, sample_rate: int, *, p: float = 0.5, low: float = -4.0, high: float = 4.0,
                generator: torch.Generator | None = None, value: Tensor | float | None = None
                ) -> tuple[Tensor, Applied]:
    """Shift pitch by `value` semitones (identity 0), keeping duration: time-stretch by 1/f, then read
    the result at steps of f = 2^(semitones/12) with a band-limited, anti-aliased resampler."""
    xf = as_float(x, "pitch_shift")
    flag, val = draw("pitch_shift", xf.shape[0], p, low, high, generator, value, 0.0)
    y = _render_variants(xf, sample_rate, flag, val, torch.ones_like(val))
    return y.to(x.dtype), Applied(flag.to(x.device), val.to(x.device))


def time_stretch(x: Tensor, sample_rate: int, *, p: float = 0.5, low: float = 0.7, high: float = 1.3,
                 generator: torch.Generator | None = None, value: Tensor | float | None = None
                 ) -> tuple[Tensor, Applied]:
    """Play `value` times faster (identity 1) at the same pitch; the output is cropped, or zero-padded
    at the end, back to the input length."""
    xf = as_float(x, "time_stretch")
    flag, val = draw("time_stretch", xf.shape[0], p, low, high, generator, value, 1.0)
    if not bool((val > 0).all()):
        raise ValueError("time_stretch: rates must be > 0")
    y = _render_variants(xf, sample_rate, flag, torch.zeros_like(val), val)
    return y.to(x.dtype), Applied(flag.to(x.device), val.to(x.device))


def octave_shift(x: Tensor, sample_rate: int, *, p: float = 0.5, octaves: int = 1,
                 generator: torch.Generator | None = None, value: Tensor | float | None = None
                 ) -> tuple[Tensor, Applied]:
    """Shift pitch by a whole number of octaves, 1..`octaves` up or down (value in semitones, identity 0).

    Meant for the base chain: every head then learns to ignore octave moves, so a pitch-variant head can
    tell a clip from its pitch-shifted copy only by pitch class (what key needs), not by register or
    by where the spectral envelope sits, which move with an octave shift too."""
    xf = as_float(x, "octave_shift")
    if int(octaves) != octaves or octaves < 1:
        raise ValueError(f"octave_shift: octaves must be a positive integer, got {octaves}")
    flag, val = draw("octave_shift", xf.shape[0], p, 0.0, 0.0, generator, value, 0.0)
    if value is None:  # draw gave the flags; the octave count and direction are drawn here
        k = torch.randint(1, int(octaves) + 1, (xf.shape[0],), generator=generator).float()
        sign = torch.randint(0, 2, (xf.shape[0],), generator=generator).float() * 2 - 1
        val = torch.where(flag, 12.0 * k * sign, val)
    elif bool((val.remainder(12.0) != 0).any()):
        raise ValueError("octave_shift: values must be whole octaves (multiples of 12 semitones)")
    y = _render_variants(xf, sample_rate, flag, val, torch.ones_like(val))
    return y.to(x.dtype), Applied(flag.to(x.device), val.to(x.device))


def _render_variants(x: Tensor, sample_rate: int, flag: Tensor, semitones: Tensor, rates: Tensor) -> Tensor:
    """Pitch shift by `semitones` and time-stretch by `rates` ([B] on CPU) in one phase-vocoder pass:
    stretch by rate / f (f = 2^(semitones/12)) to length T * f, then read it at steps of f."""
    length = x.shape[-1]
    n_fft, hop = dsp.stft_size(sample_rate, length)
    factor = torch.pow(2.0, semitones / 12.0)

    def fn(rows_x: Tensor, rows: Tensor, span: slice) -> Tensor:
        f = factor[rows.cpu()]
        # Rows arrive sorted by f, so this length (+2 for the interpolator) fits the chunk tightly.
        stretched_len = int(math.ceil(length * float(f.max()))) + 2
        used = torch.ceil(length * f).clamp(max=stretched_len)  # what the resampler reads of each row
        rate = (rates[rows.cpu()] / f).to(rows_x)
        stretched = dsp.phase_vocoder(rows_x, rate, stretched_len, n_fft, hop, used)
        shifted = f != 1.0
        if bool(shifted.all()):
            return dsp.resample_rows(stretched, f.to(rows_x), length)
        out = stretched[:, :length].clone()  # f == 1 somewhere, so stretched_len >= length
        if bool(shifted.any()):
            keep = shifted.to(rows_x.device)
            out[keep] = dsp.resample_rows(stretched[keep], f.to(rows_x)[keep], length)
        return out

    return map_rows(x, flag, fn, order=factor, chunk_samples=1 << 17)  # spectra: ~10x the samples


VARIANT_AUGMENTATIONS: dict[str, Callable[..., tuple[Tensor, Applied]]] = {
    "pitch_shift": pitch_shift, "time_stretch": time_stretch,
}
AUGMENTATIONS: dict[str, Callable[..., tuple[Tensor, Applied]]] = {
    **BASE_AUGMENTATIONS, "octave_shift": octave_shift, **VARIANT_AUGMENTATIONS,
}


def _bind(name: str, x: Tensor, sample_rate: int, kwargs: Any) -> inspect.BoundArguments:
    """Check a chain entry; unknown names and bad arguments raise ValueError naming the augmentation."""
    fn = AUGMENTATIONS.get(name)
    if fn is None:
        raise ValueError(f"unknown augmentation {name!r} (known: {', '.join(AUGMENTATIONS)})")
    if not isinstance(kwargs, Mapping):
        raise ValueError(f"augmentation {name!r}: arguments must be a mapping, got {kwargs!r}")
    if "generator" in kwargs:
        raise ValueError(f"augmentation {name!r}: 'generator' is passed by the caller, not the chain")
    try:
        bound = inspect.signature(fn).bind(x, sample_rate, **kwargs)
    except TypeError as e:
        raise ValueError(f"augmentation {name!r}: bad arguments {dict(kwargs)}: {e}") from None
    bound.apply_defaults()
    return bound


def _call(name: str, x: Tensor, sample_rate: int, kwargs: Any, generator: torch.Generator | None
          ) -> tuple[Tensor, Applied]:
    bound = _bind(name, x, sample_rate, kwargs)
    bound.arguments["generator"] = generator
    try:
        return AUGMENTATIONS[name](*bound.args, **bound.kwargs)
    except TypeError as e:  # e.g. a string where a number belongs
        raise ValueError(f"augmentation {name!r}: bad arguments {dict(kwargs)}: {e}") from None


def _call_variant_pair(x: Tensor, sample_rate: int, entries: list[tuple[str, Any]],
                       generator: torch.Generator | None) -> tuple[Tensor, dict[str, Applied]]:
    """Adjacent pitch_shift + time_stretch (either order) as one phase-vocoder pass: the same draws and
    `Applied` as two calls, a third less work, and one round of phase-vocoder error instead of two."""
    xf = as_float(x, "pitch_shift")
    drawn: dict[str, tuple[Tensor, Tensor]] = {}
    for name, kwargs in entries:
        a = _bind(name, x, sample_rate, kwargs).arguments
        identity = 0.0 if name == "pitch_shift" else 1.0
        try:
            drawn[name] = draw(name, xf.shape[0], a["p"], a["low"], a["high"], generator, a["value"], identity)
        except TypeError as e:
            raise ValueError(f"augmentation {name!r}: bad arguments {dict(kwargs)}: {e}") from None
    (ps_flag, semitones), (ts_flag, rates) = drawn["pitch_shift"], drawn["time_stretch"]
    if not bool((rates > 0).all()):
        raise ValueError("time_stretch: rates must be > 0")
    y = _render_variants(xf, sample_rate, ps_flag | ts_flag, semitones, rates).to(x.dtype)
    return y, {name: Applied(f.to(x.device), v.to(x.device)) for name, (f, v) in drawn.items()}


def apply_chain(x: Tensor, sample_rate: int, chain: Mapping[str, Mapping[str, Any]],
                generator: torch.Generator | None = None) -> tuple[Tensor, dict[str, Applied]]:
    """Apply `chain` (name -> kwargs, in order) to `x` [B, T]; returns the result and what each applied.

    `x` is left untouched: the chain copies it once, then every effect works in place on that copy.
    Adjacent pitch_shift and time_stretch entries are rendered together (see `_call_variant_pair`)."""
    return _run_chain(x.clone() if chain else x, sample_rate, chain, generator)


def _run_chain(buffer: Tensor, sample_rate: int, chain: Mapping[str, Mapping[str, Any]],
               generator: torch.Generator | None) -> tuple[Tensor, dict[str, Applied]]:
    """`apply_chain` on a buffer the caller gives up: effects may overwrite it."""
    applied: dict[str, Applied] = {}
    entries = list(chain.items())
    x, i = buffer, 0
    with scratch(buffer):
        while i < len(entries):
            pair = entries[i : i + 2]
            if {name for name, _ in pair} == set(VARIANT_AUGMENTATIONS) and len(pair) == 2:
                x, done = _call_variant_pair(x, sample_rate, pair, generator)
                applied.update((name, done[name]) for name, _ in pair)
                i += 2
            else:
                name, kwargs = entries[i]
                x, applied[name] = _call(name, x, sample_rate, kwargs, generator)
                i += 1
            set_scratch(x)
    return x, applied


def _crop_offsets(batch: int, length: int, clip_samples: int, n_views: int, crop: str,
                  generator: torch.Generator | None) -> Tensor:
    """Start sample of every view, [B, n_views]; 'adjacent' falls back to 'random' on short clips."""
    span = length - clip_samples
    if crop == "same":
        return torch.randint(span + 1, (batch, 1), generator=generator).expand(batch, n_views)
    if crop == "adjacent" and length >= n_views * clip_samples:
        start = torch.randint(length - n_views * clip_samples + 1, (batch, 1), generator=generator)
        return start + torch.arange(n_views).unsqueeze(0) * clip_samples
    return torch.randint(span + 1, (batch, n_views), generator=generator)


def make_views(clips: Tensor, sample_rate: int, clip_samples: int, n_views: int = 2, crop: str = "same",
               base: Mapping[str, Mapping[str, Any]] | None = None,
               variant: Mapping[str, Mapping[str, Any]] | None = None,
               generator: torch.Generator | None = None) -> Views:
    """Crop `n_views` windows of `clip_samples` from each row of `clips` [B, T_long] (zero-padded if
    shorter), apply the variant chain to the clean crops, then the base chain. Crops: "same" (one window
    for all views), "adjacent" (consecutive windows; independent random ones when the clip is shorter
    than n_views windows), "random" (independent windows). `base`/`variant` default to
    `AugmentConfig()`'s chains; pass `{}` for none. Rows are clip-major: `b * n_views + v`."""
    if clips.dim() == 1:
        clips = clips.unsqueeze(0)
    if clips.dim() != 2:
        raise ValueError(f"make_views: clips must be [B, T], got shape {tuple(clips.shape)}")
    if crop not in CROPS:
        raise ValueError(f"make_views: crop must be one of {CROPS}, got {crop!r}")
    if n_views < 1 or clip_samples < 1:
        raise ValueError("make_views: n_views and clip_samples must be >= 1")
    defaults = AugmentConfig()
    base = defaults.base if base is None else base
    variant = defaults.variant if variant is None else variant
    shared = sorted(set(base) & set(variant))
    if shared:
        raise ValueError(f"make_views: augmentations {shared} appear in both the base and variant chains")
    if clips.shape[-1] < clip_samples:
        clips = F.pad(clips, (0, clip_samples - clips.shape[-1]))
    batch, length = clips.shape
    offsets = _crop_offsets(batch, length, clip_samples, n_views, crop, generator).reshape(-1).tolist()
    rows = [b for b in range(batch) for _ in range(n_views)]
    waves = torch.stack([clips[b, o : o + clip_samples] for b, o in zip(rows, offsets, strict=True)])
    waves, applied = _run_chain(waves, sample_rate, variant, generator)  # fresh crops: ours to overwrite
    waves, applied_base = _run_chain(waves, sample_rate, base, generator)
    applied.update(applied_base)
    clip_ids = torch.arange(batch, device=clips.device).repeat_interleave(n_views)
    return Views(waves, clip_ids, applied)
