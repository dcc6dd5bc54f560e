"""One model class for SimCLR / LOEV / LOEV++, and the `embed` public API."""

import pytest
import torch

from loev_core import ExperimentConfig, build_model
from loev_core.config import ModelConfig

KINDS = ["simclr", "loev", "loevpp"]


def make(kind: str, **kw) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(ExperimentConfig(model=ModelConfig(kind=kind, **kw))).eval()


@pytest.mark.parametrize("kind, keys", [
    ("simclr", ["V", "Z.invariant"]),
    ("loev", ["V", "Z.invariant", "Z.pitch_shift", "Z.time_stretch"]),
    ("loevpp", ["V", "Z.invariant", "Z.pitch_shift", "Z.time_stretch", "V.invariant", "V.pitch_shift",
                "V.time_stretch"]),
])
def test_subspaces(kind: str, keys: list[str]) -> None:
    m = make(kind)
    assert m.subspaces == keys
    out = m.embed(torch.randn(2, 48000) * 0.1, 16000)
    assert list(out) == keys
    assert all(v.shape[0] == 2 and torch.isfinite(v).all() for v in out.values())


def test_compact_encoder_is_compact() -> None:
    for kind in KINDS:
        assert sum(p.numel() for p in make(kind, encoder="compact").parameters()) <= 3_000_000


def test_loevpp_superspace_is_concatenation_of_branches() -> None:
    m = make("loevpp")
    out = m.embed(torch.randn(3, 48000) * 0.1, 16000)
    cat = torch.cat([out["V.invariant"], out["V.pitch_shift"], out["V.time_stretch"]], dim=1)
    assert torch.allclose(out["V"], cat)


def test_loevpp_shares_first_block_and_duplicates_the_rest() -> None:
    m = make("loevpp")
    assert set(m.branches) == {"invariant", "pitch_shift", "time_stretch"}
    a, b = m.branches["invariant"], m.branches["pitch_shift"]
    assert a is not b and all(pa.data_ptr() != pb.data_ptr() for pa, pb in zip(a.parameters(), b.parameters(),
                                                                                  strict=True))


def test_embed_resamples_and_averages_chunks() -> None:
    m = make("loev")
    x = torch.randn(1, 48000 * 2) * 0.1
    long = m.embed(x, 16000)
    parts = [m.embed(x[:, :48000], 16000), m.embed(x[:, 48000:], 16000)]
    for k in m.subspaces:
        assert torch.allclose(long[k], (parts[0][k] + parts[1][k]) / 2, atol=1e-5)
    # 1-D input, other sample rate, shorter than a clip
    out = m.embed(torch.randn(22050) * 0.1, 44100)
    assert out["V"].shape == (1, m.branch_dim)
    assert m.sample_rate == 16000 and m.clip_seconds == 3.0


def test_train_forward_backward_all_heads_get_gradients() -> None:
    m = make("loevpp").train()
    out = m(torch.randn(4, 48000) * 0.1)
    sum(out[f"Z.{h}"].pow(2).mean() for h in m.heads_names).backward()
    assert all(p.grad is not None for p in m.parameters())


def test_resnet_builds() -> None:
    m = make("loev", encoder="resnet", width=16)
    assert m(torch.randn(2, 48000))["Z.pitch_shift"].shape == (2, 128)


def test_compact_rhythm_profile_sees_where_energy_sits_on_the_mel_axis() -> None:
    """`compact_rhythm`'s profile pathway (`WithProfile`): the branches get a 96-bin profile next to the
    trunk's 6 pooled rows; moving energy by one mel bin moves that profile, and its normalisation is trained."""
    m = make("loevpp", encoder="compact_rhythm")
    assert m.subspaces == make("loevpp", encoder="compact").subspaces
    assert sum(p.numel() for p in m.parameters()) <= 3_200_000  # the pathways add about 0.1M to `compact`'s 3M
    profile = m.trunk.trunk  # WithRhythm(WithProfile(trunk))
    x = torch.randn(2, 1, 96, 150)
    h = profile(x)
    assert h.shape[1] == 2 * 32 * 6 + 96  # flattened trunk rows + the 96-mel profile
    shifted = x.clone()
    shifted[:, :, 1:] = x[:, :, :-1]  # energy moved one mel bin up
    assert not torch.allclose(profile(shifted)[:, -96:], h[:, -96:])
    mt = m.train()
    out = mt(torch.randn(4, 48000) * 0.1)
    sum(out[f"Z.{k}"].pow(2).mean() for k in mt.heads_names).backward()
    assert mt.trunk.trunk.norm.weight.grad is not None and mt.trunk.trunk.norm.weight.grad.abs().sum() > 0


