"""One model class for SimCLR, LOEV and LOEV++: they differ only in heads and where the net splits."""

from __future__ import annotations

import numbers
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from loev_core.audio import resample
from loev_core.config import ExperimentConfig
from loev_core.model.encoders import ENCODER_BUILDERS
from loev_core.model.frontend import LogMel
from loev_core.model.heads import projection_head
from loev_core.model.inference import PRECISIONS, InferencePlan, parameter_key

# model -> {precision: (parameter key, InferencePlan)}; outside the module so copies and pickles skip it
_PLANS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
MIN_CLIP_SAMPLES = 64  # a [B, T] with T below this (and B > T) is almost surely [samples, channels]


def _as_float_tensor(wave: Any) -> torch.Tensor:
    """A float tensor from a tensor, numpy array or (nested) list of numbers. Integer samples are PCM: scaled to
    [-1, 1) by their type's range (int16 / 32768), unsigned ones centred first (uint8 128 -> 0)."""
    if not isinstance(wave, torch.Tensor):
        try:
            arr = np.asarray(wave)
        except ValueError:  # ragged lists
            raise ValueError("wave is a ragged list: clips of a [B, T] batch must all have the same length") from None
        if arr.dtype.kind not in "fiu":
            raise ValueError(f"wave must hold real numbers (audio samples), got numpy dtype {arr.dtype}")
        wave = torch.from_numpy(np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("=")))
    if wave.is_floating_point():
        return wave
    if wave.dtype == torch.bool or wave.is_complex():
        raise ValueError(f"wave must hold real audio samples, got dtype {wave.dtype}")
    info = torch.iinfo(wave.dtype)
    if info.min == 0:  # unsigned PCM is offset binary
        return (wave.double() - (info.max + 1) / 2).div((info.max + 1) / 2).float()
    return wave.double().div(-info.min).float()


def _checked_wave(wave: Any, sample_rate: Any) -> tuple[torch.Tensor, int]:
    """(clips [B, T] as float, rate) or a ValueError saying in one sentence what is wrong with the input; a
    valid float tensor passes through without a copy."""
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, numbers.Real) \
            or not float(sample_rate).is_integer() or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive whole number of Hz, got {sample_rate!r}")
    wave = _as_float_tensor(wave)
    if wave.dim() == 0:
        raise ValueError("wave is a single number, not audio: pass samples as [T] or [B, T]")
    if wave.dim() > 2:
        raise ValueError(f"wave must be [T] (one clip) or [B, T] (a batch of mono clips), got shape "
                         f"{tuple(wave.shape)}; mix or pick channels to mono first")
    if wave.numel() == 0:
        raise ValueError(f"wave is empty (shape {tuple(wave.shape)}): there is no audio to embed")
    if wave.dim() == 2 and wave.shape[1] < MIN_CLIP_SAMPLES and wave.shape[0] > wave.shape[1]:
        raise ValueError(f"wave of shape {tuple(wave.shape)} looks like channels-last audio [samples, channels]; "
                         "pass [channels, samples] (wave.T) or mono")
    if not torch.isfinite(wave.sum(dtype=torch.float64)):  # one reduction, no copy; NaN or inf anywhere shows
        raise ValueError("wave holds NaN or infinite samples; embeddings of them would be NaN")
    return (wave.unsqueeze(0) if wave.dim() == 1 else wave), int(sample_rate)


