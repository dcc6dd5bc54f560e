"""Whole tracks in training: a fresh random crop of each track every epoch, fixed by the seed; repeats of a
track in one batch get different crops; clips no longer than the window are read as before."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from loev_core.audio import Clip
from loev_core.train.data import CropDataset, StepBatchSampler, crop_seeds

SR = 8000


def sweep(path: Path, seconds: float, seed: int) -> Clip:
    """A rising chirp plus noise: every window of it is different."""
    t = np.arange(int(seconds * SR)) / SR
    y = 0.3 * np.sin(2 * np.pi * (100 + 40 * t) * t) + 0.05 * np.random.default_rng(seed).standard_normal(t.size)
    sf.write(path, y.astype(np.float32), SR)
    return Clip(str(path))


@pytest.fixture(scope="module")
def tracks(tmp_path_factory: pytest.TempPathFactory) -> list[Clip]:
    root = tmp_path_factory.mktemp("tracks")
    return [sweep(root / f"t{i}.wav", 20.0, i) for i in range(4)]


def crops_by_item(dataset: CropDataset, sampler: StepBatchSampler, steps: range) -> dict[tuple[int, int], torch.Tensor]:
    """{(step, item): window} for the given steps."""
    out = {}
    for step in steps:
        for item, seed in sampler.batch_for_step(step):
            out[(step, item)] = dataset[(item, seed)]
    return out


@pytest.mark.parametrize("preload", [False, True])
def test_each_epoch_crops_a_track_afresh_and_the_seed_fixes_it(tracks: list[Clip], preload: bool) -> None:
    def run(seed: int) -> dict[tuple[int, int], torch.Tensor]:
        dataset = CropDataset(tracks, SR, 1.0)
        if preload:
            dataset.preload(progress=False)
        return crops_by_item(dataset, StepBatchSampler(len(tracks), 2, 0, 4, seed), range(4))

    first, again, other = run(0), run(0), run(1)
    assert all(w.shape == (SR,) for w in first.values())
    for item in range(len(tracks)):
        epoch0 = next(w for (s, i), w in first.items() if i == item and s < 2)  # 2 steps per epoch
        epoch1 = next(w for (s, i), w in first.items() if i == item and s >= 2)
        assert not torch.equal(epoch0, epoch1)  # another crop of the same track
    assert first.keys() == again.keys() and all(torch.equal(first[k], again[k]) for k in first)
    assert any(not torch.equal(first[k], other[k]) for k in first.keys() & other.keys())


def test_a_track_drawn_twice_into_one_batch_gives_two_crops(tracks: list[Clip]) -> None:
    dataset = CropDataset(tracks[:1], SR, 1.0)
    batch = StepBatchSampler(1, 4, 0, 1, seed=0).batch_for_step(0)
    assert [i for i, _ in batch] == [0, 0, 0, 0] and len({s for _, s in batch}) == 4
    windows = [dataset[b] for b in batch]
    assert all(not torch.equal(windows[0], w) for w in windows[1:])
    split = [StepBatchSampler(1, 4, 0, 1, seed=0, rank=r, world=2).batch_for_step(0) for r in range(2)]
    assert split[0] + split[1] == batch  # ranks slice the same global batch


def test_first_places_keep_their_seed(tracks: list[Clip]) -> None:
    items = np.array([3, 1, 3, 0])
    seeds = crop_seeds(7, 11, items)
    assert seeds[:2] == [hash((7, 11, 3)) & 0x7FFFFFFF, hash((7, 11, 1)) & 0x7FFFFFFF]
    assert seeds[2] != seeds[0] and seeds[3] == hash((7, 11, 0)) & 0x7FFFFFFF


def test_clips_no_longer_than_the_window_are_read_whole(tmp_path: Path) -> None:
    short = sweep(tmp_path / "short.wav", 0.6, 0)
    dataset = CropDataset([short], SR, 1.0)
    sampler = StepBatchSampler(1, 1, 0, 3, seed=0)
    windows = [dataset[b] for step in range(3) for b in sampler.batch_for_step(step)]
    assert all(torch.equal(windows[0], w) for w in windows)  # offset 0, looped to the window
    n = int(0.6 * SR)
    assert torch.equal(windows[0][n:], windows[0][:SR - n])
