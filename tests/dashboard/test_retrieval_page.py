"""The Retrieval page in AppTest: presets over several subspaces, the P@k label, a recorded query, a transposed
one (the page, not the browser: test_browser.py plays the results in Chromium)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import soundfile as sf

from tests.dashboard.support import app_environment
from tests.dashboard.test_apptest import open_page, problems
from tests.support import DashEnv


def test_presets_search_several_subspaces(dash_env: DashEnv) -> None:
    with app_environment(dash_env.env):
        at = open_page("retrieval", model="ckpt-loevpp", mode="same everything")
        assert not at.exception and not problems(at)
        assert any("V.invariant" in c.value and "V.time_stretch" in c.value for c in at.caption)


def test_the_p_at_k_label_follows_the_preset_unless_the_url_names_one(dash_env: DashEnv) -> None:
    """"same tempo" is scored by tempo (a key P@k of 0 there reads as a failure); switching the preset
    in the session moves the label too; a label in the URL wins on load."""
    with app_environment(dash_env.env):
        at = open_page("retrieval", model="ckpt-loevpp", mode="same tempo")
        assert not at.exception and at.selectbox(key="w.pk_label").value == "tempo"
        assert any(m.label == "P@10 for tempo" for m in at.metric)
        at.button_group(key="w.mode").set_value("same key").run()  # a click: fires the widget's on_change
        assert not at.exception and at.selectbox(key="w.pk_label").value == "key"
        at = open_page("retrieval", model="ckpt-loevpp", mode="same tempo", pk_label="instrument")
        assert not at.exception and at.selectbox(key="w.pk_label").value == "instrument"


def test_a_microphone_recording_is_a_query(dash_env: DashEnv) -> None:
    t = np.arange(32000) / 16000
    buf = io.BytesIO()
    sf.write(buf, (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), 16000, format="WAV")
    with app_environment(dash_env.env):
        at = open_page("retrieval", source="Record", model="ckpt-loevpp")
        assert at.audio_input, "no microphone widget"
        assert any("Choose a query" in i.value for i in at.info)
        at.audio_input[0].set_value(("rec.wav", buf.getvalue(), "audio/wav")).run()
        assert not at.exception and not problems(at), problems(at)
        assert any(m.label == "P@10" and m.value == "n/a" for m in at.metric)  # a recording has no label
        assert any("2.0 s, embedded as one window of 3 s (looped to fill it)" in c.value for c in at.caption)
        at.slider(key="q-pitch").set_value(3).run()  # transposed query: heard and searched
        assert not at.exception and any("+3 semitones" in c.value for c in at.caption)
        long = io.BytesIO()  # 7 s: not cut to one clip, its windows averaged, as `loev embed` does with a file
        sf.write(long, np.tile((0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), 4)[:7 * 16000], 16000,
                 format="WAV")
        at.audio_input[0].set_value(("long.wav", long.getvalue(), "audio/wav")).run()
        assert any("7.0 s, embedded as the mean of its 3 windows of 3 s" in c.value for c in at.caption)


def test_a_transposed_query_names_its_new_key(dash_env: DashEnv) -> None:
    """"same key" then counts the key the query is now in; the page must say which one it is."""
    from loev_core.audio import read_manifest
    from loev_core.evaluation.transforms import moved_labels

    key = next(c.labels["key"] for c in read_manifest(dash_env.corpus / "manifest.csv")
               if Path(c.path).name == "clip003.ogg")
    with app_environment(dash_env.env):
        at = open_page("retrieval", model="ckpt-loevpp", clip="3")
        assert any(f"key: {key}" in m.value for m in at.markdown)  # the clip as it is in the corpus
        at.slider(key="q-pitch").set_value(4).run()
        moved = moved_labels("pitch_shift", {"key": key}, 4)["key"]
        assert moved != key and any(f"+4 semitones, ×1 speed): now key {moved}" in c.value for c in at.caption)


def test_the_query_transform_lives_in_the_url_and_the_own_clip_is_marked(dash_env: DashEnv) -> None:
    """A bookmark keeps the transposition and tempo; a transformed query that finds its own (untransformed) clip
    says so on that row, since same-track and label P@k leave it out."""
    with app_environment(dash_env.env):
        at = open_page("retrieval", model="ckpt-loevpp", clip="3", pitch="3", rate="1.1", k="50")
        assert (at.slider(key="q-pitch").value, at.slider(key="q-rate").value) == (3, 1.1)
        assert any("+3 semitones, ×1.1 speed" in c.value for c in at.caption)
        html = " ".join(h.proto.body for h in at.get("html"))  # the neighbour table (all 24 clips at k = 50)
        assert "clip003.ogg (the query&#x27;s own clip, untransformed)" in html or \
            "clip003.ogg (the query's own clip, untransformed)" in html
        at.slider(key="q-pitch").set_value(-2).run()
        assert at.query_params["pitch"] in ("-2", ["-2"]) and at.query_params["rate"] in ("1.1", ["1.1"])
        at.slider(key="q-pitch").set_value(0).run()
        assert "pitch" not in at.query_params  # the untransformed query needs no parameter
        at = open_page("retrieval", model="ckpt-loevpp", clip="3", pitch="40")  # a hand-edited URL: clamped
        assert at.slider(key="q-pitch").value == 6
