"""LOEV losses as small pure functions of tensors.

Head `invariant`: the other views of the same clip are positives. Head k: a same-clip pair is a
positive only if neither view received augmentation k; otherwise it only sits in the denominator,
which pushes views that differ by k apart in that head's space.

Graded heads (an extension beyond the paper, off unless `loss.graded` names the head): LOEV's head k
only learns "same parameter or not", so nothing orders its distances by *how far* the views differ
(a pitch head that encodes pitch class puts +5 semitones closer than +1). A graded head instead asks
the softmax to pick a same-clip view with probability w = exp(-|v_i - v_j| / scale), v being k's
parameter: a binary cross-entropy whose optimum is p = w, so similarity falls steadily with |Delta v|.
Where neither view received k, w = 1 and the term is exactly the NT-Xent positive term.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.distributed as dist
import torch.nn.functional as F

from loev_core.train.distributed import is_dist


def same_clip(clip_ids: torch.Tensor) -> torch.Tensor:
    """Bool[N, N]: views i != j of the same clip (the invariant head's positives)."""
    n = clip_ids.shape[0]
    return (clip_ids[:, None] == clip_ids[None, :]) & ~torch.eye(n, dtype=torch.bool, device=clip_ids.device)


def positive_masks(clip_ids: torch.Tensor, flags: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """clip_ids [N], flags {aug: Bool[N]} -> {"invariant": Bool[N, N], aug: Bool[N, N]}; diagonal False."""
    same = same_clip(clip_ids)
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


def shift_weights(clip_ids: torch.Tensor, values: torch.Tensor, scale: float) -> torch.Tensor:
    """[N, N] target probability w_ij = exp(-|v_i - v_j| / scale) for same-clip pairs, 0 elsewhere."""
    v = values.to(device=clip_ids.device, dtype=torch.float32)
    w = torch.exp(-(v[:, None] - v[None, :]).abs() / scale)
    return torch.where(same_clip(clip_ids), w, torch.zeros_like(w))


def _same_clip_log_probs(z: torch.Tensor, weights: torch.Tensor, temperature: float
                         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Softmax log-probabilities log p_ij of the graded pairs (`weights > 0`), with what both graded
    forms need: (rows, cols, log_p, logits, logsumexp per row)."""
    z = F.normalize(z.float(), dim=1)
    n = z.shape[0]
    eye = torch.eye(n, dtype=torch.bool, device=z.device)
    logits = (z @ z.T / temperature).masked_fill(eye, float("-inf"))
    lse = torch.logsumexp(logits, dim=1, keepdim=True)
    rows, cols = (weights > 0).nonzero(as_tuple=True)
    return rows, cols, logits[rows, cols] - lse[rows, 0], logits, lse


def _mean_per_anchor(per_pair: torch.Tensor, rows: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Mean over a row's graded pairs, then over all rows (rows without a pair count 0, as in NT-Xent)."""
    n = weights.shape[0]
    per_anchor = torch.zeros(n, device=per_pair.device).index_add(0, rows, per_pair)
    return (per_anchor / (weights > 0).sum(dim=1).clamp(min=1)).mean()


def graded_nt_xent(z: torch.Tensor, weights: torch.Tensor, temperature: float) -> torch.Tensor:
    """Binary cross-entropy between target w_ij and the softmax probability p_ij of picking view j.

    L = mean_i [ -1/|S(i)| sum_{j in S(i)} (w_ij log p_ij + (1 - w_ij) log(1 - p_ij)) ], S(i) the same-clip
    views (`weights > 0` there; pass a tiny w for "unrelated"). The gradient on logit j is p_ij - w_ij, so
    the optimum sets p_ij = w_ij and leaves the negatives alone. log(1 - p) is a logsumexp without j.
    """
    rows, cols, log_p, logits, lse = _same_clip_log_probs(z, weights, temperature)
    others = logits[rows].clone()  # logits of anchor `row` without its column `col`
    others[torch.arange(rows.numel(), device=logits.device), cols] = float("-inf")
    log_not_p = torch.logsumexp(others, dim=1) - lse[rows, 0]
    w = weights[rows, cols].clamp(0.0, 1.0)
    return _mean_per_anchor(-(w * log_p + (1 - w) * log_not_p), rows, weights)


def graded_log_mse(z: torch.Tensor, weights: torch.Tensor, temperature: float) -> torch.Tensor:
    """Squared error between log p_ij and log w_ij over the same-clip pairs: the same optimum p = w as
    `graded_nt_xent`, but its gradient on logit j, 2 (log p - log w)(1 - p), does not fade when p and w are
    both small, so distant views keep being ordered by their gap (the BCE's p - w is ~0 there). At w = 1
    it pulls p towards 1 like the NT-Xent positive term.
    """
    rows, cols, log_p, _, _ = _same_clip_log_probs(z, weights, temperature)
    log_w = weights[rows, cols].clamp(1e-12, 1.0).log()
    return _mean_per_anchor((log_p - log_w) ** 2, rows, weights)


GRADED_FORMS = {"bce": graded_nt_xent, "log": graded_log_mse}


def gather_batch(z: dict[str, torch.Tensor], clip_ids: torch.Tensor, flags: Mapping[str, torch.Tensor],
                 values: Mapping[str, torch.Tensor] | None = None
                 ) -> tuple[dict[str, torch.Tensor], torch.Tensor, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Under torch.distributed, gather embeddings (with gradients), clip ids, flags and augmentation values
    from all ranks.

    Clip ids are offset per rank so clips of different ranks never count as the same clip. Every rank
    then computes the global-batch loss; with DDP's gradient averaging this equals the single-process
    gradient on the concatenated batch.
    """
    values = dict(values or {})
    if not is_dist():
        return dict(z), clip_ids, dict(flags), values
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
    gv = {k: plain_gather(v.to(device=clip_ids.device, dtype=torch.float32)) for k, v in values.items()}
    return gz, ids, gf, gv


def loev_loss(z: Mapping[str, torch.Tensor], clip_ids: torch.Tensor, flags: Mapping[str, torch.Tensor],
              temperature: float = 0.1, weights: Mapping[str, float] | None = None,
              values: Mapping[str, torch.Tensor] | None = None, graded: Mapping[str, float] | None = None,
              graded_temperature: float | None = None, graded_form: str = "bce") -> dict[str, torch.Tensor]:
    """Per-head losses plus their weighted mean under "total".

    z: {head: [N, D]} projections (heads "invariant" and one per variant augmentation); flags: {aug: Bool[N]}
    for at least the variant heads. Missing weights count 1; the total is sum(w_h L_h) / sum(w_h).
    graded: {head: scale} heads trained with `graded_nt_xent` on `values[head]` (the augmentation's
    parameter per view, identity where not applied), at `graded_temperature` (default `temperature`),
    with the loss named by `graded_form` (GRADED_FORMS: "bce" or "log").
    """
    graded = dict(graded or {})
    missing = [h for h in graded if h not in z or values is None or h not in values]
    if missing:
        raise ValueError(f"graded heads {missing} need a projection and per-view values")
    if graded_form not in GRADED_FORMS:
        raise ValueError(f"graded_form must be one of {sorted(GRADED_FORMS)}, got {graded_form!r}")
    z, clip_ids, flags, values = gather_batch(dict(z), clip_ids, flags, {h: values[h] for h in graded})
    masks = positive_masks(clip_ids, {h: flags[h] for h in z if h != "invariant"})
    weights = weights or {}
    out: dict[str, torch.Tensor] = {}
    total = torch.zeros((), device=clip_ids.device)
    wsum = 0.0
    for head, zh in z.items():
        if head in graded:
            out[head] = GRADED_FORMS[graded_form](zh, shift_weights(clip_ids, values[head], graded[head]),
                                       graded_temperature or temperature)
        else:
            out[head] = masked_nt_xent(zh, masks[head], temperature)
        w = float(weights.get(head, 1.0))
        total = total + w * out[head]
        wsum += w
    out["total"] = total / max(wsum, 1e-12)
    return out