class LOEVModel(nn.Module):
    """Encoder superspace V plus projection heads Z.<head>.

    simclr: one invariant head. loev: invariant head + one head per variant augmentation, all on V.
    loevpp: the last encoder stage is duplicated per head after its shared first block; branch k
    gives V.k, V is their concatenation, and head k reads V.k only.
    """

    def __init__(self, config: ExperimentConfig) -> None:
        super().__init__()
        self.config = config
        m, a = config.model, config.audio
        self.heads_names: tuple[str, ...] = m.heads
        self.frontend = LogMel(a)
        parts = ENCODER_BUILDERS[m.encoder](m, a)
        self.trunk = parts.trunk
        self.split = m.kind == "loevpp"
        names = self.heads_names if self.split else ("shared",)
        self.branches = nn.ModuleDict({n: parts.make_branch() for n in names})
        self.heads = nn.ModuleDict({h: projection_head(parts.out_dim, m.head_hidden, m.head_out)
                                    for h in self.heads_names})
        self.branch_dim = parts.out_dim

    @property
    def kind(self) -> str:
        return self.config.model.kind

    @property
    def sample_rate(self) -> int:
        return self.config.audio.sample_rate

    @property
    def clip_seconds(self) -> float:
        return self.config.audio.clip_seconds

    @property
    def variant_augs(self) -> tuple[str, ...]:
        return self.heads_names[1:]

    @property
    def subspaces(self) -> list[str]:
        keys = ["V"] + [f"Z.{h}" for h in self.heads_names]
        if self.split:
            keys += [f"V.{h}" for h in self.heads_names]
        return keys

    def forward(self, wave: torch.Tensor) -> dict[str, torch.Tensor]:
        """Clips [B, T] at `sample_rate` and training length -> every subspace, un-normalised."""
        h = self.trunk(self.frontend(wave))
        return self.subspaces_from_branches({n: b(h) for n, b in self.branches.items()})

    def subspaces_from_branches(self, vs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Every subspace from the branch outputs {branch name: V.k, or "shared": V}: the heads and V."""
        out: dict[str, torch.Tensor] = {}
        if self.split:
            out["V"] = torch.cat([vs[n] for n in self.heads_names], dim=1)
            for n in self.heads_names:
                out[f"Z.{n}"] = self.heads[n](vs[n])
            for n in self.heads_names:
                out[f"V.{n}"] = vs[n]
        else:
            v = vs["shared"]
            out["V"] = v
            for n in self.heads_names:
                out[f"Z.{n}"] = self.heads[n](v)
        return out

    @torch.inference_mode()
    def embed(self, wave: torch.Tensor | np.ndarray | list, sample_rate: int, batch_size: int = 64,
              precision: str = "fp32") -> dict[str, torch.Tensor]:
        """Embed clips of any length at any rate: [B, T] or [T] -> {subspace: [B, D]} on CPU.

        Clips shorter than the training length are looped to fill it; longer ones are cut into
        training-length chunks (the last one aligned to the end) whose embeddings are averaged.
        `precision` "bf16" runs the convolutions in bfloat16 (within cosine 0.999 of "fp32" on the
        bundled models; fast on CPUs with AVX512-BF16 or AMX). On CPU in eval mode the network runs
        through `model.inference.InferencePlan` (same values as `forward`, about 5x faster).
        `wave` may also be a numpy array or a list of numbers (integer PCM is scaled to [-1, 1)); an empty,
        non-finite, channels-last or more than 2-D input, or a sample rate that is not a positive whole
        number, is a ValueError.
        """
        wave, sample_rate = _checked_wave(wave, sample_rate)
        device = next(self.parameters()).device
        wave = resample(wave.float().cpu(), sample_rate, self.sample_rate)
        n = self.config.audio.clip_samples
        run = self._embed_forward(precision, device)
        if wave.shape[-1] == n:  # clips of exactly the training length (embed_corpus's batches): one chunk each
            outs = [run(wave[i:i + batch_size].to(device)) for i in range(0, len(wave), batch_size)]
            return {k: torch.cat([o[k] for o in outs]).float().cpu() for k in self.subspaces}
        chunks, owner = [], []
        for i, w in enumerate(wave):
            if w.numel() < n:
                w = w.repeat(-(-n // max(w.numel(), 1)))[:n]
            starts = list(range(0, w.numel() - n + 1, n))
            if starts[-1] + n < w.numel():
                starts.append(w.numel() - n)
            chunks += [w[s:s + n] for s in starts]
            owner += [i] * len(starts)
        stacked = torch.stack(chunks)
        outs = [run(stacked[i:i + batch_size].to(device)) for i in range(0, len(stacked), batch_size)]
        merged = {k: torch.cat([o[k] for o in outs]).float().cpu() for k in outs[0]}
        idx = torch.tensor(owner)
        counts = torch.bincount(idx, minlength=len(wave)).unsqueeze(1).float()
        result = {}
        for k in self.subspaces:
            acc = torch.zeros(len(wave), merged[k].shape[1]).index_add_(0, idx, merged[k])
            result[k] = acc / counts
        return result

    def _embed_forward(self, precision: str, device: torch.device) -> Callable[[torch.Tensor], dict]:
        """The forward pass `embed` uses: the cached `InferencePlan` on CPU in eval mode (rebuilt when a
        parameter changes), else `forward` itself (under bf16 autocast for precision "bf16")."""
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        if device.type == "cpu" and not self.training:
            plans = _PLANS.setdefault(self, {})
            key = parameter_key(self)
            plan = plans.get(precision)
            if plan is None or plan[0] != key:
                plans[precision] = plan = (key, InferencePlan(self, precision))
            return plan[1]
        if precision == "bf16":
            def run(x: torch.Tensor) -> dict[str, torch.Tensor]:
                with torch.autocast(device.type, dtype=torch.bfloat16):
                    return {k: v.float() for k, v in self(x).items()}
            return run
        return self


def build_model(config: ExperimentConfig) -> LOEVModel:
    return LOEVModel(config.validate())
