"""What the dashboard's pages show first, computed ahead and held in memory.

For every configured model on the configured corpus: the corpus embeddings and search index, the
UMAP map of every subspace and the default equivariance curves go to the disk caches (keyed by the
checkpoint's and the corpus' hashes, so a changed checkpoint or corpus is prepared anew), plus a few
transformed clips the pages open on, held in memory only. `loev dashboard --prepare` (run by `./run
demo` before the server) computes what is missing with a progress bar; a rerun only finds it all
stored. The server's warm-up thread runs the same steps into `MEMORY`: first reading what is stored
(before the server takes visitors), then computing the rest in the background. The pages' accessors
(loev_dashboard.cached) call the `get_*` functions here, so what is prepared is what they ask for.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from loev_core.explore.cache import CorpusData, NotStored, Progress, SharedStore, load_corpus
from loev_core.explore.projection import MAX_POINTS, corpus_map
from loev_core.explore.session import Settings

log = logging.getLogger("loev.dashboard")
MAP_METHOD = "UMAP"  # the default projection of the explorer, the compare page and the tour
CURVE_TRANSFORM = "pitch_shift"  # the default transform of the Equivariance and Compare pages
OPENING_ROW = 0  # the clip the Equivariance, Retrieval and Compare pages open on


@dataclass
class Memory:
    """What a server process holds for all its sessions: models, corpora, maps, curves, transformed clips."""

    models: SharedStore = field(default_factory=lambda: SharedStore(8))
    corpora: SharedStore = field(default_factory=lambda: SharedStore(8))
    maps: SharedStore = field(default_factory=lambda: SharedStore(128))
    curves: SharedStore = field(default_factory=lambda: SharedStore(64))
    sounds: SharedStore = field(default_factory=lambda: SharedStore(64))


MEMORY = Memory()


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


def corpus_key(checkpoint: Path, checkpoint_id: str, source: str | Path) -> tuple[str, str, str]:
    """The key under which a server keeps one model's view of one corpus."""
    return str(checkpoint), checkpoint_id, str(source)


def get_model(path: Path, checkpoint_id: str, memory: Memory = MEMORY) -> Any:
    from loev_core.checkpoint import load_model

    return memory.models.get(("model", str(path), checkpoint_id), lambda: load_model(path))


def get_corpus(path: Path, checkpoint_id: str, source: str | Path, roots: Sequence[Path], cache_dir: Path,
               progress: Progress = _quiet, memory: Memory = MEMORY, stored_only: bool = False) -> CorpusData:
    """One model's embeddings + index of a corpus (NotStored with `stored_only` when not embedded yet)."""
    def build() -> CorpusData:
        return load_corpus(get_model(path, checkpoint_id, memory), Path(path), checkpoint_id, source, roots,
                           cache_dir, progress, stored_only=stored_only)

    return memory.corpora.get(corpus_key(Path(path), checkpoint_id, source), build)


