"""Training data: random crops decoded in worker processes, in an order fixed by (seed, step).

Every batch is a pure function of the seed and the global step, so a resumed run sees exactly the
batches the uninterrupted run would have seen, and each DDP rank takes its own slice of it.
Files may be short clips or whole tracks: each step reads a fresh window at an offset drawn from that
step's crop seed, so a track gives a different crop every epoch (as the paper trains on MTG-Jamendo),
and a track drawn twice into one batch (a corpus smaller than the batch) gives two different crops.
With `track_crops` k > 1, a long track drawn into a batch brings k crops, one from each k-th of it: other
moments of the same recording as negatives (hard negatives), which is what degraded-copy retrieval must
tell apart.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from loev_core.audio import AudioError, Clip, audio_info, load_audio

log = logging.getLogger(__name__)


class CropDataset(Dataset):
    """Item (index, crop_seed) -> mono window of `window_seconds` at a random offset, or None if bad.

    `items` maps item indices to clips (default: one item per clip); a clip listed k times is drawn k times
    as often, which is how a small corpus gets its share of a mixed batch without decoding it twice."""

    def __init__(self, clips: list[Clip], sample_rate: int, window_seconds: float,
                 items: list[int] | None = None) -> None:
        self.clips = clips
        self.items = list(range(len(clips))) if items is None else items
        self.sample_rate = sample_rate
        self.window_seconds = window_seconds
        self.n = int(round(window_seconds * sample_rate))
        self.cache: dict[int, torch.Tensor | None] | None = None
        self.durations: dict[int, float] = {}  # seconds per file, read once (whole tracks are cropped every step)

    def preload(self, progress: bool = True) -> int:
        """Decode every clip once into memory (small corpora: removes decoding from every step).

        Returns the number of unreadable files, which are then skipped like at crop time."""
        from tqdm.auto import tqdm

        cache: dict[int, torch.Tensor | None] = {}
        for i, clip in enumerate(tqdm(self.clips, desc="decode corpus", disable=not progress)):
            try:
                cache[i] = load_audio(clip.path, self.sample_rate)
            except AudioError as e:
                log.warning("skipping %s", e)
                cache[i] = None
        self.cache = cache
        return sum(v is None for v in cache.values())

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, item: tuple[int, ...]) -> torch.Tensor | None:
        """(position, crop_seed) crops anywhere; (position, crop_seed, part, parts) crops inside the
        part-th of `parts` equal stretches of the file, so the crops of one track in a batch are disjoint."""
        position, crop_seed = item[:2]
        part, parts = item[2:] if len(item) == 4 else (0, 1)
        index = self.items[position]
        path = self.clips[index].path
        rng = random.Random(crop_seed)
        if self.cache is not None:
            full = self.cache[index]
            if full is None:
                return None
            lo, hi = _stretch(full.numel(), self.n, part, parts)
            start = rng.randint(int(lo), int(hi))
            wave = full[start:start + self.n]
            return wave.repeat(-(-self.n // wave.numel()))[: self.n] if wave.numel() < self.n else wave
        try:
            if index not in self.durations:
                self.durations[index] = audio_info(path)[1]
            lo, hi = _stretch(self.durations[index], self.window_seconds, part, parts)
            offset = rng.uniform(lo, hi)
            wave = load_audio(path, self.sample_rate, offset=offset, duration=self.window_seconds)
        except AudioError as e:
            log.warning("skipping %s", e)
            return None
        if wave.numel() < self.n:  # loop short clips instead of padding with silence
            wave = wave.repeat(-(-self.n // wave.numel()))
        return wave[: self.n]


def _stretch(length: float, window: float, part: int, parts: int) -> tuple[float, float]:
    """Range of window starts inside the part-th of `parts` equal stretches of a file (whole file: 0 of 1)."""
    size = length / parts
    lo = part * size
    return lo, max(lo, lo + size - window)


class StepBatchSampler(Sampler[list[tuple[int, ...]]]):
    """Yields, for global steps start..end, this rank's slice of that step's global batch.

    `long` marks the item positions that are long tracks; with `track_crops` k > 1 each of them drawn into a
    batch takes k places, (position, seed, part, k) for part 0..k-1, and the batch is cut back to its size."""

    def __init__(self, n_items: int, global_batch: int, start_step: int, end_step: int, seed: int,
                 rank: int = 0, world: int = 1, track_crops: int = 1, long: list[bool] | None = None) -> None:
        if n_items < 1:
            raise ValueError("no training clips")
        if global_batch % world:
            raise ValueError(f"global batch {global_batch} is not divisible by {world} processes")
        if track_crops < 1:
            raise ValueError(f"track_crops must be >= 1, got {track_crops}")
        self.n, self.gb, self.start, self.end = n_items, global_batch, start_step, end_step
        self.seed, self.rank, self.world = seed, rank, world
        self.k = track_crops
        self.long = [False] * n_items if long is None else list(long)
        if len(self.long) != n_items:
            raise ValueError(f"long marks {len(self.long)} items, the sampler has {n_items}")

    def batch_for_step(self, step: int) -> list[tuple[int, ...]]:
        per_epoch = max(1, self.n // self.gb) if self.n >= self.gb else 1
        epoch, pos = divmod(step, per_epoch)
        perm = np.random.default_rng([self.seed, epoch]).permutation(self.n)
        if self.n < self.gb:
            perm = np.resize(perm, self.gb)
        idx = perm[pos * self.gb:(pos + 1) * self.gb]
        parts = [(0, 1)] * len(idx)
        if self.k > 1:
            places = [(int(i), p, self.k if self.long[i] else 1) for i in idx
                      for p in range(self.k if self.long[i] else 1)][: self.gb]
            idx = np.array([i for i, _, _ in places])
            parts = [(p, k) for _, p, k in places]
        local = self.gb // self.world
        seeds = crop_seeds(self.seed, step, idx)
        batch = [(int(i), s) if k == 1 else (int(i), s, p, k) for i, s, (p, k) in zip(idx, seeds, parts, strict=True)]
        return batch[self.rank * local:(self.rank + 1) * local]

    def __iter__(self) -> Iterator[list[tuple[int, ...]]]:
        for step in range(self.start, self.end):
            yield self.batch_for_step(step)

    def __len__(self) -> int:
        return self.end - self.start


def crop_seeds(seed: int, step: int, items: np.ndarray) -> list[int]:
    """One crop seed per position of a step's global batch: hash(seed, step, item) for an item's first
    place in the batch, and hash(seed, step, item, k) for its k-th repeat, so repeats get other crops."""
    seen: dict[int, int] = {}
    out = []
    for i in (int(v) for v in items):
        k = seen[i] = seen.get(i, -1) + 1
        out.append(hash((seed, step, i) if k == 0 else (seed, step, i, k)) & 0x7FFFFFFF)
    return out


def mixed_items(n_main: int, n_mix: int, share: float, places: tuple[float, float] = (1.0, 1.0)) -> list[int]:
    """Item list over clips [main..., mix...] in which the mix clips fill about `share` of a batch's places:
    each mix clip is listed round(share / (1 - share) * n_main * places[0] / (n_mix * places[1])) times (at
    least once), where `places` is the mean number of places one draw of a main / mix clip takes
    (`track_crops` for long tracks, 1 otherwise)."""
    items = list(range(n_main))
    if n_mix and share > 0:
        ratio = share / (1 - share) * n_main * places[0] / (n_mix * places[1])
        repeat = max(1, round(ratio)) if n_main else 1
        items += [n_main + j for _ in range(repeat) for j in range(n_mix)]
    return items


def long_tracks(clips: list[Clip], track_crops: int, window_seconds: float) -> list[bool]:
    """Per clip: is its file long enough for `track_crops` disjoint windows (manifest `duration`, else the
    file's header)? Short generated clips stay single: their crops would overlap."""
    if track_crops == 1:
        return [False] * len(clips)
    out = []
    for clip in clips:
        try:
            seconds = float(clip.labels.get("duration") or audio_info(clip.path)[1])
        except (AudioError, ValueError):
            seconds = 0.0
        out.append(seconds >= track_crops * window_seconds)
    return out


def collate_crops(items: list[torch.Tensor | None]) -> tuple[torch.Tensor, int]:
    """Stack good windows; return them with the number of bad files dropped from this batch."""
    good = [w for w in items if w is not None]
    if not good:
        return torch.empty(0), len(items)
    return torch.stack(good), len(items) - len(good)