def test_spectral_peaks_ignore_gain_and_tilt_but_follow_the_notes() -> None:
    """`compact_rhythm`'s pitch profile: a gain change or a smooth EQ tilt (in log-mel, a constant or a linear
    ramp over the mel axis) leaves it unchanged away from the edges; moving a harmonic peak moves it."""
    from loev_core.model.frontend import spectral_peaks

    torch.manual_seed(0)
    x = torch.randn(2, 1, 96, 20)
    ramp = torch.linspace(-10, 10, 96).view(1, 1, 96, 1)
    inner = slice(4, -4)  # the running mean replicates the edges, so the first/last 4 bands differ
    assert torch.allclose(spectral_peaks(x + 6.0 + ramp)[:, :, inner], spectral_peaks(x)[:, :, inner], atol=1e-4)
    peak = torch.zeros(1, 1, 96, 1)
    peak[0, 0, 40] = 5.0
    moved = torch.roll(peak, 3, dims=2)
    assert int(spectral_peaks(peak).argmax()) == 40 and int(spectral_peaks(moved).argmax()) == 43
    m = make("loevpp", encoder="compact_rhythm")
    assert m.subspaces == make("loevpp", encoder="compact").subspaces and m.trunk.trunk.peaks
    assert all(torch.isfinite(v).all() for v in m.embed(torch.randn(2, 48000) * 0.1, 16000).values())


def click_track(bpm: float, seconds: float = 3.0, sr: int = 16000) -> torch.Tensor:
    """Short noise bursts on every beat: audio whose only periodicity is the tempo."""
    g = torch.Generator().manual_seed(0)
    wave = torch.zeros(int(seconds * sr))
    period = 60.0 / bpm
    for i in range(int(seconds / period) + 1):
        start = int(i * period * sr)
        burst = torch.randn(400, generator=g) * torch.linspace(1, 0, 400)
        wave[start:start + 400] = burst[: len(wave[start:start + 400])]
    return wave


def test_onset_autocorrelation_peaks_at_the_beat_period_and_ignores_gain() -> None:
    """`compact_rhythm`'s pathway on real audio through the log-mel front end: a 120 BPM click track
    peaks at lag 50 frames (0.5 s at hop 160), a 150 BPM one at 40; a gain change leaves it unchanged
    (flux is a difference of logs; up to the log floor); silence gives zeros; a clip shorter than
    max_lag frames is padded."""
    from loev_core.config import AudioConfig
    from loev_core.model.frontend import LogMel, onset_autocorrelation

    mel = LogMel(AudioConfig())
    x120, x150 = click_track(120.0), click_track(150.0)
    acf = onset_autocorrelation(mel(torch.stack([x120, x150, 0.25 * x120])), 150)
    assert acf.shape == (3, 150)
    assert int(acf[0, 20:].argmax()) + 21 == 50 and int(acf[1, 20:].argmax()) + 21 == 40  # lag = index + 1
    assert torch.allclose(acf[0], acf[2], atol=0.05)  # not exact: the log floor (1e-6) in the silent gaps
    assert torch.equal(onset_autocorrelation(torch.full((1, 1, 96, 300), -13.8), 150), torch.zeros(1, 150))
    short = onset_autocorrelation(mel(x120[:8000].unsqueeze(0)), 150)  # 0.5 s: 50 frames of lags
    assert short.shape == (1, 150) and torch.equal(short[0, 50:], torch.zeros(100))


def test_compact_rhythm_encoder_hands_the_beat_to_every_branch() -> None:
    """The rhythm pathway joins the trunk output at every frame, carries gradient, and keeps the subspaces."""
    m = make("loevpp", encoder="compact_rhythm")
    assert m.subspaces == make("loevpp", encoder="compact").subspaces and m.trunk.max_lag == 150
    x = torch.stack([click_track(120.0), click_track(90.0)]) * 0.1
    h = m.eval().trunk(m.frontend(x))
    assert h.shape[1] == 2 * 32 * 6 + 96 + 150
    assert not torch.allclose(h[0, -150:], h[1, -150:])  # different tempi, different pathway values
    assert torch.allclose(h[0, -150:, 0], h[0, -150:, -1])  # one clip-level vector, repeated per frame
    mt = m.train()
    out = mt(torch.randn(4, 48000) * 0.1)
    sum(out[f"Z.{k}"].pow(2).mean() for k in mt.heads_names).backward()
    assert mt.trunk.norm.weight.grad is not None and mt.trunk.norm.weight.grad.abs().sum() > 0
    assert all(torch.isfinite(v).all() for v in m.eval().embed(x, 16000).values())


def test_log_mel_front_end_matches_torchaudio() -> None:
    """The fast power spectrum (re^2 + im^2) must give torchaudio's MelSpectrogram(power=2) exactly."""
    from loev_core.config import AudioConfig
    from loev_core.model.frontend import LogMel

    torch.manual_seed(0)
    front = LogMel(AudioConfig())
    wave = 0.1 * torch.randn(3, 16000)
    expected = torch.log(front.mel(wave) + 1e-6).unsqueeze(1)
    got = front(wave)
    assert got.shape == expected.shape == (3, 1, 96, 101)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(front(wave[0]), torch.log(front.mel(wave[0]) + 1e-6).unsqueeze(1), atol=1e-4, rtol=1e-5)


def test_every_configurable_encoder_has_a_builder() -> None:
    from loev_core.config import ENCODERS
    from loev_core.model.encoders import ENCODER_BUILDERS

    assert set(ENCODERS) == set(ENCODER_BUILDERS)
