"""The guided tour and the explorer's side-by-side default under AppTest (every step renders on the tiny
models, kinds simclr and loevpp: the LOEV step falls back to LOEV++'s heads, a step without its model says
so; the step lives in the URL; maps are coloured on the circle of fifths), and in headless Chromium."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from loev_core.explore.session import ENV_CHECKPOINTS, ENV_CORPUS
from loev_core.explore.tour import STEPS
from loev_core.keys import KEYS_BY_FIFTHS, key_colour
from tests.dashboard.support import APP, app_environment, no_problem, running_app, settle
from tests.support import DashEnv, keep_columns, make_corpus

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def open_view(view: str, timeout: float = 180, **params: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=timeout)
    at.query_params.update({"method": "PCA", **params})
    at.run()
    at.switch_page(f"views/{view}.py")
    at.run()
    return at


def specs(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def is_map(spec: dict) -> bool:
    return any(t.get("type") == "scattergl" for t in spec["data"])


def is_wheel(spec: dict) -> bool:
    return any(t.get("type") == "barpolar" for t in spec["data"])


def problems(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


@pytest.mark.parametrize("step", STEPS)
def test_every_tour_step_renders(dash_env: DashEnv, step: str) -> None:
    with app_environment(dash_env.env):
        at = open_view("tour", step=step)
        assert not at.exception, at.exception
        assert not problems(at), problems(at)
        assert at.title[0].value == "Tour"
        assert at.subheader[0].value.startswith(f"{STEPS.index(step) + 1} ·")
        assert at.get("plotly_chart"), "every step has a figure"
        assert at.get("audio"), "every step has a sound"
        assert {b.label for b in at.button} >= {"Previous", "Next"}


@pytest.mark.parametrize("step, told", [("throw-away", "each moved +4 semitones into another key"),
                                         ("branches", "move its clips through every key"),
                                         ("retrieval", "each moved +4 semitones, into another key")])
def test_steps_about_keys_work_on_a_corpus_without_key_labels(dash_env: DashEnv, step: str, told: str) -> None:
    """The real-music demo set and a user's folder have no `key` column: the key steps show
    transposed clips instead of key shares (which would read "nan%" and claim the branches are alike), measured
    over the corpus (a map's distances are not the embedding's, and one clip's luck is not the lesson)."""
    corpus = dash_env.root / "no-keys"
    if not (corpus / "manifest.csv").exists():
        keep_columns(make_corpus(corpus, n=12, seed=3))
    with (corpus / "manifest.csv").open(newline="") as f:
        n_test = sum(r["split"] == "test" for r in csv.DictReader(f))  # the clips the curves average over
    with app_environment({**dash_env.env, ENV_CORPUS: str(corpus)}):
        at = open_view("tour", step=step)
        assert not at.exception and not problems(at), (at.exception, problems(at))
        text = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)
        assert told in text and "no key labels" in text and "nan" not in text
        figure = specs(at)[0]
        if step == "branches":  # the distance curve of both branches, and the clip with its shifted copy
            assert [tr["name"] for tr in figure["data"] if tr.get("mode") == "lines+markers"] == \
                ["V.invariant", "V.pitch_shift"]
            assert f"mean over {n_test} clips" in text and len(at.get("audio")) == 2
        elif step == "throw-away":  # how often SimCLR found the original, and the clip with its shifted copy
            bars = {tr["name"]: tr["y"] for tr in figure["data"]}
            assert list(bars) == ["Z.invariant"] and f"search its `Z.invariant` with {n_test} of its clips" in text
            assert f"first for **{round(100 * bars['Z.invariant'][0])}%**" in text and len(at.get("audio")) == 2
        else:  # how often each branch found the original, the clip and its shifted copy, the 3 nearest in each
            bars = {tr["name"]: tr["y"] for tr in figure["data"]}
            assert set(bars) == {"V.invariant", "V.pitch_shift"} and all(0 <= v <= 1 for y in bars.values() for v in y)
            share = int(round(100 * bars["V.invariant"][1]))
            assert f"among its first 5 answers for **{share}%**" in text  # the sentence quotes the figure
            assert f"search with {n_test} of its clips" in text and len(at.get("audio")) == 2 + 2 * 3
            # the lists answer the transposed copy, say so, and say where this clip's original came back
            assert [m.value for m in at.markdown if m.value.startswith("**Nearest")] == \
                ["**Nearest to the +4 copy in `V.pitch_shift`**", "**Nearest to the +4 copy in `V.invariant`**"]
            came = next(c.value for c in at.caption if c.value.startswith("Searched with the query moved +4"))
            assert "in `V.pitch_shift` and " in came and came.endswith("in `V.invariant`.")


