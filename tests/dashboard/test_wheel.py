"""The installed wheel serves the dashboard: build it, install it outside the checkout, start `loev dashboard`
from another folder on the bundled LOEV++ demo model and a slice of the demo corpus, and see the embedding
explorer draw its map in headless Chromium. Screenshot: test-artifacts/dashboard-wheel-explorer.png."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.dashboard.support import free_port

REPO = Path(__file__).resolve().parents[2]
CHECKPOINT = REPO / "assets" / "checkpoints" / "demo-loevpp"
DEMO = REPO / "assets" / "demo"
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
CLIPS = 48  # a slice of the 720-clip demo corpus: the first visit embeds it with the model on a CPU
PLOT = '[data-testid="stPlotlyChart"] .js-plotly-plot'
COUNT_POINTS = "gd => gd._fullData.reduce((n, t) => n + (t.x || []).length, 0)"  # Scattergl: no SVG points

pytestmark = [pytest.mark.slow, pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} not installed (apt-get install "
                                 "chromium); the wheel's end-to-end test needs a real browser"),
              pytest.mark.skipif(not (CHECKPOINT / "model.safetensors").is_file() or not (DEMO / "manifest.csv")
                                 .is_file(), reason="the bundled demo model or corpus (assets/) is missing")]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")


def demo_slice(path: Path, n: int) -> Path:
    """The first `n` clips of the demo manifest, with absolute audio paths, as a manifest outside the checkout."""
    with (DEMO / "manifest.csv").open(newline="") as f:
        reader = csv.DictReader(f)
        rows = [dict(r, path=str((DEMO / r["path"]).resolve())) for _, r in zip(range(n), reader, strict=False)]
        fields = reader.fieldnames
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return path


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"the dashboard exited with code {proc.returncode} before it was healthy")
        time.sleep(0.5)
    raise TimeoutError(f"the dashboard was not healthy after {timeout:.0f} s")


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

    manifest = demo_slice(tmp_path / "demo-slice.csv", CLIPS)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "loev_core.cli", "dashboard", "--checkpoint", str(CHECKPOINT), "--corpus",
           str(manifest), "--allow", str(DEMO), "--port", str(port), "--cache-dir", str(tmp_path / "cache")]
    ARTIFACTS.mkdir(exist_ok=True)
    t0 = time.perf_counter()
    with log_path.open("w") as log:
        proc = subprocess.Popen(cmd, cwd=elsewhere, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_healthy(url, proc, timeout=120)
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = browser.new_page(viewport={"width": 1440, "height": 1200})
                page.goto(f"{url}/explorer", timeout=60_000)
                page.locator(PLOT).first.wait_for(state="visible", timeout=180_000)
                page.wait_for_timeout(1000)  # let plotly finish drawing before the screenshot
                page.screenshot(path=str(ARTIFACTS / "dashboard-wheel-explorer.png"), full_page=True)
                assert page.locator("[data-testid=stException]").count() == 0, \
                    page.inner_text("[data-testid=stException]")
                points = page.locator(PLOT).first.evaluate(COUNT_POINTS)
                assert points >= CLIPS, f"the map shows {points} points for {CLIPS} clips"
            finally:
                browser.close()
        print(f"explorer drawn {time.perf_counter() - t0:.1f} s after `loev dashboard` started")
    except BaseException:
        print(f"--- {log_path} ---\n{log_path.read_text()[-8000:]}")
        raise
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
