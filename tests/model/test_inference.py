"""`LOEVModel.embed`'s fast CPU path (`model.inference.InferencePlan`, the blocked front end): the same values
as `forward` in float32, bfloat16 within cosine 0.999 of float32 on real clips for every bundled model."""

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from loev_core import ExperimentConfig, build_model, load_audio, load_model
from loev_core.audio import read_manifest
from loev_core.config import AudioConfig, ModelConfig
from loev_core.model.frontend import LogMel, spectral_peaks
from loev_core.model.inference import InferencePlan, _AvgPool, _MaxPool

ROOT = Path(__file__).resolve().parents[2]
KINDS = ["simclr", "loev", "loevpp"]


def make(kind: str, **kw) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(ExperimentConfig(model=ModelConfig(kind=kind, **kw))).eval()


def randomise_batch_norms(m: torch.nn.Module) -> None:
    """Running statistics and affine parameters away from their initial 0/1, so folding them is tested."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm):
                n = mod.num_features
                mod.running_mean.copy_(torch.randn(n, generator=g) * 0.5)
                mod.running_var.copy_(torch.rand(n, generator=g) + 0.5)
                mod.weight.copy_(torch.rand(n, generator=g) + 0.5)
                mod.bias.copy_(torch.randn(n, generator=g) * 0.1)


def rel_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm(dim=1).max() / b.norm(dim=1).min())


@pytest.mark.parametrize("shape", [(3, 48000), (2, 16000), (1, 8000), (2, 1500), (1, 16000 * 12), (48000,)])
def test_blocked_front_end_matches_one_batched_stft(shape: tuple[int, ...]) -> None:
    """Blocks of frames through FFT and a banded mel matrix (12 s: several blocks per clip; 1-D input)."""
    torch.manual_seed(0)
    front = LogMel(AudioConfig())
    wave = 0.1 * torch.randn(shape)
    got, expected = front.power_mel(wave), front._power_mel_stft(wave)
    assert got.shape == expected.shape
    torch.testing.assert_close(torch.log(got + 1e-6), torch.log(expected + 1e-6), atol=1e-5, rtol=1e-5)


def test_spectral_peaks_sum_is_avg_pool_exactly() -> None:
    torch.manual_seed(0)
    x = torch.randn(3, 1, 96, 50) * 4 - 8
    padded = F.pad(x, (0, 0, 4, 4), mode="replicate")
    assert torch.equal(spectral_peaks(x), x - F.avg_pool2d(padded, (9, 1), stride=1))


@pytest.mark.parametrize("shape", [(2, 16, 96, 150), (2, 32, 47, 75), (1, 3, 5, 7)])
def test_pair_pools_are_the_torch_pools_exactly(shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    x = torch.randn(shape)
    for k in [(2, 2), (2, 1), (1, 2)]:
        pool = torch.nn.MaxPool2d(k)
        assert _MaxPool.fits(pool)
        for layout in (x, x.contiguous(memory_format=torch.channels_last)):
            assert torch.equal(_MaxPool(pool, relu=True)(layout), F.relu(pool(x)))
    for k in [(1, 2), (2, 1)]:
        pool = torch.nn.AvgPool2d(k)
        assert _AvgPool.fits(pool)
        assert torch.equal(_AvgPool(pool)(x), pool(x))
    assert not _AvgPool.fits(torch.nn.AvgPool2d(2)) and not _MaxPool.fits(torch.nn.MaxPool2d(3))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("encoder", ["compact_rhythm", "compact", "resnet"])
def test_plan_matches_forward_in_float32(kind: str, encoder: str) -> None:
    m = make(kind, encoder=encoder, width=16 if encoder == "resnet" else 32)
    randomise_batch_norms(m)
    x = torch.randn(5, 48000) * 0.1
    with torch.inference_mode():
        expected = m(x)
        got = InferencePlan(m, "fp32")(x)
    assert list(got) == list(expected) == m.subspaces
    for k in expected:
        assert got[k].dtype == torch.float32
        assert rel_error(got[k], expected[k]) < 1e-5, k


def test_embed_rebuilds_its_plan_when_weights_change_and_uses_forward_in_train_mode() -> None:
    m = make("loevpp")
    x = torch.randn(2, 48000) * 0.1
    before = m.embed(x, 16000)["V"]
    with torch.no_grad():
        m.branches["invariant"][0].weight.mul_(2.0)  # an optimiser step would do the same, in place
    after = m.embed(x, 16000)["V"]
    with torch.inference_mode():
        expected = m(x)["V"]
    assert not torch.allclose(before, after) and rel_error(after, expected) < 1e-5
    m.train()
    with torch.inference_mode():
        train_forward = m(x)["V"]
    assert torch.allclose(m.embed(x, 16000)["V"], train_forward)  # batch statistics, as before
    with pytest.raises(ValueError, match="precision"):
        m.eval().embed(x, 16000, precision="fp16")


def _demo_waves(n: int) -> torch.Tensor:
    clips = [c.path for c in read_manifest(ROOT / "assets" / "demo" / "manifest.csv")][:n]
    return torch.stack([load_audio(p, 16000)[:48000] for p in clips])


@pytest.mark.parametrize("kind", KINDS)
def test_bundled_models_fast_path_is_forward_and_bf16_stays_within_cosine_0999(kind: str) -> None:
    """On real demo clips: float32 `embed` (the plan) within 1e-5 of `forward`; bfloat16 within cosine
    0.999 of float32 in every subspace (measured worst over 240 clips: 0.9997, docs/experiments.md)."""
    model = load_model(ROOT / "assets" / "checkpoints" / f"demo-{kind}")
    waves = _demo_waves(24)
    with torch.inference_mode():
        reference = model(waves)
    fp32 = model.embed(waves, 16000)
    bf16 = model.embed(waves, 16000, precision="bf16")
    worst = {}
    for k in model.subspaces:
        assert rel_error(fp32[k], reference[k]) < 1e-5, k
        cos = F.cosine_similarity(bf16[k], fp32[k], dim=1)
        worst[k] = float(cos.min())
    print(kind, {k: round(v, 6) for k, v in worst.items()})
    assert min(worst.values()) >= 0.999, worst
    assert all(np.isfinite(v.numpy()).all() for v in bf16.values())
