"""The dashboard on a folder of full tracks: what it decodes per clip and what the curves transform."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from loev_core.evaluation import equivariance
from loev_core.explore.transforms import PREVIEW_SECONDS, cached_curves, clip_wave
from tests.evaluation.test_evaluation import tiny_model

SR = 16000


def corpus(tmp_path: Path, seconds: list[float]) -> SimpleNamespace:
    """Rows as `loev embed` writes them for whole files (offset 0, duration = file length)."""
    rows = []
    for i, s in enumerate(seconds):
        t = np.arange(int(s * SR)) / SR
        y = 0.2 * np.sin(2 * np.pi * (220 + 20 * i) * t) * (1 + 0.5 * np.sin(2 * np.pi * 2 * t))
        sf.write(tmp_path / f"t{i}.flac", y.astype(np.float32), SR)
        rows.append({"path": str(tmp_path / f"t{i}.flac"), "offset": 0.0, "duration": s})
    return SimpleNamespace(meta=pd.DataFrame(rows), key=f"test-{len(rows)}", source=tmp_path)


def test_clip_wave_bounds_long_files_and_keeps_segments(tmp_path: Path) -> None:
    data = corpus(tmp_path, [4.0, 75.0])
    assert clip_wave(data, 0, SR, [tmp_path]).shape == (4 * SR,)  # short file: whole
    assert clip_wave(data, 1, SR, [tmp_path]).shape == (int(PREVIEW_SECONDS * SR),)  # long file: middle
    data.meta.loc[1, ["offset", "duration"]] = [10.0, 5.0]  # a `loev embed --chunk` segment: exactly it
    seg = clip_wave(data, 1, SR, [tmp_path])
    y, _ = sf.read(tmp_path / "t1.flac", dtype="float32")
    assert torch.allclose(seg, torch.from_numpy(y[10 * SR:15 * SR]), atol=1e-4)


def test_curves_transform_only_the_scoring_window(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Full tracks are cropped to the model's window plus 2 s before the transforms run."""
    data = corpus(tmp_path, [40.0, 50.0, 60.0])
    model = tiny_model("loev")  # 1 s clips
    seen: list[int] = []
    original = equivariance.apply_transform

    def spy(name, waves, sr, value):  # noqa: ANN001, ANN202
        seen.append(int(waves.shape[-1]))
        return original(name, waves, sr, value)

    monkeypatch.setattr(equivariance, "apply_transform", spy)
    curves = cached_curves(model, "ckpt", data, "pitch_shift", [-2.0, 0.0, 2.0], [tmp_path], tmp_path / "c",
                           n_clips=3)
    assert seen and set(seen) == {3 * SR}  # 1 s window + 2 s margin, not 40-60 s of audio
    assert curves["Z.pitch_shift"]["values"] == [-2.0, 0.0, 2.0] and curves["V"]["mean"][1] == 0.0
    again = cached_curves(model, "ckpt", data, "pitch_shift", [-2.0, 0.0, 2.0], [tmp_path], tmp_path / "c",
                          n_clips=3)
    assert again == curves and len(seen) == 2  # second call read from disk, nothing recomputed
