"""End to end in real headless Chromium: every page, a click on the map, a retrieval, playable audio,
one player at a time, a refused upload; screenshots go to test-artifacts/. Plus 5 concurrent sessions."""

from __future__ import annotations

import asyncio
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urljoin

import pytest

from tests.dashboard.cpu import OtherLoad
from tests.dashboard.support import big_index, no_problem, running_app, settle
from tests.support import DashEnv

CHROMIUM = "/usr/bin/chromium"
TARGET_S = 3.0  # every page load and retrieval of five concurrent sessions (the target)
BUSY_LIMIT_S = 20.0  # ... relaxed to a hang guard while other processes take the machine
IDLE_OTHER_CORES = 0.5  # "otherwise idle": other processes used less than this many cores meanwhile
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PAGES = {"models": "Models", "explorer": "Embedding explorer", "equivariance": "Equivariance",
         "retrieval": "Retrieval", "compare": "Compare"}
FIRST_POINT = """() => {
  const gd = document.querySelector('.js-plotly-plot');
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, tr = gd._fullData[0];
  const r = gd.querySelector('.nsewdrag').getBoundingClientRect();
  return [r.left + xa.l2p(tr.x[0]), r.top + ya.l2p(tr.y[0])];
}"""

pytestmark = [pytest.mark.browser, pytest.mark.slow,  # a real server and browser: ~45 s for the module
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} not installed (apt-get install "
                                 "chromium); the end-to-end dashboard test needs a real browser")]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")


def audio_is_playable(page, request) -> None:
    srcs = [a.get_attribute("src") for a in page.locator("audio").all()]
    assert srcs and all(srcs), "no <audio> with a source"
    r = request.get(urljoin(page.url, srcs[0]))
    assert r.status == 200 and r.headers["content-type"].startswith("audio/") and len(r.body()) > 1000


@pytest.fixture(scope="module")
def browser_page(dash_env: DashEnv):
    ARTIFACTS.mkdir(exist_ok=True)
    with running_app(dash_env.env) as url, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1600})
        yield url, page
        browser.close()


def test_every_page_renders_in_chromium(browser_page) -> None:
    url, page = browser_page
    for path, title in PAGES.items():
        page.goto(f"{url}/{'' if path == 'models' else path}?method=PCA")  # Models is the default page: /
        settle(page)
        assert page.locator("h1").first.inner_text().strip() == title
        no_problem(page)
        page.screenshot(path=str(ARTIFACTS / f"dashboard-{path}.png"))
    nav = page.locator("[data-testid=stSidebarNav]").inner_text()
    assert all(t in nav for t in PAGES.values())


def test_click_a_point_plays_it_and_lists_neighbours(browser_page) -> None:
    url, page = browser_page
    page.goto(f"{url}/explorer?method=PCA&model=ckpt-loevpp&subspace=Z.pitch_shift&color=key")
    settle(page)
    assert page.locator("audio").count() == 0
    page.wait_for_selector(".js-plotly-plot .nsewdrag", timeout=60_000)
    x, y = page.evaluate(FIRST_POINT)
    page.mouse.click(x, y)
    settle(page)
    no_problem(page)
    assert "clip=" in page.url  # the selection is in the URL
    assert page.locator("audio").count() == 6  # the clicked clip + 5 neighbours
    assert page.get_by_text("Nearest in").count() == 1
    audio_is_playable(page, page.request)
    page.screenshot(path=str(ARTIFACTS / "dashboard-explorer-clicked.png"))
    box = page.locator(".js-plotly-plot .nsewdrag").first.bounding_box()  # box-select most of the map
    page.locator(".js-plotly-plot").first.hover()
    page.locator("[data-title='Box Select']").first.click()
    page.mouse.move(box["x"] + 3, box["y"] + 3)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] - 3, box["y"] + box["height"] - 3, steps=8)
    page.mouse.up()
    settle(page)
    assert page.get_by_text("selected clips").count() == 1
    assert page.get_by_role("button", name="Export the selection as CSV").count() == 1
    page.get_by_text("Augmentation trajectory").click()  # the clicked clip, pitch-shifted -6..+6 st
    page.wait_for_function("""() => [...document.querySelectorAll('.js-plotly-plot')].some(
      gd => (gd._fullData || []).some(t => (t.name || '').startsWith('trajectory') && t.x.length === 13))""",
                           timeout=120_000)
    settle(page)
    no_problem(page)
    assert page.get_by_text("How far the clip moves").count() == 1
    page.screenshot(path=str(ARTIFACTS / "dashboard-explorer-trajectory.png"))


def test_retrieval_with_a_preset_and_one_player_at_a_time(browser_page) -> None:
    url, page = browser_page
    page.goto(f"{url}/retrieval?model=ckpt-loevpp&clip=2")
    settle(page)
    page.get_by_role("radio", name="same key", exact=True).click()
    settle(page)
    no_problem(page)
    assert page.get_by_text("Searching").first.inner_text().find("V.pitch_shift") >= 0
    assert page.locator("audio").count() == 11  # the query + 10 neighbours
    audio_is_playable(page, page.request)
    page.mouse.click(5, 5)  # a user gesture, so the page may start playback
    paused = page.evaluate("""async () => {
      const a = [...document.querySelectorAll('audio')];
      a[1].muted = a[2].muted = true;
      await a[1].play(); await a[2].play();
      await new Promise(r => setTimeout(r, 300));
      return [a[1].paused, a[2].paused];
    }""")
    assert paused == [True, False], paused  # starting the second paused the first
    page.screenshot(path=str(ARTIFACTS / "dashboard-retrieval-preset.png"))


