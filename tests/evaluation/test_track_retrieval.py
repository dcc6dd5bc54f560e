"""Same-recording and degraded-copy retrieval (corpora with a `track` column): hand-made cases, the
degradation itself, and `loev eval` end to end on tiny tracks; corpora without the column are untouched."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from loev_core import save_model
from loev_core.audio import Clip
from loev_core.cli import main
from loev_core.evaluation.markdown import README_END, README_START, REAL_END, REAL_START
from loev_core.evaluation.repeats import REPEAT_SHARE
from loev_core.evaluation.report import real_readme_block
from loev_core.evaluation.report_recordings import confusions_table
from loev_core.evaluation.summary import recording_targets
from loev_core.evaluation.track_retrieval import (
    Degradation,
    clip_starts,
    confused_pairs,
    cut_tracks,
    degraded_top1,
    same_track_hits,
    same_track_p1,
    track_interval,
)
from tests.evaluation.test_evaluation import SR, tiny_model


def test_clip_starts_never_overlap() -> None:
    assert clip_starts(100, 10, 4) == [7, 32, 57, 82]  # centred in four equal parts
    assert clip_starts(35, 10, 8) == [0, 12, 24]  # only three fit
    assert clip_starts(15, 10, 4) == [2] and clip_starts(5, 10, 4) == []
    for length in range(10, 200, 7):
        s = clip_starts(length, 10, 6)
        assert s[0] >= 0 and all(b - a >= 10 for a, b in zip(s, s[1:], strict=False)) and s[-1] + 10 <= length


def test_same_track_p1_and_degraded_top1_by_hand() -> None:
    emb = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9], [0.6, 0.4]], dtype=float)
    tracks = np.array(["a", "a", "b", "b", "c"], dtype=object)  # "c" alone: in the database, never asked
    assert same_track_p1(emb, tracks) == 1.0
    assert same_track_p1(emb, np.array(["a", "b", "a", "b", "c"], dtype=object)) == 0.0
    clean = np.eye(3)
    assert degraded_top1(clean, clean + 0.1) == 1.0
    assert degraded_top1(clean, clean[[1, 0, 2]]) == 1 / 3


def test_track_interval_resamples_whole_tracks() -> None:
    """By hand: one track all hits and one all misses, 4 clips each. Resampling two tracks gives 0, 0.5 or 1
    (probabilities 1/4, 1/2, 1/4), so the 2.5-97.5 % interval is [0, 1]; resampling clips would give a narrow
    one around 0.5. Every hit: [1, 1]. The seed fixes it."""
    tracks = np.array(["a"] * 4 + ["b"] * 4, dtype=object)
    hits = np.array([True] * 4 + [False] * 4)
    assert track_interval(hits, tracks) == [0.0, 1.0]
    assert track_interval(np.ones(8, dtype=bool), tracks) == [1.0, 1.0]
    many = np.repeat(np.arange(20).astype(str), 8)
    mixed = np.random.default_rng(1).random(160) < 0.9
    lo, hi = track_interval(mixed, many, seed=3)
    assert lo <= mixed.mean() <= hi and track_interval(mixed, many, seed=3) == [lo, hi]
    assert np.isnan(track_interval(np.zeros(0, dtype=bool), tracks[:0])).all()
    paired = np.array([1.0] * 4 + [0.0] * 4) - np.array([0.0] * 4 + [0.0] * 4)  # better on track a only
    assert track_interval(paired, tracks) == [0.0, 1.0]
    emb = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [0.7, 0.7]])
    got, asked = same_track_hits(emb, np.array(["a", "a", "b", "b", "c"], dtype=object))
    assert got.tolist() == [True] * 4 and asked.tolist() == ["a", "a", "b", "b"]  # "c" alone is not asked


def test_degradation_gain_lowpass_and_snr() -> None:
    t = torch.arange(SR) / SR
    low, high = torch.sin(2 * torch.pi * 440 * t), torch.sin(2 * torch.pi * 6000 * t)
    deg = Degradation()
    clean = (low + high).unsqueeze(0) * 0.3
    out = deg.apply(clean, SR, seed=0)
    assert torch.equal(out, deg.apply(clean, SR, seed=0)) and not torch.equal(out, deg.apply(clean, SR, seed=1))
    spec = torch.fft.rfft(out[0]).abs()
    assert spec[6000] < 0.02 * spec[440]  # 6 kHz is gone, 440 Hz stays
    quiet = Degradation(snr_db=200).apply(low.unsqueeze(0), SR)[0]
    assert torch.allclose(quiet, low * 10 ** (-6 / 20), atol=1e-3)  # -6 dB, 440 Hz passes the low-pass
    noise = deg.apply(low.unsqueeze(0), SR)[0] - quiet
    snr = 10 * torch.log10(quiet.pow(2).mean() / noise.pow(2).mean())
    assert abs(float(snr) - 20.0) < 0.5


def test_cut_tracks_reads_whole_files_pools_rows_of_a_track_and_skips_unnamed_rows(tmp_path: Path) -> None:
    t = np.arange(int(3.5 * SR)) / SR
    for name, seconds in (("a1", 3.5), ("a2", 2.0), ("x", 5.0), ("b", 0.9)):
        sf.write(tmp_path / f"{name}.wav", (0.3 * np.sin(2 * np.pi * 440 * t[:int(seconds * SR)])).astype(np.float32),
                 SR)
    labels = {"a1": {"track": "a"}, "a2": {"track": "a"}, "x": {}, "b": {"track": "b"}}
    clips = [Clip(str(tmp_path / f"{n}.wav"), labels[n]) for n in labels]
    cut = cut_tracks(clips, SR, SR, 4)  # 1 s windows: 3 from a1, 2 from a2, none from the 0.9 s track b
    assert cut is not None and cut.per_track == {"a": 5} and cut.waves.shape == (5, SR)
    assert cut.rows.tolist() == [0, 0, 0, 1, 1]
    assert cut_tracks(clips[2:3], SR, SR, 4) is None  # no track column and no file of 30 s: nothing


def write_tone(path: Path, seconds: float, f0: float = 440.0, glide: bool = True) -> Path:
    """A tone gliding up an octave over the file: no moment of it repeats another. Without `glide` a steady
    tone: one moment repeated all along (every window is a repeat of every other)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * SR)) / SR
    phase = 2 * np.pi * f0 * (seconds / np.log(2) * (2 ** (t / seconds) - 1) if glide else t)
    sf.write(path, (0.3 * np.sin(phase)).astype(np.float32), SR)
    return path


