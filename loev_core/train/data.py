"""Training data: random crops decoded in worker processes, in an order fixed by (seed, step).

Every batch is a pure function of the seed and the global step, so a resumed run sees exactly the
batches the uninterrupted run would have seen, and each DDP rank takes its own slice of it.
Files may be short clips or whole tracks: each step reads a fresh window at an offset drawn from that
step's crop seed, so a track gives a different crop every epoch (as the paper trains on MTG-Jamendo),
and a track drawn twice into one batch (a corpus smaller than the batch) gives two different crops.
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

    def __getitem__(self, item: tuple[int, int]) -> torch.Tensor | None:
        position, crop_seed = item
        index = self.items[position]
        path = self.clips[index].path
        rng = random.Random(crop_seed)
        if self.cache is not None:
            full = self.cache[index]
            if full is None:
                return None
            start = rng.randint(0, max(0, full.numel() - self.n))
            wave = full[start:start + self.n]
            return wave.repeat(-(-self.n // wave.numel()))[: self.n] if wave.numel() < self.n else wave
        try:
            if index not in self.durations:
                self.durations[index] = audio_info(path)[1]
            offset = rng.uniform(0.0, max(0.0, self.durations[index] - self.window_seconds))
            wave = load_audio(path, self.sample_rate, offset=offset, duration=self.window_seconds)
        except AudioError as e:
            log.warning("skipping %s", e)
            return None
        if wave.numel() < self.n:  # loop short clips instead of padding with silence
            wave = wave.repeat(-(-self.n // wave.numel()))
        return wave[: self.n]


class StepBatchSampler(Sampler[list[tuple[int, int]]]):
    """Yields, for global steps start..end, this rank's slice of that step's global batch."""

    def __init__(self, n_items: int, global_batch: int, start_step: int, end_step: int, seed: int,
                 rank: int = 0, world: int = 1) -> None:
        if n_items < 1:
            raise ValueError("no training clips")
        if global_batch % world:
            raise ValueError(f"global batch {global_batch} is not divisible by {world} processes")
        self.n, self.gb, self.start, self.end = n_items, global_batch, start_step, end_step
        self.seed, self.rank, self.world = seed, rank, world

    def batch_for_step(self, step: int) -> list[tuple[int, int]]:
        per_epoch = max(1, self.n // self.gb) if self.n >= self.gb else 1
        epoch, pos = divmod(step, per_epoch)
        perm = np.random.default_rng([self.seed, epoch]).permutation(self.n)
        if self.n < self.gb:
            perm = np.resize(perm, self.gb)
        idx = perm[pos * self.gb:(pos + 1) * self.gb]
        local = self.gb // self.world
        mine = idx[self.rank * local:(self.rank + 1) * local]
        seeds = crop_seeds(self.seed, step, idx)
        return [(int(i), seeds[self.rank * local + j]) for j, i in enumerate(mine)]

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
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


def mixed_items(n_main: int, n_mix: int, share: float) -> list[int]:
    """Item list over clips [main..., mix...] in which the mix clips make up about `share` of the items:
    each mix clip is listed round(share / (1 - share) * n_main / n_mix) times (at least once)."""
    items = list(range(n_main))
    if n_mix and share > 0:
        repeat = max(1, round(share / (1 - share) * n_main / n_mix)) if n_main else 1
        items += [n_main + j for _ in range(repeat) for j in range(n_mix)]
    return items


def collate_crops(items: list[torch.Tensor | None]) -> tuple[torch.Tensor, int]:
    """Stack good windows; return them with the number of bad files dropped from this batch."""
    good = [w for w in items if w is not None]
    if not good:
        return torch.empty(0), len(items)
    return torch.stack(good), len(items) - len(good)
