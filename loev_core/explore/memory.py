"""What a dashboard server holds for all its sessions: models, corpora, maps, curves, transformed clips.

Each kind of result has one process-wide store with a lock per key (`SharedStore`), so sessions and the
warm-up thread build each item once. The `get_*` functions read an item from memory, else from the disk
cache (keyed by the checkpoint's and the corpus' hashes), else compute and store it; with `stored_only`
they raise NotStored instead of computing, which is how the warm-up reads only what is prepared. The
pages (through loev_dashboard.cached) and the preparation (`loev_core.explore.prepare`) both use them,
so what is prepared is exactly what the pages ask for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from loev_core.explore.cache import CorpusData, NotStored, Progress, SharedStore, load_corpus
from loev_core.explore.projection import MAX_POINTS, corpus_map

__all__ = ["MEMORY", "Memory", "NotStored", "checkpoint_id_of", "corpus_key", "corpus_summary", "get_copy_ranks",
           "get_corpus", "get_curves", "get_map", "get_model", "get_trajectory", "get_versions", "has_curves",
           "has_map"]


@dataclass
class Memory:
    """What a server process holds for all its sessions: models, corpora, maps, curves, transformed clips."""

    models: SharedStore = field(default_factory=lambda: SharedStore(8))
    corpora: SharedStore = field(default_factory=lambda: SharedStore(8))
    maps: SharedStore = field(default_factory=lambda: SharedStore(128))
    curves: SharedStore = field(default_factory=lambda: SharedStore(64))
    sounds: SharedStore = field(default_factory=lambda: SharedStore(64))
    listings: SharedStore = field(default_factory=lambda: SharedStore(16))


MEMORY = Memory()
LISTING_TTL_S = 300  # a corpus folder's listing is read again at least this often (files added deep inside)


class _NoModel:
    """Stands in for a model where only stored results may be read: using it means something must be computed."""

    def __getattr__(self, name: str) -> Any:
        raise NotStored(f"needs the model ({name})")


def _quiet(_: float, __: str) -> None:
    return None


def _frozen(value: Any) -> Any:
    """Arrays shared by every session are made read-only, so no page can change another's copy."""
    for a in value.values() if isinstance(value, dict) else value if isinstance(value, tuple) else [value]:
        if isinstance(a, np.ndarray):
            a.setflags(write=False)
    return value


_ids: dict[tuple, str] = {}


def checkpoint_id_of(path: str | Path) -> str:
    """`checkpoint_id` of a checkpoint, remembered per file size and mtime (so editing the file is noticed)."""
    from loev_core.checkpoint import checkpoint_id

    p = Path(path)
    stat = (p / "model.safetensors" if p.is_dir() else p).stat()
    key = (str(p), stat.st_size, stat.st_mtime_ns)
    if key not in _ids:
        _ids[key] = checkpoint_id(p)
    return _ids[key]


def corpus_key(checkpoint: Path, checkpoint_id: str, source: str | Path, cache_dir: Path) -> tuple[str, ...]:
    """The key under which a server keeps one model's view of one corpus, read from (or written to) one cache."""
    return str(checkpoint), checkpoint_id, str(source), str(cache_dir)


def get_model(path: Path, checkpoint_id: str, memory: Memory = MEMORY) -> Any:
    from loev_core.checkpoint import load_model

    return memory.models.get(("model", str(path), checkpoint_id), lambda: load_model(path))


def get_corpus(path: Path, checkpoint_id: str, source: str | Path, roots: Sequence[Path], cache_dir: Path,
               progress: Progress = _quiet, memory: Memory = MEMORY, stored_only: bool = False) -> CorpusData:
    """One model's embeddings + index of a corpus (NotStored with `stored_only` when not embedded yet)."""
    def build() -> CorpusData:
        return load_corpus(get_model(path, checkpoint_id, memory), Path(path), checkpoint_id, source, roots,
                           cache_dir, progress, stored_only=stored_only)

    return memory.corpora.get(corpus_key(Path(path), checkpoint_id, source, cache_dir), build)


def _map_key(data: CorpusData, subspace: str, method: str, cache_dir: Path, max_points: int) -> tuple:
    return "map", str(cache_dir), data.key, subspace, method, max_points


def _curves_key(checkpoint_id: str, data: CorpusData, transform: str, values: Sequence[float], cache_dir: Path,
                n_clips: int) -> tuple:
    return "curves", str(cache_dir), checkpoint_id, data.key, transform, tuple(map(float, values)), int(n_clips)


