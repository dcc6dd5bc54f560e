"""Graded positives (loss.graded): a hand-computed case, the NT-Xent limit, and the ordering they buy."""

import math

import pytest
import torch

from loev_core import config, losses
from loev_core.config import ConfigError
from loev_core.config_parse import config_from_dict
from loev_core.losses import graded_log_mse, graded_nt_xent, loev_loss, masked_nt_xent, positive_masks, shift_weights


def test_shift_weights_follow_the_parameter_gap() -> None:
    ids = torch.tensor([0, 0, 1, 1])
    w = shift_weights(ids, torch.tensor([0.0, 2.0, -1.0, 1.0]), scale=2.0)
    expected = torch.zeros(4, 4)
    expected[0, 1] = expected[1, 0] = math.exp(-1.0)  # |0 - 2| / 2
    expected[2, 3] = expected[3, 2] = math.exp(-1.0)  # |-1 - 1| / 2
    assert torch.allclose(w, expected)


def test_hand_computed_case() -> None:
    # views 0 and 1 of clip 0 coincide (cos 1), clip 1 is orthogonal (cos 0); temperature 1.
    # anchor 0 (and 1): p = e / (e + 1); with w = 1/2 the BCE is -(log p + log(1 - p)) / 2; anchor 2 has
    # no same-clip view and contributes 0 to the mean over 3 anchors.
    z = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    ids = torch.tensor([0, 0, 1])
    w = shift_weights(ids, torch.tensor([0.0, math.log(2.0), 0.0]), scale=1.0)  # exp(-ln 2) = 1/2
    p = math.e / (math.e + 1)
    per_anchor = -(0.5 * math.log(p) + 0.5 * math.log(1 - p))
    assert graded_nt_xent(z, w, 1.0).item() == pytest.approx(2 * per_anchor / 3, abs=1e-6)


def test_log_form_hand_computed_case() -> None:
    # the case above: anchors 0 and 1 have p = e / (e + 1) against w = 1/2, anchor 2 has no pair
    z = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    ids = torch.tensor([0, 0, 1])
    w = shift_weights(ids, torch.tensor([0.0, math.log(2.0), 0.0]), scale=1.0)
    p = math.e / (math.e + 1)
    assert graded_log_mse(z, w, 1.0).item() == pytest.approx(2 * (math.log(p) - math.log(0.5)) ** 2 / 3,
                                                             abs=1e-6)


