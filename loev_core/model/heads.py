"""Projection heads: what each contrastive loss reads, on V (LOEV) or on one branch V.k (LOEV++)."""

from __future__ import annotations

from torch import nn


def projection_head(d_in: int, hidden: int, out: int) -> nn.Module:
    """Reference head: Linear(no bias) -> ReLU -> Linear(no bias)."""
    return nn.Sequential(nn.Linear(d_in, hidden, bias=False), nn.ReLU(inplace=True),
                         nn.Linear(hidden, out, bias=False))
