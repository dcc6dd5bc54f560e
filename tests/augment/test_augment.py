"""Augmentations measured on the audio itself: pitch by spectral peak, tempo by onset spacing, gain by
RMS, noise by SNR; plus the bookkeeping the loss relies on (flags, values, determinism, views)."""

from __future__ import annotations

import math

import pytest
import torch

from loev_core import augment as A
from loev_core.config import AugmentConfig

SR = 16000


def tone(freq: float, seconds: float = 1.0, amp: float = 0.5) -> torch.Tensor:
    t = torch.arange(int(SR * seconds)) / SR
    return amp * torch.sin(2 * math.pi * freq * t)


def music(batch: int, seconds: float = 1.0, seed: int = 0) -> torch.Tensor:
    """Harmonic notes with decays and a little noise: exercises every effect like real audio would."""
    g = torch.Generator().manual_seed(seed)
    n = int(SR * seconds)
    t = torch.arange(n) / SR
    out = torch.zeros(batch, n)
    for b in range(batch):
        for k in range(int(seconds * 4)):
            f0 = 110.0 * 2 ** (int(torch.randint(0, 24, (1,), generator=g)) / 12)
            env = torch.exp(-(t - k * 0.25).clamp(min=0) * 6) * (t >= k * 0.25)
            for h in range(1, 5):
                out[b] += env * torch.sin(2 * math.pi * f0 * h * t) / h
        out[b] += 0.01 * torch.randn(n, generator=g)
    return 0.5 * out / out.abs().amax(dim=1, keepdim=True)


def peak_frequency(y: torch.Tensor) -> float:
    """Spectral peak with 8x zero padding and parabolic interpolation (resolution << 0.1 semitone)."""
    n = y.shape[-1]
    spec = torch.fft.rfft(y * torch.hann_window(n, periodic=False), n=8 * n).abs()
    k = int(spec.argmax())
    a, b, c = (float(v) for v in spec[k - 1 : k + 2].log())
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * SR / (8 * n)


def rms_db(y: torch.Tensor) -> torch.Tensor:
    return 10 * torch.log10(y.pow(2).mean(dim=-1))


@pytest.mark.parametrize("semitones", [3.0, -3.0])
def test_pitch_shift_moves_the_spectral_peak(semitones: float) -> None:
    x = torch.stack([tone(440.0), tone(300.0)])
    y, applied = A.pitch_shift(x, SR, value=semitones)
    assert y.shape == x.shape and applied.flag.all()
    for row, f0 in zip(y, (440.0, 300.0), strict=True):
        middle = row[2000:-2000]  # away from the edges' transients
        got = peak_frequency(middle)
        assert abs(12 * math.log2(got / (f0 * 2 ** (semitones / 12)))) < 0.1, got
        assert abs(float(rms_db(middle) - rms_db(tone(f0)))) < 1.0  # loudness kept within 1 dB


def test_octave_shift_moves_by_whole_octaves_in_both_directions() -> None:
    x = torch.stack([tone(440.0), tone(300.0), tone(440.0)])
    y, applied = A.octave_shift(x, SR, value=torch.tensor([12.0, -12.0, 0.0]))
    assert applied.flag.tolist() == [True, True, False] and torch.equal(y[2], x[2])
    for row, target in zip(y[:2], (880.0, 150.0), strict=True):
        assert abs(12 * math.log2(peak_frequency(row[2000:-2000]) / target)) < 0.1
    drawn = A.octave_shift(music(64), SR, p=0.5, octaves=2, generator=torch.Generator().manual_seed(0))[1]
    moved = drawn.value[drawn.flag]
    assert set(moved.tolist()) <= {-24.0, -12.0, 12.0, 24.0} and (moved < 0).any() and (moved > 0).any()
    assert (drawn.value[~drawn.flag] == 0).all() and 10 < int(drawn.flag.sum()) < 54


@pytest.mark.parametrize("kwargs", [{"value": 7.0}, {"octaves": 0}, {"octaves": 1.5}, {"p": 2.0}])
def test_octave_shift_rejects_partial_octaves_and_bad_arguments(kwargs: dict) -> None:
    with pytest.raises(ValueError, match="octave_shift"):
        A.octave_shift(music(2), SR, **kwargs)