def test_log_form_keeps_ordering_distant_views() -> None:
    """Why the log form exists: views 6 semitones apart (w = e^-6 at scale 1) that sit even further apart
    (p ~ 1e-5) get almost no gradient from the BCE (p - w ~ -2.5e-3 on their logit), while the log form,
    2 (log p - log w)(1 - p) ~ -10, still moves them to where their gap says."""
    ids = torch.tensor([0, 0, 1, 1, 2, 2])
    w = shift_weights(ids, torch.tensor([0.0, 6.0, 0.0, 0.0, 0.0, 0.0]), scale=1.0)
    w[2:] = 0.0  # only the distant pair is graded; clips 1 and 2 are its negatives
    z = torch.tensor([[1.0, 0.0, 0.0], [-1.0, 0.3, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0],
                      [0.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    def log_p01(zz: torch.Tensor) -> float:
        """The pair's log-probability, averaged over its two anchors."""
        zn = torch.nn.functional.normalize(zz, dim=1)
        log_p = torch.log_softmax((zn @ zn.T / 0.1).fill_diagonal_(float("-inf")), dim=1)
        return float(log_p[0, 1] + log_p[1, 0]) / 2

    assert log_p01(z) < -9.0 < -6.0  # p ~ 1e-5, below its target w = e^-6

    def grad(loss_fn) -> torch.Tensor:
        zz = z.clone().requires_grad_(True)
        loss_fn(zz, w, 0.1).backward()
        return zz.grad

    bce, log = grad(graded_nt_xent), grad(graded_log_mse)
    assert bce[:2].norm() < 0.02 and log[:2].norm() > 1.0
    assert log_p01(z - 1e-3 * log) > log_p01(z) + 0.05  # a descent step raises p towards w


def test_weight_one_is_nt_xent() -> None:
    z = torch.randn(12, 8, generator=torch.Generator().manual_seed(3))
    ids = torch.arange(6).repeat_interleave(2)
    w = shift_weights(ids, torch.zeros(12), scale=2.0)
    assert torch.all(w[w > 0] == 1)
    expected = masked_nt_xent(z, positive_masks(ids, {})["invariant"], 0.1)
    assert graded_nt_xent(z, w, 0.1).item() == pytest.approx(expected.item(), abs=1e-5)


@pytest.mark.parametrize("loss_fn", [graded_nt_xent, graded_log_mse])
def test_optimum_orders_distances_by_shift(loss_fn) -> None:
    """Free embeddings trained on either graded form: each pair's softmax probability lands on its target
    w (both forms' optimum), and with ordinary clips in the batch (gap 0, as in training, where they keep the
    negatives apart) the same-clip similarity falls with the shift gap."""
    torch.manual_seed(0)
    gaps = torch.cat([torch.tensor([0.0, 1.0, 2.0, 4.0, 6.0]), torch.zeros(16)])
    n = gaps.numel()
    ids = torch.arange(n).repeat_interleave(2)
    shifts = torch.stack([torch.zeros(n), gaps], dim=1).flatten()
    w = shift_weights(ids, shifts, scale=2.0)
    z = torch.randn(2 * n, 16, requires_grad=True)
    opt = torch.optim.Adam([z], lr=0.05)
    for _ in range(600):
        opt.zero_grad()
        loss_fn(z, w, 0.1).backward()
        opt.step()
    zn = torch.nn.functional.normalize(z.detach(), dim=1)
    sims = (zn[0:10:2] * zn[1:10:2]).sum(dim=1)
    assert torch.all(sims[1:] < sims[:-1]), sims
    p = torch.softmax((zn @ zn.T / 0.1).fill_diagonal_(float("-inf")), dim=1)
    got = torch.stack([p[2 * i, 2 * i + 1] for i in range(1, 5)])
    assert torch.allclose(got, torch.exp(-gaps[1:5] / 2.0), atol=0.01), got


@pytest.mark.parametrize("loss_fn", [graded_nt_xent, graded_log_mse])
def test_finite_when_views_coincide(loss_fn) -> None:
    z = torch.ones(6, 4, requires_grad=True)
    ids = torch.arange(3).repeat_interleave(2)
    loss = loss_fn(z, shift_weights(ids, torch.tensor([0.0, 3, 0, 0, -2, 0]), 2.0), 0.05)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z.grad).all()


def test_loev_loss_needs_values_for_graded_heads() -> None:
    z = torch.randn(4, 3)
    ids = torch.tensor([0, 0, 1, 1])
    flags = {"pitch_shift": torch.tensor([False, True, False, False])}
    with pytest.raises(ValueError, match="graded heads"):
        loev_loss({"invariant": z, "pitch_shift": z}, ids, flags, graded={"pitch_shift": 2.0})
    out = loev_loss({"invariant": z, "pitch_shift": z}, ids, flags, values={"pitch_shift": torch.tensor(
        [0.0, 3.0, 0.0, 0.0])}, graded={"pitch_shift": 2.0})
    assert out["pitch_shift"].item() != pytest.approx(masked_nt_xent(z, positive_masks(ids, flags)[
        "pitch_shift"], 0.1).item())


@pytest.mark.parametrize("graded, message", [({"gain": 2.0}, "not variant heads"),
                                             ({"pitch_shift": 0.0}, "positive scale")])
def test_config_rejects_bad_graded(graded: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config_from_dict({"model": {"kind": "loev"}, "loss": {"graded": graded}})


def test_simclr_has_no_graded_heads() -> None:
    with pytest.raises(ConfigError, match="not variant heads"):
        config_from_dict({"model": {"kind": "simclr"}, "loss": {"graded": {"pitch_shift": 2.0}}})


def test_graded_temperature_applies_to_graded_heads_only() -> None:
    z = torch.randn(8, 4, generator=torch.Generator().manual_seed(4))
    ids = torch.arange(4).repeat_interleave(2)
    shifts = torch.tensor([0.0, 1.0, 0.0, 0.0, -2.0, 3.0, 0.0, 0.0])
    flags = {"pitch_shift": shifts != 0}
    out = loev_loss({"invariant": z, "pitch_shift": z * 2}, ids, flags, 0.1, values={"pitch_shift": shifts},
                    graded={"pitch_shift": 2.0}, graded_temperature=0.3)
    w = shift_weights(ids, shifts, 2.0)
    assert out["pitch_shift"].item() == pytest.approx(graded_nt_xent(z * 2, w, 0.3).item(), abs=1e-6)
    inv = masked_nt_xent(z, positive_masks(ids, {})["invariant"], 0.1)
    assert out["invariant"].item() == pytest.approx(inv.item(), abs=1e-6)
    with pytest.raises(ConfigError, match="graded_temperature"):
        config_from_dict({"loss": {"graded_temperature": -1.0}})


def test_graded_form_selects_the_loss() -> None:
    z = torch.randn(8, 4, generator=torch.Generator().manual_seed(5))
    ids = torch.arange(4).repeat_interleave(2)
    shifts = torch.tensor([0.0, 1.0, 0.0, 0.0, -2.0, 3.0, 0.0, 0.0])
    args = ({"invariant": z, "pitch_shift": z}, ids, {"pitch_shift": shifts != 0}, 0.1)
    kw = {"values": {"pitch_shift": shifts}, "graded": {"pitch_shift": 2.0}}
    w = shift_weights(ids, shifts, 2.0)
    got = loev_loss(*args, **kw, graded_form="log")["pitch_shift"].item()
    assert got == pytest.approx(graded_log_mse(z, w, 0.1).item(), abs=1e-6)
    assert got != pytest.approx(graded_nt_xent(z, w, 0.1).item(), abs=1e-3)
    with pytest.raises(ValueError, match="graded_form"):
        loev_loss(*args, **kw, graded_form="mse")
    with pytest.raises(ConfigError, match="graded_form"):
        config_from_dict({"loss": {"graded_form": "mse"}})
    assert set(config.GRADED_FORMS) == set(losses.GRADED_FORMS)  # the config accepts exactly the losses
