"""The base augmentation chain (gain, polarity, noise, filters, reverb, delay, distortion, compression).

Every function follows the contract in `contract.py`. These are the augmentations every head of a LOEV
model learns to ignore; the variant ones (pitch shift, time stretch) are in `variant.py`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from loev_core.augment import dsp
from loev_core.augment.contract import Applied, as_float, draw, is_scratch, map_rows

FILTER_KINDS = ("bandpass", "bandstop", "highpass", "lowpass")


def _scale_rows(x: Tensor, factor: Tensor) -> Tensor:
    return x.mul_(factor) if is_scratch(x) else x * factor


def _finish(x: Tensor, y: Tensor, flag: Tensor, val: Tensor) -> tuple[Tensor, Applied]:
    return y.to(x.dtype), Applied(flag.to(x.device), val.to(x.device))


def gain(x: Tensor, sample_rate: int, *, p: float = 0.5, low: float = -15.0, high: float = 5.0,
         generator: torch.Generator | None = None, value: Tensor | float | None = None
         ) -> tuple[Tensor, Applied]:
    """Scale by `value` dB: level must not be a cue the encoder can rely on."""
    xf = as_float(x, "gain")
    flag, val = draw("gain", x.shape[0], p, low, high, generator, value, 0.0)
    factor = torch.pow(10.0, val / 20.0).to(xf).unsqueeze(1)
    return _finish(x, _scale_rows(xf, factor), flag, val)


def polarity(x: Tensor, sample_rate: int, *, p: float = 0.5, generator: torch.Generator | None = None,
             value: Tensor | float | None = None) -> tuple[Tensor, Applied]:
    """Invert the sign; `value` is the multiplier (-1 inverted, identity 1)."""
    xf = as_float(x, "polarity")
    flag, val = draw("polarity", x.shape[0], p, -1.0, -1.0, generator, value, 1.0)
    if not bool(((val == 1.0) | (val == -1.0)).all()):
        raise ValueError("polarity: value must be 1 or -1")
    return _finish(x, _scale_rows(xf, val.to(xf).unsqueeze(1)), flag, val)


def colored_noise(x: Tensor, sample_rate: int, *, p: float = 0.5, low: float = 3.0, high: float = 30.0,
                  decay_low: float = -2.0, decay_high: float = 2.0, generator: torch.Generator | None = None,
                  value: Tensor | float | None = None) -> tuple[Tensor, Applied]:
    """Add noise with power spectrum ~ 1/f^decay (0 white, 1 pink, 2 brown, <0 blue/violet) at an SNR of
    `value` dB relative to each example's RMS; identity SNR is +inf."""
    xf = as_float(x, "colored_noise")
    batch, length = xf.shape
    flag, val = draw("colored_noise", batch, p, low, high, generator, value, math.inf)
    decay = decay_low + (decay_high - decay_low) * torch.rand(batch, generator=generator)
    # White noise drawn directly as its spectrum: i.i.d. zero-mean bins (uniform draws are 3x cheaper
    # than normal ones, and the inverse FFT sums thousands of them, so the waveform is Gaussian anyway).
    n_bins = length // 2 + 1
    white = torch.view_as_complex(torch.rand(int(flag.sum()), n_bins, 2, generator=generator).sub_(0.5))
    log_freqs = torch.log(torch.fft.rfftfreq(length, 1.0 / sample_rate).clamp_min(20.0) / 1000.0)
    log_freqs = log_freqs.to(device=xf.device, dtype=xf.dtype)

    def fn(rows_x: Tensor, rows: Tensor, span: slice) -> Tensor:
        shape = torch.exp(log_freqs * (decay.to(xf)[rows].unsqueeze(1) / -2.0))  # amplitude ~ f^(-decay/2)
        shape[:, 0] = 0.0  # no DC offset
        colored = torch.fft.irfft(white[span].to(xf.device) * shape, n=length)
        scale = dsp.rms(rows_x, 0.0) / torch.pow(10.0, val.to(xf)[rows] / 20.0).unsqueeze(1)
        return rows_x.add_(colored * (scale / dsp.rms(colored)))

    return _finish(x, map_rows(xf, flag, fn), flag, val)