def test_octave_shift_runs_in_a_configured_base_chain() -> None:
    cfg = AugmentConfig(base={"octave_shift": {"p": 1.0}, "gain": {"p": 0.0}})
    views = A.make_views(music(3, seconds=1.2), SR, SR, base=cfg.base, variant=cfg.variant,
                         generator=torch.Generator().manual_seed(0))
    assert views.applied["octave_shift"].flag.all() and views.waves.shape == (6, SR)
    assert torch.isfinite(views.waves).all()


def burst_centres(y: torch.Tensor) -> torch.Tensor:
    """Energy centroid (s) of each burst: runs of 10 ms frames above -40 dB of the loudest frame."""
    hop = SR // 100
    energy = y[: y.shape[-1] // hop * hop].pow(2)
    frames = energy.view(-1, hop).sum(-1)
    loud = (frames > 1e-4 * frames.max()).float().view(1, 1, -1)
    active = torch.nn.functional.max_pool1d(loud, 5, 1, padding=2).view(-1).int()  # bridge 40 ms gaps
    edges = torch.diff(torch.cat([torch.zeros(1, dtype=torch.int), active, torch.zeros(1, dtype=torch.int)]))
    starts, stops = torch.nonzero(edges == 1).view(-1) * hop, torch.nonzero(edges == -1).view(-1) * hop
    t = torch.arange(energy.numel()) / SR
    return torch.stack([(t[a:b] * energy[a:b]).sum() / energy[a:b].sum() for a, b in zip(starts, stops, strict=True)])


def click_track(seconds: float, interval: float) -> torch.Tensor:
    """Metronome clicks: 30 ms decaying 1 kHz blips every `interval` seconds."""
    t = torch.arange(int(0.03 * SR)) / SR
    blip = torch.sin(2 * math.pi * 1000 * t) * torch.exp(-t / 0.008)
    x = torch.zeros(int(seconds * SR))
    for start in range(int(0.1 * SR), x.numel() - blip.numel(), int(interval * SR)):
        x[start : start + blip.numel()] += blip
    return x


@pytest.mark.parametrize("rate", [0.8, 1.25])
def test_time_stretch_scales_inter_onset_interval(rate: float) -> None:
    interval = 0.3
    x = click_track(3.0, interval)
    y, applied = A.time_stretch(torch.stack([x, x]), SR, value=torch.tensor([rate, 1.0]))
    assert y.shape == x.repeat(2, 1).shape and applied.flag.tolist() == [True, False]
    assert torch.equal(y[1], x)  # the identity rate leaves the row untouched
    centres = burst_centres(y[0])
    assert len(centres) >= 6
    k = torch.arange(len(centres), dtype=torch.float32)
    ioi = float(((k - k.mean()) * (centres - centres.mean())).sum() / (k - k.mean()).pow(2).sum())
    assert abs(ioi / (interval / rate) - 1) < 0.02, (ioi, interval / rate)


def test_gain_is_exact_in_db_by_rms() -> None:
    x = music(3)
    y, applied = A.gain(x, SR, value=torch.tensor([-6.0, 3.5, 0.0]))
    assert torch.allclose(rms_db(y) - rms_db(x), torch.tensor([-6.0, 3.5, 0.0]), atol=1e-3)
    assert applied.flag.tolist() == [True, True, False]
    gen = torch.Generator().manual_seed(3)
    y, applied = A.gain(music(16), SR, p=1.0, generator=gen)
    assert applied.flag.all() and ((applied.value >= -15) & (applied.value <= 5)).all()
    assert torch.allclose(rms_db(y) - rms_db(music(16)), applied.value, atol=1e-3)


def test_colored_noise_hits_the_requested_snr() -> None:
    x = music(2)
    y, _ = A.colored_noise(x, SR, value=torch.tensor([10.0, 20.0]), generator=torch.Generator().manual_seed(0))
    snr = rms_db(x) - rms_db(y - x)
    assert torch.allclose(snr, torch.tensor([10.0, 20.0]), atol=0.1)


def test_filters_and_delay_do_what_they_say() -> None:
    mix = tone(200.0) + tone(4000.0)
    lowpassed, _ = A.filter(mix[None], SR, kinds=["lowpass"], value=1000.0)
    spec_in, spec_out = (torch.fft.rfft(v.flatten()).abs() for v in (mix, lowpassed))
    assert spec_out[4000] < 0.01 * spec_in[4000]  # 1 Hz bins: 4 kHz attenuated > 40 dB
    assert spec_out[200] > 0.9 * spec_in[200]
    highpassed, _ = A.filter(mix[None], SR, kinds=["highpass"], value=1000.0)
    assert torch.fft.rfft(highpassed.flatten()).abs()[200] < 0.01 * spec_in[200]
    click = torch.zeros(1, SR)
    click[0, 100] = 1.0
    echoed, applied = A.delay(click, SR, value=250.0)
    assert torch.topk(echoed.abs().flatten(), 2).indices.sort().values.tolist() == [100, 100 + SR // 4]
    assert applied.value.tolist() == [250.0]


@pytest.mark.parametrize("name", sorted(A.AUGMENTATIONS))
def test_flags_and_values_match_what_was_applied(name: str) -> None:
    fn = A.AUGMENTATIONS[name]
    x = music(6)
    gen = torch.Generator().manual_seed(1)
    y, applied = fn(x, SR, p=0.0, generator=gen)
    assert not applied.flag.any() and torch.equal(y, x)
    identity = applied.value[0]
    assert (applied.value == identity).all()
    y, applied = fn(x, SR, p=1.0, generator=gen)
    assert applied.flag.all() and (applied.value != identity).all()
    y, applied = fn(x, SR, p=0.5, generator=torch.Generator().manual_seed(5))
    changed = (y != x).any(dim=1)
    assert torch.equal(changed, applied.flag)  # exactly the flagged rows changed
    assert (applied.value[~applied.flag] == identity).all()


@pytest.mark.parametrize("name", sorted(A.BASE_AUGMENTATIONS))
def test_base_augmentations_are_safe(name: str) -> None:
    x = torch.cat([music(4, seed=2), torch.zeros(1, SR)]).double()  # float64 and a silent row
    y, applied = A.BASE_AUGMENTATIONS[name](x, SR, p=1.0, generator=torch.Generator().manual_seed(0))
    assert y.shape == x.shape and y.dtype == x.dtype and torch.isfinite(y).all()
    assert applied.flag.shape == (5,) and applied.flag.dtype == torch.bool
    assert applied.value.dtype == torch.float32
    peak_in, peak_out = x.abs().amax(dim=1), y.abs().amax(dim=1)
    assert (peak_out <= 4 * peak_in + 1e-6).all()
    if name not in ("gain", "filter"):  # the other effects keep loudness within a few dB
        assert (rms_db(y[:4]) - rms_db(x[:4])).abs().max() < 3.0


def test_same_seed_same_views_different_seed_different() -> None:
    clips = music(3, seconds=1.5)
    views = [A.make_views(clips, SR, SR, generator=torch.Generator().manual_seed(s)) for s in (7, 7, 8)]
    assert torch.equal(views[0].waves, views[1].waves)
    for k in views[0].applied:
        assert torch.equal(views[0].applied[k].flag, views[1].applied[k].flag)
        assert torch.equal(views[0].applied[k].value, views[1].applied[k].value)
    assert not torch.equal(views[0].waves, views[2].waves)


def test_make_views_shapes_ids_and_applied() -> None:
    clips = music(3, seconds=1.2)
    views = A.make_views(clips, SR, SR // 2, n_views=3, crop="random", generator=torch.Generator().manual_seed(0))
    assert views.waves.shape == (9, SR // 2)
    assert views.clip_ids.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    cfg = AugmentConfig()
    assert list(views.applied) == [*cfg.variant, *cfg.base]
    for applied in views.applied.values():
        assert applied.flag.shape == (9,) and applied.value.shape == (9,)
    short = A.make_views(clips[:, :1000], SR, 2000, generator=torch.Generator().manual_seed(0), base={}, variant={})
    assert short.waves.shape == (6, 2000) and (short.waves[:, 1000:] == 0).all()  # zero-padded


def crops_of(crop: str, length: int, n_views: int = 2) -> torch.Tensor:
    """Offsets of each view, recovered from a ramp signal through the identity chain."""
    clips = torch.arange(length, dtype=torch.float64).repeat(4, 1) + 1e6 * torch.arange(4)[:, None]
    views = A.make_views(clips, SR, 100, n_views=n_views, crop=crop, base={}, variant={},
                         generator=torch.Generator().manual_seed(0))
    assert torch.equal(torch.diff(views.waves, dim=1), torch.ones(4 * n_views, 99, dtype=torch.float64))
    assert torch.equal(torch.div(views.waves[:, 0], 1e6, rounding_mode="floor").long(), views.clip_ids)
    return (views.waves[:, 0] % 1e6).long().view(4, n_views)


def test_crop_strategies() -> None:
    same = crops_of("same", 1000)
    assert (same[:, 0] == same[:, 1]).all()
    adjacent = crops_of("adjacent", 1000, n_views=3)
    assert (torch.diff(adjacent, dim=1) == 100).all()
    fallback = crops_of("adjacent", 250, n_views=3)  # too short for 3 x 100 samples: random crops
    assert ((fallback >= 0) & (fallback <= 150)).all()
    random = crops_of("random", 1000)
    assert (random[:, 0] != random[:, 1]).any() and (random <= 900).all()


def test_value_mode_and_errors() -> None:
    x = music(2)
    y, applied = A.time_stretch(x, SR, value=1.0)
    assert torch.equal(y, x) and not applied.flag.any() and applied.value.tolist() == [1.0, 1.0]
    _, applied = A.pitch_shift(x, SR, value=torch.tensor([0.0, 2.5]))
    assert applied.flag.tolist() == [False, True] and applied.value.tolist() == [0.0, 2.5]
    with pytest.raises(ValueError, match="nope"):
        A.apply_chain(x, SR, {"nope": {}})
    with pytest.raises(ValueError, match="gain"):
        A.apply_chain(x, SR, {"gain": {"loudness": 3}})
    with pytest.raises(ValueError, match="time_stretch"):
        A.apply_chain(x, SR, {"pitch_shift": {}, "time_stretch": {"speed": 2}})
    with pytest.raises(ValueError, match="reverb"):
        A.apply_chain(x, SR, {"reverb": {"p": 2.0}})


def test_fused_variant_chain_records_the_same_draws() -> None:
    x = music(8)
    chain = AugmentConfig().variant
    _, fused = A.apply_chain(x, SR, chain, torch.Generator().manual_seed(4))
    gen = torch.Generator().manual_seed(4)
    _, ps = A.pitch_shift(x, SR, **chain["pitch_shift"], generator=gen)
    _, ts = A.time_stretch(x, SR, **chain["time_stretch"], generator=gen)
    for got, want in ((fused["pitch_shift"], ps), (fused["time_stretch"], ts)):
        assert torch.equal(got.flag, want.flag) and torch.equal(got.value, want.value)


def test_results_do_not_depend_on_chunking(monkeypatch: pytest.MonkeyPatch) -> None:
    """CUDA processes all rows in one chunk, CPU in small ones: the audio must not care."""
    from loev_core.augment import base, contract, variant

    clips = music(6, seconds=1.2)
    chunked = A.make_views(clips, SR, SR, generator=torch.Generator().manual_seed(3))
    one_chunk = contract.map_rows

    def whole(x, flag, fn, order=None, chunk_samples=0):  # noqa: ANN001, ANN202
        return one_chunk(x, flag, fn, order, chunk_samples=1 << 40)

    monkeypatch.setattr(base, "map_rows", whole)
    monkeypatch.setattr(variant, "map_rows", whole)
    single = A.make_views(clips, SR, SR, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(single.waves, chunked.waves, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu() -> None:
    clips = music(2, seconds=1.2)
    cpu = A.make_views(clips, SR, SR, generator=torch.Generator().manual_seed(0))
    gpu = A.make_views(clips.cuda(), SR, SR, generator=torch.Generator().manual_seed(0))
    assert gpu.waves.device.type == "cuda"
    # Same draws; FFT sizes follow the device's chunking, so allow float-level differences only.
    assert (gpu.waves.cpu() - cpu.waves).abs().max() < 1e-2 * cpu.waves.abs().max()
    for k, a in cpu.applied.items():
        assert torch.equal(gpu.applied[k].flag.cpu(), a.flag)
