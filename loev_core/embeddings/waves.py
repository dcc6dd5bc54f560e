"""Embedding helpers shared by the evaluation steps: ragged waves in, numpy arrays per subspace out."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm


def embed_waves(model: Any, waves: Sequence[torch.Tensor], sample_rate: int, batch_size: int = 32,
                desc: str | None = None, progress: bool = True) -> dict[str, np.ndarray]:
    """`model.embed` over a ragged list of 1-D waves -> {subspace: float32 [N, D]} in input order.

    Waves of equal length are batched together (the model embeds `[B, T]`); longer clips are chunked
    and averaged by `model.embed` itself.
    """
    groups: dict[int, list[int]] = defaultdict(list)
    for i, w in enumerate(waves):
        groups[int(w.shape[-1])].append(i)
    out: dict[str, np.ndarray] = {}
    with tqdm(total=len(waves), desc=desc or "embed", unit="clip", disable=not progress, leave=False) as bar:
        for idx in groups.values():
            for s in range(0, len(idx), batch_size):
                rows = idx[s:s + batch_size]
                emb = model.embed(torch.stack([waves[i] for i in rows]), sample_rate, batch_size=batch_size)
                for k, v in emb.items():
                    if k not in out:
                        out[k] = np.zeros((len(waves), v.shape[1]), dtype=np.float32)
                    out[k][rows] = v.numpy()
                bar.update(len(rows))
    return out


TRANSFORM_MARGIN_SECONDS = 2.0


def transform_span(window: int, sample_rate: int) -> int:
    """Samples to keep around a scoring window before transforming: transforms scored on the centre
    `window` need not run on a whole 30 s excerpt, and 2 s of margin keeps a 1.3x speed-up longer than a
    3 s window and the phase vocoder's edges outside it. Clips up to this length are used whole."""
    return int(window) + int(TRANSFORM_MARGIN_SECONDS * sample_rate)


def centre_crop(wave: torch.Tensor, length: int | None) -> torch.Tensor:
    """Middle `length` samples of the last axis (the whole wave if it is shorter or length is None)."""
    if length is None or wave.shape[-1] <= length:
        return wave
    start = (wave.shape[-1] - length) // 2
    return wave[..., start:start + length]


def stack_common(waves: Sequence[torch.Tensor]) -> torch.Tensor:
    """Stack 1-D waves into [N, T] by centre-cropping each to the shortest length."""
    if not waves:
        raise ValueError("no waves to stack")
    n = min(int(w.shape[-1]) for w in waves)
    return torch.stack([centre_crop(w, n) for w in waves])
