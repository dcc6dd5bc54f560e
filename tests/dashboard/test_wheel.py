"""The installed wheel serves the dashboard: build it, install it outside the checkout, start `loev dashboard`
from another folder on the bundled LOEV++ demo model and the demo corpus, and see the embedding explorer
draw its map in headless Chromium (the first visit embeds the 720 clips: about 30 s on 2 CPU cores).
Screenshot: test-artifacts/dashboard-wheel-explorer.png; the server's log is printed when it fails."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loev_core.bench.first_visit import serving

REPO = Path(__file__).resolve().parents[2]
CHECKPOINT = REPO / "assets" / "checkpoints" / "demo-loevpp"
DEMO = REPO / "assets" / "demo"
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
PLOT = '[data-testid="stPlotlyChart"] .js-plotly-plot'
FAILED = "[data-testid=stException], [data-testid=stAlertContentError]"
COUNT_POINTS = "gd => gd._fullData.reduce((n, t) => n + (t.x || []).length, 0)"  # Scattergl: no SVG points

pytestmark = [pytest.mark.slow, pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} not installed (apt-get install "
                                 "chromium); the wheel's end-to-end test needs a real browser"),
              pytest.mark.skipif(not (CHECKPOINT / "model.safetensors").is_file() or not (DEMO / "manifest.csv")
                                 .is_file(), reason="the bundled demo model or corpus (assets/) is missing")]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")


def test_the_installed_wheel_serves_the_explorer(built_wheel: Path, tmp_path: Path) -> None:
    site, elsewhere, log_path = tmp_path / "site", tmp_path / "elsewhere", tmp_path / "server.log"
    elsewhere.mkdir()
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-compile", "--target", str(site),
                    str(built_wheel)], check=True, capture_output=True, timeout=300)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOEV_") and k != "PYTHONPATH"}
    env.update(PYTHONPATH=str(site), XDG_CACHE_HOME=str(tmp_path / "xdg"),
               NUMBA_CACHE_DIR=os.environ.get("NUMBA_CACHE_DIR") or str(REPO / ".cache" / "numba"))

    # the wheel's copies are the ones imported, outside any checkout (not the editable install of this one)
    probe = ("import loev_core, loev_dashboard; from loev_core.explore import session; "
             "print(loev_core.__file__); print(loev_dashboard.__file__); print(session.app_path()); "
             "print(session.CHECKOUT)")
    out = subprocess.run([sys.executable, "-c", probe], cwd=elsewhere, env=env, capture_output=True, text=True,
                         timeout=120, check=True).stdout.split("\n")
    for f in out[:3]:
        assert Path(f).resolve().is_relative_to(site.resolve()), out
    assert out[3] == "None", f"the wheel thinks it runs from a checkout: {out}"

    clips = len((DEMO / "manifest.csv").read_text().strip().splitlines()) - 1
    cmd = [sys.executable, "-m", "loev_core.cli", "dashboard", "--checkpoint", str(CHECKPOINT), "--corpus", str(DEMO),
           "--cache-dir", str(tmp_path / "cache")]
    ARTIFACTS.mkdir(exist_ok=True)
    t0 = time.perf_counter()
    try:
        with serving(cmd, env, elsewhere, log_path, timeout=120) as url, sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = browser.new_page(viewport={"width": 1440, "height": 1200})
                page.goto(f"{url}/explorer", timeout=60_000)
                try:
                    page.locator(f"{PLOT}, {FAILED}").first.wait_for(state="visible", timeout=180_000)
                    page.wait_for_timeout(1000)  # let plotly finish drawing before the screenshot
                finally:
                    page.screenshot(path=str(ARTIFACTS / "dashboard-wheel-explorer.png"), full_page=True)
                problems = page.locator(FAILED).all_inner_texts()
                assert not problems, problems
                points = page.locator(PLOT).first.evaluate(COUNT_POINTS)
                assert points >= clips, f"the map shows {points} points for {clips} clips"
            finally:
                browser.close()
        print(f"explorer drawn {time.perf_counter() - t0:.1f} s after `loev dashboard` started")
    except BaseException:
        print(f"--- {log_path} ---\n{log_path.read_text()[-8000:] if log_path.exists() else '(no log)'}")
        raise
