"""`loev eval` on corpora that are not the demo set: no split column, no labels, long recordings."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from loev_core import save_model
from loev_core.audio import Clip, load_excerpt, read_manifest
from loev_core.cli import main
from loev_core.evaluation.splits import assign_splits
from tests.evaluation.test_evaluation import SR, make_tone_corpus, tiny_model


def clips(n: int, **labels: object) -> list[Clip]:
    return [Clip(f"/music/{i:02d}.wav", {k: (v(i) if callable(v) else v) for k, v in labels.items()})
            for i in range(n)]


def test_a_manifest_split_is_kept_as_it_is() -> None:
    given = clips(4, split=lambda i: "test" if i == 3 else "train")
    out, note = assign_splits(given)
    assert out is given and note == "split from the manifest"


def test_grouped_split_keeps_pieces_together_and_ignores_order() -> None:
    given = clips(50, piece=lambda i: f"piece{i // 5}", key="C major")  # 10 pieces of 5 clips
    out, note = assign_splits(given, test_fraction=0.2, seed=0)
    sides: dict[str, set[str]] = {}
    for c in out:
        sides.setdefault(c.labels["piece"], set()).add(c.labels["split"])
    assert all(len(s) == 1 for s in sides.values())  # no piece straddles the split
    assert sum(s == {"test"} for s in sides.values()) == 2  # round(0.2 * 10) pieces held out
    assert "2 of 10 piece groups" in note and all("split" not in c.labels for c in given)  # input untouched
    shuffled = given[:]
    random.Random(1).shuffle(shuffled)
    again = {c.path: c.labels["split"] for c in assign_splits(shuffled, 0.2, 0)[0]}
    assert again == {c.path: c.labels["split"] for c in out}  # depends on names, not on order
    other_seed = {c.path: c.labels["split"] for c in assign_splits(given, 0.2, 5)[0]}
    assert other_seed != again


def test_clips_of_one_track_stay_on_one_side() -> None:
    """A manifest of clips cut from recordings (the dashboard's clip cache, the real-music demo set) without a
    split column: a recording never lends clips to both the probe's train and test sides."""
    out, note = assign_splits(clips(40, track=lambda i: f"song{i // 8}"), test_fraction=0.2, seed=0)
    sides: dict[str, set[str]] = {}
    for c in out:
        sides.setdefault(c.labels["track"], set()).add(c.labels["split"])
    assert all(len(s) == 1 for s in sides.values()) and "1 of 5 track groups" in note
    assert "piece groups" in assign_splits(clips(40, track=lambda i: f"song{i // 8}", piece=lambda i: f"w{i // 20}"))[1]


def test_grouped_split_falls_back_to_files_and_refuses_what_cannot_split() -> None:
    out, note = assign_splits(clips(3), test_fraction=0.1)
    assert [c.labels["split"] for c in out].count("test") == 1  # at least one group is held out
    assert "file groups" in note
    out, _ = assign_splits(clips(2), test_fraction=0.9)
    assert sorted(c.labels["split"] for c in out) == ["test", "train"]  # at most all but one
    with pytest.raises(ValueError, match="at least 2"):
        assign_splits(clips(1))
    with pytest.raises(ValueError, match="at least 2"):
        assign_splits(clips(4, piece="same"))
    with pytest.raises(ValueError, match="between 0 and 1"):
        assign_splits(clips(4), test_fraction=1.0)


def test_load_excerpt_takes_the_middle_of_long_files(tmp_path: Path) -> None:
    t = np.arange(3 * SR) / SR
    thirds = [np.sin(2 * np.pi * f * t) for f in (220.0, 440.0, 880.0)]  # 9 s: 220 Hz, 440 Hz, 880 Hz
    sf.write(tmp_path / "long.wav", (0.3 * np.concatenate(thirds)).astype(np.float32), SR)
    mid = load_excerpt(tmp_path / "long.wav", SR, max_seconds=2.0).numpy()
    assert mid.shape == (2 * SR,)
    spectrum = np.abs(np.fft.rfft(mid))
    assert np.fft.rfftfreq(mid.size, 1 / SR)[spectrum.argmax()] == pytest.approx(440.0, abs=1.0)
    assert load_excerpt(tmp_path / "long.wav", SR, max_seconds=20.0).shape == (9 * SR,)  # shorter: whole
    assert load_excerpt(tmp_path / "long.wav", SR).shape == (9 * SR,)


def test_eval_on_a_plain_folder_of_recordings(tmp_path: Path) -> None:
    """No manifest, no labels, files of different lengths (one long): the label-free parts run. A silent and a
    corrupt file are left out, and the report names them with the reason."""
    folder = tmp_path / "my-music"
    make_tone_corpus(tmp_path / "tones")
    folder.mkdir()
    for i, p in enumerate(sorted((tmp_path / "tones").glob("c*.wav"))[:8]):
        y, _ = sf.read(p, dtype="float32")
        sf.write(folder / f"track{i}.flac", np.tile(y, 8 if i == 0 else 1 + i % 2), SR)  # track0: 12 s
    sf.write(folder / "silence.wav", np.zeros(3 * SR, dtype="float32"), SR)
    (folder / "broken.mp3").write_bytes(b"ID3" + bytes(4000))
    ckpts = [str(save_model(tiny_model(k), tmp_path / f"tiny-{k}")) for k in ("simclr", "loev")]
    out = tmp_path / "eval"
    argv = ["eval", "--checkpoint", ckpts[0], "--checkpoint", ckpts[1], "--corpus", str(folder), "--out", str(out),
            "--excerpt-seconds", "4", "--curve-clips", "2", "--shift-clips", "4", "--pitch-shifts=-4,0,4",
            "--stretch-rates=0.8,1", "--gains=-6,0", "--quiet"]
    assert main(argv) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["n_train"] + res["n_test"] == 8 and sum(res["n_listed"].values()) == 10
    assert sorted(s.split(": ", 1)[1].split(" ")[0] for s in res["skipped"]) == ["silent", "unreadable"]
    assert sorted(Path(s.split(": ", 1)[0]).name for s in res["skipped"]) == ["broken.mp3", "silence.wav"]
    assert "file groups" in res["split"] and res["labelled"] == {"key": False, "tempo": False, "instrument": False}
    assert res["options"]["excerpt_seconds"] == 4.0 and res["n_query_clips"] == 0
    loev = res["models"]["tiny-loev"]
    assert all(set(kinds["linear"]) == {"pitch_shift"} for kinds in loev["probes"].values())
    assert loev["curves"]["pitch_shift"]["Z.pitch_shift"]["values"] == [-4.0, 0.0, 4.0]
    assert loev["retrieval"]["V"] == {"clean": {}}
    targets = {r["target"].split(" ")[0] for r in res["summary"]}
    assert targets == {"Z.pitch_shift", "Z.invariant"}  # curve checks only: no label, no probe target
    md = (out / "results.md").read_text()
    assert "no labels" in md and "| model | subspace | shift acc | shift MAE (st) |" in md  # no empty columns
    assert "2 left out, listed below" in md and "Left out (2): " in md and "silence.wav: silent" in md
    assert "key P@1" not in md and "(none: the corpus has no key, tempo or instrument labels" in md


def test_eval_on_a_labelled_manifest_without_split(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    corpus = make_tone_corpus(tmp_path / "corpus")
    with (corpus / "manifest.csv").open() as f:
        rows = list(csv.DictReader(f))
    for i, r in enumerate(rows):  # key labels only, no split; pieces of 2 clips each
        r.update(piece=f"p{i // 2}", tempo="", instrument="")
        del r["split"]
    with (corpus / "keys.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    ckpt = str(save_model(tiny_model("loevpp"), tmp_path / "tiny-loevpp"))
    out = tmp_path / "eval"
    assert main(["eval", "--checkpoint", ckpt, "--corpus", str(corpus / "keys.csv"), "--out", str(out),
                 "--test-fraction", "0.34", "--curve-clips", "2", "--shift-clips", "4", "--pitch-shifts=-4,0,4",
                 "--stretch-rates=1,1.2", "--gains=0,6", "--probes", "linear", "--quiet"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert "2 of 6 piece groups" in res["split"] and (res["n_train"], res["n_test"]) == (8, 4)
    assert res["labelled"] == {"key": True, "tempo": False, "instrument": False}
    assert set(res["models"]["tiny-loevpp"]["probes"]["V"]["linear"]) == {"key", "pitch_shift"}
    assert set(res["models"]["tiny-loevpp"]["retrieval"]["V"]["pitch_shift"]) == {"key"}
    md = (out / "results.md").read_text()
    assert "| key acc | key wscore | shift acc |" in md and "tempo P@1" not in md and "| key P@1 |" in md
    assert len(read_manifest(corpus / "keys.csv")) == 12  # the user's manifest is left as it was
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no audio here")
    assert main(["eval", "--checkpoint", ckpt, "--corpus", str(tmp_path / "empty"), "--out", str(out)]) == 1
    assert "no audio files" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse refuses a negative excerpt length
        main(["eval", "--checkpoint", ckpt, "--corpus", str(corpus / "keys.csv"), "--out", str(out),
              "--excerpt-seconds=-1"])


def test_big_splits_are_sampled_with_a_seed(tmp_path: Path) -> None:
    from loev_core.evaluation.inputs import sample_clips

    many = clips(50)
    picked = sample_clips(many, 10, seed=0)
    assert len(picked) == 10 and picked == sample_clips(many, 10, seed=0)  # reproducible
    assert [c.path for c in picked] == sorted(c.path for c in picked)  # corpus order kept
    assert picked != sample_clips(many, 10, seed=1) and sample_clips(many, None, 0) is many
    corpus = make_tone_corpus(tmp_path / "corpus")  # 8 train / 4 test clips
    ckpt = str(save_model(tiny_model("simclr"), tmp_path / "tiny-simclr"))
    out = tmp_path / "eval"
    assert main(["eval", "--checkpoint", ckpt, "--corpus", str(corpus), "--out", str(out), "--max-clips", "3",
                 "--curve-clips", "2", "--shift-clips", "2", "--pitch-shifts=-4,0,4", "--stretch-rates=1,1.2",
                 "--gains=0,6", "--probes", "linear", "--quiet"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert (res["n_train"], res["n_test"], res["n_listed"]) == (3, 3, {"train": 8, "test": 4})
    assert "3 train / 3 test clips (of 8 / 4 listed" in (out / "results.md").read_text()
