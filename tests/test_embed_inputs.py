"""`model.embed` takes numpy arrays and lists as well as tensors, and refuses inputs it would embed wrongly
(empty, NaN, channels-last, 3-D, a sample rate that is not a positive whole number) with one clear ValueError."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import loev_core
from loev_core.model.loev import LOEVModel

SR = 16000


@pytest.fixture(scope="module")
def model() -> LOEVModel:
    torch.manual_seed(0)
    return loev_core.build_model(loev_core.ExperimentConfig()).eval()


@pytest.fixture(scope="module")
def pcm() -> np.ndarray:
    return (np.random.default_rng(0).standard_normal(SR) * 3000).clip(-32768, 32767).astype(np.int16)


def test_numpy_and_lists_match_the_float_tensor(model: LOEVModel, pcm: np.ndarray) -> None:
    reference = model.embed(torch.from_numpy(pcm.astype(np.float32) / 32768), SR)
    for wave in (pcm, pcm.astype(np.float64) / 32768, (pcm / 32768).tolist(), torch.from_numpy(pcm),
                 pcm.astype(np.int32) * 65536, pcm.astype(">i2")):
        out = model.embed(wave, SR)
        assert set(out) == set(model.subspaces) and out["V"].shape == reference["V"].shape
        assert torch.allclose(out["V"], reference["V"], atol=1e-5), type(wave)
    batch = model.embed(np.stack([pcm, pcm]), 22050.0)  # an int-valued float rate is a rate
    assert batch["V"].shape[0] == 2


def test_a_valid_float_tensor_is_not_copied(model: LOEVModel, monkeypatch: pytest.MonkeyPatch) -> None:
    from loev_core.model import loev

    wave = torch.randn(2, SR) * 0.1
    seen = []
    real_resample = loev.resample
    monkeypatch.setattr(loev, "resample", lambda w, a, b: seen.append(w) or real_resample(w, a, b))
    model.embed(wave, SR)
    assert seen[0].data_ptr() == wave.data_ptr()


@pytest.mark.parametrize(("wave", "rate", "message"), [
    (torch.zeros(0), SR, "wave is empty"),
    (np.zeros((3, 0), np.float32), SR, "wave is empty"),
    (torch.tensor([0.1, float("nan")] * 500), SR, "NaN or infinite samples"),
    (np.full(1000, np.inf), SR, "NaN or infinite samples"),
    (torch.randn(48000, 2), 48000, "looks like channels-last audio [samples, channels]; pass [channels, samples]"),
    (torch.randn(1, 1, SR), SR, "wave must be [T] (one clip) or [B, T]"),
    (torch.tensor(0.5), SR, "single number"),
    ([[0.1, 0.2], [0.3]], SR, "ragged list"),
    (["a", "b"], SR, "real numbers"),
    (torch.randn(SR), None, "sample_rate must be a positive whole number of Hz, got None"),
    (torch.randn(SR), "16000", "got '16000'"),
    (torch.randn(SR), 22050.5, "got 22050.5"),
    (torch.randn(SR), 0, "got 0"),
    (torch.randn(SR), -16000, "got -16000"),
    (torch.randn(SR), float("nan"), "got nan"),
])
def test_bad_inputs_are_one_clear_value_error(model: LOEVModel, wave: Any, rate: Any, message: str) -> None:
    with pytest.raises(ValueError) as info:
        model.embed(wave, rate)
    assert message in str(info.value) and "\n" not in str(info.value)
