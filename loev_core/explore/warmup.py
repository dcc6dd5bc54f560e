"""Work a dashboard server does in the background right after it starts, so the first visitor waits less.

Two things are slow the first time and the same for everyone: numba compiling UMAP (seconds, in every
new process) and embedding the corpus with each configured model (a minute or more on a CPU for the
demo corpus; then it is on disk). `loev dashboard` starts both in one background thread; a visitor who
arrives earlier waits on the same per-corpus lock instead of starting a second build.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np

from loev_core.explore.cache import CorpusStore, load_corpus
from loev_core.explore.session import Settings

log = logging.getLogger("loev.dashboard")


def corpus_key(checkpoint: Path, checkpoint_id: str, source: str | Path) -> tuple[str, str, str]:
    """The key under which a server keeps one model's view of one corpus."""
    return str(checkpoint), checkpoint_id, str(source)


def warm_umap() -> None:
    from loev_core.explore.projection import compute_projection

    x = np.random.default_rng(0).standard_normal((300, 32)).astype(np.float32)
    compute_projection(x / np.linalg.norm(x, axis=1, keepdims=True), "UMAP")


def prebuild(store: CorpusStore, settings: Settings) -> None:
    """Embed the default corpus with every configured model (LOEV++ first: the explorer's default)."""
    from loev_core.checkpoint import checkpoint_id, load_model

    order = sorted(settings.checkpoints.items(), key=lambda kv: "loevpp" not in kv[0])
    for label, path in order:
        try:
            cid = checkpoint_id(path)
            store.get(corpus_key(path, cid, settings.corpus), lambda p=path, c=cid: load_corpus(
                load_model(p), p, c, settings.corpus, settings.roots, settings.cache_dir))
        except Exception:  # a bad model or corpus is reported by the pages, with a message
            log.warning("background pre-build of %s skipped", label, exc_info=True)


def prebuild_disk(settings: Settings) -> None:
    """The same, into the disk cache only (run by `loev dashboard` in a separate process at launch)."""
    from loev_core.checkpoint import checkpoint_id, load_model

    for label, path in sorted(settings.checkpoints.items(), key=lambda kv: "loevpp" not in kv[0]):
        try:
            load_corpus(load_model(path), path, checkpoint_id(path), settings.corpus, settings.roots,
                        settings.cache_dir)
        except Exception:
            log.warning("pre-build of %s skipped", label, exc_info=True)


def start(store: CorpusStore, settings: Settings) -> threading.Thread:
    def run() -> None:
        warm_umap()
        prebuild(store, settings)

    thread = threading.Thread(target=run, name="loev-warmup", daemon=True)
    thread.start()
    return thread
