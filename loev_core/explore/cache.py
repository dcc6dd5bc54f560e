"""Corpus embeddings and indexes built once per (checkpoint, corpus) and kept on disk.

The key is the model's id (`checkpoint_id`: a hash of its weights) plus a hash of the corpus listing,
so a retrained model or an edited manifest gets fresh embeddings while a restart of the dashboard
reuses everything.
Everything downstream reads vectors back from the FAISS index (L2-normalised: cosine is the metric
everywhere), so a prebuilt 100k-item index from `loev index` serves exactly like a cached corpus.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pandas as pd

from loev_core.audio import Clip
from loev_core.embeddings.index import Index, build_index
from loev_core.explore.paths import PathRefused, corpus_clips, is_index_folder, resolve_allowed
from loev_core.files import folder_lock

Progress = Callable[[float, str], None]
EMBED_STEPS = 10  # progress updates while embedding a corpus


def _quiet(_: float, __: str) -> None:
    return None


class NotStored(LookupError):
    """A result is not in the disk cache yet (raised where only stored results may be read)."""


def corpus_hash(source: Path, clips: Sequence[Clip]) -> str:
    """Hash of what a corpus holds: its file list with sizes and labels (not mtimes, so copies match)."""
    h = hashlib.sha256(str(source).encode())
    if is_index_folder(source):
        h.update((source / "index.json").read_bytes())
        return h.hexdigest()[:16]
    for c in clips:
        p = Path(c.path)
        size = p.stat().st_size if p.exists() else -1
        h.update(f"{c.path}\0{size}\0{json.dumps(c.labels, sort_keys=True, default=str)}\n".encode())
    return h.hexdigest()[:16]


@dataclass
class CorpusData:
    """A corpus as the dashboard sees it: an index (vectors) plus one metadata row per item."""

    index: Index
    meta: pd.DataFrame
    key: str  # checkpoint id + corpus hash: the prefix of every derived cache entry
    source: Path
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def subspaces(self) -> list[str]:
        return self.index.subspaces

    def __len__(self) -> int:
        return len(self.meta)

    def vectors(self, subspace: str, rows: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        """Unit vectors of `rows` (all when None) in one subspace, read back from the index."""
        ix = self.index.faiss_index(subspace)
        if isinstance(ix, faiss.IndexIVF):
            ix.make_direct_map()
        if rows is None:
            return ix.reconstruct_n(0, ix.ntotal)
        return ix.reconstruct_batch(np.asarray(rows, dtype=np.int64))

    @property
    def label_columns(self) -> list[str]:
        """Metadata columns usable as labels (colour, P@k), in a stable order."""
        skip = {"path", "offset", "duration", "labels", "name", "row"}
        return [c for c in self.meta.columns if c not in skip]


class SharedStore:
    """Results shared by every session of a server (models, corpora, maps, curves), with one lock per
    key: five sessions (or the start-up warm-up) asking for the same new item build it once; the
    others wait, then reuse it. The oldest item goes when more than `max_items` are held."""

    def __init__(self, max_items: int = 8) -> None:
        self.max_items = max_items
        self.items: dict[tuple, Any] = {}
        self.locks: dict[tuple, threading.Lock] = {}
        self.guard = threading.Lock()

    def busy(self, key: tuple) -> bool:
        """Someone else is building this item right now."""
        lock = self.locks.get(key)
        return key not in self.items and lock is not None and lock.locked()

    def get(self, key: tuple, build: Callable[[], Any]) -> Any:
        item = self.items.get(key)  # the common case, held: no lock to take
        if item is not None:
            return item
        with self.guard:
            lock = self.locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self.items:
                self.items[key] = build()
                while len(self.items) > self.max_items:
                    self.items.pop(next(iter(self.items)), None)
            return self.items[key]


def enrich_meta(meta: pd.DataFrame) -> pd.DataFrame:
    """Add `row` and `name`, and make numeric label columns numeric (tempo from a CSV is text)."""
    out = meta.reset_index(drop=True).copy()
    out.insert(0, "row", np.arange(len(out)))
    out.insert(1, "name", [Path(p).name for p in out["path"]])
    for c in out.columns:
        if c in ("row", "name", "path", "labels") or pd.api.types.is_numeric_dtype(out[c]):
            continue
        num = pd.to_numeric(out[c], errors="coerce")
        if num.notna().all():
            out[c] = num
    return out


def _embed_in_steps(model: Any, clips: list[Clip], out: Path, checkpoint: str, progress: Progress,
                    precision: str = "fp32") -> list:
    """`embed_corpus` in slices (it resumes, so each call embeds only the new slice) for a live progress bar."""
    from loev_core.embeddings.compute import EmbedOptions, embed_corpus

    # wait_lock: the launch-time warm-up may be writing the same folder
    options = EmbedOptions(workers=0, progress=False, checkpoint=checkpoint, wait_lock=True, precision=precision)
    step = max(1, -(-len(clips) // EMBED_STEPS))
    report = None
    for end in range(step, len(clips) + step, step):
        progress(min(end - step, len(clips)) / len(clips), f"Embedding the corpus: {min(end - step, len(clips))}"
                 f" of {len(clips)} clips (once per model and corpus)")
        report = embed_corpus(model, clips[:end], out, options)
    return report.skipped if report else []


def load_corpus(model: Any, checkpoint: Path, checkpoint_id: str, source: str | Path, roots: Sequence[Path],
                cache_dir: Path, progress: Progress = _quiet, stored_only: bool = False) -> CorpusData:
    """Embeddings + index of `source` (audio folder, manifest, or `loev index` folder) for one model;
    with `stored_only`, NotStored instead of embedding when the cache does not hold them yet."""
    src = resolve_allowed(source, roots, "corpus")
    if is_index_folder(src):
        index = Index(src)
        made_by = index.info.get("model_id") or index.info.get("checkpoint_id")  # the latter: older index.json
        if made_by and made_by != checkpoint_id:
            raise PathRefused(f"The index {src} was built with another checkpoint ({made_by}); "
                              f"this model is {checkpoint_id}. Rebuild it with `loev index`.")
        missing = [s for s in model.subspaces if s not in index.subspaces]
        if missing:
            raise PathRefused(f"The index {src} has no {', '.join(missing)}: it was built for another model.")
        return CorpusData(index, enrich_meta(index.meta), f"{checkpoint_id}-{corpus_hash(src, [])}", src)
    clips = corpus_clips(src, roots)
    from loev_core.embeddings.compute import resolve_precision

    precision = resolve_precision(model)  # bf16 where the CPU has it; named in the key (fp32 keys as before)
    key = f"{checkpoint_id}-{corpus_hash(src, clips)}" + ("" if precision == "fp32" else f"-{precision}")
    folder = Path(cache_dir) / "corpora" / key
    if stored_only and not (folder / "index" / "index.json").is_file():
        raise NotStored(f"{src} is not embedded by {checkpoint_id} yet")
    # one builder per cache folder, across sessions and processes: the others wait, then reuse it
    with folder_lock(folder, on_wait=lambda: progress(0.0, "Another process is embedding this corpus (the "
                                                      "start-up pre-build or another server); waiting for it...")):
        skipped_file = folder / "skipped.json"
        if not (folder / "index" / "index.json").is_file():
            skipped = _embed_in_steps(model, clips, folder / "embeddings", str(checkpoint), progress, precision)
            progress(1.0, "Building the search index")
            from loev_core.embeddings.store import Embeddings, load_embeddings

            embeddings = load_embeddings(folder / "embeddings")
            if not len(embeddings.meta):
                raise PathRefused(f"No clip of {src} could be decoded ({len(skipped)} skipped).")
            # the cache key names the model, so the index records no provenance
            build_index(Embeddings(embeddings.vectors, embeddings.meta), folder / "index", exact_threshold=200_000)
            skipped_file.write_text(json.dumps(skipped))
        index = Index(folder / "index")
        skipped = [tuple(s) for s in json.loads(skipped_file.read_text())] if skipped_file.exists() else []
    return CorpusData(index, enrich_meta(index.meta), key, src, skipped)
