"""`loev eval` says when a model is scored on music it trained on (from its checkpoint's records), refuses an
--out it cannot write before evaluating, and does not judge same-recording retrieval on a handful of tracks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from loev_core import save_model
from loev_core.audio import resolve_corpus
from loev_core.cli import main
from loev_core.evaluation.seen import recorded_corpora, seen_by
from loev_core.evaluation.summary import MIN_ASKED_TRACKS, recording_targets
from loev_core.train.provenance import content_hash
from tests.evaluation.test_evaluation import make_tone_corpus, tiny_model


def record(source: Path, split: str, clips: list) -> dict:
    return {"source": str(source), "split": split, "clips": len(clips), "sha256": content_hash(clips)}


def test_a_recorded_corpus_is_seen_file_by_file_or_by_content(tmp_path: Path) -> None:
    corpus = make_tone_corpus(tmp_path / "corpus")  # manifest.csv with a train|test split column
    train = resolve_corpus(corpus, "train")
    on_train = {"data": {"corpora": [record(corpus / "manifest.csv", "train", train)]}}
    assert seen_by(on_train, corpus, ("test",)) is None  # held out: its test rows were never trained on
    assert f"{len(train)} of the 12 files scored here" in seen_by(on_train, corpus, ("*",))  # every row scored
    every = {"history": [{"data": {"corpora": [record(corpus, "*", resolve_corpus(corpus))]}}]}  # an earlier stage
    assert recorded_corpora(every)[0]["split"] == "*" and "every row" in seen_by(every, corpus, ("test",))

    lines = (corpus / "manifest.csv").read_text().splitlines()
    (corpus / "other.csv").write_text("\n".join([lines[0], *[r for r in lines[1:] if ",test," in r]]) + "\n")
    assert seen_by(on_train, corpus / "other.csv", ("*",)) is None  # another manifest of the folder: no file shared
    (corpus / "some.csv").write_text("\n".join([lines[0], *[r for r in lines[1:] if ",train," in r][:3]]) + "\n")
    assert "3 of the 3 files" in seen_by(on_train, corpus / "some.csv", ("*",))  # a subset of the training files

    moved = tmp_path / "moved"  # the recorded folder is gone, its files copied elsewhere: found by their content
    shutil.copytree(corpus, moved)
    (moved / "other.csv").unlink()
    (moved / "some.csv").unlink()
    gone = {"data": {"corpora": [{**record(corpus, "*", resolve_corpus(corpus)), "source": str(tmp_path / "gone")}]}}
    assert f"same {len(resolve_corpus(corpus))} files" in seen_by(gone, moved, ("test",))
    (moved / "c0.wav").write_bytes(b"changed")
    assert seen_by(gone, moved, ("test",)) is None
    assert seen_by({}, corpus, ("*",)) is None and seen_by({"data": {"clips": 3}}, corpus, ("*",)) is None


def test_eval_names_a_model_scored_on_its_own_training_files(tmp_path: Path) -> None:
    corpus = make_tone_corpus(tmp_path / "tones")
    folder = tmp_path / "mine"  # a plain folder (no split column), as `loev train` records it
    folder.mkdir()
    for p in sorted(corpus.glob("c*.wav"))[:8]:
        shutil.copy(p, folder / p.name)
    data = {"corpora": [record(folder, "", resolve_corpus(folder))]}
    trained = str(save_model(tiny_model("loev"), tmp_path / "trained", data=data))
    other = str(save_model(tiny_model("simclr"), tmp_path / "other"))
    out = tmp_path / "eval"
    assert main(["eval", "--checkpoint", trained, "--checkpoint", other, "--corpus", str(folder), "--out", str(out),
                 "--curve-clips", "2", "--shift-clips", "4", "--pitch-shifts=-4,0,4", "--stretch-rates=0.8,1",
                 "--gains=-6,0", "--quiet"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert list(res["seen"]) == ["trained"] and "every row" in res["seen"]["trained"]
    md = (out / "results.md").read_text()
    assert "**trained is not held out here: it trained on" in md and "no model trained on" not in md


def test_an_out_or_readme_that_cannot_be_written_is_refused_before_evaluating(tmp_path: Path, capsys) -> None:
    corpus = make_tone_corpus(tmp_path / "tones")
    ckpt = str(save_model(tiny_model("simclr"), tmp_path / "m"))
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me")
    assert main(["eval", "--checkpoint", ckpt, "--corpus", str(corpus), "--out", str(precious), "--quiet"]) == 2
    assert "is an existing file, not a folder" in capsys.readouterr().err and precious.read_text() == "keep me"
    assert main(["eval", "--checkpoint", ckpt, "--corpus", str(corpus), "--out", str(precious / "sub")]) == 2
    assert "is a file, not a folder, so" in capsys.readouterr().err
    out = tmp_path / "eval"
    for readme, told in ((tmp_path / "nothing.md", "no such file"), (corpus, "a folder, not a file"),
                         (precious, "has neither")):
        assert main(["eval", "--checkpoint", ckpt, "--corpus", str(corpus), "--out", str(out),
                     "--readme", str(readme)]) == 2
        assert told in capsys.readouterr().err and not (out / "results.json").exists()  # refused before evaluating


def recordings(asked_tracks: int, p1: float) -> dict:
    scores = {"Z.invariant": {"same_track_p1": p1, "degraded_top1": 1.0}}
    return {"models": {"m": {"kind": "loev"}},
            "recordings": {"n_tracks": 124, "n_clips": 150, "min_clips_per_track": 1, "window_seconds": 3.0,
                           "n_asked_clips": 2 * asked_tracks, "n_asked_tracks": asked_tracks,
                           "degradation": {"gain_db": -6, "lowpass_hz": 3000, "snr_db": 20}, "stretch_rates": [],
                           "n_stretch_clips": 0, "models": {"m": scores}}}


@pytest.mark.parametrize("asked_tracks, judged", [(MIN_ASKED_TRACKS - 1, False), (MIN_ASKED_TRACKS, True)])
def test_same_recording_says_which_clips_were_asked(asked_tracks: int, judged: bool) -> None:
    row = next(r for r in recording_targets(recordings(asked_tracks, 0.02)) if "in Z.invariant >= 0.6" in r["target"])
    assert f"asked: the {2 * asked_tracks} clips of the {asked_tracks} tracks with another clip" in row["detail"]
    assert (row["passed"] is None) != judged and np.isclose(row["measured"], 0.02)