def filter(x: Tensor, sample_rate: int, *, p: float = 0.5, kinds: Sequence[str] = FILTER_KINDS,
           bandpass: Sequence[float] = (200.0, 4000.0), bandstop: Sequence[float] = (200.0, 4000.0),
           highpass: Sequence[float] = (200.0, 2400.0), lowpass: Sequence[float] = (75.0, 7500.0),
           bandwidth: Sequence[float] = (0.5, 1.99), order: int = 4, generator: torch.Generator | None = None,
           value: Tensor | float | None = None) -> tuple[Tensor, Applied]:
    """One of band-pass, band-stop, high-pass, low-pass per example (uniform over `kinds`), zero-phase
    Butterworth-shaped; `value` is the cutoff or centre frequency in Hz (identity 0). Band filters span
    centre * (1 +- bandwidth / 2), bandwidth a fraction drawn in `bandwidth`."""
    xf = as_float(x, "filter")
    batch, length = xf.shape
    ranges = {"bandpass": bandpass, "bandstop": bandstop, "highpass": highpass, "lowpass": lowpass}
    if not kinds or any(k not in ranges for k in kinds):
        raise ValueError(f"filter: kinds must be a non-empty subset of {FILTER_KINDS}, got {kinds!r}")
    if any(len(ranges[k]) != 2 for k in kinds) or len(bandwidth) != 2 or not (isinstance(order, int) and order > 0):
        raise ValueError("filter: frequency ranges and bandwidth must be [low, high] pairs, order an int >= 1")
    lo_hi = torch.tensor([[float(v) for v in ranges[k]] for k in kinds])
    if bool((lo_hi[:, 0] > lo_hi[:, 1]).any()) or bandwidth[0] > bandwidth[1]:
        raise ValueError("filter: each [low, high] range must have low <= high")
    flag, val = draw("filter", batch, p, 0.0, 0.0, generator, value, 0.0)
    kind = torch.randint(len(kinds), (batch,), generator=generator)
    u, w = torch.rand(batch, generator=generator), torch.rand(batch, generator=generator)
    if value is None:
        val = torch.where(flag, lo_hi[kind, 0] + (lo_hi[kind, 1] - lo_hi[kind, 0]) * u, val)
    frac = bandwidth[0] + (bandwidth[1] - bandwidth[0]) * w
    names = [kinds[i] for i in kind.tolist()]
    band = torch.tensor([n in ("bandpass", "bandstop") for n in names])
    low_cut = torch.where(band, val * (1 - frac / 2), torch.where(_kind_is(names, "highpass"), val, 0.0))
    high_cut = torch.where(band, val * (1 + frac / 2), torch.where(_kind_is(names, "lowpass"), val, math.inf))
    stop = _kind_is(names, "bandstop")
    n_fft = dsp.next_fast_len(length + min(length, max(2048, sample_rate // 8)))
    freqs = torch.fft.rfftfreq(n_fft, 1.0 / sample_rate, device=xf.device, dtype=xf.dtype)

    def fn(rows_x: Tensor, rows: Tensor, span: slice) -> Tensor:
        r = rows.cpu()
        lo = low_cut[r].clamp_min(1e-9).to(xf).unsqueeze(1)
        response = dsp.butterworth_gain(freqs, lo, order, highpass=True)
        response = response * dsp.butterworth_gain(freqs, high_cut[r].to(xf).unsqueeze(1), order, False)
        response = torch.where(stop[r].to(xf.device).unsqueeze(1), 1.0 - response, response)
        return dsp.apply_response(rows_x, response, n_fft)

    return _finish(x, map_rows(xf, flag, fn), flag, val)


def _kind_is(names: list[str], kind: str) -> Tensor:
    return torch.tensor([n == kind for n in names], dtype=torch.bool)


def reverb(x: Tensor, sample_rate: int, *, p: float = 0.5, low: float = 0.1, high: float = 0.3,
           wet: float = 0.5, generator: torch.Generator | None = None, value: Tensor | float | None = None
           ) -> tuple[Tensor, Applied]:
    """Convolve with a synthetic room: exponentially decaying noise whose RT60 follows Freeverb's
    room size (`value` in [0, 1], 0.2 ~ 0.75 s; identity 0), mixed `wet`, loudness kept."""
    xf = as_float(x, "reverb")
    batch, length = xf.shape
    flag, val = draw("reverb", batch, p, low, high, generator, value, 0.0)
    if not bool(((val >= 0) & (val <= 1)).all()) or not 0.0 <= wet <= 1.0:
        raise ValueError("reverb: room size and wet must be in [0, 1]")
    feedback = 0.7 + 0.28 * val.clamp(0.0, 0.999)
    rt60 = 0.09 / -torch.log10(feedback)  # 60 dB of decay through ~30 ms comb loops
    ir_len = max(1, int(math.ceil(float(rt60[flag].max()) * sample_rate))) if bool(flag.any()) else 1
    ir = torch.rand(int(flag.sum()), ir_len, generator=generator).sub_(0.5)  # white tail (any zero-mean noise)
    t = torch.arange(ir_len, dtype=torch.float32) / sample_rate

    def fn(rows_x: Tensor, rows: Tensor, span: slice) -> Tensor:
        env = torch.exp(-6.9078 * t / rt60[rows.cpu()].unsqueeze(1))
        h = (ir[span] * env).to(xf)
        h = h / h.norm(dim=1, keepdim=True)
        tail = dsp.fft_convolve(rows_x, h)
        return dsp.match_rms((1.0 - wet) * rows_x + wet * tail, rows_x)

    return _finish(x, map_rows(xf, flag, fn), flag, val)


def delay(x: Tensor, sample_rate: int, *, p: float = 0.5, low: float = 100.0, high: float = 500.0,
          volume: float = 0.5, generator: torch.Generator | None = None, value: Tensor | float | None = None
          ) -> tuple[Tensor, Applied]:
    """Add one echo `value` ms later at `volume`, loudness kept (identity 0 ms)."""
    xf = as_float(x, "delay")
    flag, val = draw("delay", x.shape[0], p, low, high, generator, value, 0.0)
    samples = torch.round(val * sample_rate / 1000.0).clamp_min(0).long()

    def fn(rows_x: Tensor, rows: Tensor, span: slice) -> Tensor:
        echo = dsp.delay_rows(rows_x, samples[rows.cpu()].to(rows_x.device))
        return dsp.match_rms(rows_x + volume * echo, rows_x)

    return _finish(x, map_rows(xf, flag, fn), flag, val)


def distortion(x: Tensor, sample_rate: int, *, p: float = 0.5, low: float = 5.0, high: float = 25.0,
               generator: torch.Generator | None = None, value: Tensor | float | None = None
               ) -> tuple[Tensor, Applied]:
    """tanh saturation driven `value` dB above each example's peak (level-independent), loudness kept."""
    xf = as_float(x, "distortion")
    flag, val = draw("distortion", x.shape[0], p, low, high, generator, value, 0.0)

    def fn(rows_x: Tensor, rows: Tensor, span: slice) -> Tensor:
        peak = rows_x.abs().amax(dim=1, keepdim=True).clamp_min(1e-8)
        drive = torch.pow(10.0, val[rows.cpu()] / 20.0).to(rows_x).unsqueeze(1)
        return dsp.match_rms(torch.tanh(rows_x * (drive / peak)), rows_x)

    return _finish(x, map_rows(xf, flag, fn), flag, val)


def compression(x: Tensor, sample_rate: int, *, p: float = 0.5, low: float = -30.0, high: float = -10.0,
                ratio: float = 4.0, generator: torch.Generator | None = None,
                value: Tensor | float | None = None) -> tuple[Tensor, Applied]:
    """Downward compression above a threshold `value` dB below each example's loudest 10 ms (identity 0),
    fast attack and ~50 ms release, make-up gain to the input loudness."""
    xf = as_float(x, "compression")
    flag, val = draw("compression", x.shape[0], p, low, high, generator, value, 0.0)
    if ratio < 1:
        raise ValueError(f"compression: ratio must be >= 1, got {ratio}")
    win = max(2, sample_rate // 100)
    hop = win // 2

    def fn(rows_x: Tensor, rows: Tensor, span: slice) -> Tensor:
        power = F.avg_pool1d(rows_x.pow(2).unsqueeze(1), win, hop, padding=win // 2).squeeze(1)
        level = 10.0 * torch.log10(power + 1e-10)
        threshold = level.amax(dim=1, keepdim=True) + val[rows.cpu()].to(rows_x).unsqueeze(1)
        reduction = (level - threshold).clamp_min(0.0) * (1.0 - 1.0 / ratio)
        reduction = F.max_pool1d(reduction.unsqueeze(1), 3, 1, padding=1)  # attack: react early
        reduction = F.avg_pool1d(reduction, 9, 1, padding=4, count_include_pad=False)  # release
        gain = F.interpolate(torch.pow(10.0, reduction / -20.0), size=rows_x.shape[-1], mode="linear")
        return dsp.match_rms(rows_x * gain.squeeze(1), rows_x)

    return _finish(x, map_rows(xf, flag, fn), flag, val)


BASE_AUGMENTATIONS: dict[str, Callable[..., tuple[Tensor, Applied]]] = {
    "gain": gain, "polarity": polarity, "colored_noise": colored_noise, "filter": filter,
    "reverb": reverb, "delay": delay, "distortion": distortion, "compression": compression,
}
