"""The dashboard on real music, under AppTest with tiny models: the Models page's corpus picker (generated demo
set, real-music demo set, a typed path, a typed folder of full tracks cut into clips), same-track P@k on the
Retrieval page for a corpus with a `track` column (and no label P@k counting tracks or a clip's start), source
and licence under every player, and the whole track played from a clip's start."""

from __future__ import annotations

import argparse
import csv
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from loev_core.corpus.clips import CutOptions
from loev_core.explore import long_tracks, memory
from loev_core.explore.long_tracks import ENV_CUT, clip_folder, cut_options, options_to_env
from loev_core.explore.retrieval import query_from_row, search, track_repeats
from loev_core.explore.session import ENV_CACHE, ENV_CHECKPOINTS, ENV_CORPUS, ENV_REAL_DEMO, ENV_ROOTS
from loev_dashboard.widgets import colour_labels, score_labels
from tests.corpus.test_clips import tune
from tests.dashboard.support import APP, app_environment
from tests.support import make_corpus, tiny_checkpoint

CREDIT = "by Composer · licence CC-BY-SA-3.0 · from pkg"


def track_corpus(folder: Path, n: int = 12, seed: int = 5) -> Path:
    """A small stand-in for the real-music demo set: generated clips, 4 per "track", with the real set's columns
    (track, start, source, author, licence, ...)."""
    demo = make_corpus(folder, n=n, seed=seed)
    with (demo / "manifest.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    rows = [{"path": r["path"], "track": f"pkg/track{i // 4}", "start": f"{5.0 * (i % 4):.3f}", "duration": "3.500",
             "source": "pkg", "author": "Composer", "licence": "CC-BY-SA-3.0", "split": "test",
             "copyright": "licences/pkg.txt"} for i, r in enumerate(rows)]
    with (demo / "manifest.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return demo


@pytest.fixture(scope="module")
def real_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A generated-style corpus (the default) and a "real demo" of 12 clips cut from 3 credited tracks."""
    root = tmp_path_factory.mktemp("real")
    default = make_corpus(root / "generated", n=8)
    demo = track_corpus(root / "real-demo")
    shutil.copyfile(demo / "audio" / "clip005.ogg", demo / "audio" / "clip006.ogg")  # track1 loops: 6 repeats 5
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


def sidebar_corpus(at: AppTest) -> str:
    """The corpus the sidebar names (`Corpus: `name``)."""
    text = next(c.value for c in at.sidebar.caption if "Corpus:" in c.value)
    return text.split("Corpus:")[1].strip().strip("`")


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
        assert sidebar_corpus(at) == Path(real_env[ENV_REAL_DEMO]).name  # in the same run, not one page later
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
        roots = [Path(env[ENV_ROOTS])]
        assert track_repeats(data, 5, roots) == [6] and track_repeats(data, 4, roots) == []
        hits = search(data, query_from_row(data, 5), ["V"], 5, exclude=[5, 6])["row"].to_numpy()
        tracks = data.meta["track"].to_numpy()
        assert 5 not in hits and 6 not in hits and len(hits) == 5  # its repeat is skipped, as `loev eval` does
        box = next(m for m in at.metric if m.label.startswith("Same-track P@5"))
        assert box.value == f"{np.mean(tracks[hits] == tracks[5]):.2f}" and "1 clip(s) of it repeat" in box.help
        assert sum(c.value == CREDIT for c in at.caption) == 6  # the query's player and each neighbour's
        # no label P@k: the package, author and split are credits and bookkeeping, and the track is scored above
        assert "w.pk_label" not in [s.key for s in at.selectbox]
        assert not [m for m in at.metric if m.label.startswith("P@")]
        start = float(data.meta.iloc[5]["start"])  # where in its recording the query was cut
        assert any(f"· at 0:{int(start):02d}" in m.value for m in at.markdown if data.meta.iloc[5]["name"] in m.value)
        at.slider(key="q-pitch").set_value(2).run()  # a transformed query: its own clip is still left out
        assert not at.exception and metric(at, "Same-track P@5")


def test_a_corpus_without_tracks_shows_no_same_track_score(real_env: dict[str, str]) -> None:
    with app_environment(real_env):
        at = open_page("retrieval")
        assert not [m for m in at.metric if m.label.startswith("Same-track")]
        assert metric(at, "P@7 for key")  # 8 clips: the query's 7 others
        assert at.selectbox(key="w.pk_label").options == ["key", "tempo", "instrument", "piece", "drums"]


def test_label_choices_leave_out_tracks_and_per_clip_columns() -> None:
    """The generated demo set keeps every choice it had; a real corpus colours by source or track, never by a
    clip's start or licence, and scores labels other than its track."""
    with (Path(__file__).resolve().parents[2] / "assets" / "demo" / "manifest.csv").open() as f:
        demo = [c for c in next(csv.reader(f)) if c not in ("path", "duration")]
    data = SimpleNamespace(label_columns=demo)
    assert colour_labels(data) == demo  # how a clip was made and used may colour a map, not score a neighbour
    assert score_labels(data) == [c for c in demo if c not in ("split", "source")] and "source" in demo
    real = SimpleNamespace(label_columns=["track", "start", "source", "author", "licence", "split", "track_split",
                                          "copyright"])
    assert colour_labels(real) == ["track", "source", "author", "split"]
    assert score_labels(real) == []


def test_explorer_colours_a_real_corpus_by_source(real_env: dict[str, str]) -> None:
    with app_environment({**real_env, ENV_CORPUS: real_env[ENV_REAL_DEMO]}):
        at = open_page("explorer")
        colour = at.selectbox(key="w.color")
        assert colour.value == "source" and colour.options == ["(none)", "track", "source", "author", "split"]
        assert any("Colour by **track** to see what each one keeps" in m.value for m in at.markdown)
        by_track = open_page("explorer", color="track")
        line = next(m.value for m in by_track.markdown if m.value.startswith("**What to see:**"))
        assert "on the right come from its own recording; chance 33%" in line, line  # 3 tracks of 4 clips
        assert "trajectory" not in line


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
        if page == "compare":  # no key or instrument to score by: the neighbours' recording is the score
            assert sum("same-track P@10" in m.value for m in at.markdown) == 2


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
        assert not [m for m in at.metric if m.label.startswith("P@")]  # no label left to score: no label P@k box
        assert not [b for b in at.selectbox if b.key == "w.pk_label"] and metric(at, "Same-track P@")


def test_a_folder_of_full_tracks_typed_on_the_models_page_is_cut_like_corpus_dir(
        real_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Same function, same options as `loev dashboard --corpus DIR` (passed on by the server), a progress bar
    meanwhile, and the clips (in the cache) pass the allowed-folders check."""
    from loev_core.cli.dashboard import add_arguments, cut_long_tracks

    root = Path(real_env[ENV_CACHE]).parent
    music = root / "typed-music"
    for i, seconds in enumerate((65.0, 42.0)):
        tune(music / f"track{i}.ogg", seconds, 220.0 + 40 * i)
    cuts: list[tuple[int, int]] = []
    original = long_tracks.clip_folder

    def watched(*args: Any, on_track: Callable[[int, int], None], **kwargs: Any) -> Any:
        def step(done: int, total: int) -> None:
            cuts.append((done, total))
            on_track(done, total)

        return original(*args, on_track=step, **kwargs)

    monkeypatch.setattr(long_tracks, "clip_folder", watched)
    with app_environment({**real_env, ENV_CUT: options_to_env(cut_options(4.0, 20.0, 20))}):
        at = open_page(None)
        at.radio(key="w.corpus_pick").set_value("Another folder or manifest").run()
        next(t for t in at.text_input if t.label.startswith("Audio folder")).input(str(music))
        next(b for b in at.button if b.label == "Use").click().run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        assert sidebar_corpus(at) == "typed-music"  # the folder typed, not its clips' hashed cache folder
        assert cuts == [(1, 2), (2, 2)]  # the page's progress bar followed the cutting
        assert any("5 clips of 2 track(s) in typed-music" in s.value for s in at.success)
        assert metric(at, "Clips") == "5"  # 65 s: clips at 10, 30, 50 s; 42 s: at 10, 30 s
        at.run()  # the next visit: the box shows the folder typed, not the clip cache the pages read
        assert next(t for t in at.text_input if t.label.startswith("Audio folder")).value == str(music)
        corpus = Path(at.query_params["corpus"][0] if isinstance(at.query_params["corpus"], list)
                      else at.query_params["corpus"])
        at.switch_page("views/retrieval.py")
        at.run()
        assert not at.exception and metric(at, "Corpus searched") == "5 clips" and metric(at, "Same-track P@")
        at.switch_page("views/explorer.py")
        at.run()  # a folder of tracks has no key, instrument or source: its maps open coloured by track
        assert not at.exception and at.selectbox(key="w.color").value == "track"
        reloaded = open_page(None, corpus=str(corpus))  # a browser reload: a new session, the corpus in the URL
        assert next(t for t in reloaded.text_input if t.label.startswith("Audio folder")).value == str(music)
    monkeypatch.undo()
    p = argparse.ArgumentParser()
    add_arguments(p)
    args = p.parse_args(["--corpus", str(music), "--cache-dir", real_env[ENV_CACHE], "--clip-seconds", "4",
                         "--hop-seconds", "20"])
    cut_long_tracks(args)
    assert Path(args.corpus) == corpus  # the folder `loev dashboard --corpus` would have used


def test_source_folder_names_the_folder_a_clip_cache_was_cut_from(tmp_path: Path) -> None:
    """Only clip folders in the cache are traced back; the real-music demo set (also cut) is not."""
    from loev_core.explore.long_tracks import CLIPS_JSON, corpus_name, source_folder

    music = tmp_path / "music"
    cache = tmp_path / "cache" / "clips" / "music-abc"
    for folder in (cache, tmp_path / "demo"):
        folder.mkdir(parents=True)
        (folder / CLIPS_JSON).write_text("{}")
        row = f"audio/a-00.ogg,album/a.ogg,{music}/album/a.ogg"
        (folder / "manifest.csv").write_text(f"path,track,source_file\n{row}\n")
    assert source_folder(cache, tmp_path / "cache") == music
    assert source_folder(tmp_path / "demo", tmp_path / "cache") is None
    assert corpus_name(cache, tmp_path / "cache") == "music" and corpus_name(tmp_path / "demo", cache) == "demo"
    (cache / "manifest.csv").write_text("path,track\naudio/a-00.ogg,a.ogg\n")
    assert source_folder(cache, tmp_path / "cache") is None


def test_models_page_offers_each_evaluation_of_a_checkpoint(real_env: dict[str, str]) -> None:
    """A checkpoint evaluated on the generated set and on recordings: the Models page picks between them by
    corpus, and the recordings' one shows same-recording and degraded-copy scores with their intervals."""
    import json

    from loev_core.checkpoint import checkpoint_id

    root = Path(real_env[ENV_CACHE]).parent
    ckpt = root / "ckpt-loevpp"
    model = {"checkpoint_id": checkpoint_id(ckpt), "probes": {"V": {"linear": {"key": {"accuracy": 0.5}}}},
             "retrieval": {}}
    scores = {"same_track_p1": 0.7, "same_track_p1_ci": [0.6, 0.8], "degraded_top1": 0.95,
              "degraded_top1_ci": [0.9, 0.99], "stretch": [0.1, 0.1], "confused": [["pkg/a", "pkg/b", 3]]}
    written = []
    for name, extra in (("eval-demo", {"corpus": "generated"}),
                        ("eval-real", {"corpus": "recordings", "recordings": {"models": {"m": {"V": scores}}}})):
        (root / name).mkdir(exist_ok=True)
        written.append(root / name / "results.json")
        written[-1].write_text(json.dumps({**extra, "models": {"m": model}}))
    try:
        with app_environment(real_env):
            at = open_page(None)
            pick = next(r for r in at.radio if r.label == "Evaluated on")
            assert sorted(pick.options) == ["generated (eval-demo)", "recordings (eval-real)"]
            pick.set_value("recordings (eval-real)").run()
            assert not at.exception
            assert "recordings" in [t.label for t in at.tabs]
            shown = [df.value for df in at.dataframe if "degraded low" in df.value.columns]
            assert shown and shown[0].loc["V", "degraded low"] == 0.9
            assert "mixed up" in [t.label for t in at.tabs]  # the recordings this model confuses, by name
            mixed = next(df.value for df in at.dataframe if "find first a clip of" in df.value.columns)
            assert mixed.iloc[0].tolist() == ["V", "pkg/a", "pkg/b", 3]
            pick = next(r for r in at.radio if r.label == "Evaluated on")
            pick.set_value("generated (eval-demo)").run()
            assert "recordings" not in [t.label for t in at.tabs] and "mixed up" not in [t.label for t in at.tabs]
    finally:
        for f in written:
            f.unlink()
