"""Chains of augmentations from a config (name -> kwargs, in order) and the multi-view batches training uses."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from loev_core.augment.base import BASE_AUGMENTATIONS
from loev_core.augment.contract import Applied, as_float, draw, scratch, set_scratch
from loev_core.augment.variant import VARIANT_AUGMENTATIONS, _render_variants, octave_shift
from loev_core.config import CROPS, AugmentConfig


class Views(NamedTuple):
    """`waves[b * n_views + v]` is view v of clip `clip_ids[...] == b`; `applied[name]` covers every view."""

    waves: Tensor
    clip_ids: Tensor
    applied: dict[str, Applied]


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
