"""Work a dashboard server does in the background as it starts, so the first visitor waits less.

Two things are slow the first time and the same for everyone: numba compiling UMAP (into
NUMBA_CACHE_DIR once per version, then loaded by every new process) and embedding the corpus with
each configured model (a minute or more on a CPU for the demo corpus; then it is on disk). One
thread per server process does both, into the process-wide `STORE` that every session reads: `loev
dashboard` starts it before the server accepts connections, the app on its first run otherwise
(`start` is idempotent). A visitor who arrives earlier waits on the same per-corpus lock instead of
starting a second build.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import sys
import threading
from pathlib import Path

import numpy as np

from loev_core.explore.cache import CorpusStore, load_corpus
from loev_core.explore.session import Settings, numba_cache_dir

log = logging.getLogger("loev.dashboard")
STORE = CorpusStore()  # corpora shared by every session of this server process
UMAP_SIZES = (300, 4500)  # UMAP switches to approximate neighbours above 4,096 points: other numba code
_thread: threading.Thread | None = None
_guard = threading.Lock()


def corpus_key(checkpoint: Path, checkpoint_id: str, source: str | Path) -> tuple[str, str, str]:
    """The key under which a server keeps one model's view of one corpus."""
    return str(checkpoint), checkpoint_id, str(source)


def warm_marker() -> Path:
    """Present once numba's cache holds UMAP's code for these library versions and warm-up sizes."""
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


def start(settings: Settings, store: CorpusStore = STORE) -> threading.Thread:
    """The server's warm-up thread: started on the first call, returned as it is on later ones."""
    global _thread
    with _guard:
        if _thread is None:
            def run() -> None:
                try:
                    warm_umap()
                except Exception:
                    log.warning("UMAP warm-up failed", exc_info=True)
                prebuild(store, settings)

            _thread = threading.Thread(target=run, name="loev-warmup", daemon=True)
            _thread.start()
        return _thread