def test_without_a_track_column_each_long_file_is_a_track(tmp_path: Path) -> None:
    """A folder of full-length recordings needs no manifest: files of RECORDING_SECONDS or more are the tracks,
    named by their path below the common folder; short clips and unreadable files are not."""
    files = [write_tone(tmp_path / "music" / "a.wav", 31.0), write_tone(tmp_path / "music" / "live" / "b.wav", 40.0),
             write_tone(tmp_path / "music" / "jingle.wav", 5.0)]
    (tmp_path / "music" / "broken.wav").write_bytes(b"RIFF not really")
    clips = [Clip(str(f)) for f in [*files, tmp_path / "music" / "broken.wav"]]
    cut = cut_tracks(clips, SR, SR, 4)
    assert cut is not None and cut.from_files and cut.per_track == {"a.wav": 4, "live/b.wav": 4}
    assert cut.rows.tolist() == [0] * 4 + [1] * 4
    labelled = [Clip(str(files[0]), {"track": "x"}), Clip(str(files[1]))]  # a track column wins: b is unnamed
    named = cut_tracks(labelled, SR, SR, 4)
    assert named is not None and not named.from_files and named.per_track == {"x": 4}
    # a big collection is sampled by track (seeded, by name): every window is held in memory twice
    one = cut_tracks(clips, SR, SR, 4, max_tracks=1, seed=3)
    assert one is not None and len(one.per_track) == 1 and one.n_listed == 2 and len(one.tracks) == 4
    assert cut_tracks(clips, SR, SR, 4, max_tracks=1, seed=3).per_track == one.per_track


