"""End to end in real headless Chromium: every page, a click on the map, a retrieval, playable audio,
one player at a time, a refused upload; screenshots go to test-artifacts/. Plus 5 concurrent sessions."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import unquote, urljoin

import pytest

from loev_core.bench.concurrent import measure_concurrent
from loev_core.bench.first_visit import ARGS, CHROMIUM
from tests.dashboard.support import no_problem, running_app, settle
from tests.support import DashEnv

HANG_GUARD_S = 30.0  # five concurrent sessions: a page or search slower than this hangs (the 3 s target is a bench)
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


def test_moving_between_pages_keeps_each_pages_selection(browser_page) -> None:
    """Compare shares the projection and transform selections with the Explorer and Equivariance pages; in a new
    session, moving from one to the other by the sidebar must keep them (it once crashed on a None)."""
    url, page = browser_page
    for start, target, kept in (("compare", "equivariance", "transform=pitch_shift"),
                                ("compare", "explorer", "method=UMAP"), ("explorer", "compare", "method=UMAP"),
                                ("equivariance", "compare", "transform=pitch_shift")):
        page.goto(f"{url}/{start}")  # a new session
        settle(page)
        page.locator("[data-testid=stSidebarNav]").get_by_role("link", name=PAGES[target]).click()
        settle(page)
        assert page.locator("h1").first.inner_text().strip() == PAGES[target]
        no_problem(page)
        assert kept in page.url, f"{start} -> {target}: {page.url}"


def test_every_pages_url_bookmarks_the_chosen_corpus(browser_page, dash_env: DashEnv) -> None:
    """The corpus is chosen on the Models page; the other pages' URLs must still name it, so a bookmark (a new
    session) opens on the same music, and the sidebar names it."""
    url, page = browser_page
    picked = dash_env.root / "picked-corpus"
    if not picked.exists():
        shutil.copytree(dash_env.corpus, picked)
    page.goto(f"{url}/?corpus={picked}")
    settle(page)
    page.locator("[data-testid=stSidebarNav]").get_by_role("link", name="Retrieval").click()
    settle(page)
    assert "corpus=" in page.url and "picked-corpus" in unquote(page.url), page.url
    page.goto(page.url)  # the bookmark, in a new session
    settle(page)
    no_problem(page)
    assert "Corpus: picked-corpus" in page.locator("[data-testid=stSidebarUserContent]").inner_text()


def test_click_a_point_plays_it_and_lists_neighbours(browser_page) -> None:
    url, page = browser_page
    page.goto(f"{url}/explorer?method=PCA&model=ckpt-loevpp&left=Z.pitch_shift&color=key")
    settle(page)
    assert page.locator("audio").count() == 0
    page.wait_for_selector(".js-plotly-plot .nsewdrag", timeout=60_000)
    x, y = page.evaluate(FIRST_POINT)
    page.mouse.click(x, y)
    settle(page)
    no_problem(page)
    assert "clip=" in page.url  # the selection is in the URL
    assert page.locator("audio").count() == 6  # the clicked clip + 5 neighbours
    widths = [a.bounding_box()["width"] for a in page.locator("audio").all()]
    assert min(widths) >= 280, widths  # under two maps, three to a row: Chromium keeps each seek bar
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
    tables = expander.locator("[data-testid=stDataFrame]")
    assert tables.count() == 2 and tables.first.is_visible() and tables.last.is_visible()  # rise, +-1 / +-4
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


@pytest.mark.slow
def test_five_concurrent_sessions_retrieve_on_20k_items(dash_env: DashEnv) -> None:
    """5 sessions doing retrieval on 20,000 items, through `loev bench dashboard --concurrent`'s own code: every
    page load shows its neighbours, all five simultaneous searches show the new subspace's results, no exception.

    Times are printed and guarded only against a hang: the 3 s target is a benchmark (`loev bench dashboard
    --concurrent`, README's benchmark table), because on a shared machine they measure other jobs too."""
    result = measure_concurrent(dash_env.checkpoints["loevpp"], dash_env.corpus, items=20_000, n_sessions=5)
    print({k: result[k] for k in ("warm_up_visit_s", "page_loads_s", "retrievals_s", "other_processes_cores")})
    assert result["items"] == 20_000 and result["model"] == dash_env.checkpoints["loevpp"].name
    assert len(result["page_loads_s"]) == 5 and len(result["retrievals_s"]) == 5
    assert result["slowest_s"] == max(result["page_loads_s"] + result["retrievals_s"]) < HANG_GUARD_S
    assert result["pass"] == (result["slowest_s"] < result["target_s"] == 3.0)


def test_players_keep_their_seek_bar_in_a_narrow_window(browser_page) -> None:
    """A 900 px window (sidebar open) leaves about 440 px for a page: rows of players wrap instead of squeezing
    each one until Chromium drops its seek bar (98 px players on Equivariance had no play button); at 1280 px three
    fit a row, and a player left alone on the last row keeps their width."""
    url, page = browser_page
    page.set_viewport_size({"width": 900, "height": 800})
    try:
        for view in ("equivariance", "retrieval?clip=3&k=5"):
            page.goto(f"{url}/{view}")
            settle(page)
            no_problem(page)
            widths = [a.bounding_box()["width"] for a in page.locator("audio").all()]
            assert len(widths) >= 6 and min(widths) >= 250, (view, widths)  # Chromium shows the seek bar from ~250
        page.set_viewport_size({"width": 1280, "height": 900})  # a projector: three neighbours to a row, no orphan
        page.goto(f"{url}/retrieval?clip=3&k=10")
        settle(page)
        rows: dict[int, list[float]] = {}
        for a in page.locator("audio").all()[1:]:  # the neighbours, after the query's own player
            box = a.bounding_box()
            rows.setdefault(round(box["y"]), []).append(box["width"])
        assert [len(r) for r in rows.values()] == [3, 3, 3, 1], rows
        assert len({round(w) for r in rows.values() for w in r}) == 1, rows  # the last one does not stretch
    finally:
        page.set_viewport_size({"width": 1440, "height": 1600})
