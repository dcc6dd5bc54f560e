"""The forward pass `LOEVModel.embed` runs on CPU: `LOEVModel.forward` in eval mode, rearranged for speed.

Same network, same weights, same values up to float rounding (about 1e-6 relative in float32):

- a BatchNorm that follows a convolution is folded into its weights and bias (in eval mode it is an
  affine map per channel), so it costs nothing;
- 2-D convolutions run channels-last, oneDNN's native layout (no reorder of every activation per call);
- ReLU then 2x2 MaxPool becomes MaxPool then ReLU (identical: ReLU is monotone) on a quarter of the
  values, and the pooling is two elementwise maxima of strided views: `max_pool2d` also writes int64
  indices and is about 2x slower here; a (1, 2) AvgPool is the mean of two strided views (its own
  arithmetic, 9x faster than `avg_pool2d`);
- clips go through in chunks of `CHUNK`, so each layer's activations stay in the cache (the first
  conv's output is 59 MB for 64 clips).

With precision "bf16" the convolutions, and so most of the FLOPs, run in bfloat16 (oneDNN uses the
CPU's AVX512-BF16 / AMX instructions when it has them); the front end, the hand-over pathways, the
pooling over time and the projection heads stay float32. Measurements: docs/experiments.md.
"""

from __future__ import annotations

import functools
import itertools
import weakref
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.utils import _pair

from loev_core.model.encoders import TimePool

CHUNK = 16  # clips per pass through the network
PRECISIONS = ("fp32", "bf16")
CL = torch.channels_last
_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


@functools.cache
def bf16_is_fast() -> bool:
    """oneDNN has native bfloat16 kernels on this CPU (AVX512-BF16 or AMX); elsewhere bf16 is emulated."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


class _Conv:
    """Conv1d/Conv2d with the following eval-mode BatchNorm folded in; 2-D ones channels-last."""

    def __init__(self, conv: nn.Conv1d | nn.Conv2d, bn: nn.Module | None, dtype: torch.dtype) -> None:
        w = conv.weight.detach().float()
        b = conv.bias.detach().float() if conv.bias is not None else torch.zeros(w.shape[0], device=w.device)
        if bn is not None:  # aten's eval batch norm: y * alpha + beta, alpha = weight / sqrt(var + eps)
            alpha = torch.rsqrt(bn.running_var.float() + bn.eps)
            if bn.weight is not None:
                alpha = bn.weight.detach().float() * alpha
            beta = -bn.running_mean.float() * alpha
            if bn.bias is not None:
                beta = beta + bn.bias.detach().float()
            w = w * alpha.view(-1, *[1] * (w.dim() - 1))
            b = b * alpha + beta
        self.two_d = w.dim() == 4
        self.w = w.to(dtype).contiguous(memory_format=CL) if self.two_d else w.to(dtype).contiguous()
        self.b = b.to(dtype)
        self.args = (conv.stride, conv.padding, conv.dilation, conv.groups)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.w.dtype)
        if self.two_d:
            return F.conv2d(x.contiguous(memory_format=CL), self.w, self.b, *self.args)
        return F.conv1d(x, self.w, self.b, *self.args)


def _pair_max(x: torch.Tensor, dim: int) -> torch.Tensor:
    n = x.shape[dim] // 2 * 2
    return torch.maximum(x.narrow(dim, 0, n)[(slice(None),) * dim + (slice(0, None, 2),)],
                         x.narrow(dim, 0, n)[(slice(None),) * dim + (slice(1, None, 2),)])


class _MaxPool:
    """MaxPool2d with kernel = stride in {1, 2} per axis and no padding (`fits`), as elementwise maxima of
    strided views; `relu`: the ReLU that preceded it, applied after (fewer values, same result)."""

    def __init__(self, pool: nn.MaxPool2d, relu: bool) -> None:
        kh, kw = _pair(pool.kernel_size)
        self.dims = tuple(d for d, k in ((2, kh), (3, kw)) if k == 2)
        self.relu = relu

    @staticmethod
    def fits(pool: Any) -> bool:
        if not isinstance(pool, nn.MaxPool2d) or pool.ceil_mode or pool.return_indices:
            return False
        k, s = _pair(pool.kernel_size), _pair(pool.stride or pool.kernel_size)
        return k == s and set(k) <= {1, 2} and _pair(pool.padding) == (0, 0) and _pair(pool.dilation) == (1, 1)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        for d in (self.dims if x.is_contiguous() else self.dims[::-1]):  # the contiguous axis last
            x = _pair_max(x, d)
        return torch.relu_(x) if self.relu else x


class _AvgPool:
    """AvgPool2d with kernel = stride in {1, 2} per axis and no padding: (a + b) / 2 of strided views,
    avg_pool2d's own arithmetic (the same values), 9x faster than its generic kernel here."""

    def __init__(self, pool: nn.AvgPool2d) -> None:
        kh, kw = _pair(pool.kernel_size)
        self.dims = tuple(d for d, k in ((2, kh), (3, kw)) if k == 2)

    @staticmethod
    def fits(pool: Any) -> bool:
        if type(pool) is not nn.AvgPool2d or pool.ceil_mode or pool.divisor_override is not None:
            return False
        k, s = _pair(pool.kernel_size), _pair(pool.stride or pool.kernel_size)
        return k == s and set(k) <= {1, 2} and len(k) == 2 and _pair(pool.padding) == (0, 0) and k != (2, 2)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        for d in self.dims:
            n = x.shape[d] // 2 * 2
            x = (x.narrow(d, 0, n)[(slice(None),) * d + (slice(0, None, 2),)]
                 + x.narrow(d, 0, n)[(slice(None),) * d + (slice(1, None, 2),)]) / 2
        return x