def test_confused_pairs_by_hand_and_in_the_report() -> None:
    """Clips of a that find b first are counted as (a, b); the report lists them for each model's best
    same-recording subspace."""
    angles = np.radians([0, 60, 70, 75, 180, 185])  # a's second clip lies 10 degrees from b's first, 60 from a's
    emb = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    tracks = np.array(["a", "a", "b", "b", "c", "c"], dtype=object)
    assert confused_pairs(emb, tracks) == [["a", "b", 1]]
    assert confused_pairs(emb, np.array(["a"] * 6, dtype=object)) == []  # one track: nothing to confuse
    rec = {"models": {"m": {"V": {"same_track_p1": 0.5, "confused": [["x", "y", 3], ["y", "x", 1]]},
                            "Z.invariant": {"same_track_p1": 0.9, "confused": [["x", "z", 1]]}}}}
    table = confusions_table({"recordings": rec})
    assert table is not None and "| m | Z.invariant | x | z | 1 |" in table and "| y |" not in table  # best only
    assert confusions_table({"recordings": {"models": {"m": {"V": {"same_track_p1": 0.5}}}}}) is None  # older file


def test_one_track_asks_no_same_recording_question() -> None:
    """With a single track every neighbour is a hit; the score is left out (NaN), not reported as 1.0."""
    emb = np.random.default_rng(0).random((6, 3))
    hits, asked = same_track_hits(emb, np.array(["a"] * 6, dtype=object))
    assert len(hits) == 0 and len(asked) == 0 and np.isnan(same_track_p1(emb, np.array(["a"] * 6, dtype=object)))


