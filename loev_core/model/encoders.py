"""Encoders, described as a shared trunk plus a last stage so LOEV++ can duplicate its tail.

Both encoders keep the frequency axis as features at the end (flatten, not pool): global pooling
over frequency would make the conv stack nearly pitch-shift invariant by construction, and the
pitch-variant subspaces must be able to tell keys apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from loev_core.config import AudioConfig, ModelConfig
from loev_core.model.frontend import onset_autocorrelation, spectral_peaks


def conv_bn(c_in: int, c_out: int, dim: int = 2, k: int = 3) -> list[nn.Module]:
    conv = nn.Conv2d if dim == 2 else nn.Conv1d
    bn = nn.BatchNorm2d if dim == 2 else nn.BatchNorm1d
    return [conv(c_in, c_out, k, padding=k // 2, bias=False), bn(c_out), nn.ReLU(inplace=True)]


class Residual(nn.Module):
    """Two conv-BN layers with a skip (1x1 projection when the width changes)."""

    def __init__(self, c_in: int, c_out: int, dim: int = 2) -> None:
        super().__init__()
        conv = nn.Conv2d if dim == 2 else nn.Conv1d
        bn = nn.BatchNorm2d if dim == 2 else nn.BatchNorm1d
        self.body = nn.Sequential(*conv_bn(c_in, c_out, dim), conv(c_out, c_out, 3, padding=1, bias=False),
                                  bn(c_out))
        self.skip = nn.Identity() if c_in == c_out else conv(c_in, c_out, 1, bias=False)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.skip(x))


class FlattenFreq(nn.Module):
    """[B, C, F, T] -> [B, C*F, T]: keeps where in frequency a pattern is."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, f, t = x.shape
        return x.reshape(b, c * f, t)


class TimePool(nn.Module):
    """[B, C, T] -> [B, 2C]: mean and max over time."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.mean(dim=-1), x.amax(dim=-1)], dim=1)


@dataclass
class EncoderParts:
    trunk: nn.Module  # log-mel [B,1,F,T] -> features, includes the first block of the last stage
    make_branch: Callable[[], nn.Module]  # the rest of the last stage + pooling -> [B, out_dim]
    out_dim: int


def _freq_after(n_mels: int, pools: int) -> int:
    f = n_mels
    for _ in range(pools):
        f //= 2
    return f


def compact_encoder(m: ModelConfig, a: AudioConfig) -> EncoderParts:
    """About 0.5M parameters and ~50M MACs per 3 s clip: trains on a 2-core CPU."""
    w = m.width
    trunk = nn.Sequential(
        nn.BatchNorm2d(1), nn.AvgPool2d((1, 2)),
        *conv_bn(1, w // 2), nn.MaxPool2d(2),
        *conv_bn(w // 2, w), nn.MaxPool2d(2),
        *conv_bn(w, 2 * w), nn.MaxPool2d(2),
        *conv_bn(2 * w, 2 * w), nn.MaxPool2d((2, 1)),  # shared first block of the last stage
        FlattenFreq(),
    )
    dim = 8 * w
    return EncoderParts(trunk, _compact_branches(_compact_feat(m, a), dim), 2 * dim)


def _compact_feat(m: ModelConfig, a: AudioConfig) -> int:
    """Channels of the compact trunk's output per frame (2w channels x the mel rows left by 4 poolings)."""
    return 2 * m.width * _freq_after(a.n_mels, 4)


def _compact_branches(feat: int, dim: int) -> Callable[[], nn.Module]:
    """The compact encoder's last stage (one copy per LOEV++ head): [B, feat, T'] -> [B, 2 * dim]."""
    def make_branch() -> nn.Module:
        return nn.Sequential(*conv_bn(feat, dim, dim=1), *conv_bn(dim, dim, dim=1), TimePool())

    return make_branch