def test_equivariance_clip_count_and_the_rise_table(browser_page) -> None:
    url, page = browser_page
    page.goto(f"{url}/equivariance?eq_clips=48")
    settle(page)
    no_problem(page)
    assert page.get_by_text("up to 48 corpus clips").count() == 1  # the URL's count reached the curves
    page.get_by_text("Does the distance rise steadily").click()
    settle(page)
    expander = page.locator("[data-testid=stExpander]").filter(has_text="Does the distance rise steadily")
    assert expander.locator("[data-testid=stDataFrame]").is_visible()
    page.screenshot(path=str(ARTIFACTS / "dashboard-equivariance-rise.png"))


def test_a_fake_audio_upload_is_refused_with_a_message(browser_page, tmp_path: Path) -> None:
    url, page = browser_page
    page.goto(f"{url}/retrieval?source=Upload+a+file")
    settle(page)
    fake = tmp_path / "song.wav"
    fake.write_text("not audio, only text\n" * 50)
    page.locator("[data-testid=stFileUploaderDropzoneInput]").set_input_files(str(fake))
    settle(page)
    errors = page.locator("[data-testid=stAlertContentError]").all_inner_texts()
    assert any("not a real WAV file" in e for e in errors), errors
    assert page.locator("[data-testid=stException]").count() == 0


async def _open(browser, url: str, clip: int):
    context = await browser.new_context(viewport={"width": 1280, "height": 1200})  # one user each
    page = await context.new_page()
    t0 = time.perf_counter()
    await page.goto(f"{url}/retrieval?model=ckpt-loevpp&clip={clip}&mode=same+key")
    await page.locator("audio").nth(10).wait_for(state="attached", timeout=120_000)
    loaded = time.perf_counter() - t0
    await page.locator("[data-testid=stStatusWidget]").wait_for(state="detached", timeout=60_000)
    await asyncio.sleep(1.0)  # the user looks at the page before acting
    return page, loaded


async def _switch_preset(page) -> float:
    """One user action on a loaded page: search another subspace; time until the new results are shown."""
    t0 = time.perf_counter()
    await page.get_by_role("radio", name="same tempo", exact=True).click()
    caption = page.locator("[data-testid=stCaptionContainer]", has_text="Searching")
    await caption.get_by_text("V.time_stretch", exact=True).wait_for(timeout=60_000)
    await page.locator("[data-testid=stStatusWidget]").wait_for(state="detached", timeout=60_000)
    await page.locator("audio").nth(10).wait_for(state="attached", timeout=60_000)
    elapsed = time.perf_counter() - t0
    assert await page.locator("[data-testid=stException]").count() == 0
    return elapsed


@pytest.mark.slow
def test_five_concurrent_sessions_retrieve_on_20k_items(dash_env: DashEnv) -> None:
    """5 sessions doing retrieval on 20,000 items: every page loads and answers in under 3 s.

    One visit first warms the server (what `loev dashboard`'s start-up warm-up does before users come).
    Then five users arrive one after another, each in their own browser context, and stay connected:
    every page load is timed while the earlier sessions are open. Then all five switch preset at the
    same moment (five searches at once on the server). Loads are not fired all in the same instant:
    Streamlit's front end costs about 1 s of renderer CPU per fresh page, and five browsers sharing
    this machine's 2 cores with the server would measure the browsers, which real users run on
    their own machines."""
    from playwright.async_api import async_playwright

    folder = big_index(dash_env.root / "index-20k", dash_env.checkpoints["loevpp"], dash_env.corpus, 20_000)
    env = {**dash_env.env, "LOEV_DASHBOARD_CHECKPOINTS": str(dash_env.checkpoints["loevpp"]),
           "LOEV_DASHBOARD_CORPUS": str(folder), "LOEV_DASHBOARD_ROOTS": str(dash_env.corpus)}

    async def main(url: str) -> tuple[float, list[float], list[float]]:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            warm_page, first = await _open(browser, url, 5)
            await warm_page.context.close()
            opened = [await _open(browser, url, c) for c in range(5)]
            acts = await asyncio.gather(*[_switch_preset(pg) for pg, _ in opened])
            await browser.close()
            return first, [t for _, t in opened], list(acts)

    # OtherLoad ends last, once the server and the browser have stopped (their CPU counted as this test's);
    # the browser runs in its own thread: the sync API may hold an event loop in this one
    with OtherLoad() as other, running_app(env) as url, ThreadPoolExecutor(1) as pool:
        first, loads, acts = pool.submit(asyncio.run, main(url)).result()
    busy = other.cores is not None and other.cores >= IDLE_OTHER_CORES
    # Strict on an otherwise idle machine (CI): 3 s. While other processes take cores from the server and the
    # browser, the times measure them too, and the limit relaxes to a guard against a hang or a serialised
    # server. LOEV_CONCURRENT_LIMIT_S sets the limit either way.
    limit = float(os.environ.get("LOEV_CONCURRENT_LIMIT_S") or (BUSY_LIMIT_S if busy else TARGET_S))
    load = "unknown" if other.cores is None else f"{other.cores:.2f} cores"
    print(f"20,000 items: warm-up visit {first:.2f} s; page loads {', '.join(f'{t:.2f}' for t in loads)} s; "
          f"5 simultaneous retrievals {', '.join(f'{t:.2f}' for t in acts)} s; other processes used {load} "
          f"meanwhile, so the limit is {limit:g} s")
    assert max(loads) < limit, loads
    assert max(acts) < limit, acts
