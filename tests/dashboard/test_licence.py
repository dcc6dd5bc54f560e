"""Author and licence from the corpus manifest are shown next to the audio player (real recordings must be
credited); a corpus without those columns shows no credit line."""

from __future__ import annotations

import csv
import os

import pytest
from streamlit.testing.v1 import AppTest

from loev_core.explore.session import ENV_CACHE, ENV_CHECKPOINTS, ENV_CORPUS, ENV_ROOTS
from tests.dashboard.support import APP, app_environment
from tests.support import DashEnv, make_corpus, tiny_checkpoint


@pytest.fixture(scope="module")
def credited_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A tiny corpus whose manifest credits every clip (real-corpus columns), and one tiny model."""
    root = tmp_path_factory.mktemp("credited")
    corpus = make_corpus(root / "corpus", n=8)
    with (corpus / "manifest.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    for i, r in enumerate(rows):
        r.update(track=f"pkg/track{i}", source="pkg", author=f"Composer {i}", licence="CC-BY-SA-3.0",
                 copyright="licences/pkg.txt")
    with (corpus / "manifest.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    ckpt = tiny_checkpoint(root / "ckpt-loevpp", "loevpp")
    return {ENV_CHECKPOINTS: str(ckpt), ENV_CORPUS: str(corpus), ENV_CACHE: str(root / "cache"), ENV_ROOTS: str(root)}


def captions(at: AppTest) -> list[str]:
    return [c.value for c in at.caption]


def open_retrieval(env: dict[str, str]) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=180)
    at.query_params.update({"method": "PCA", "clip": "3"})
    at.run()
    at.switch_page("views/retrieval.py")
    at.run()
    assert not at.exception, at.exception
    return at


def test_player_shows_author_and_licence(credited_env: dict[str, str]) -> None:
    with app_environment(credited_env):
        at = open_retrieval(credited_env)
        assert "by Composer 3 · licence CC-BY-SA-3.0 · from pkg" in captions(at), captions(at)
        title = next(m.value for m in at.markdown if "clip003" in m.value)
        assert "author" not in title and "licence" not in title  # credits go under the player, not in the title


def test_no_credit_line_without_the_columns(dash_env: DashEnv) -> None:
    with app_environment(dash_env.env):
        at = open_retrieval(dash_env.env)
        assert not [c for c in captions(at) if c.startswith("by ") or "licence" in c]
        assert os.environ.get(ENV_CORPUS) == str(dash_env.corpus)


def test_a_source_alone_is_not_a_credit() -> None:
    """The generated set's `source` says how a clip was made ("procedural", "chorale"): no "from procedural"
    line under its players; with an author or a licence the source completes the credit."""
    from types import SimpleNamespace

    import pandas as pd

    from loev_dashboard.widgets import clip_credit

    meta = pd.DataFrame([{"source": "procedural"}, {"source": "pkg", "licence": "GPL-2+"},
                         {"source": "pkg", "author": "A. Composer"}])
    data = SimpleNamespace(meta=meta)
    assert [clip_credit(data, i) for i in range(3)] == ["", "licence GPL-2+ · from pkg", "by A. Composer · from pkg"]
