"""One model class for SimCLR, LOEV and LOEV++: they differ only in heads and where the net splits."""

from __future__ import annotations

import weakref
from collections.abc import Callable

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
    def embed(self, wave: torch.Tensor, sample_rate: int, batch_size: int = 64,
              precision: str = "fp32") -> dict[str, torch.Tensor]:
        """Embed clips of any length at any rate: [B, T] or [T] -> {subspace: [B, D]} on CPU.

        Clips shorter than the training length are looped to fill it; longer ones are cut into
        training-length chunks (the last one aligned to the end) whose embeddings are averaged.
        `precision` "bf16" runs the convolutions in bfloat16 (within cosine 0.999 of "fp32" on the
        bundled models; fast on CPUs with AVX512-BF16 or AMX). On CPU in eval mode the network runs
        through `model.inference.InferencePlan` (same values as `forward`, about 5x faster).
        """
        if wave.dim() == 1:
            wave = wave.unsqueeze(0)
        device = next(self.parameters()).device
        wave = resample(wave.float().cpu(), int(sample_rate), self.sample_rate)
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
