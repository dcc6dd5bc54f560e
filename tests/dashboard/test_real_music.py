"""The dashboard on real music, under AppTest with tiny models: the Models page's corpus picker (generated demo
set, real-music demo set, a typed path), same-track P@k on the Retrieval page for a corpus with a `track`
column, source and licence under every player, and the whole track played from a clip's start."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from loev_core.corpus.clips import CutOptions
from loev_core.explore import memory
from loev_core.explore.long_tracks import clip_folder
from loev_core.explore.retrieval import query_from_row, search
from loev_core.explore.session import ENV_CACHE, ENV_CHECKPOINTS, ENV_CORPUS, ENV_REAL_DEMO, ENV_ROOTS
from tests.corpus.test_clips import tune
from tests.dashboard.support import APP, app_environment
from tests.support import make_corpus, tiny_checkpoint

CREDIT = "by Composer · licence CC-BY-SA-3.0 · from pkg"


@pytest.fixture(scope="module")
def real_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A generated-style corpus (the default) and a "real demo" of 12 clips cut from 3 credited tracks."""
    root = tmp_path_factory.mktemp("real")
    default = make_corpus(root / "generated", n=8)
    demo = make_corpus(root / "real-demo", n=12, seed=5)
    with (demo / "manifest.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    rows = [{"path": r["path"], "track": f"pkg/track{i // 4}", "start": f"{5.0 * (i % 4):.3f}", "duration": "3.500",
             "source": "pkg", "author": "Composer", "licence": "CC-BY-SA-3.0", "split": "test",
             "copyright": "licences/pkg.txt"} for i, r in enumerate(rows)]
    with (demo / "manifest.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    ckpts = [tiny_checkpoint(root / f"ckpt-{kind}", kind) for kind in ("simclr", "loevpp")]  # the tour needs both
    return {ENV_CHECKPOINTS: os.pathsep.join(map(str, ckpts)), ENV_CORPUS: str(default), ENV_CACHE: str(root / "cache"),
            ENV_ROOTS: str(root), ENV_REAL_DEMO: str(demo)}


def open_page(page: str | None, **params: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=180)
    at.query_params.update({"method": "PCA", **params})
    at.run()
    if page:
        at.switch_page(f"views/{page}.py")
        at.run()
    assert not at.exception, at.exception
    assert not [e.value for e in at.error], [e.value for e in at.error]
    return at


def metric(at: AppTest, prefix: str) -> str:
    return next(m.value for m in at.metric if m.label.startswith(prefix))


def test_corpus_picker_switches_to_the_real_demo_set(real_env: dict[str, str]) -> None:
    with app_environment(real_env):
        at = open_page(None)
        pick = at.radio(key="w.corpus_pick")
        assert {"Generated demo set (labelled)", "Real-music demo set", "Another folder or manifest"} <= set(
            pick.options)
        assert pick.value.startswith("Started with") and metric(at, "Clips") == "8"
        pick.set_value("Real-music demo set").run()
        assert not at.exception and metric(at, "Clips") == "12"
        assert at.query_params["corpus"] in (real_env[ENV_REAL_DEMO], [real_env[ENV_REAL_DEMO]])
        assert any("never trained on" in c.value for c in at.caption)
        at.switch_page("views/retrieval.py")
        at.run()
        assert not at.exception and metric(at, "Corpus searched") == "12 clips"
        assert metric(at, "Same-track P@")  # the picked corpus reached the other pages


def test_same_track_precision_and_credits_on_the_retrieval_page(real_env: dict[str, str]) -> None:
    env = {**real_env, ENV_CORPUS: real_env[ENV_REAL_DEMO]}
    with app_environment(env):
        at = open_page("retrieval", model="ckpt-loevpp", subspace="V", clip="5", k="5")
        data = next(d for k, d in memory.MEMORY.corpora.items.items()
                    if k[2] == env[ENV_CORPUS] and k[0].endswith("ckpt-loevpp"))
        hits = search(data, query_from_row(data, 5), ["V"], 5, exclude=5)["row"].to_numpy()
        tracks = data.meta["track"].to_numpy()
        assert 5 not in hits and len(hits) == 5
        assert metric(at, "Same-track P@5") == f"{np.mean(tracks[hits] == tracks[5]):.2f}"
        assert sum(c.value == CREDIT for c in at.caption) == 6  # the query's player and each neighbour's
        at.slider(key="q-pitch").set_value(2).run()  # a transformed query: its own clip is still left out
        assert not at.exception and metric(at, "Same-track P@5")


def test_a_corpus_without_tracks_shows_no_same_track_score(real_env: dict[str, str]) -> None:
    with app_environment(real_env):
        at = open_page("retrieval")
        assert not [m for m in at.metric if m.label.startswith("Same-track")]


@pytest.mark.parametrize("page, params", [("explorer", {"clip": "2"}), ("equivariance", {"clip": "2"}),
                                          ("compare", {"clip": "2", "cmp": "Two subspaces"}),
                                          ("tour", {"step": "throw-away"}), ("tour", {"step": "retrieval"})])
def test_every_page_credits_the_recording_under_its_player(real_env: dict[str, str], page: str,
                                                           params: dict[str, str]) -> None:
    """Equivariance on real music included: curves and the transformed copies of a credited clip."""
    env = {**real_env, ENV_CORPUS: real_env[ENV_REAL_DEMO]}
    with app_environment(env):
        at = open_page(page, **params)
        assert CREDIT in [c.value for c in at.caption], [c.value for c in at.caption]
        if page == "equivariance":
            assert len(at.get("plotly_chart")) >= 1


def test_a_clip_cut_from_a_long_track_plays_the_track_from_its_start(real_env: dict[str, str]) -> None:
    root = Path(real_env[ENV_CACHE]).parent
    tune(root / "music" / "song.ogg", 70.0)
    found = clip_folder(root / "music", root / "cache", CutOptions(clip_seconds=4.0, hop_seconds=30.0))
    env = {**real_env, ENV_CORPUS: str(found.corpus)}
    with app_environment(env):
        at = open_page("retrieval", clip="1")
        assert any("song.ogg" in m.value for m in at.markdown)  # the track's name next to the clip
        button = at.button(key="whole.q.1")
        assert button.label == "Whole track from 0:43"
        players = len(at.get("audio"))
        button.click().run()
        assert not at.exception and len(at.get("audio")) == players + 1
        assert int(at.get("audio")[1].proto.start_time) == 43  # right under the query's own player