def make_track_corpus(root: Path) -> Path:
    """8 tracks of 6 s, each a different chord with its own rhythm; 3 train, 4 test, 1 unseen."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    t = np.arange(6 * SR) / SR
    rows = []
    for i in range(8):
        f0 = 110.0 * 2 ** (i * 5 / 12)
        y = sum(np.sin(2 * np.pi * f0 * r * t) for r in (1.0, 1.26, 1.5)) * 0.15
        y *= 0.6 + 0.4 * np.sign(np.sin(2 * np.pi * (1 + i / 3) * t))
        y += 0.01 * rng.standard_normal(t.size)
        sf.write(root / f"t{i}.ogg", y.astype(np.float32), SR, format="OGG", subtype="VORBIS")
        rows.append({"path": f"t{i}.ogg", "track": f"pkg/t{i}", "source": "pkg", "author": "A. Composer",
                     "licence": "CC-BY-4.0", "split": ["train", "test", "test", "train", "test", "train", "test",
                                                       "unseen"][i], "duration": 6.0})
    with (root / "manifest.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return root


@pytest.mark.slow  # ~10 s: `loev eval` on two tiny models
def test_loev_eval_reports_recordings_for_a_track_corpus(tmp_path: Path) -> None:
    corpus = make_track_corpus(tmp_path / "corpus")
    ckpts = [str(save_model(tiny_model(k), tmp_path / f"tiny-{k}")) for k in ("simclr", "loev")]
    out = tmp_path / "eval"
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{README_START}\ndemo\n{README_END}\n{REAL_START}\nold\n{REAL_END}\n")
    argv = ["eval", "--checkpoint", ckpts[0], "--checkpoint", ckpts[1], "--corpus", str(corpus), "--out", str(out),
            "--readme", str(readme), "--curve-clips", "2", "--shift-clips", "3", "--pitch-shifts=-4,0,4",
            "--stretch-rates=0.8,1", "--gains=-6,0", "--probes", "linear", "--quiet", "--threads", "1"]
    assert main(argv) == 0
    res = json.loads((out / "results.json").read_text())
    rec = res["recordings"]
    assert (rec["n_tracks"], rec["n_clips"], rec["min_clips_per_track"]) == (4, 24, 6)  # 6 s / 1 s windows
    assert rec["n_stretch_clips"] == 2 and rec["stretch_rates"] == [0.8, 1.25]
    for name, subspaces in (("tiny-simclr", {"V", "Z.invariant"}), ("tiny-loev", {"V", "Z.invariant",
                                                                                  "Z.pitch_shift", "Z.time_stretch"})):
        scores = rec["models"][name]
        assert set(scores) == subspaces
        for v in scores.values():
            assert 0 <= v["same_track_p1"] <= 1 and 0 <= v["degraded_top1"] <= 1 and len(v["stretch"]) == 2
            for metric in ("same_track_p1", "degraded_top1"):
                lo, hi = v[f"{metric}_ci"]
                assert 0 <= lo <= v[metric] <= hi <= 1
    targets = [(r["target"].split(",")[0], r["model"]) for r in res["summary"]]
    assert ("same-recording P@1", "tiny-simclr") in targets and ("degraded-copy top-1", "tiny-loev") in targets
    ratio = next(r for r in res["summary"] if r["target"].startswith("Z.time_stretch / Z.invariant"))
    assert ratio["model"] == "tiny-loev" and isinstance(ratio["passed"], bool)
    md = (out / "results.md").read_text()
    assert "## Recordings: same-recording and degraded-copy retrieval" in md
    assert "| model | subspace | same-recording P@1 | degraded top-1 | time stretch x0.8 | time stretch x1.25 |" in md
    # the README's real-music block is the targets table rendered from results.json; the demo block is untouched
    assert readme.read_text() == (f"# x\n{README_START}\ndemo\n{README_END}\n{REAL_START}\n"
                                  f"{real_readme_block(res).strip()}\n{REAL_END}\n")
    assert "same-recording P@1 in Z.invariant >= 0.6" in real_readme_block(res)
    degraded = next(r for r in res["summary"] if r["target"].startswith("degraded-copy") and r["model"] == "tiny-loev")
    ci = rec["models"]["tiny-loev"][degraded["detail"].split(",")[0]]["degraded_top1_ci"]
    assert f"95% interval over tracks {ci[0]:.3f}-{ci[1]:.3f}" in degraded["detail"]
    lo, hi = rec["models"]["tiny-loev"]["Z.invariant"]["same_track_p1_minus_simclr_ci"]  # paired over the same clips
    p1 = {m: rec["models"][m]["Z.invariant"]["same_track_p1"] for m in ("tiny-loev", "tiny-simclr")}
    assert -1 <= lo <= p1["tiny-loev"] - p1["tiny-simclr"] <= hi <= 1
    assert "same_track_p1_minus_simclr_ci" not in rec["models"]["tiny-simclr"]["Z.invariant"]
    over = next(r for r in res["summary"] if r["target"].endswith("SimCLR's"))
    assert over["detail"].startswith(f"difference {p1['tiny-loev'] - p1['tiny-simclr']:+.3f}, 95% interval over tracks")
    v = rec["models"]["tiny-loev"]["V"]
    assert f"| {v['degraded_top1']:.3f} ({v['degraded_top1_ci'][0]:.3f}-{v['degraded_top1_ci'][1]:.3f}) |" in md


@pytest.mark.slow  # ~8 s: `loev eval` on one tiny model
def test_track_clips_sets_the_windows_per_track(tmp_path: Path) -> None:
    corpus = make_track_corpus(tmp_path / "corpus")
    ckpt = str(save_model(tiny_model("simclr"), tmp_path / "tiny-simclr"))
    argv = ["eval", "--checkpoint", ckpt, "--corpus", str(corpus), "--out", str(tmp_path / "eval"), "--track-clips",
            "3", "--curve-clips", "2", "--shift-clips", "3", "--pitch-shifts=-4,0,4", "--stretch-rates=0.8,1",
            "--gains=-6,0", "--probes", "linear", "--quiet", "--threads", "1"]
    assert main(argv) == 0
    rec = json.loads((tmp_path / "eval" / "results.json").read_text())["recordings"]
    assert (rec["n_tracks"], rec["n_clips"], rec["min_clips_per_track"]) == (4, 12, 3)  # 6 s tracks: 6 by default


@pytest.mark.slow  # ~10 s: `loev eval` on two tiny models and four 31 s files
def test_loev_eval_on_a_plain_folder_of_recordings(tmp_path: Path) -> None:
    """No manifest, no labels: every file of 30 s or more is a track, and with no split column no model trained
    on any file, so the recordings and the curves use all of them (the split serves only the probe)."""
    folder = tmp_path / "my music"
    for i in range(4):
        write_tone(folder / ("album" if i % 2 else "") / f"song {i}.wav", 31.0, 220.0 * 2 ** (i / 5), glide=i > 0)
    ckpts = [str(save_model(tiny_model(k), tmp_path / f"tiny-{k}")) for k in ("simclr", "loev")]
    out = tmp_path / "eval"
    argv = ["eval", "--checkpoint", ckpts[0], "--checkpoint", ckpts[1], "--corpus", str(folder), "--out", str(out),
            "--track-clips", "3", "--shift-clips", "3", "--pitch-shifts=-4,0,4", "--stretch-rates=0.8,1",
            "--gains=-6,0", "--probes", "linear", "--quiet", "--threads", "1"]
    assert main([*argv, "--repeat-share", "1"]) == 0  # only a clip that recurs whole, at the same phase, repeats:
    rec = json.loads((out / "results.json").read_text())["recordings"]  # the tone's windows start mid-cycle
    assert rec["repeat_share"] == 1.0 and rec["n_repeated_clips"] == 0
    assert main(argv) == 0
    res = json.loads((out / "results.json").read_text())
    rec = res["recordings"]
    assert (res["n_train"], res["n_test"]) == (3, 1)  # the probe's split: one file of four held out
    assert (rec["n_tracks"], rec["n_clips"], rec["min_clips_per_track"]) == (4, 12, 3)  # every file, not only test
    assert rec["tracks_from"] == "files of 30 s or more" and rec["rows"] == "every file (no split column)"
    assert res["n_curve_clips"] == 4 and res["curve_rows"] == "every clip (no split column)"
    # song 0 is a steady tone, one moment three times: its clips repeat each other, so they are found as their own
    # degraded copies but are not asked for another clip of their recording (it has none that is not a repeat)
    assert rec["n_repeated_clips"] == 3 and rec["repeat_share"] == REPEAT_SHARE
    for scores in rec["models"].values():
        for v in scores.values():
            assert 0 <= v["same_track_p1"] <= 1 and 0 <= v["degraded_top1"] <= 1
            assert 0 <= v["same_track_p1_with_repeats"] <= 1 and v["degraded_top1_own_clip"] <= v["degraded_top1"]
    md = (out / "results.md").read_text()
    assert "3 of the 12 clips repeat another clip of their track" in md and "| top-1, own clip only |" in md
    assert "4 tracks (no track column: each file of 30 s or more is one track)" in md
    assert "every file is scored" in md and "curves on 4 clips (no split column" in md
    assert "no labels: the pitch-shift probe, the curves and the recordings" in md
    assert "Only 1 test clip: each is worth 100 points of these scores" in md  # the probe's one held-out file
    # the recordings as a picture: bars with their intervals over tracks, in the markdown and the HTML page
    assert (out / "recordings.png").stat().st_size > 5000 and "](recordings.png)" in md
    assert "Recordings: 95 % intervals over tracks" in (out / "report.html").read_text()
    for scores in rec["models"].values():  # every subspace lists the recordings it mixes up (maybe none)
        assert all(isinstance(v["confused"], list) for v in scores.values())
    assert sum(r["target"].startswith("degraded-copy top-1") for r in res["summary"]) == 2
    invariant = [r for r in res["summary"] if r["target"].startswith("same-recording P@1 in Z.invariant")]
    assert invariant and all(r["detail"].endswith(  # song 0's clips are all repeats: 3 tracks asked, too few
        "4 tracks, >= 3 clips of 1 s each; 3 clips repeat another of their track; asked: the 9 clips of the 3 "
        "tracks with another clip; under 5 tracks asked: not judged") and r["passed"] is None for r in invariant)


def test_track_clips_below_two_is_refused(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as e:
        main(["eval", "--checkpoint", "x", "--corpus", "y", "--out", "z", "--track-clips", "1"])
    assert e.value.code == 2 and "must be >= 2" in capsys.readouterr().err
    for share in ("0", "1.5", "nan"):
        with pytest.raises(SystemExit) as e:
            main(["eval", "--checkpoint", "x", "--corpus", "y", "--out", "z", "--repeat-share", share])
        assert e.value.code == 2 and "must be in (0, 1]" in capsys.readouterr().err
    assert main(["eval", "--checkpoint", "x", "--corpus", "y", "--out", "z", "--protocol", "reference",
                 "--repeat-share", "0.9"]) == 2
    assert "--track-clips and --repeat-share take the explorer's evaluation" in capsys.readouterr().err
    # the reference protocol cuts no track clips: the option is refused there, not ignored
    assert main(["eval", "--checkpoint", "x", "--corpus", "y", "--out", "z", "--protocol", "reference",
                 "--track-clips", "4"]) == 2
    assert "--track-clips and --repeat-share take the explorer's evaluation" in capsys.readouterr().err


def test_results_without_recordings_are_unchanged() -> None:
    demo = json.loads((Path(__file__).resolve().parents[2] / "assets" / "eval" / "results.json").read_text())
    assert "recordings" not in demo and recording_targets(demo) == []


def test_same_recording_targets_in_z_invariant() -> None:
    """Z.invariant's same-recording P@1 is judged against 0.6 for every model, and against SimCLR's for the
    others; the best-subspace row stays a report."""
    def scores(p1: float) -> dict:
        return {"same_track_p1": p1, "degraded_top1": 0.9, "stretch": [0.1, 0.1]}

    results = {"models": {"s": {"kind": "simclr"}, "l": {"kind": "loev"}},
               "recordings": {"n_tracks": 15, "min_clips_per_track": 4, "window_seconds": 3.0,
                              "degradation": {"gain_db": -6, "lowpass_hz": 3000, "snr_db": 20},
                              "stretch_rates": [0.8, 1.25], "n_stretch_clips": 15,
                              "models": {"s": {"V": scores(0.8), "Z.invariant": scores(0.62)},
                                         "l": {"V": scores(0.7), "Z.invariant": scores(0.61)}}}}
    rows = {(r["target"], r["model"]): r for r in recording_targets(results)}
    assert rows[("same-recording P@1 in Z.invariant >= 0.6", "s")]["passed"] is True
    assert rows[("same-recording P@1 in Z.invariant >= 0.6", "l")]["passed"] is True
    over = rows[("same-recording P@1 in Z.invariant >= SimCLR's", "l")]
    assert (over["measured"], over["reference"], over["passed"]) == (0.61, 0.62, False)
    assert ("same-recording P@1 in Z.invariant >= SimCLR's", "s") not in rows
    # one track: same-recording P@1 is undefined (NaN) and judged by nothing; degraded copies still are
    one = {**results, "recordings": {**results["recordings"], "n_tracks": 1,
                                     "models": {m: {s: scores(float("nan")) for s in ("V", "Z.invariant")}
                                                for m in ("s", "l")}}}
    rows = {(r["target"], r["model"]): r for r in recording_targets(one)}
    assert rows[("same-recording P@1 in Z.invariant >= 0.6", "l")]["passed"] is None
    assert ("same-recording P@1 in Z.invariant >= SimCLR's", "l") not in rows
    assert "same-recording needs two" in rows[("same-recording P@1 in Z.invariant >= 0.6", "l")]["detail"]
    assert rows[("degraded-copy top-1, best subspace >= 0.95", "l")]["passed"] is False  # 0.9 in every subspace
