"""What the dashboard's pages show first, computed ahead (`loev dashboard --prepare`) or read back (warm-up).

For every configured model on the configured corpus: the corpus embeddings and search index, the
UMAP map of every subspace and the default equivariance curves go to the disk caches (keyed by the
checkpoint's and the corpus' hashes, so a changed checkpoint or corpus is prepared anew), plus a few
things held in memory only (the corpus listing, transformed clips the pages open on, the tour's first
clip). `prepare` (run by `./run demo` before the server) computes what is missing with a progress bar
and numba's UMAP code into NUMBA_CACHE_DIR; a rerun only finds it all stored. The server's warm-up
thread runs the same `plan` into memory: first reading what is stored, then computing the rest.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from loev_core.explore.cache import CorpusData, NotStored, Progress
from loev_core.explore.memory import (
    MEMORY,
    Memory,
    checkpoint_id_of,
    corpus_summary,
    get_copy_ranks,
    get_corpus,
    get_curves,
    get_map,
    get_model,
    get_trajectory,
    get_versions,
)
from loev_core.explore.session import Settings

log = logging.getLogger("loev.dashboard")
MAP_METHOD = "UMAP"  # the default projection of the explorer, the compare page and the tour
CURVE_TRANSFORM = "pitch_shift"  # the default transform of the Equivariance and Compare pages
OPENING_ROW = 0  # the clip the Equivariance, Retrieval and Compare pages open on


@dataclass
class Step:
    """One unit of preparation: `run(stored_only)` reads or computes it (NotStored: not stored yet)."""

    what: str
    run: Callable[[bool], object]
    on_disk: bool = True  # False: held in memory only, so `loev dashboard --prepare` skips it


def _quiet(_: float, __: str) -> None:
    return None


def plan(settings: Settings, memory: Memory = MEMORY, progress: Progress = _quiet, tour: bool = True) -> list[Step]:
    """The preparation of every configured model on the configured corpus, LOEV++ first (the default model);
    the tour's first step too unless `tour` is False (a second corpus, picked on the Models page)."""
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

        if not steps:  # the Models page's summary of the corpus
            steps.append(Step("corpus listing", lambda _: corpus_summary(s.corpus, s.roots, memory), on_disk=False))
        steps.append(Step(f"{label}: embeddings and index", corpus))
        steps += [Step(f"{label}: {MAP_METHOD} map of {sub}", functools.partial(umap, sub=sub)) for sub in subspaces]
        steps.append(Step(f"{label}: {CURVE_TRANSFORM} curves", curves))
        if label == next(iter(s.checkpoints)):  # the Equivariance page listens with its first model
            steps.append(Step(f"{label}: clip {OPENING_ROW} shifted, to listen", sounds, on_disk=False))
    return steps + (tour_steps(settings, memory, order) if tour else [])


def other_corpora(settings: Settings, extra: Sequence[Path]) -> list[Settings]:
    """Settings for each extra corpus (the real-music demo set) that exists and is not the default one."""
    from dataclasses import replace

    seen, out = {settings.corpus.resolve()}, []
    for c in extra:
        c = Path(c).resolve()
        if c not in seen and (c / "manifest.csv").is_file():
            seen.add(c)
            out.append(replace(settings, corpus=c))
    return out


def tour_steps(settings: Settings, memory: Memory, order: list[tuple[str, Path]]) -> list[Step]:
    """The tour's first step: the SimCLR model's trajectory of the tour's clip (on a corpus without key labels,
    how often its search finds clips moved into another key), and two copies to hear."""
    from loev_core.checkpoint import read_metadata
    from loev_core.explore.tour import SHIFT, TOUR_COPIES, forgetting_subspace, tour_clip
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
        row = tour_clip(ref, data)  # the clip the tour's page follows
        if "key" in data.meta.columns:
            get_trajectory(path, cid, data, row, "pitch_shift", values, s.roots, memory)
        else:  # the page counts over many clips instead (views/tour.py: thrown_away_by_shifting)
            get_copy_ranks(path, cid, data, TOUR_COPIES, (forgetting_subspace(data.subspaces),), s.roots, memory)
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


def prepare(settings: Settings, memory: Memory = MEMORY, extra: Sequence[Path] = ()) -> dict[str, Any]:
    """`loev dashboard --prepare`: compute and store what the pages need first, with a progress bar: the default
    corpus first, then each of `extra` (the real-music demo set, for the Models page's corpus picker).
    Stored results are only read, so a rerun is quick. Returns what was found and computed."""
    import time

    from tqdm import tqdm

    t0 = time.perf_counter()
    bar: list[Any] = []
    def progress(_: float, text: str) -> None:
        if bar:
            bar[0].set_postfix_str(text[:60])

    steps = [s for s in plan(settings, memory, progress) if s.on_disk]
    for other in other_corpora(settings, extra):
        name = other.corpus.name
        steps += [Step(f"{name}: {s.what}", s.run) for s in plan(other, memory, progress, tour=False) if s.on_disk]
    missing, failed = run_steps(steps, stored_only=True)
    if not warm_marker().exists():  # part of set-up: numba compiles UMAP into NUMBA_CACHE_DIR once
        missing.insert(0, Step(f"{MAP_METHOD} compile (numba, once per machine)", lambda _: warm_umap()))
    if missing:
        with tqdm(total=len(missing), unit="step", dynamic_ncols=True) as b:
            bar.append(b)
            failed += run_steps(missing, bar=b)[1]
    return {"steps": len(steps), "computed": [s.what for s in missing], "failed": [s.what for s in failed],
            "seconds": round(time.perf_counter() - t0, 1)}
