"""Batched signal-processing kernels behind `loev_core.augment`.

Everything here works on `[B, T]` tensors with *per-example* parameters, on any device, with no Python
loop over examples: that is what makes the augmentations fast enough to run inside the training loop.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def next_fast_len(n: int) -> int:
    """Smallest size >= n of the form odd * 2^k with odd in {1, 3, 5, 9, 15, 25}: FFTs of such sizes
    run several times faster than of sizes with large odd factors."""
    best = None
    for odd in (1, 3, 5, 9, 15, 25):
        size = odd
        while size < n:
            size *= 2
        best = size if best is None else min(best, size)
    return int(best)


def rms(x: Tensor, eps: float = 1e-12) -> Tensor:
    """Root-mean-square level per row, shape [B, 1] (kept 2-D so it broadcasts against the waves)."""
    norm = torch.linalg.vector_norm(x, dim=-1, keepdim=True)  # one fused pass, no temporary
    return (norm.square() / max(x.shape[-1], 1) + eps).sqrt()


def match_rms(y: Tensor, reference: Tensor) -> Tensor:
    """Rescale each row of `y` to the RMS of `reference`: effects then change timbre, not loudness."""
    ref = rms(reference, 0.0)
    return y * (ref / rms(y)).where(ref > 0, torch.ones_like(ref))


def apply_response(x: Tensor, response: Tensor, n_fft: int) -> Tensor:
    """Zero-phase filtering by a per-example magnitude response `[B, n_fft // 2 + 1]`.

    `x` is zero-padded to `n_fft` (> T + the response's ringing) so the product is a linear, not a
    circular, convolution: the non-causal half of the impulse response lands in the padding.
    """
    spec = torch.fft.rfft(x, n=n_fft)
    return torch.fft.irfft(spec * response, n=n_fft)[..., : x.shape[-1]]


def fft_convolve(x: Tensor, h: Tensor) -> Tensor:
    """Causal linear convolution of each row of `x` [B, T] with its own kernel `h` [B, L], cut to T."""
    n = next_fast_len(x.shape[-1] + h.shape[-1] - 1)
    spec = torch.fft.rfft(x, n=n) * torch.fft.rfft(h, n=n)
    return torch.fft.irfft(spec, n=n)[..., : x.shape[-1]]


def butterworth_gain(freqs: Tensor, cutoff: Tensor, order: int, highpass: bool) -> Tensor:
    """|H(f)| of a Butterworth low/high-pass; `freqs` [n], `cutoff` [B, 1] -> [B, n]."""
    ratio = freqs.clamp_min(1e-6) / cutoff
    if highpass:
        ratio = ratio.reciprocal()
    if order & (order - 1):
        power = ratio.pow(2 * order)
    else:  # order a power of two: repeated squaring, much cheaper than pow's exp/log (overflow -> gain 0)
        power = ratio.square()
        for _ in range(order.bit_length() - 1):
            power.square_()
    return power.add_(1.0).rsqrt_()


def delay_rows(x: Tensor, delays: Tensor) -> Tensor:
    """Shift each row right by its own integer number of samples (zeros enter at the start)."""
    t = torch.arange(x.shape[-1], device=x.device)
    idx = t.unsqueeze(0) - delays.long().unsqueeze(1)
    shifted = x.gather(-1, idx.clamp_min(0))
    return shifted.masked_fill(idx < 0, 0.0)


def stft_size(sample_rate: int, length: int | None = None) -> tuple[int, int]:
    """n_fft of about 64 ms (1024 at 16 kHz) and 75 % overlap: good phase-vocoder quality on music.
    Halved until it fits `length` (reflect padding needs n_fft / 2 < length)."""
    n_fft = 1 << max(int(round(math.log2(sample_rate * 0.064))), 4)
    while length is not None and n_fft > 16 and n_fft // 2 >= length:
        n_fft //= 2
    return n_fft, n_fft // 4


def stft_frames(x: Tensor, n_fft: int, hop: int, window: Tensor) -> Tensor:
    """Centred (reflect-padded) STFT as contiguous `[B, K, F]`: frames first, so per-example frame
    gathers copy whole spectra and `irfft` runs on the last axis without a transpose."""
    mode = "reflect" if x.shape[-1] > n_fft // 2 else "constant"  # reflect needs a long enough input
    padded = F.pad(x.unsqueeze(1), (n_fft // 2, n_fft // 2), mode=mode).squeeze(1)
    return torch.fft.rfft(padded.unfold(-1, n_fft, hop) * window, dim=-1)


def istft_frames(spec: Tensor, n_fft: int, hop: int, window: Tensor, length: int) -> Tensor:
    """Inverse of `stft_frames` by weighted overlap-add (n_fft a multiple of hop), cut to `length`."""
    batch, n_frames, _ = spec.shape
    overlap = n_fft // hop
    frames = torch.fft.irfft(spec, n=n_fft, dim=-1).mul_(window).view(batch, n_frames, overlap, hop)
    out = frames.new_zeros(batch, n_frames + overlap - 1, hop)
    norm = window.new_zeros(n_frames + overlap - 1, hop)
    wsq = window.pow(2).view(overlap, hop)
    for j in range(overlap):
        out[:, j : j + n_frames] += frames[:, :, j]
        norm[j : j + n_frames] += wsq[j]
    out.mul_(torch.where(norm > 1e-3, 1.0 / norm.clamp_min(1e-3), 0.0))  # uncovered edges become 0
    y = out.view(batch, -1)[:, n_fft // 2 : n_fft // 2 + length]
    return F.pad(y, (0, length - y.shape[-1])) if y.shape[-1] < length else y


def phase_vocoder(x: Tensor, rate: Tensor, out_len: int, n_fft: int, hop: int,
                  used_len: Tensor | None = None) -> Tensor:
    """Time-stretch each row of `x` [B, T] by its own `rate` [B] (>1 faster), output `[B, out_len]`.

    One batched STFT; output frame k reads the input at fractional frame k * rate[b]: magnitudes are
    linearly interpolated via gather, phases accumulate the measured per-bin phase advance. Input
    frames past the end read as silence, so a speed-up is zero-padded at the end. Each row's level is
    matched to the input span its first `used_len[b]` output samples (default all) come from, so the
    result does not depend on the other rows of the batch. (In-place ops keep the number of large
    temporaries, and so allocation and page-fault costs, down.)
    """
    window = torch.hann_window(n_fft, device=x.device, dtype=x.dtype)
    spec = torch.view_as_real(stft_frames(x, n_fft, hop, window))
    re, im = spec[..., 0].contiguous(), spec[..., 1].contiguous()  # [B, K, F]; strided math is slow
    del spec
    batch, n_frames, n_freq = re.shape
    mag = F.pad(torch.hypot(re, im), (0, 0, 0, 1))  # one silent frame: reads past the end get zeros
    angle = torch.atan2(im, re)
    del re, im
    # Synthesis uses the analysis hop, so the per-bin phase advance is only needed modulo 2*pi: a plain
    # difference of frame phases, no unwrapping against the bin frequency. Slot 0 holds a zero advance
    # (for output frame 0), slot j + 1 the advance from input frame j to j + 1.
    advance = torch.zeros_like(angle)
    torch.sub(angle[:, 1:], angle[:, :-1], out=advance[:, 1:])
    # Frames overlapping the reflect padding have unreliable phase differences; a slowed-down output
    # reuses them several times and would lose coherence between bins for the whole clip. So the phase
    # starts from the first clean frame, extrapolated back to frame 0.
    edge = max(min(n_fft // (2 * hop), n_frames - 2), 0)
    start = angle[:, edge : edge + 1].clone()
    if edge > 0:
        advance[:, 1 : edge + 1] = advance[:, edge + 1 : edge + 2]
        start -= edge * advance[:, edge + 1 : edge + 2]
    del angle

    k_out = out_len // hop + 1 + n_fft // hop  # full overlap-add coverage up to out_len, whatever it is
    steps = torch.arange(k_out, device=x.device, dtype=x.dtype).unsqueeze(0) * rate.to(x).unsqueeze(1)
    i0 = steps.floor()
    alpha = (steps - i0).unsqueeze(-1)
    i0 = i0.long()
    magnitude = _frames_at(mag, i0.clamp_max(n_frames))
    magnitude.lerp_(_frames_at(mag, (i0 + 1).clamp_max(n_frames)), alpha)
    del mag
    # phase[k] = start + sum of the advances read by output frames 0 .. k-1
    previous = F.pad(i0[:, :-1] + 1, (1, 0)).clamp_max(n_frames - 1)
    phase = _frames_at(advance, previous).cumsum_(1).add_(start)
    del advance
    real = torch.cos(phase).mul_(magnitude)
    imag = phase.sin_().mul_(magnitude)
    y = istft_frames(torch.complex(real, imag), n_fft, hop, window, out_len)
    # Overlap-add of frames whose phases are only partly coherent loses ~3 dB on noisy or changing
    # material: restore the level of the input span each output row represents.
    rate = rate.to(x)
    used = torch.full_like(rate, out_len) if used_len is None else used_len.to(x)
    n_out = torch.minimum(torch.floor(x.shape[-1] / rate), used).clamp_min(1)
    n_in = torch.minimum(torch.floor(used * rate), torch.full_like(rate, x.shape[-1])).clamp_min(1)
    level_in, level_out = _prefix_rms(x, n_in.long()), _prefix_rms(y, n_out.long())
    return y * torch.where(level_out > 0, level_in / level_out.clamp_min(1e-20), 1.0)


def _prefix_rms(x: Tensor, n: Tensor) -> Tensor:
    """RMS of the first n[b] samples of each row, [B, 1]."""
    energy = x.square().cumsum_(-1).gather(-1, (n - 1).clamp(0, x.shape[-1] - 1).unsqueeze(1))
    return (energy / n.unsqueeze(1)).sqrt()


def _frames_at(frames: Tensor, index: Tensor) -> Tensor:
    """`frames[b, index[b, k]]` for [B, K, F] frames and [B, K'] indices, as whole-row copies
    (index_select on the flattened rows is an order of magnitude faster than an expanded gather)."""
    batch, n_frames, n_freq = frames.shape
    flat = (index + torch.arange(batch, device=index.device).unsqueeze(1) * n_frames).reshape(-1)
    return frames.reshape(batch * n_frames, n_freq).index_select(0, flat).view(batch, -1, n_freq)


def resample_rows(x: Tensor, step: Tensor, out_len: int, margin: int = 512) -> Tensor:
    """Read row b of `x` [B, L] at positions n * step[b], n < out_len: band-limited interpolation.

    Windowed-sinc interpolation done the batched way: one rFFT, a per-example raised-cosine low-pass
    (cutoff 0.95 * Nyquist / max(step, 1), so raising the pitch cannot alias), an inverse FFT twice as
    long (ideal sinc interpolation onto a 2x grid), then a 4-point Lagrange read via gather at each
    example's own step (error below -50 dB up to 0.4 * Nyquist, -29 dB at 0.8 * Nyquist). `margin`
    zeros keep the FFT's circular wrap away from the ends.
    """
    length = x.shape[-1]
    n = next_fast_len(length + margin)
    spec = torch.fft.rfft(x, n=n)
    step = step.to(x).unsqueeze(1)
    freqs = torch.arange(spec.shape[-1], device=x.device, dtype=x.dtype) / n  # cycles per sample
    cutoff = 0.475 / step.clamp_min(1.0)
    width = 0.025 / step.clamp_min(1.0)
    ramp = ((cutoff - freqs) / width + 0.5).clamp(0.0, 1.0)
    spec.mul_(1.0 - torch.cos(math.pi * ramp))  # raised cosine, times 2 for the 2x grid's irfft scale
    fine = torch.fft.irfft(spec, n=2 * n)  # fine[j] = x at j / 2
    pos = torch.arange(out_len, device=x.device, dtype=x.dtype).unsqueeze(0) * (2.0 * step)
    i0 = pos.floor()
    u = pos - i0
    i0 = i0.long()
    last = fine.shape[-1] - 1
    a, b = u * (u - 1.0), (u + 1.0) * (u - 2.0)
    y = fine.gather(-1, (i0 - 1).clamp(0, last)).mul_(a * (u - 2.0) * (-1.0 / 6.0))
    y.add_(fine.gather(-1, i0.clamp_max(last)).mul_(b * (u - 1.0) * 0.5))
    y.add_(fine.gather(-1, (i0 + 1).clamp_max(last)).mul_(b * u * -0.5))
    y.add_(fine.gather(-1, (i0 + 2).clamp_max(last)).mul_(a * (u + 1.0) * (1.0 / 6.0)))
    return y
