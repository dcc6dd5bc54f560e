"""Cutting long recordings into clips (`loev_core.corpus.clips`), as the real-music demo set and a folder of
full-length tracks (`loev dashboard --corpus ~/music`) use it: clip count and starts, the manifest, the rerun
no-op, a corrupt file skipped and counted; the folder's clips cached by content."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from loev_core.audio import audio_info
from loev_core.corpus.clips import CutOptions, TrackSource, clip_starts, cut_tracks
from loev_core.explore.long_tracks import clip_folder, options_from_env

SR = 8000


def tune(path: Path, seconds: float, f0: float = 220.0) -> Path:
    """A tone whose pitch steps up every second, so clips from different places differ."""
    t = np.arange(int(seconds * SR)) / SR
    y = 0.3 * np.sin(2 * np.pi * f0 * (1 + 0.05 * np.floor(t)) * t)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, y.astype(np.float32), SR, format="OGG", subtype="VORBIS")
    return path


def rows(manifest: Path) -> list[dict[str, str]]:
    with manifest.open(newline="") as f:
        return list(csv.DictReader(f))


def test_clip_starts() -> None:
    even = clip_starts(60.0, CutOptions(clip_seconds=5.0, count=4))
    assert even == [5.0, 20.0, 35.0, 50.0]  # each clip centred in one quarter of the track
    hop = clip_starts(100.0, CutOptions(clip_seconds=5.0, hop_seconds=30.0, max_clips=None))
    assert hop == [12.5, 42.5, 72.5]  # centres at 15, 45, 75 s; one at 105 s would pass the end
    capped = clip_starts(1000.0, CutOptions(clip_seconds=5.0, hop_seconds=30.0, max_clips=5))
    assert len(capped) == 5 and capped[0] == 97.5 and capped[-1] == 897.5  # thinned evenly, not cut off
    assert clip_starts(15.0, CutOptions(clip_seconds=5.0, hop_seconds=30.0)) == [5.0]  # one, in the middle
    assert clip_starts(3.0, CutOptions(clip_seconds=5.0, count=4)) == [0.0]  # shorter than a clip: whole


def test_cut_tracks_counts_starts_manifest_rerun_and_corrupt_file(tmp_path: Path) -> None:
    src = tmp_path / "src"
    tracks = [TrackSource(tune(src / "a.ogg", 12.0), "pkg/a", {"source": "pkg", "licence": "GPL-2+"}),
              TrackSource(tune(src / "b.ogg", 8.0, 330.0), "pkg/b", {"source": "pkg", "licence": "GPL-2+"})]
    bad = src / "broken.ogg"
    bad.write_bytes(b"OggS" + b"\x00" * 400)  # an Ogg page header and nothing decodable
    tracks.append(TrackSource(bad, "pkg/broken", {"source": "pkg", "licence": "GPL-2+"}))
    opts = CutOptions(clip_seconds=2.0, count=3, sample_rate=SR)
    out = tmp_path / "clips"
    report = cut_tracks(tracks, out, opts, progress=False)
    got = rows(out / "manifest.csv")
    assert report.rebuilt and len(got) == 6  # 3 clips for each readable track
    assert list(got[0])[:4] == ["path", "track", "start", "duration"] and {"source", "licence"} <= set(got[0])
    assert [float(r["start"]) for r in got if r["track"] == "pkg/a"] == [1.0, 5.0, 9.0]
    assert [round(float(r["start"]), 3) for r in got if r["track"] == "pkg/b"] == [0.333, 3.0, 5.667]
    for r in got:
        sr, seconds, _ = audio_info(out / r["path"])
        assert sr == SR and abs(seconds - 2.0) < 0.05 and float(r["duration"]) == 2.0
    assert len(report.skipped) == 1 and report.skipped[0][0] == str(bad)  # skipped and counted, not fatal
    stamp = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    again = cut_tracks(tracks, out, opts, progress=False)
    assert not again.rebuilt and len(again.rows) == 6 and len(again.skipped) == 1
    assert stamp == {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}  # nothing written
    fewer = cut_tracks(tracks, out, CutOptions(clip_seconds=2.0, count=2, sample_rate=SR), progress=False)
    assert fewer.rebuilt and len(list((out / "audio").iterdir())) == 4  # old clips do not linger


def test_a_folder_of_full_tracks_is_cut_once_into_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    music = tmp_path / "music"
    tune(music / "album" / "long one.ogg", 70.0)
    tune(music / "short.ogg", 4.0, 330.0)
    cache = tmp_path / "cache"
    opts = CutOptions(clip_seconds=5.0, hop_seconds=30.0, max_clips=20, sample_rate=SR)
    found = clip_folder(music, cache, opts)
    assert found is not None and found.corpus.parent == cache / "clips" and found.corpus.name.startswith("music-")
    got = rows(found.corpus / "manifest.csv")
    long_one = "album/long one.ogg"
    assert [(r["track"], float(r["start"])) for r in got] == [(long_one, 12.5), (long_one, 42.5),
                                                              ("short.ogg", 0.0)]  # the short file is kept whole
    assert all(r["source_file"] == str((music / r["track"]).resolve()) for r in got)

    def no_decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("a cached folder was decoded again")

    monkeypatch.setattr("loev_core.corpus.clips.load_audio", no_decoding)
    again = clip_folder(music, cache, opts)
    assert again is not None and not again.report.rebuilt and again.corpus == found.corpus
    monkeypatch.undo()
    tune(music / "new.ogg", 40.0)  # the folder changed: a new cache folder
    assert clip_folder(music, cache, opts).corpus != found.corpus
    short = tmp_path / "clips-only"
    tune(short / "a.ogg", 4.0)
    assert clip_folder(short, cache, opts) is None  # nothing long: the folder is used as it is
    # that answer is remembered for this listing: the next start does not probe every file again
    monkeypatch.setattr("loev_core.explore.long_tracks._has_long", lambda *_: pytest.fail("probed again"))
    assert clip_folder(short, cache, opts) is None


def test_loev_dashboard_corpus_folder_is_replaced_by_its_clips(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from loev_core.cli.dashboard import add_arguments, build_env, cut_long_tracks

    music = tmp_path / "music"
    tune(music / "song.ogg", 65.0)
    p = argparse.ArgumentParser()
    add_arguments(p)
    args = p.parse_args(["--corpus", str(music), "--cache-dir", str(tmp_path / "cache"), "--clip-seconds", "4",
                         "--hop-seconds", "20"])
    cut_long_tracks(args)
    assert Path(args.corpus).parent == tmp_path / "cache" / "clips"
    assert len(rows(Path(args.corpus) / "manifest.csv")) == 3  # centres at 10, 30, 50 s
    env = build_env(args)
    assert str(music.resolve()) in env["LOEV_DASHBOARD_ROOTS"]  # so the original track can be played
    # ... and a folder typed on the Models page is cut with the same options
    assert options_from_env(env) == CutOptions(clip_seconds=4.0, hop_seconds=20.0, max_clips=20)
    assert options_from_env(build_env(p.parse_args(["--clip-seconds", "0"]))) is None  # cutting turned off
    assert options_from_env({}) == CutOptions()  # `streamlit run dashboard/app.py`: the defaults
    assert "3 clips" in capsys.readouterr().err