def get_map(data: CorpusData, subspace: str, method: str, cache_dir: Path, max_points: int = MAX_POINTS,
            memory: Memory = MEMORY, stored_only: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(rows, coords) of a stored or computed map of one subspace."""
    def build() -> tuple[np.ndarray, np.ndarray]:
        found = corpus_map(data, subspace, method, cache_dir, max_points, stored_only=stored_only)
        if found is None:
            raise NotStored(f"no {method} map of {subspace} yet")
        return _frozen(found)

    return memory.maps.get(_map_key(data, subspace, method, cache_dir, max_points), build)


def has_map(data: CorpusData, subspace: str, method: str, cache_dir: Path, max_points: int = MAX_POINTS,
            memory: Memory = MEMORY) -> bool:
    """The map is in memory already (a page needs no spinner for it)."""
    return _map_key(data, subspace, method, cache_dir, max_points) in memory.maps.items


def get_curves(path: Path, checkpoint_id: str, data: CorpusData, transform: str, values: Sequence[float],
               roots: Sequence[Path], cache_dir: Path, n_clips: int, memory: Memory = MEMORY,
               stored_only: bool = False) -> dict:
    """Equivariance curves of one model on its corpus sample, stored or computed."""
    from loev_core.explore.transforms import cached_curves

    def build() -> dict:
        model = _NoModel() if stored_only else get_model(path, checkpoint_id, memory)
        return cached_curves(model, checkpoint_id, data, transform, values, roots, cache_dir, n_clips=n_clips)

    return memory.curves.get(_curves_key(checkpoint_id, data, transform, values, cache_dir, n_clips), build)


def has_curves(checkpoint_id: str, data: CorpusData, transform: str, values: Sequence[float], cache_dir: Path,
               n_clips: int, memory: Memory = MEMORY) -> bool:
    """The curves are in memory already (a page needs no spinner for them)."""
    return _curves_key(checkpoint_id, data, transform, values, cache_dir, n_clips) in memory.curves.items


def get_versions(data: CorpusData, row: int, sample_rate: int, transform: str, values: Sequence[float],
                 roots: Sequence[Path], memory: Memory = MEMORY) -> np.ndarray:
    """[len(values), T] transformed copies of a corpus clip, to listen to."""
    from loev_core.explore.transforms import clip_wave, transformed

    def build() -> np.ndarray:
        wave = clip_wave(data, row, sample_rate, roots)
        return _frozen(transformed(wave, sample_rate, transform, list(values)).numpy())

    key = ("versions", data.key, int(row), int(sample_rate), transform, tuple(map(float, values)))
    return memory.sounds.get(key, build)


def get_trajectory(path: Path, checkpoint_id: str, data: CorpusData, row: int, transform: str,
                   values: Sequence[float], roots: Sequence[Path], memory: Memory = MEMORY) -> dict[str, np.ndarray]:
    """Where one clip goes in every subspace as the transform sweeps `values`."""
    from loev_core.explore.transforms import clip_wave, trajectory

    def build() -> dict[str, np.ndarray]:
        model = get_model(path, checkpoint_id, memory)
        wave = clip_wave(data, row, model.sample_rate, roots)
        return _frozen(trajectory(model, wave, model.sample_rate, transform, list(values)))

    key = ("trajectory", checkpoint_id, data.key, int(row), transform, tuple(map(float, values)))
    return memory.sounds.get(key, build)


def get_copy_ranks(path: Path, checkpoint_id: str, data: CorpusData, n_clips: int, subspaces: Sequence[str],
                   roots: Sequence[Path], memory: Memory = MEMORY) -> dict[str, np.ndarray]:
    """`tour.copy_ranks` on the curves' fixed sample of `n_clips` clips: the tour's count, on a corpus without key
    labels, of how often each subspace returns a clip moved into another key (kept for every session)."""
    from loev_core.explore.tour import copy_ranks
    from loev_core.explore.transforms import curve_rows

    def build() -> dict[str, np.ndarray]:
        model = get_model(path, checkpoint_id, memory)
        return _frozen(copy_ranks(model, data, curve_rows(data, n_clips), roots, subspaces))

    key = ("copy_ranks", checkpoint_id, data.key, int(n_clips), tuple(subspaces))
    return memory.sounds.get(key, build)


def corpus_summary(source: str | Path, roots: Sequence[Path], memory: Memory = MEMORY) -> tuple[int, tuple[str, ...]]:
    """Clip count and label names of a corpus folder or manifest (the Models page's summary): read again when
    its manifest or folder changes, and at least every LISTING_TTL_S."""
    import time

    from loev_core.explore.paths import corpus_clips

    src = Path(source)

    def build() -> tuple[int, tuple[str, ...]]:
        clips = corpus_clips(src, roots)
        return len(clips), tuple(sorted({k for c in clips for k in c.labels}))

    listing = next((src / n for n in ("manifest.csv", "manifest.jsonl") if (src / n).is_file()), src)
    try:
        version = listing.stat().st_mtime_ns
    except OSError:
        return build()  # says what is wrong with the path
    key = ("listing", str(src), tuple(map(str, roots)), version, int(time.time() // LISTING_TTL_S))
    return memory.listings.get(key, build)
