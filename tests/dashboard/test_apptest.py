"""Every dashboard page under Streamlit's AppTest: no exception, the expected widgets, URL state,
and problems (bad checkpoint, refused paths, bad uploads) shown as messages, never tracebacks."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from loev_core.bench.concurrent import big_index
from tests.dashboard.support import APP, app_environment
from tests.support import DashEnv

PAGES = {
    "models": ("views/models.py", {"multiselect": ["Models in this session"],
                                   "text_input": ["Add a checkpoint by path"]}),
    "explorer": ("views/explorer.py", {"selectbox": ["Model", "Subspace", "Colour by"]}),
    "equivariance": ("views/equivariance.py", {"multiselect": ["Models", "Subspaces"], "selectbox": ["Clip"],
                                               "select_slider": ["Clips averaged"]}),
    "retrieval": ("views/retrieval.py", {"selectbox": ["Model", "Query clip", "Subspace"]}),
    "compare": ("views/compare.py", {"selectbox": ["Model A", "Subspace A", "Model B", "Subspace B"]}),
}
CHARTS = {"models": 0, "explorer": 1, "equivariance": 1, "retrieval": 0, "compare": 3}


def open_page(page: str, timeout: float = 180, **params: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=timeout)
    at.query_params.update({"method": "PCA", **params})
    at.run()
    if page != "models":
        at.switch_page(PAGES[page][0])
        at.run()
    return at


def problems(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def chart_specs(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def values(field: object) -> np.ndarray:
    """A Plotly array, plain or binary-encoded ({"dtype", "bdata"})."""
    if isinstance(field, dict) and "bdata" in field:
        return np.frombuffer(base64.b64decode(field["bdata"]), dtype=np.dtype(field["dtype"]))
    return np.asarray(field)


@pytest.mark.parametrize("page", list(PAGES))
def test_page_renders_with_expected_widgets(dash_env: DashEnv, page: str) -> None:
    with app_environment(dash_env.env):
        at = open_page(page)
        assert not at.exception, at.exception
        assert not problems(at), problems(at)
        for kind, labels in PAGES[page][1].items():
            present = [w.label for w in getattr(at, kind)]
            for label in labels:
                assert label in present, f"{page}: no {kind} {label!r} in {present}"
        assert len(at.get("plotly_chart")) >= CHARTS[page]
        assert at.title[0].value and len(at.markdown) >= 1  # the plain-language introduction


def test_changing_the_subspace_changes_the_plot(dash_env: DashEnv) -> None:
    with app_environment(dash_env.env):
        at = open_page("explorer", model="ckpt-loevpp", left="V", color="(none)")
        before = chart_specs(at)[0]["data"][0]
        sub = at.selectbox(key="w.left")
        assert sub.value == "V"
        sub.set_value("Z.invariant").run()
        assert not at.exception
        after = chart_specs(at)[0]["data"][0]
        assert not np.array_equal(values(after["x"]), values(before["x"]))
        assert at.query_params["left"] in ("Z.invariant", ["Z.invariant"])


def test_the_maps_keep_their_own_subspace_not_the_search_one(dash_env: DashEnv) -> None:
    """The Retrieval page's subspace (often a branch, V.time_stretch) must replace neither the left map of the
    pair nor the single map: a key-coloured map of a tempo subspace looks like a model that forgot key."""
    with app_environment(dash_env.env):
        at = open_page("explorer", model="ckpt-loevpp", subspace="Z.time_stretch")
        assert not at.exception, at.exception
        assert at.selectbox(key="w.left").value == "V.invariant"  # the teaching pair, not the search subspace
        at.button_group(key="w.view").set_value("Single map").run()
        assert not at.exception
        assert at.selectbox(key="w.single").value == "V.invariant"
        at.selectbox(key="w.single").set_value("V.pitch_shift").run()
        assert at.query_params["subspace"] in ("Z.time_stretch", ["Z.time_stretch"])  # Retrieval's, untouched


def test_curve_clip_count_comes_from_the_url_and_reaches_the_curves(dash_env: DashEnv) -> None:
    folder = dash_env.root / "cache" / "curves"
    before = set(folder.glob("curves-*.json"))
    with app_environment(dash_env.env):
        at = open_page("equivariance", eq_clips="48")
        assert not at.exception, at.exception
        assert at.select_slider(key="w.eq_clips").value == 48
        assert any("up to 48 corpus clips" in c.value for c in at.caption)
        assert any("rise steadily" in e.label for e in at.expander)
        rises = [str(v) for df in at.dataframe for v in df.value.to_numpy().ravel() if "[" in str(v)]
        assert rises and all(v.count(",") == 1 and v.endswith("]") for v in rises)  # "0.97 [0.93, 0.99]"
        assert len(at.dataframe) == 3  # for scale, rise, and (pitch shift) +-1 over +-4 per subspace and model
        near_far = at.dataframe[2].value
        cells = [v for v in near_far.to_numpy().ravel() if v != "–"]  # "–": a model without that subspace
        assert cells and all(v.endswith("]") for v in cells)  # "0.31 [0.26, 0.37]"
        every = [str(v) for df in at.dataframe for v in df.value.to_numpy().ravel()]
        assert "–" in every and not [v for v in every if v in ("None", "nan")]  # SimCLR has no branches
        scale = [v for v in at.dataframe[0].value.to_numpy().ravel() if v != "–"]
        assert scale and all(len(v.split(".")[1]) == 3 for v in scale)  # one number format: 0.918, not 0.8184
        assert any("±1 semitone over the distance at ±4" in c.value for c in at.caption)
        at.segmented_control(key="w.transform").set_value("gain").run()
        assert not at.exception and len(at.dataframe) == 2  # the +-1 / +-4 table is for pitch shift only
    new = set(folder.glob("curves-*.json")) - before  # the clip count is part of the stored curves' key
    assert new and all(json.loads(f.read_text())["n_clips"] >= 1 for f in new)


def test_selection_comes_from_the_url(dash_env: DashEnv) -> None:
    with app_environment(dash_env.env):
        at = open_page("retrieval", model="ckpt-loevpp", subspace="Z.time_stretch", clip="3", k="5")
        assert not at.exception
        assert at.selectbox(key="w.subspace").value == "Z.time_stretch"
        assert at.selectbox(key="w.clip").value == 3
        assert [m.value for m in at.metric if m.label.startswith("P@")]
        assert at.metric[0].label == "P@5 for key"
        why = next(h.proto.body for h in at.html if "loev-heat" in h.proto.body)  # HTML: no chart library loaded
        heads = re.findall(r"<thead><tr><th></th>(.*?)</tr></thead>", why)[0].replace("<wbr>", "")
        assert {"V.pitch_shift", "V.time_stretch", "Z.invariant"} <= set(re.findall(r"<th>(.*?)</th>", heads))
        rows = re.findall(r"<tr><th>(\d+)\. [^<]*</th>(.*?)</tr>", why)
        assert [r[0] for r in rows] == ["1", "2", "3", "4", "5"]  # one row per neighbour, its distance per subspace
        cells = [float(v) for _, r in rows for v in re.findall(r">(-?[\d.]+)</td>", r)]
        assert len(cells) == 5 * len(re.findall(r"<th>", heads)) and all(-1e-5 < v < 2 for v in cells)
        assert not [c for c in chart_specs(at)]  # the page stays chart-free (fast for several users at once)


@pytest.mark.parametrize("typed, message", [
    ("/etc", "outside the allowed folders"),
    ("../../../../../../etc/passwd", "outside the allowed folders"),
    ("{corpus}/manifest.csv", "not a safetensors checkpoint"),
])
def test_bad_checkpoint_paths_are_messages(dash_env: DashEnv, typed: str, message: str) -> None:
    with app_environment(dash_env.env):
        at = open_page("models")
        box = next(t for t in at.text_input if t.label == "Add a checkpoint by path")
        box.input(typed.format(corpus=dash_env.corpus))
        at.button[0].click().run()
        assert not at.exception
        assert any(message in p for p in problems(at)), problems(at)


def test_a_model_removed_from_the_session_can_be_added_back_by_path(dash_env: DashEnv) -> None:
    with app_environment(dash_env.env):
        at = open_page("models")
        at.multiselect(key="w.models").set_value(["ckpt-simclr"]).run()
        assert at.multiselect(key="w.models").value == ["ckpt-simclr"]
        for expected in ("is back in this session", "is already in this session"):  # added back, then a no-op
            next(t for t in at.text_input if t.label == "Add a checkpoint by path").input(
                str(dash_env.checkpoints["loevpp"]))
            next(b for b in at.button if b.label == "Add").click().run()
            assert not at.exception
            assert at.multiselect(key="w.models").value == ["ckpt-simclr", "ckpt-loevpp"]
            assert any(expected in m.value for m in at.success), [m.value for m in at.success]


def test_corpus_outside_roots_or_escaping_manifest_is_refused(dash_env: DashEnv, tmp_path) -> None:
    bad = dash_env.root / "escaping"
    bad.mkdir(exist_ok=True)
    (bad / "manifest.csv").write_text("path,key\n../../../etc/hostname,C major\n")
    with app_environment(dash_env.env):
        for typed, message in ((str(tmp_path), "outside the allowed folders"),
                               (str(bad), "hostname' is outside the allowed folders")):  # an entry that escapes
            at = open_page("models")
            box = next(t for t in at.text_input if t.label.startswith("Audio folder"))
            box.input(typed)
            at.button[1].click().run()
            assert not at.exception
            assert any(message in p for p in problems(at)), problems(at)


def test_missing_checkpoint_is_a_message(dash_env: DashEnv) -> None:
    env = {**dash_env.env, "LOEV_DASHBOARD_CHECKPOINTS": str(dash_env.root / "no-such-model")}
    with app_environment(env):
        for page in ("explorer", "retrieval", "compare", "equivariance"):
            at = open_page(page)
            assert not at.exception, (page, at.exception)
            assert any("checkpoint not found" in p for p in problems(at)), (page, problems(at))


def test_bad_uploads_are_messages(dash_env: DashEnv) -> None:
    with app_environment(dash_env.env):
        at = open_page("retrieval", source="Upload a file")
        up = at.get("file_uploader")[0]
        up.upload("song.wav", b"this is not audio at all, just text" * 10, "audio/wav").run()
        assert not at.exception
        assert any("not a real WAV file" in p for p in problems(at)), problems(at)
        with open(next(dash_env.corpus.glob("audio/*.ogg")), "rb") as f:
            ogg = f.read()
        at.get("file_uploader")[0].upload("renamed.mp3", ogg, "audio/mpeg").run()
        assert any("contains Ogg audio" in p for p in problems(at)), problems(at)
        big = b"RIFF" + (51 * 2**20).to_bytes(4, "little") + b"WAVE" + bytes(51 * 2**20)
        at.get("file_uploader")[0].upload("huge.wav", big, "audio/wav").run()
        assert any("over the 50 MB upload limit" in p for p in problems(at)), problems(at)
        at.get("file_uploader")[0].upload("good.ogg", ogg, "audio/ogg").run()
        assert not at.exception and not problems(at)
        assert [m for m in at.metric if m.label == "Corpus searched"]


@pytest.mark.slow
def test_pages_stay_usable_on_a_100k_index(dash_env: DashEnv) -> None:
    folder = big_index(dash_env.root / "index-100k", dash_env.checkpoints["simclr"], dash_env.corpus, 100_000)
    env = {**dash_env.env, "LOEV_DASHBOARD_CHECKPOINTS": str(dash_env.checkpoints["simclr"]),
           "LOEV_DASHBOARD_CORPUS": str(folder), "LOEV_DASHBOARD_ROOTS": str(dash_env.corpus)}
    with app_environment(env):
        at = open_page("explorer", timeout=300)
        assert not at.exception and not problems(at), problems(at)
        assert any("20,000 of 100,000" in c.value for c in at.caption)
        assert sum(len(values(t["x"])) for t in chart_specs(at)[0]["data"]) == 20_000
        at = open_page("retrieval")
        assert not at.exception and not problems(at)
        assert any(m.value == "100,000 clips" for m in at.metric)
    assert os.path.isdir(folder)


def test_corpus_without_labels_still_works(dash_env: DashEnv) -> None:
    plain = dash_env.root / "unlabelled"
    plain.mkdir(exist_ok=True)
    for f in sorted(dash_env.corpus.glob("audio/*.ogg"))[:8]:
        (plain / f.name).write_bytes(f.read_bytes())
    with app_environment({**dash_env.env, "LOEV_DASHBOARD_CORPUS": str(plain)}):
        at = open_page("models")
        assert any("no labels" in w.value for w in at.warning)
        for page in ("explorer", "retrieval", "compare"):
            at = open_page(page)
            assert not at.exception and not problems(at), (page, at.exception, problems(at))
        assert any(m.value == "n/a" for m in at.metric) or page == "compare"


def test_a_checkpoint_can_be_uploaded(dash_env: DashEnv) -> None:
    data = (dash_env.checkpoints["loevpp"] / "model.safetensors").read_bytes()
    with app_environment(dash_env.env):
        at = open_page("models")
        at.get("file_uploader")[0].upload("mine.safetensors", data).run()
        assert not at.exception and not problems(at)
        assert any("upload-mine" in s.value for s in at.success)
        assert "upload-mine" in at.multiselect(key="w.models").value
        at.get("file_uploader")[0].upload("evil.safetensors", b"\x80\x04\x95" + b"\0" * 99).run()
        assert any("pickle" in p for p in problems(at)), problems(at)


def test_missing_bundled_models_are_explained(dash_env: DashEnv, monkeypatch, tmp_path) -> None:
    import loev_core.explore.session as session

    monkeypatch.setattr(session, "BUNDLED_CHECKPOINTS", tmp_path / "nothing-here")
    env = {**dash_env.env, "LOEV_DASHBOARD_CHECKPOINTS": ""}
    with app_environment(env):
        at = open_page("models")
        assert not at.exception and any("bundled demo models are missing" in w.value for w in at.warning)
        for page in ("explorer", "equivariance", "retrieval", "compare"):
            at = open_page(page)
            assert not at.exception, (page, at.exception)
            assert any("No model available" in w.value for w in at.warning), page


def test_a_results_folder_shows_as_a_table_and_a_chart(dash_env: DashEnv) -> None:
    """A reference-protocol run (`loev eval --protocol reference`, as for `--dataset`) typed in as a folder."""
    from loev_core.cli import main

    out = dash_env.root / "eval-reference"
    assert main(["eval", "--checkpoint", str(dash_env.checkpoints["simclr"]), "--corpus", str(dash_env.corpus),
                 "--protocol", "reference", "--seeds", "1", "--chunks", "2", "--out", str(out), "--quiet",
                 "--threads", "1"]) == 0
    with app_environment(dash_env.env):
        at = open_page("models")
        charts = len(at.get("plotly_chart"))
        next(t for t in at.text_input if t.label == "Results folder").input(str(out))
        next(b for b in at.button if b.label == "Show").click().run()
        assert not at.exception and not problems(at), problems(at)
        table = at.dataframe[-1].value
        assert list(table.index) == ["ckpt-simclr / V", "ckpt-simclr / Z.invariant"]
        assert {"key accuracy", "key weighted", "tempo acc1", "instrument accuracy", "key P@1"} <= set(table.columns)
        assert len(at.get("plotly_chart")) == charts + 1 and chart_specs(at)[-1]["data"][0]["type"] == "bar"
        assert any("train /" in c.value and "missing" in c.value for c in at.caption)
        # an evaluation on recordings (the bundled real-music run): its same-recording and degraded-copy tables,
        # with the intervals drawn as error bars
        real = dash_env.root / "eval-real"
        shutil.copytree(Path(__file__).resolve().parents[2] / "assets" / "eval" / "real", real)
        next(t for t in at.text_input if t.label == "Results folder").input(str(real))
        next(b for b in at.button if b.label == "Show").click().run()
        assert not at.exception and not problems(at), problems(at)
        assert any("recordings: 24 tracks cut into 192 clips" in c.value for c in at.caption)
        tables = {md.value.split(";")[0].strip("*"): i for i, md in enumerate(at.markdown) if "recordings" in md.value}
        assert {"demo-simclr: recordings", "demo-loev: recordings", "demo-loevpp: recordings"} <= set(tables)
        bars = [spec for spec in chart_specs(at) if any("error_y" in d for d in spec["data"])]
        assert len(bars) >= 3 and {d["name"] for d in bars[0]["data"]} == {"same-track P@1", "degraded top-1"}
        assert any(md.value.startswith("**demo-loev: recordings most often mixed up**") for md in at.markdown)
        mixed = [df.value for df in at.dataframe if "find first a clip of" in getattr(df.value, "columns", [])]
        assert len(mixed) == 3 and list(mixed[0].columns) == ["subspace", "clips of", "find first a clip of", "clips"]
        next(t for t in at.text_input if t.label == "Results folder").input("/etc")
        next(b for b in at.button if b.label == "Show").click().run()
        assert any("outside the allowed folders" in p for p in problems(at)), problems(at)


def test_compare_opens_two_subspaces_on_two_different_ones(dash_env: DashEnv) -> None:
    """"Two subspaces" of LOEV++ opens on the pair that shows its effect, not A = B (identical maps); "Two models"
    with one model says a second one is needed; two models' curves get a colour each."""
    with app_environment(dash_env.env):
        at = open_page("compare", cmp="Two subspaces", model="ckpt-loevpp")
        assert (at.selectbox(key="w.sub_1").value, at.selectbox(key="w.sub_2").value) == \
            ("V.invariant", "V.pitch_shift")
        assert any("not the highlighted clip alone" in c.value for c in at.caption)
        at = open_page("compare", cmp="Two models", model="ckpt-loevpp", model_b="ckpt-loevpp")
        assert any("the same model" in i.value for i in at.info)
        at = open_page("compare", cmp="Two models", model="ckpt-loevpp", model_b="ckpt-simclr")
        curves = [c for c in chart_specs(at) if c["layout"].get("yaxis", {}).get("title", {}).get("text", "")
                  .startswith("cosine distance")]
        lines = {tr["name"]: tr["line"]["color"] for tr in curves[0]["data"] if tr.get("mode") == "lines+markers"}
        assert len(lines) == 2 and len(set(lines.values())) == 2, lines


def test_compare_plays_a_chosen_neighbour_of_each_list(dash_env: DashEnv) -> None:
    """Each neighbour list has a player: picking its third neighbour plays that clip's file."""
    with app_environment(dash_env.env):
        at = open_page("compare", cmp="Two models", model="ckpt-loevpp", model_b="ckpt-simclr")
        assert not at.exception, at.exception
        for side in ("a", "b"):
            box = at.selectbox(key=f"cmp_listen_{side}")
            assert len(box.options) == 10 and box.options[0].startswith("1. ")
        played = [a.proto.url for a in at.get("audio")]
        assert len(played) == 3  # the highlighted clip and one neighbour of each list
        box = at.selectbox(key="cmp_listen_b")
        third = next(r for r in range(100_000) if box.format_func(r) == box.options[2])  # options show "3. name"
        box.set_value(third).run()  # (select_index would pass the shown text as the value)
        assert not at.exception
        assert at.selectbox(key="cmp_listen_b").value == third
        now = [a.proto.url for a in at.get("audio")]
        assert now[:2] == played[:2] and now[2] != played[2]