def get_map(data: CorpusData, subspace: str, method: str, cache_dir: Path, max_points: int = MAX_POINTS,
            memory: Memory = MEMORY, stored_only: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(rows, coords) of a stored or computed map of one subspace."""
    def build() -> tuple[np.ndarray, np.ndarray]:
        found = corpus_map(data, subspace, method, cache_dir, max_points, stored_only=stored_only)
        if found is None:
            raise NotStored(f"no {method} map of {subspace} yet")
        return _frozen(found)

    return memory.maps.get(("map", str(cache_dir), data.key, subspace, method, max_points), build)


def has_map(data: CorpusData, subspace: str, method: str, cache_dir: Path, max_points: int = MAX_POINTS,
            memory: Memory = MEMORY) -> bool:
    """The map is in memory already (a page needs no spinner for it)."""
    return ("map", str(cache_dir), data.key, subspace, method, max_points) in memory.maps.items


def get_curves(path: Path, checkpoint_id: str, data: CorpusData, transform: str, values: Sequence[float],
               roots: Sequence[Path], cache_dir: Path, n_clips: int, memory: Memory = MEMORY,
               stored_only: bool = False) -> dict:
    """Equivariance curves of one model on its corpus sample, stored or computed."""
    from loev_core.explore.transforms import cached_curves

    def build() -> dict:
        model = _NoModel() if stored_only else get_model(path, checkpoint_id, memory)
        return cached_curves(model, checkpoint_id, data, transform, values, roots, cache_dir, n_clips=n_clips)

    key = ("curves", str(cache_dir), checkpoint_id, data.key, transform, tuple(map(float, values)), int(n_clips))
    return memory.curves.get(key, build)


def has_curves(checkpoint_id: str, data: CorpusData, transform: str, values: Sequence[float], cache_dir: Path,
               n_clips: int, memory: Memory = MEMORY) -> bool:
    key = ("curves", str(cache_dir), checkpoint_id, data.key, transform, tuple(map(float, values)), int(n_clips))
    return key in memory.curves.items


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


@dataclass
class Step:
    """One unit of preparation: `run(stored_only)` reads or computes it (NotStored: not stored yet)."""

    what: str
    run: Callable[[bool], object]
    on_disk: bool = True  # False: held in memory only, so `loev dashboard --prepare` skips it


def plan(settings: Settings, memory: Memory = MEMORY, progress: Progress = _quiet) -> list[Step]:
    """The preparation of every configured model on the configured corpus, LOEV++ first (the default model)."""
    from loev_core.checkpoint import read_metadata
    from loev_core.explore.transforms import CURVE_CLIPS, TRAJECTORY_VALUES

    s, steps = settings, []
    values = tuple(TRAJECTORY_VALUES[CURVE_TRANSFORM])
    listen = tuple(v for i, v in enumerate(values) if i % 2 == 0 or v == 0.0)  # the Equivariance page's players
    order = sorted(s.checkpoints.items(), key=lambda kv: "loevpp" not in kv[0])
    for label, path in order:
        try:
            cid, subspaces = checkpoint_id_of(path), list(read_metadata(path).get("subspaces") or [])
        except Exception:  # noqa: BLE001 (a bad checkpoint is reported by the pages, with a message)
            log.warning("cannot prepare %s", label, exc_info=True)
            continue

        def corpus(stored_only: bool, path: Path = path, cid: str = cid) -> CorpusData:
            return get_corpus(path, cid, s.corpus, s.roots, s.cache_dir, progress, memory, stored_only)

        def umap(stored_only: bool, corpus: Callable = corpus, sub: str = "") -> object:
            return get_map(corpus(stored_only), sub, MAP_METHOD, s.cache_dir / "projections", memory=memory,
                           stored_only=stored_only)

        def curves(stored_only: bool, corpus: Callable = corpus, path: Path = path, cid: str = cid) -> object:
            return get_curves(path, cid, corpus(stored_only), CURVE_TRANSFORM, values, s.roots, s.cache_dir / "curves",
                              CURVE_CLIPS, memory, stored_only)

        def sounds(stored_only: bool, corpus: Callable = corpus, path: Path = path, cid: str = cid) -> object:
            sr = get_model(path, cid, memory).sample_rate
            return get_versions(corpus(stored_only), OPENING_ROW, sr, CURVE_TRANSFORM, listen, s.roots, memory)

        steps.append(Step(f"{label}: embeddings and index", corpus))
        steps += [Step(f"{label}: {MAP_METHOD} map of {sub}", functools.partial(umap, sub=sub)) for sub in subspaces]
        steps.append(Step(f"{label}: {CURVE_TRANSFORM} curves", curves))
        if label == next(iter(s.checkpoints)):  # the Equivariance page listens with its first model
            steps.append(Step(f"{label}: clip {OPENING_ROW} shifted, to listen", sounds, on_disk=False))
    return steps + tour_steps(settings, memory, order)


def tour_steps(settings: Settings, memory: Memory, order: list[tuple[str, Path]]) -> list[Step]:
    """The tour's first step: the SimCLR model's trajectory of the tour's clip, and two copies to hear."""
    try:
        from loev_core.explore.tour import SHIFT, retrieval_example, same_clip, teaching_pair
    except ImportError:
        return []
    from loev_core.checkpoint import read_metadata
    from loev_core.explore.transforms import TRAJECTORY_VALUES

    kinds = {}
    for label, path in order:
        try:
            kinds.setdefault(read_metadata(path).get("model_kind"), (label, path, checkpoint_id_of(path)))
        except Exception:  # noqa: BLE001 (reported by the pages)
            continue
    if "simclr" not in kinds or "loevpp" not in kinds:
        return []
    s, values = settings, tuple(TRAJECTORY_VALUES["pitch_shift"])

    def run(stored_only: bool) -> None:
        (_, ref_path, ref_id), (_, path, cid) = kinds["loevpp"], kinds["simclr"]
        ref = get_corpus(ref_path, ref_id, s.corpus, s.roots, s.cache_dir, memory=memory, stored_only=stored_only)
        data = get_corpus(path, cid, s.corpus, s.roots, s.cache_dir, memory=memory, stored_only=stored_only)
        ignore, keep = teaching_pair(ref.subspaces)
        row = same_clip(ref, retrieval_example(ref, keep, ignore), data)
        if row is not None:
            get_trajectory(path, cid, data, row, "pitch_shift", values, s.roots, memory)
            sr = get_model(path, cid, memory).sample_rate
            get_versions(data, row, sr, "pitch_shift", (0.0, float(SHIFT)), s.roots, memory)

    return [Step("tour: the first step's clip", run, on_disk=False)]


def run_steps(steps: Sequence[Step], stored_only: bool = False, bar: Any = None) -> tuple[list[Step], list[Step]]:
    """Run each step; returns (not stored yet, failed). A failure is logged, not raised: the page that
    needs it shows the problem."""
    pending, failed = [], []
    for step in steps:
        if bar is not None:
            bar.set_description_str(step.what[:60])
            bar.set_postfix_str("")
        try:
            step.run(stored_only)
        except NotStored:
            pending.append(step)
        except Exception:  # noqa: BLE001 (a bad model or corpus is reported by its page)
            log.warning("preparing %s failed", step.what, exc_info=True)
            failed.append(step)
        if bar is not None:
            bar.update(1)
    return pending, failed


UMAP_SIZES = (300, 4500)  # UMAP switches to approximate neighbours above 4,096 points: other numba code


def warm_marker() -> Path:
    """Present once numba's cache holds UMAP's code for these library versions and warm-up sizes."""
    import hashlib
    import importlib.metadata
    import sys

    from loev_core.explore.session import numba_cache_dir

    versions = [importlib.metadata.version(p) for p in ("umap-learn", "numba", "pynndescent")]
    key = repr((versions, sys.version_info[:2], UMAP_SIZES))
    return numba_cache_dir() / f".loev-umap-{hashlib.sha1(key.encode()).hexdigest()[:12]}"


def warm_umap() -> None:
    """Fit UMAP on a small set (loads, or the first time compiles, its numba code in this process);
    the first time for these versions also above 4,096 points, so numba caches that code path too."""
    from loev_core.explore.projection import compute_projection

    marker = warm_marker()
    rng = np.random.default_rng(0)
    for n in UMAP_SIZES if not marker.exists() else UMAP_SIZES[:1]:
        x = rng.standard_normal((n, 32)).astype(np.float32)
        compute_projection(x / np.linalg.norm(x, axis=1, keepdims=True), "UMAP")
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()


def prepare(settings: Settings, memory: Memory = MEMORY) -> dict[str, Any]:
    """`loev dashboard --prepare`: compute and store what the pages need first, with a progress bar.
    Stored results are only read, so a rerun is quick. Returns what was found and computed."""
    import time

    from tqdm import tqdm

    t0 = time.perf_counter()
    bar: list[Any] = []
    steps = [s for s in plan(settings, memory, lambda f, text: bar[0].set_postfix_str(text[:60]) if bar else None)
             if s.on_disk]
    missing, failed = run_steps(steps, stored_only=True)
    if not warm_marker().exists():  # part of set-up: numba compiles UMAP into NUMBA_CACHE_DIR once
        missing.insert(0, Step(f"{MAP_METHOD} compile (numba, once per machine)", lambda _: warm_umap()))
    if missing:
        with tqdm(total=len(missing), unit="step", dynamic_ncols=True) as b:
            bar.append(b)
            failed += run_steps(missing, bar=b)[1]
    return {"steps": len(steps), "computed": [s.what for s in missing], "failed": [s.what for s in failed],
            "seconds": round(time.perf_counter() - t0, 1)}