def _foldable_bn(m: Any, conv: nn.Module) -> bool:
    bn_type = nn.BatchNorm2d if isinstance(conv, nn.Conv2d) else nn.BatchNorm1d
    return isinstance(m, bn_type) and m.running_mean is not None and m.running_var is not None


def _compile_sequential(seq: nn.Sequential, dtype: torch.dtype) -> Callable[[torch.Tensor], torch.Tensor]:
    mods, steps, i = list(seq), [], 0
    while i < len(mods):
        m, nxt = mods[i], mods[i + 1] if i + 1 < len(mods) else None
        if type(m) in (nn.Conv1d, nn.Conv2d) and m.padding_mode == "zeros":
            bn = nxt if _foldable_bn(nxt, m) else None
            steps.append(_Conv(m, bn, dtype))
            i += 2 if bn is not None else 1
        elif isinstance(m, nn.ReLU) and _MaxPool.fits(nxt):
            steps.append(_MaxPool(nxt, relu=True))
            i += 2
        elif _MaxPool.fits(m):
            steps.append(_MaxPool(m, relu=False))
            i += 1
        elif _AvgPool.fits(m):
            steps.append(_AvgPool(m))
            i += 1
        else:
            steps.append(compile_module(m, dtype))
            i += 1

    def run(x: torch.Tensor) -> torch.Tensor:
        for step in steps:
            x = step(x)
        return x

    return run


def compile_module(m: nn.Module, dtype: torch.dtype) -> Callable[[torch.Tensor], torch.Tensor]:
    """An eval-mode callable computing what `m` computes, with the rewrites above where they apply."""
    if isinstance(m, nn.Sequential):
        return _compile_sequential(m, dtype)
    if hasattr(m, "combine") and isinstance(getattr(m, "trunk", None), nn.Module):  # the hand-over pathways
        inner = compile_module(m.trunk, dtype)
        return lambda x: m.combine(x, inner(x))
    if isinstance(m, TimePool):
        return lambda x: m(x.float())
    if isinstance(m, nn.ReLU):
        return torch.relu
    return m


def parameter_key(model: nn.Module) -> tuple:
    """Changes whenever a parameter or buffer is replaced or modified in place (training, load_state_dict)."""
    try:
        return tuple((t.data_ptr(), t._version) for t in itertools.chain(model.parameters(), model.buffers()))
    except RuntimeError:  # inference tensors keep no version counter
        return (object(),)  # never equal: rebuild


class InferencePlan:
    """`model`'s eval-mode forward on CPU at `precision`: wave [B, T] -> {subspace: float32 [B, D]}."""

    def __init__(self, model: nn.Module, precision: str = "fp32") -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        dtype = _DTYPES[precision]
        self.precision, self.dtype = precision, dtype
        self.model = weakref.ref(model)  # the model caches its plan: no cycle through the cache
        with torch.no_grad():
            self.trunk = compile_module(model.trunk, dtype)
            self.branches = {n: compile_module(b, dtype) for n, b in model.branches.items()}

    def __call__(self, wave: torch.Tensor) -> dict[str, torch.Tensor]:
        outs = [self._forward(wave[i:i + CHUNK]) for i in range(0, wave.shape[0], CHUNK)]
        return {k: torch.cat([o[k] for o in outs]) for k in outs[0]}

    def _forward(self, wave: torch.Tensor) -> dict[str, torch.Tensor]:
        model = self.model()
        x = model.frontend(wave)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.dtype == torch.bfloat16):
            h = self.trunk(x)
            vs = {n: b(h).float() for n, b in self.branches.items()}
        return model.subspaces_from_branches(vs)
