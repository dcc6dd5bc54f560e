"""The variant augmentations: pitch shift and time stretch, the transformations LOEV keeps equivariant.

Both run one batched phase vocoder with per-example parameters, so a training batch costs a few large
tensor ops instead of a Python loop over clips. `octave_shift` shares the renderer and is meant for
the base chain (see its docstring).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from loev_core.augment import dsp
from loev_core.augment.contract import Applied, as_float, draw, map_rows
from loev_core.config import PITCH_SHIFT_RANGE, TIME_STRETCH_RANGE


def pitch_shift(x: Tensor, sample_rate: int, *, p: float = 0.5, low: float = PITCH_SHIFT_RANGE[0],
                high: float = PITCH_SHIFT_RANGE[1], generator: torch.Generator | None = None,
                value: Tensor | float | None = None) -> tuple[Tensor, Applied]:
    """Shift pitch by `value` semitones (identity 0), keeping duration: time-stretch by 1/f, then read
    the result at steps of f = 2^(semitones/12) with a band-limited, anti-aliased resampler."""
    xf = as_float(x, "pitch_shift")
    flag, val = draw("pitch_shift", xf.shape[0], p, low, high, generator, value, 0.0)
    y = _render_variants(xf, sample_rate, flag, val, torch.ones_like(val))
    return y.to(x.dtype), Applied(flag.to(x.device), val.to(x.device))


def time_stretch(x: Tensor, sample_rate: int, *, p: float = 0.5, low: float = TIME_STRETCH_RANGE[0],
                 high: float = TIME_STRETCH_RANGE[1], generator: torch.Generator | None = None,
                 value: Tensor | float | None = None) -> tuple[Tensor, Applied]:
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
