"""Whole tracks in training: a fresh random crop of each track every epoch, fixed by the seed; repeats of a
track in one batch get different crops; clips no longer than the window are read as before."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from loev_core.audio import Clip, resolve_corpus
from loev_core.train.data import CropDataset, StepBatchSampler, crop_seeds, long_tracks, mixed_items

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


def ramp(path: Path, seconds: float) -> Clip:
    """Sample value = its time / the track's length, so a window's first sample tells where it was cut."""
    y = np.arange(int(seconds * SR), dtype=np.float32) / (seconds * SR)
    sf.write(path, y, SR, subtype="FLOAT")
    return Clip(str(path), {"duration": seconds})


@pytest.mark.parametrize("preload", [False, True])
def test_hard_negatives_put_disjoint_crops_of_one_long_track_in_a_batch(tmp_path: Path, preload: bool) -> None:
    """track_crops=4: a long track drawn into a batch takes four places, one crop from each quarter of it;
    short clips keep one place; the batch keeps its size, and ranks still slice one global batch."""
    clips = [ramp(tmp_path / "long.wav", 20.0)] + [sweep(tmp_path / f"s{i}.wav", 0.8, i) for i in range(6)]
    long = long_tracks(clips, 4, 1.0)
    assert long == [True] + [False] * 6
    dataset = CropDataset(clips, SR, 1.0)
    if preload:
        dataset.preload(progress=False)
    sampler = StepBatchSampler(len(clips), 6, 0, 8, seed=3, track_crops=4, long=long)
    seen = 0
    for step in range(8):
        batch = sampler.batch_for_step(step)
        assert len(batch) == 6 and batch == sampler.batch_for_step(step)
        grouped = [b for b in batch if b[0] == 0]
        assert all(len(b) == 2 for b in batch if b[0] != 0)
        if not grouped:
            continue
        seen += 1
        assert [b[2:] for b in grouped] == [(p, 4) for p in range(len(grouped))]
        assert len({b[1] for b in grouped}) == len(grouped)  # each crop its own seed
        starts = [float(dataset[b][0]) * 20.0 for b in grouped]  # seconds into the track
        for (_, _, part, _), start in zip(grouped, starts, strict=True):
            assert part * 5.0 - 1e-3 <= start <= part * 5.0 + 4.0 + 1e-3  # inside its quarter, window fits
        halves = [StepBatchSampler(len(clips), 6, 0, 8, seed=3, rank=r, world=2, track_crops=4,
                                   long=long).batch_for_step(step) for r in range(2)]
        assert halves[0] + halves[1] == batch
    assert seen >= 2


def test_one_crop_per_draw_is_the_default_and_matches_the_old_batches(tracks: list[Clip]) -> None:
    plain = StepBatchSampler(len(tracks), 3, 0, 4, seed=5)
    marked = StepBatchSampler(len(tracks), 3, 0, 4, seed=5, track_crops=1, long=[True] * len(tracks))
    assert [plain.batch_for_step(s) for s in range(4)] == [marked.batch_for_step(s) for s in range(4)]
    assert long_tracks(tracks, 1, 1.0) == [False] * len(tracks)
    with pytest.raises(ValueError, match="track_crops"):
        StepBatchSampler(4, 2, 0, 1, seed=0, track_crops=0)
    with pytest.raises(ValueError, match="marks 2 items"):
        StepBatchSampler(4, 2, 0, 1, seed=0, track_crops=2, long=[True, False])


def test_long_tracks_read_the_manifest_then_the_header(tmp_path: Path) -> None:
    """The manifest's duration decides without opening the file; without one the header is read; an
    unreadable file is not long (it is skipped at crop time as before)."""
    listed = Clip(str(tmp_path / "missing.wav"), {"duration": "40.0"})
    header = sweep(tmp_path / "h.wav", 9.0, 0)
    short = sweep(tmp_path / "s.wav", 7.9, 1)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio")
    assert long_tracks([listed, header, short, Clip(str(bad))], 4, 2.0) == [True, True, False, False]


def test_mix_share_counts_places_when_long_tracks_take_several() -> None:
    """3000 short clips and 74 long tracks at four places each: half the places are the tracks'."""
    items = mixed_items(3000, 74, 0.5, (1.0, 4.0))
    mix = sum(i >= 3000 for i in items)
    assert mix * 4 / (mix * 4 + 3000) == pytest.approx(0.5, abs=0.01)
    assert mixed_items(3000, 74, 0.5) == mixed_items(3000, 74, 0.5, (1.0, 1.0))


def test_a_mixed_run_with_hard_negatives_groups_the_long_tracks_and_trains(tiny_corpus: Path,
                                                                          tmp_path: Path) -> None:
    """train.track_crops wired through the trainer: the short corpus stays single, each long track of the
    mixed corpus takes four disjoint places, and a two-step run trains and records the setting."""
    import yaml

    from loev_core.checkpoint import read_metadata
    from loev_core.cli import main as loev
    from loev_core.config import ConfigError
    from loev_core.config_parse import config_from_dict
    from loev_core.train.loop import _data
    from tests.train.test_train import write_cfg

    with pytest.raises(ConfigError, match="track_crops"):
        config_from_dict({"train": {"track_crops": 0}})
    tracks = tmp_path / "tracks"
    tracks.mkdir()
    for i in range(2):
        ramp(tracks / f"t{i}.wav", 12.0)
    train = {"steps": 2, "batch_size": 8, "mix_data": str(tracks), "mix_split": "", "mix_share": 0.5,
             "track_crops": 4}
    cfg_path = write_cfg(tmp_path, tiny_corpus, train=train)

    cfg = config_from_dict(yaml.safe_load(cfg_path.read_text()))
    loader = _data(cfg, 0, 0, 1, False).loader
    n_short = len(resolve_corpus(tiny_corpus, split="train"))
    grouped = 0
    for step in range(2):
        batch = loader.batch_sampler.batch_for_step(step)
        assert len(batch) == 8
        for b in batch:
            is_track = loader.dataset.items[b[0]] >= n_short
            assert len(b) == (4 if is_track else 2)
            grouped += is_track
    assert grouped >= 4
    run = tmp_path / "run"
    assert loev(["train", "--config", str(cfg_path), "--run-dir", str(run), "--no-progress"]) == 0
    assert read_metadata(run / "model")["config"]["train"]["track_crops"] == 4
