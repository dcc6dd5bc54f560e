"""`loev bench dashboard --concurrent`: five users doing retrieval on a 20,000-item index, in headless Chromium.

The target is every page load and every retrieval under 3 s. One visit first warms the server (what
`loev dashboard`'s start-up warm-up does before users come). Then the users arrive one after another, each
in their own browser context, and stay connected: every page load is timed while the earlier sessions are
open. Then all of them switch preset at the same moment (that many searches at once on the server). Loads
are not fired in the same instant: Streamlit's front end costs about 1 s of renderer CPU per fresh page, and
five browsers sharing a 2-core machine with the server would measure the browsers, which real users run on
their own machines. The result says how many cores other processes used meanwhile (`cpu.OtherLoad`): on a
shared machine the times measure those jobs too.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from loev_core.bench.cpu import OtherLoad
from loev_core.bench.first_visit import ARGS, CHROMIUM, serving

TARGET_S = 3.0
IDLE_OTHER_CORES = 0.5  # "otherwise idle": other processes used less than this many cores meanwhile


def big_index(folder: Path, checkpoint: Path, corpus: Path, n: int, seed: int = 0) -> Path:
    """An index of `n` items for `checkpoint`'s subspaces, built like `loev index` does, whose items
    point at the corpus' real clips (cycled), so every neighbour is playable; random vectors, because
    the search's cost depends on the count, not on the values."""
    import pandas as pd
    import torch

    from loev_core import load_model
    from loev_core.audio import resolve_corpus
    from loev_core.embeddings.index import Embeddings, build_index

    model = load_model(checkpoint)
    clips = resolve_corpus(corpus)
    rng = np.random.default_rng(seed)
    probe = model.embed(torch.zeros(1, model.sample_rate), model.sample_rate)
    vectors = {k: rng.standard_normal((n, v.shape[1])).astype(np.float32) for k, v in probe.items()}
    meta = pd.DataFrame({"path": [clips[i % len(clips)].path for i in range(n)], "offset": 0.0, "duration": 3.5,
                         "labels": [clips[i % len(clips)].labels for i in range(n)]})
    build_index(Embeddings(vectors, meta), folder, exact_threshold=10 * n)
    return folder


async def _open(browser, url: str, model: str, clip: int):
    """A new user (own browser context) opens the retrieval page; seconds until its neighbours are shown."""
    context = await browser.new_context(viewport={"width": 1280, "height": 1200})
    page = await context.new_page()
    t0 = time.perf_counter()
    await page.goto(f"{url}/retrieval?model={model}&clip={clip}&mode=same+key")
    await page.locator("audio").nth(10).wait_for(state="attached", timeout=120_000)
    loaded = time.perf_counter() - t0
    await page.locator("[data-testid=stStatusWidget]").wait_for(state="detached", timeout=60_000)
    await asyncio.sleep(1.0)  # the user looks at the page before acting
    return page, loaded


async def _switch_preset(page) -> float:
    """One user action on a loaded page: search another subspace; seconds until the new results are shown."""
    t0 = time.perf_counter()
    await page.get_by_role("radio", name="same tempo", exact=True).click()
    caption = page.locator("[data-testid=stCaptionContainer]", has_text="Searching")
    await caption.get_by_text("V.time_stretch", exact=True).wait_for(timeout=60_000)
    await page.locator("[data-testid=stStatusWidget]").wait_for(state="detached", timeout=60_000)
    await page.locator("audio").nth(10).wait_for(state="attached", timeout=60_000)
    elapsed = time.perf_counter() - t0
    if await page.locator("[data-testid=stException]").count():
        raise RuntimeError("the retrieval page showed an exception after the preset switch")
    return elapsed


async def _sessions(url: str, model: str, n: int) -> dict:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        warm_page, first = await _open(browser, url, model, n)
        await warm_page.context.close()
        opened = [await _open(browser, url, model, c) for c in range(n)]
        acts = await asyncio.gather(*[_switch_preset(pg) for pg, _ in opened])
        await browser.close()
    return {"warm_up_visit_s": round(first, 2), "page_loads_s": [round(t, 2) for _, t in opened],
            "retrievals_s": [round(t, 2) for t in acts]}


def sessions(url: str, model: str, n: int = 5) -> dict:
    """The scenario against a running dashboard; in its own thread, where an event loop may already run."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, _sessions(url, model, n)).result()


def measure_concurrent(checkpoint: Path, corpus: Path, items: int = 20_000, n_sessions: int = 5) -> dict:
    """Index `items` vectors for `checkpoint`, start `loev dashboard` on it, run the scenario; times and verdict."""
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is needed (apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="loev-bench-concurrent-") as tmp:
        folder = big_index(Path(tmp) / "index", checkpoint, corpus, items)
        cmd = [sys.executable, "-m", "loev_core.cli", "dashboard", "--checkpoint", str(checkpoint), "--corpus",
               str(folder), "--allow", str(corpus), "--cache-dir", str(Path(tmp) / "cache"), "--no-warm"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("LOEV_DASHBOARD_")}
        # OtherLoad ends last, once the server and the browser have stopped (their CPU counted as ours)
        with OtherLoad() as other, serving(cmd, env, Path(tmp), Path(tmp) / "server.log") as url:
            result = sessions(url, checkpoint.name, n_sessions)
    slowest = max(result["page_loads_s"] + result["retrievals_s"])
    idle = other.cores is not None and other.cores < IDLE_OTHER_CORES
    return {"items": items, "sessions": n_sessions, "model": checkpoint.name, **result, "slowest_s": slowest,
            "target_s": TARGET_S, "pass": slowest < TARGET_S,
            "other_processes_cores": None if other.cores is None else round(other.cores, 2),
            "machine_idle": idle}
