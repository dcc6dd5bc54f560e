"""LOEV losses as small pure functions of tensors.

Head `invariant`: the other views of the same clip are positives. Head k: a same-clip pair is a
positive only if neither view received augmentation k; otherwise it only sits in the denominator,
which pushes views that differ by k apart in that head's space.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.distributed as dist
import torch.nn.functional as F


def positive_masks(clip_ids: torch.Tensor, flags: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """clip_ids [N], flags {aug: Bool[N]} -> {"invariant": Bool[N, N], aug: Bool[N, N]}; diagonal False."""
    n = clip_ids.shape[0]
    same = clip_ids[:, None] == clip_ids[None, :]
    same &= ~torch.eye(n, dtype=torch.bool, device=clip_ids.device)
    masks = {"invariant": same}
    for name, f in flags.items():
        f = f.to(device=clip_ids.device, dtype=torch.bool)
        masks[name] = same & ~f[:, None] & ~f[None, :]
    return masks


def masked_nt_xent(z: torch.Tensor, positive_mask: torch.Tensor, temperature: float) -> torch.Tensor:
    """Multi-positive NT-Xent on cosine similarity.

    L = mean_i [ -1/|P(i)| sum_{p in P(i)} log softmax_{a != i}(s_ia / t)_p ], where anchors with no
    positive contribute 0 (they still count in the mean, as in the reference). Computed with logsumexp.
    """
    z = F.normalize(z.float(), dim=1)
    n = z.shape[0]
    eye = torch.eye(n, dtype=torch.bool, device=z.device)
    logits = (z @ z.T / temperature).masked_fill(eye, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    mask = positive_mask & ~eye
    n_pos = mask.sum(dim=1)
    pos_sum = torch.where(mask, log_prob, torch.zeros_like(log_prob)).sum(dim=1)
    per_anchor = -pos_sum / n_pos.clamp(min=1)
    return per_anchor.mean()


def gather_batch(z: dict[str, torch.Tensor], clip_ids: torch.Tensor, flags: Mapping[str, torch.Tensor]
                 ) -> tuple[dict[str, torch.Tensor], torch.Tensor, dict[str, torch.Tensor]]:
    """Under torch.distributed, gather embeddings (with gradients), clip ids and flags from all ranks.

    Clip ids are offset per rank so clips of different ranks never count as the same clip. Every rank
    then computes the global-batch loss; with DDP's gradient averaging this equals the single-process
    gradient on the concatenated batch.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return dict(z), clip_ids, dict(flags)
    from torch.distributed.nn.functional import all_gather as all_gather_grad

    world, rank = dist.get_world_size(), dist.get_rank()

    def plain_gather(t: torch.Tensor) -> torch.Tensor:
        out = [torch.empty_like(t) for _ in range(world)]
        dist.all_gather(out, t.contiguous())
        return torch.cat(out)

    local_max = clip_ids.max().detach().reshape(1) + 1
    span = int(plain_gather(local_max).max())
    ids = plain_gather(clip_ids + rank * span)
    gz = {k: torch.cat(all_gather_grad(v.contiguous())) for k, v in z.items()}
    gf = {k: plain_gather(f.to(torch.uint8)).bool() for k, f in flags.items()}
    return gz, ids, gf


def loev_loss(z: Mapping[str, torch.Tensor], clip_ids: torch.Tensor, flags: Mapping[str, torch.Tensor],
              temperature: float = 0.1, weights: Mapping[str, float] | None = None) -> dict[str, torch.Tensor]:
    """Per-head losses plus their weighted mean under "total".

    z: {head: [N, D]} projections (heads "invariant" and one per variant augmentation); flags: {aug: Bool[N]}
    for at least the variant heads. Missing weights count 1; the total is sum(w_h L_h) / sum(w_h).
    """
    z, clip_ids, flags = gather_batch(dict(z), clip_ids, flags)
    masks = positive_masks(clip_ids, {h: flags[h] for h in z if h != "invariant"})
    weights = weights or {}
    out: dict[str, torch.Tensor] = {}
    total = torch.zeros((), device=clip_ids.device)
    wsum = 0.0
    for head, zh in z.items():
        out[head] = masked_nt_xent(zh, masks[head], temperature)
        w = float(weights.get(head, 1.0))
        total = total + w * out[head]
        wsum += w
    out["total"] = total / max(wsum, 1e-12)
    return out
