"""The LOEV loss on hand-computed cases, invariances, and its equivalence to standard NT-Xent."""

import math

import pytest
import torch
import torch.nn.functional as F

from loev_core.losses import loev_loss, masked_nt_xent, positive_masks

# four unit vectors on the axes: cos sims are 0 (orthogonal) or -1 (opposite)
Z4 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
IDS4 = torch.tensor([0, 0, 1, 1])


def test_positive_masks_rules() -> None:
    flags = {"pitch_shift": torch.tensor([False, True, False, False])}
    m = positive_masks(IDS4, flags)
    inv = torch.tensor([[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]], dtype=torch.bool)
    assert torch.equal(m["invariant"], inv)
    pitch = inv.clone()
    pitch[0, 1] = pitch[1, 0] = False  # view 1 was pitch-shifted: no longer a positive in that head
    assert torch.equal(m["pitch_shift"], pitch)


@pytest.mark.parametrize("t", [1.0, 0.5])
def test_hand_computed_four_samples(t: float) -> None:
    # every anchor: positive sim 0, other negatives sims 0 and -1 -> loss = log(2 + exp(-1/t))
    expected = math.log(2 + math.exp(-1 / t))
    got = masked_nt_xent(Z4, positive_masks(IDS4, {})["invariant"], t)
    assert got.item() == pytest.approx(expected, abs=1e-6)


def test_anchors_without_positives_contribute_zero() -> None:
    flags = {"pitch_shift": torch.tensor([False, True, False, False])}
    mask = positive_masks(IDS4, flags)["pitch_shift"]
    got = masked_nt_xent(Z4, mask, 1.0)
    assert got.item() == pytest.approx(0.5 * math.log(2 + math.exp(-1)), abs=1e-6)


def test_permutation_invariance() -> None:
    g = torch.Generator().manual_seed(0)
    z = torch.randn(12, 8, generator=g)
    ids = torch.arange(6).repeat_interleave(2)
    flags = {"time_stretch": torch.rand(12, generator=g) > 0.5}
    perm = torch.randperm(12, generator=g)
    a = loev_loss({"invariant": z, "time_stretch": z * 2}, ids, flags, 0.1)
    b = loev_loss({"invariant": z[perm], "time_stretch": (z * 2)[perm]}, ids[perm],
                  {"time_stretch": flags["time_stretch"][perm]}, 0.1)
    for k in a:
        assert a[k].item() == pytest.approx(b[k].item(), abs=1e-5)


def standard_nt_xent(z: torch.Tensor, t: float) -> torch.Tensor:
    """SimCLR's formulation for views laid out [x0, x0', x1, x1', ...]."""
    z = F.normalize(z, dim=1)
    n = z.shape[0]
    sim = z @ z.T / t
    sim.fill_diagonal_(float("-inf"))
    target = torch.arange(n) ^ 1  # partner index
    return F.cross_entropy(sim, target)


def test_equals_standard_nt_xent_with_one_positive() -> None:
    z = torch.randn(16, 32, generator=torch.Generator().manual_seed(1))
    ids = torch.arange(8).repeat_interleave(2)
    mask = positive_masks(ids, {})["invariant"]
    assert masked_nt_xent(z, mask, 0.2).item() == pytest.approx(standard_nt_xent(z, 0.2).item(), abs=1e-5)


@pytest.mark.parametrize("identical", [False, True])
def test_finite_gradients_low_temperature(identical: bool) -> None:
    z = torch.ones(8, 16) if identical else torch.randn(8, 16) * 50
    z.requires_grad_(True)
    ids = torch.arange(4).repeat_interleave(2)
    out = loev_loss({"invariant": z, "pitch_shift": z}, ids, {"pitch_shift": torch.zeros(8, dtype=torch.bool)},
                    0.05)
    out["total"].backward()
    assert torch.isfinite(out["total"])
    assert torch.isfinite(z.grad).all()


def test_weights_and_total() -> None:
    z = torch.randn(8, 4, generator=torch.Generator().manual_seed(2))
    ids = torch.arange(4).repeat_interleave(2)
    flags = {"pitch_shift": torch.tensor([1, 0, 0, 0, 1, 1, 0, 0], dtype=torch.bool)}
    out = loev_loss({"invariant": z, "pitch_shift": -z}, ids, flags, 0.1, {"invariant": 3.0})
    expected = (3 * out["invariant"] + out["pitch_shift"]) / 4
    assert out["total"].item() == pytest.approx(expected.item(), abs=1e-6)


def _gather_worker(rank: int, world: int, port: int, z: torch.Tensor, ids: torch.Tensor, flags: torch.Tensor,
                   shifts: torch.Tensor, graded: dict, out: dict) -> None:
    from loev_core.train import distributed as D

    D.init_process(rank, world, "gloo", port=port)
    try:
        n = z.shape[0] // world
        sl = slice(rank * n, (rank + 1) * n)
        zl = z[sl].clone().requires_grad_(True)
        loss = loev_loss({"invariant": zl, "pitch_shift": zl * 1.5}, ids[sl] - ids[sl].min(),
                         {"pitch_shift": flags[sl]}, 0.1, values={"pitch_shift": shifts[sl]}, graded=graded)["total"]
        loss.backward()
        out[rank] = (float(loss), zl.grad / world)  # DDP averages over ranks: the grad each rank contributes
    finally:
        D.dist.destroy_process_group()


@pytest.mark.parametrize("graded", [{}, {"pitch_shift": 2.0}])
def test_distributed_gather_matches_concatenated_batch(graded: dict) -> None:
    """2 gloo processes, half the batch each: same loss and gradients as one process on everything
    (graded heads gather the per-view shifts too)."""
    import torch.multiprocessing as mp

    from loev_core.train.distributed import free_port

    g = torch.Generator().manual_seed(5)
    z = torch.randn(8, 6, generator=g)
    ids = torch.arange(4).repeat_interleave(2)
    flags = torch.rand(8, generator=g) > 0.5
    shifts = torch.where(flags, torch.rand(8, generator=g) * 8 - 4, torch.zeros(8))
    zs = z.clone().requires_grad_(True)
    single = loev_loss({"invariant": zs, "pitch_shift": zs * 1.5}, ids, {"pitch_shift": flags}, 0.1,
                       values={"pitch_shift": shifts}, graded=graded)["total"]
    single.backward()
    out = mp.Manager().dict()
    mp.spawn(_gather_worker, args=(2, free_port(), z, ids, flags, shifts, graded, out), nprocs=2, join=True)
    for r in (0, 1):
        assert out[r][0] == pytest.approx(float(single.detach()), abs=1e-6)
    assert torch.allclose(torch.cat([out[0][1], out[1][1]]), zs.grad, atol=1e-6)
