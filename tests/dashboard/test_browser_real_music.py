"""The Retrieval page on real music, in real headless Chromium: the bundled models on a small stand-in for the
real-music demo set (credited clips of a few "tracks"), showing same-track P@k and each recording's licence
under its player, with no exception. AppTest (test_real_music.py) checks the numbers; this checks a browser
sees them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from loev_core.explore.session import ENV_CACHE, ENV_CHECKPOINTS, ENV_CORPUS, ENV_ROOTS, bundled_checkpoints
from tests.dashboard.support import no_problem, running_app, settle
from tests.dashboard.test_real_music import track_corpus

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = [pytest.mark.browser, pytest.mark.slow,  # a real server and browser: ~30 s
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} not installed (apt-get install "
                                 "chromium); the end-to-end dashboard test needs a real browser"),
              pytest.mark.skipif(not bundled_checkpoints(), reason="the bundled models (assets/checkpoints) are "
                                 "missing")]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")


def test_retrieval_on_real_music_shows_same_track_precision_and_credits(tmp_path: Path) -> None:
    corpus = track_corpus(tmp_path / "real-demo")
    env = {ENV_CHECKPOINTS: os.pathsep.join(str(p) for p in bundled_checkpoints().values()),
           ENV_CORPUS: str(corpus), ENV_CACHE: str(tmp_path / "cache"), ENV_ROOTS: str(tmp_path)}
    ARTIFACTS.mkdir(exist_ok=True)
    with running_app(env) as url, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1600})
            page.goto(f"{url}/retrieval?clip=5&k=5")
            settle(page)
            no_problem(page)
            assert page.locator("h1").first.inner_text().strip() == "Retrieval"
            metrics = page.locator("[data-testid=stMetric]").filter(has_text="Same-track P@5")
            assert metrics.count() == 1 and metrics.first.is_visible()
            value = metrics.first.locator("[data-testid=stMetricValue]").inner_text().strip()
            assert 0.0 <= float(value) <= 1.0, value
            credits = page.get_by_text("licence CC-BY-SA-3.0", exact=False)
            assert credits.count() == 6 and credits.first.is_visible()  # the query's player and 5 neighbours'
            assert page.get_by_text("by Composer · licence CC-BY-SA-3.0 · from pkg").count() == 6
            page.screenshot(path=str(ARTIFACTS / "dashboard-retrieval-real-music.png"))
        finally:
            browser.close()