def test_the_tour_steps_through_the_url(dash_env: DashEnv) -> None:
    with app_environment(dash_env.env):
        at = open_view("tour")
        assert at.button_group(key="w.step").value == STEPS[0]
        next(b for b in at.button if b.label == "Next").click().run()
        assert not at.exception
        assert at.query_params["step"] in (STEPS[1], [STEPS[1]])
        assert at.subheader[0].value.startswith("2 ·")
        assert any("LOEV is not loaded" in m.value for m in at.markdown)  # the tiny models have no LOEV: LOEV++
        next(b for b in at.button if b.label == "Previous").click().run()
        assert at.query_params["step"] in (STEPS[0], [STEPS[0]])
        at = open_view("tour", step="retrieval")
        assert next(b for b in at.button if b.label == "Next").disabled


@pytest.mark.parametrize("kept, step, needed", [("simclr", "branches", "LOEV++"), ("loevpp", "throw-away", "SimCLR")])
def test_a_step_without_its_model_says_so(dash_env: DashEnv, kept: str, step: str, needed: str) -> None:
    env = {**dash_env.env, ENV_CHECKPOINTS: str(dash_env.checkpoints[kept])}
    with app_environment(env):
        at = open_view("tour", step=step)
        assert not at.exception and not problems(at), (at.exception, problems(at))
        assert any(f"needs a {needed} model" in i.value for i in at.info)


def test_the_explorer_opens_on_two_maps_coloured_on_the_circle_of_fifths(dash_env: DashEnv) -> None:
    with app_environment(dash_env.env):
        at = open_view("explorer", model="ckpt-loevpp")
        assert not at.exception and not problems(at), problems(at)
        assert at.button_group(key="w.view").value == "Side by side"
        assert at.selectbox(key="w.left").value == "V.invariant"
        assert at.selectbox(key="w.beside").value == "V.pitch_shift"
        assert any("What to see" in m.value for m in at.markdown)
        charts = specs(at)
        maps = [c for c in charts if is_map(c)]
        assert len(maps) == 2 and any(is_wheel(c) for c in charts)
        for trace in (t for t in maps[0]["data"] if t.get("name", "").endswith(("major", "minor"))):
            assert trace["marker"]["color"] == key_colour(trace["name"])
        names = [t["name"] for t in maps[0]["data"] if t.get("name") in KEYS_BY_FIFTHS]
        assert names and names == [k for k in KEYS_BY_FIFTHS if k in names]  # in circle-of-fifths order
        assert maps[0]["data"][0]["x"] != maps[1]["data"][0]["x"]

        at.button_group(key="w.view").set_value("Single map").run()
        assert not at.exception
        assert at.query_params["view"] in ("Single map", ["Single map"])
        assert len([c for c in specs(at) if is_map(c)]) == 1
        assert "w.beside" not in [s.key for s in at.selectbox]

        at.selectbox(key="w.color").set_value("tempo").run()  # numbers: a colour scale with a colour bar
        tempo = next(c for c in specs(at) if is_map(c))["data"][0]["marker"]
        assert tempo["showscale"] and tempo["colorbar"]["title"]["text"] == "tempo (BPM)"


def test_simclr_shows_its_two_spaces(dash_env: DashEnv) -> None:
    with app_environment(dash_env.env):
        at = open_view("explorer", model="ckpt-simclr")
        assert not at.exception and not problems(at)
        assert (at.selectbox(key="w.left").value, at.selectbox(key="w.beside").value) == ("V", "Z.invariant")
        assert any("SimCLR" in m.value for m in at.markdown)


# --- headless Chromium -------------------------------------------------------------------------------

def plots_drawn(page) -> int:
    """Plotly figures with at least one drawn trace."""
    return page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot')]
      .filter(gd => (gd._fullData || []).length && gd.querySelector('.main-svg')).length""")


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} not installed (apt-get install chromium)")
def test_tour_and_explorer_in_chromium(dash_env: DashEnv) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")
    ARTIFACTS.mkdir(exist_ok=True)
    with running_app(dash_env.env) as url, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(f"{url}/tour?method=PCA")
            settle(page)
            assert page.locator("h1").first.inner_text().strip() == "Tour"
            for i, step in enumerate(STEPS):
                no_problem(page)
                assert f"step={step}" in page.url
                assert plots_drawn(page) >= 1, step
                assert page.locator("audio").count() >= 1, step
                page.screenshot(path=str(ARTIFACTS / f"tour-{i + 1}-{step}.png"), full_page=True)
                if i < len(STEPS) - 1:
                    page.get_by_role("button", name="Next").click()
                    settle(page)
            page.goto(f"{url}/explorer?method=PCA&model=ckpt-loevpp")
            settle(page)
            no_problem(page)
            assert plots_drawn(page) >= 3  # two maps and the key wheel
            assert page.get_by_text("What to see").count() == 1
            page.screenshot(path=str(ARTIFACTS / "explorer-side-by-side.png"))
        finally:
            browser.close()
