"""Work a dashboard server does as it starts, so its first visitor waits for nothing.

One thread per server process runs the preparation steps (`loev_core.explore.prepare`) into the
process-wide memory every session reads (`loev_core.explore.memory`). First it reads what is stored
(models, corpora, maps, curves: `loev dashboard --prepare` or an earlier server stored them), makes
the few transformed clips the pages open on, and warms the libraries a first page run would use, then
sets `loaded`: `loev dashboard` waits for that before it takes visitors. Then it computes what was not
stored (embedding a corpus takes a minute or more on a CPU) in the background; a visitor asking for it
meanwhile waits on the same per-item lock instead of starting a second build. `start` is idempotent:
`loev dashboard` starts it, the app on its first run otherwise. Last, after the default corpus, it reads the
real-music demo set's stored results too (when built and prepared, as `./run demo` does), so picking it
on the Models page is quick; nothing of it is computed here (that is `--prepare`'s work).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from pathlib import Path

from loev_core.explore.cache import SharedStore
from loev_core.explore.memory import MEMORY, Memory, corpus_key, get_corpus
from loev_core.explore.prepare import Step, other_corpora, plan, run_steps, warm_marker, warm_umap
from loev_core.explore.session import Settings

__all__ = ["corpus_key", "loaded", "prebuild", "preload_others", "start", "warm_marker", "warm_umap"]
log = logging.getLogger("loev.dashboard")
loaded = threading.Event()  # set once everything stored is in memory (or the attempt failed)
_thread: threading.Thread | None = None
_guard = threading.Lock()


def warm_libraries() -> None:
    """Import and first-use what a page run needs (plotly's trace types and JSON encoder, pandas' Styler,
    the audio transforms), so the first visitor does not pay for it."""
    import pandas as pd
    import plotly.graph_objects as go
    import plotly.io

    fig = go.Figure([go.Scattergl(x=[0, 1], y=[0, 1], customdata=[[0], [1]]), go.Scatter(x=[0], y=[0]),
                     go.Bar(x=["a"], y=[1])])
    fig.update_layout(yaxis2=dict(overlaying="y", side="right"))
    plotly.io.to_json(fig, validate=False)
    with contextlib.suppress(ImportError):  # no jinja2: the pages show plain numbers
        pd.DataFrame({"a": [0.5]}).style.format("{:.3f}").highlight_max(axis=0).to_html()


def _build_order(step: Step) -> int:
    """What to compute first when nothing was prepared: corpora (every page needs one), then maps, then the rest."""
    return 0 if step.what.endswith("index") else 1 if " map of " in step.what else 2


def warm(settings: Settings, memory: Memory = MEMORY, libraries: bool = True) -> None:
    """The warm-up: read what is stored into `memory` (then set `loaded`), then compute the rest."""
    pending: list[Step] = []
    try:
        t0 = time.perf_counter()
        if libraries:
            warm_libraries()
        pending, failed = run_steps(plan(settings, memory), stored_only=True)
        log.info("warm-up: stored results in memory after %.1f s; %d to compute, %d failed",
                 time.perf_counter() - t0, len(pending), len(failed))
    except Exception:  # noqa: BLE001 (the pages compute what they need themselves)
        log.warning("warm-up failed", exc_info=True)
    finally:
        loaded.set()
    if pending:
        if not warm_marker().exists():
            try:
                warm_umap()
            except Exception:  # noqa: BLE001
                log.warning("UMAP warm-up failed", exc_info=True)
        run_steps(sorted(pending, key=_build_order))
    preload_others(settings, memory)


def preload_others(settings: Settings, memory: Memory = MEMORY) -> None:
    """The stored results of the real-music demo set (when it is built and is not the default corpus) into
    memory: its indexes, maps and curves are read from disk in a second or two, while computing them would take
    minutes of a server's CPU, so what is not stored is left to the page that asks for it."""
    for other in other_corpora(settings, (settings.real_demo,)):
        try:
            t0 = time.perf_counter()
            steps = [s for s in plan(other, memory, tour=False) if s.on_disk]
            pending, failed = run_steps(steps, stored_only=True)
            log.info("warm-up: %s in memory after %.1f s (%d of %d steps stored, %d failed)", other.corpus.name,
                     time.perf_counter() - t0, len(steps) - len(pending) - len(failed), len(steps), len(failed))
        except Exception:  # noqa: BLE001 (the Models page's picker still works; the pages compute what they need)
            log.warning("warm-up of %s failed", other.corpus, exc_info=True)


def prebuild(store: SharedStore, settings: Settings) -> None:
    """Embed the default corpus with every configured model into `store` (LOEV++ first: the default)."""
    from loev_core.checkpoint import checkpoint_id

    memory = Memory(corpora=store)
    for label, path in sorted(settings.checkpoints.items(), key=lambda kv: "loevpp" not in kv[0]):
        try:
            get_corpus(Path(path), checkpoint_id(path), settings.corpus, settings.roots, settings.cache_dir,
                       memory=memory)
        except Exception:  # noqa: BLE001 (a bad model or corpus is reported by the pages, with a message)
            log.warning("background pre-build of %s skipped", label, exc_info=True)


def start(settings: Settings, memory: Memory = MEMORY, libraries: bool = True) -> threading.Thread:
    """The server's warm-up thread: started on the first call, returned as it is on later ones.
    `libraries=False` when pages may be running already (imports in two threads can deadlock)."""
    global _thread
    with _guard:
        if _thread is None:
            _thread = threading.Thread(target=warm, args=(settings, memory, libraries), name="loev-warmup",
                                       daemon=True)
            _thread.start()
        return _thread
