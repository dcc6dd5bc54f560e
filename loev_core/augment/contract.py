"""The augmentation contract every named augmentation follows, and the helpers that enforce it.

`fn(x [B, T], sample_rate, *, p, <ranges>, generator, value) -> (y, Applied(flag, value))`: same shape,
device and dtype out; draws on a CPU `torch.Generator` then moved to `x.device`, so a seed gives the
same augmentation on CPU and CUDA. Heavy effects touch only the flagged rows (`map_rows`), in
cache-sized chunks on CPU. Inside a chain the working buffer is marked as scratch, so each effect
writes into it instead of copying the batch.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import NamedTuple

import torch
from torch import Tensor

CPU_CHUNK_SAMPLES = 1 << 18  # rows x samples per chunk on CPU: keeps temporaries in cache
_SCRATCH = threading.local()


class Applied(NamedTuple):
    """What an augmentation did: `flag[b]` whether example b was changed, `value[b]` its parameter
    (the identity value where the flag is False)."""

    flag: Tensor
    value: Tensor


def draw(
    name: str, batch: int, p: float, low: float, high: float, generator: torch.Generator | None,
    value: Tensor | float | None, identity: float,
) -> tuple[Tensor, Tensor]:
    """Per-example (flag, value) on CPU: drawn from `generator`, or `value` applied to every example."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name}: p must be in [0, 1], got {p}")
    if not low <= high:
        raise ValueError(f"{name}: low ({low}) must be <= high ({high})")
    if value is not None:
        v = torch.as_tensor(value, dtype=torch.float32).detach().cpu().flatten()
        if v.numel() == 1:
            v = v.expand(batch)
        if v.numel() != batch:
            raise ValueError(f"{name}: value must be a float or have {batch} entries, got {v.numel()}")
        flag = v != identity
        return flag, torch.where(flag, v, torch.full_like(v, identity))
    flag = torch.rand(batch, generator=generator) < p
    drawn = low + (high - low) * torch.rand(batch, generator=generator)
    return flag, torch.where(flag, drawn, torch.full_like(drawn, identity))


def as_float(x: Tensor, name: str) -> Tensor:
    """Validate a [B, T] wave and compute in float32 (or float64) whatever the input dtype."""
    if x.dim() != 2:
        raise ValueError(f"{name}: expected a [B, T] waveform batch, got shape {tuple(x.shape)}")
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


@contextlib.contextmanager
def scratch(x: Tensor) -> Iterator[None]:
    """Within the block, augmentations may overwrite `x` in place instead of returning a copy: a chain
    owns its working buffer, and a full-batch copy per effect would cost as much as a cheap effect."""
    previous = getattr(_SCRATCH, "tensor", None)
    _SCRATCH.tensor = x
    try:
        yield
    finally:
        _SCRATCH.tensor = previous


def set_scratch(x: Tensor) -> None:
    """Hand the scratch mark to the next buffer of a chain (after a step that returned a new tensor)."""
    _SCRATCH.tensor = x


def is_scratch(x: Tensor) -> bool:
    return getattr(_SCRATCH, "tensor", None) is x


def map_rows(x: Tensor, flag: Tensor, fn: Callable[[Tensor, Tensor, slice], Tensor],
             order: Tensor | None = None, chunk_samples: int = CPU_CHUNK_SAMPLES) -> Tensor:
    """`x` with flagged rows replaced by `fn(rows_x, rows, span)` (a copy unless `x` is scratch).

    `rows` are absolute row indices and `span` their positions among the flagged rows (to index tensors
    drawn once for all flagged rows). CPU runs chunk so temporaries stay in cache; CUDA runs one chunk.
    `order` (a key per row) groups similar rows into the same chunk when their cost depends on it;
    `chunk_samples` bounds rows x samples per CPU chunk (memory-hungry kernels want smaller chunks).
    """
    rows_all = flag.nonzero().squeeze(1)
    if order is not None:
        rows_all = rows_all[torch.argsort(order[rows_all], stable=True)]
    rows_all = rows_all.to(x.device)
    y = x if is_scratch(x) else x.clone()
    count = rows_all.numel()
    step = count if x.device.type != "cpu" else max(1, chunk_samples // max(x.shape[-1], 1))
    for start in range(0, count, max(step, 1)):
        span = slice(start, min(start + step, count))
        rows = rows_all[span]
        y[rows] = fn(x[rows], rows, span).to(y.dtype)
    return y