class WithProfile(nn.Module):
    """Trunk features plus the log-mel's full-resolution spectral profile at the trunk's frame rate.

    The compact trunk pools frequency 16x (96 mels -> 6 rows); semitone-scale positions, which key
    needs, survive that only if the convolutions happen to encode them. Here the log-mel itself,
    averaged over time to the trunk's frames and batch-normalised, joins the flattened features, so
    every branch can read where energy sits on the mel axis. With `peaks`, the profile is that of
    `spectral_peaks` instead, which is what `compact_rhythm` uses: gain, EQ, filter and noise
    augmentations make the raw profile unreliable, so training learns to ignore it, while the peaks
    survive them (measurements: docs/experiments.md)."""

    def __init__(self, trunk: nn.Module, n_mels: int, peaks: bool = False) -> None:
        super().__init__()
        self.trunk, self.norm, self.peaks = trunk, nn.BatchNorm1d(n_mels), peaks

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.combine(x, self.trunk(x))

    def combine(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """The trunk's output `h` [B, C*F, T'] for log-mel `x`, with the profile appended."""
        spec = spectral_peaks(x) if self.peaks else x
        profile = nn.functional.adaptive_avg_pool1d(spec[:, 0], h.shape[-1])  # [B, n_mels, T']
        return torch.cat([h, self.norm(profile)], dim=1)


class WithRhythm(nn.Module):
    """Trunk features plus the clip's onset autocorrelation (`onset_autocorrelation`), batch-normalised
    and repeated at every frame. The compact trunk pools time 16x (100 -> about 6 frames per second),
    so no beat period survives it; this pathway hands it over the way `WithProfile` hands over pitch."""

    def __init__(self, trunk: nn.Module, max_lag: int) -> None:
        super().__init__()
        self.trunk, self.norm, self.max_lag = trunk, nn.BatchNorm1d(max_lag), max_lag

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.combine(x, self.trunk(x))

    def combine(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """The trunk's output `h` [B, C, T'] for log-mel `x`, with the onset autocorrelation appended."""
        acf = self.norm(onset_autocorrelation(x, self.max_lag))
        return torch.cat([h, acf.unsqueeze(-1).expand(-1, -1, h.shape[-1])], dim=1)


RHYTHM_MAX_LAG_S = 1.5  # longest beat period seen: 40 BPM


def rhythm_max_lag(a: AudioConfig) -> int:
    """Frames of lag `WithRhythm` keeps: RHYTHM_MAX_LAG_S at the front end's hop (150 at 16 kHz, hop 160)."""
    return round(RHYTHM_MAX_LAG_S * a.sample_rate / a.hop_length)


def compact_rhythm_encoder(m: ModelConfig, a: AudioConfig) -> EncoderParts:
    """`compact` plus two hand-over pathways: the spectral-peak profile (`WithProfile`, for key) and the
    onset autocorrelation (`WithRhythm`, for tempo); +n_mels + max_lag input channels per branch.

    The nesting WithRhythm(WithProfile(trunk)) fixes the state-dict names (trunk.trunk.trunk.*) of every
    bundled checkpoint."""
    parts = compact_encoder(m, a)
    max_lag = rhythm_max_lag(a)
    feat = _compact_feat(m, a) + a.n_mels + max_lag
    trunk = WithRhythm(WithProfile(parts.trunk, a.n_mels, peaks=True), max_lag)
    return EncoderParts(trunk, _compact_branches(feat, 8 * m.width), parts.out_dim)


def resnet_encoder(m: ModelConfig, a: AudioConfig) -> EncoderParts:
    """ResNet-like, for GPU runs (width 64 -> about 15M parameters)."""
    w = m.width
    trunk = nn.Sequential(
        nn.BatchNorm2d(1), *conv_bn(1, w),
        Residual(w, w), nn.MaxPool2d(2),
        Residual(w, 2 * w), nn.MaxPool2d(2),
        Residual(2 * w, 4 * w), nn.MaxPool2d(2),
        Residual(4 * w, 4 * w), nn.MaxPool2d((2, 1)),  # shared first block of the last stage
        FlattenFreq(),
    )
    feat = 4 * w * _freq_after(a.n_mels, 4)
    dim = 8 * w

    def make_branch() -> nn.Module:
        return nn.Sequential(*conv_bn(feat, dim, dim=1), Residual(dim, dim, dim=1), Residual(dim, dim, dim=1),
                             TimePool())

    return EncoderParts(trunk, make_branch, 2 * dim)


ENCODER_BUILDERS: dict[str, Callable[[ModelConfig, AudioConfig], EncoderParts]] = {
    "compact": compact_encoder,  # compact_rhythm without its hand-made pathways: the baseline of their ablation
    "compact_rhythm": compact_rhythm_encoder,
    "resnet": resnet_encoder,
}
