"""`loev corpus real` on tiny .debs built here (no network): tracks kept and skipped, author and licence,
splits and the hold-out package, the rerun no-op, and the clear errors without apt-get or a registry."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from loev_core.cli import main as loev_main
from loev_core.corpus.copyright import parse_copyright
from loev_core.corpus.real import RealOptions, build_real_corpus

pytestmark = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")
SR = 8000
DEP5 = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/

Files: *
Copyright: 2002-2014, The Game Team <team@example.org>
License: GPL-2+

Files:
 base/music/alpha.ogg
Copyright:
 2009 Ann Author (www.ann.example)
 Bob Bass
License: CC-BY-SA-3.0

Files: debian/*
Copyright: 2020 Packager <p@example.org>
License: GPL-2+
"""
FREE_FORM = """This package was debianized by someone.

Upstream Authors:
\t Max Composer

Copyright (C) 2007 Max Composer

   THE WORK IS PROVIDED UNDER THE TERMS OF THIS CREATIVE COMMONS PUBLIC LICENSE.
   "License Elements" means: Attribution, ShareAlike.
   (e.g., Attribution-ShareAlike 3.0 US)
"""


def tone(path: Path, seconds: float, f0: float) -> None:
    t = np.arange(int(seconds * SR)) / SR
    sf.write(path, (0.3 * np.sin(2 * np.pi * f0 * t)).astype(np.float32), SR, format="OGG", subtype="VORBIS")


def build_deb(work: Path, cache: Path, name: str, copyright_text: str, music: Path) -> Path:
    """A .deb holding a copyright file, two tracks, one short cue, a tracker module and a .pk3 of two tracks."""
    root = work / name
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(f"Package: {name}\nVersion: 1.0-test\nArchitecture: all\n"
                                             "Maintainer: Test <t@example.org>\nDescription: test music\n")
    doc = root / "usr" / "share" / "doc" / name
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(copyright_text)
    base = root / music
    (base / "music").mkdir(parents=True)
    tone(base / "music" / "alpha.ogg", 2.5, 220)
    tone(base / "music" / "beta track.ogg", 2.5, 330)
    tone(base / "music" / "jingle.ogg", 0.5, 440)
    (base / "music" / "old.mod").write_bytes(b"M.K." * 100)
    for n, f0 in (("gamma", 262), ("delta", 294)):
        tone(work / f"{n}.ogg", 2.5, f0)
    with zipfile.ZipFile(base / "0music.pk3", "w") as z:
        z.write(work / "gamma.ogg", "music/gamma.ogg")
        z.write(work / "delta.ogg", "music/delta.ogg")
        z.writestr("music/readme.txt", "not audio")
    cache.mkdir(parents=True, exist_ok=True)
    deb = cache / f"{name}_1.0-test_all.deb"
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(root), str(deb)], check=True,
                   capture_output=True)
    return deb


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work, cache = tmp_path_factory.mktemp("debwork"), tmp_path_factory.mktemp("debs")
    build_deb(work, cache, "asc-music", DEP5, Path("usr/share/games/game/base"))
    build_deb(work, cache, "nexuiz-music", FREE_FORM, Path("usr/share/games/other"))
    build_deb(work, cache, "drascula-music", DEP5, Path("usr/share/scummvm/drascula"))
    return cache


OPTS = RealOptions(seed=1, holdout="drascula-music", test_fraction=0.25, min_seconds=1.0,
                   packages=("asc-music", "nexuiz-music", "drascula-music"))


def rows(manifest: Path) -> list[dict[str, str]]:
    with manifest.open(newline="") as f:
        return list(csv.DictReader(f))


def test_tracks_attribution_splits_and_holdout(cache: Path, tmp_path: Path) -> None:
    built = build_real_corpus(tmp_path / "c", cache, OPTS, progress=False)
    got = rows(built.manifest)
    assert {"path", "track", "source", "author", "licence", "split", "duration"} <= set(got[0])
    assert len(got) == 12  # 4 tracks a package: the short cue, the module and the text file are left out
    for r in got:
        assert (tmp_path / "c" / r["path"]).is_file() and float(r["duration"]) >= 1.0
        assert (tmp_path / "c" / r["copyright"]).is_file()
    assert not any("jingle" in r["track"] or "old" in r["track"] for r in got)
    by = {r["track"]: r for r in got}
    alpha = by["asc-music/alpha"]
    assert (alpha["author"], alpha["licence"]) == ("Ann Author, Bob Bass", "CC-BY-SA-3.0")  # per-file paragraph
    gamma = by["asc-music/gamma"]  # a .pk3 member: the package-wide paragraph
    assert (gamma["author"], gamma["licence"]) == ("The Game Team", "GPL-2+")
    assert gamma["original"].endswith("0music.pk3:music/gamma.ogg")
    assert by["nexuiz-music/beta-track"]["licence"] == "CC-BY-SA-3.0"  # free-form file: package-wide
    assert by["nexuiz-music/beta-track"]["author"] == "Max Composer"
    assert {r["split"] for r in got if r["source"] == "drascula-music"} == {"unseen"}
    for source in ("asc-music", "nexuiz-music"):
        assert sorted(r["split"] for r in got if r["source"] == source) == ["test", "train", "train", "train"]
    unseen = rows(tmp_path / "c" / "manifest-unseen.csv")
    assert {r["split"] for r in unseen} == {"train", "test"}
    assert {r["source"] for r in unseen if r["split"] == "test"} == {"drascula-music"}
    info = json.loads((tmp_path / "c" / "corpus.json").read_text())
    assert info["settings"]["packages"]["asc-music"]["version"] == "1.0-test"
    assert len(info["settings"]["packages"]["asc-music"]["sha256"]) == 64
    assert info["per_package"]["asc-music"]["skipped"] == {"short": 1, "tracker": 1}


def test_split_is_seeded_and_rerun_is_a_no_op(cache: Path, tmp_path: Path) -> None:
    out = tmp_path / "c"
    first = build_real_corpus(out, cache, OPTS, progress=False)
    stamp = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    again = build_real_corpus(out, cache, OPTS, progress=False)
    assert first.rebuilt and not again.rebuilt
    assert stamp == {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}  # nothing touched
    same = build_real_corpus(tmp_path / "d", cache, OPTS, progress=False)
    assert [r["split"] for r in rows(same.manifest)] == [r["split"] for r in rows(first.manifest)]
    (out / rows(first.manifest)[0]["path"]).unlink()  # a missing file: rebuilt
    assert build_real_corpus(out, cache, OPTS, progress=False).rebuilt
    splits = {}
    for seed in range(6):
        opts = RealOptions(**{**OPTS.__dict__, "seed": seed})
        splits[seed] = tuple(r["split"] for r in rows(build_real_corpus(out, cache, opts, progress=False).manifest))
    assert len(set(splits.values())) > 1  # the seed moves tracks between train and test


def test_cli_builds_from_the_cache_without_apt(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    tools = tmp_path / "tools"  # dpkg-deb and what it runs, but no apt-get: the cached .debs suffice
    tools.mkdir()
    for name in ("dpkg-deb", "tar", "xz", "gzip", "zstd", "sh"):
        if found := shutil.which(name):
            (tools / name).symlink_to(found)
    monkeypatch.setenv("PATH", str(tools))
    args = ["corpus", "real", "--out", str(tmp_path / "c"), "--cache", str(cache), "--holdout", "none", "--quiet",
            "--packages", "asc-music,nexuiz-music", "--min-seconds", "1"]
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "manifest-unseen.csv").write_text("an earlier build's, with a hold-out\n")
    assert loev_main(args) == 0
    assert "asc-music: 4 tracks" in capsys.readouterr().out
    assert loev_main(args) == 0
    assert "up to date" in capsys.readouterr().out
    assert {r["split"] for r in rows(tmp_path / "c" / "manifest.csv")} == {"train", "test"}
    assert not (tmp_path / "c" / "manifest-unseen.csv").exists()  # --holdout none: no unseen source to evaluate


def test_no_apt_get_and_no_registry_are_clear_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    args = ["corpus", "real", "--out", str(tmp_path / "c"), "--cache", str(tmp_path / "empty"), "--quiet"]
    assert loev_main(args) == 2
    err = capsys.readouterr().err
    assert "apt-get" in err and "not found" in err and "--clips" in err  # points at the generated corpus
    fake = bin_dir / "apt-get"  # an apt-get that cannot reach the registry
    fake.write_text("#!/bin/sh\necho 'E: Failed to fetch http://deb.debian.org/ (network unreachable)' >&2\nexit 100\n")
    fake.chmod(0o755)
    assert loev_main(args) == 2
    err = capsys.readouterr().err
    assert "cannot download" in err and "network unreachable" in err
    assert loev_main(["corpus", "real", "--out", str(tmp_path / "c"), "--holdout", "no-such-pkg"]) == 2
    assert loev_main(["corpus", "--out", str(tmp_path / "g")]) == 2  # generated corpus still needs --clips


@pytest.mark.parametrize("command", ["real", "real-demo"])
def test_out_or_cache_that_is_a_file(command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    assert loev_main(["corpus", command, "--out", str(afile), "--cache", str(tmp_path / "debs"), "--quiet"]) == 2
    assert capsys.readouterr().err == f"loev corpus {command}: error: --out {afile} is a file, not a folder\n"
    assert loev_main(["corpus", command, "--out", str(tmp_path / "c"), "--cache", str(afile), "--quiet"]) == 2
    assert capsys.readouterr().err == f"loev corpus {command}: error: --cache {afile} is a file, not a folder\n"
    assert loev_main(["corpus", command, "--out", str(afile / "sub"), "--quiet"]) == 2
    assert f"--out {afile / 'sub'} is not a folder ({afile} is a file)" in capsys.readouterr().err
    assert afile.read_text() == "keep me" and sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_copyright_parsing() -> None:
    dep5 = parse_copyright(DEP5)
    assert dep5.attribute("usr/share/games/x/base/music/alpha.ogg").licence == "CC-BY-SA-3.0"
    assert dep5.attribute("elsewhere/music/alpha.ogg").licence == "GPL-2+"  # pattern must match the path's end
    assert dep5.fallback.author == "The Game Team"
    free = parse_copyright(FREE_FORM)
    assert (free.fallback.author, free.fallback.licence) == ("Max Composer", "CC-BY-SA-3.0")
    gpl = parse_copyright("Nexuiz is © 2002 - 2009 Alientrap, Lee Vermeulen <l@v.ca>\n\nGNU General Public License "
                          "as published by the Free Software Foundation; either version 2\nof the License, or (at "
                          "your option) any later version.\n")
    assert (gpl.fallback.author, gpl.fallback.licence) == ("Alientrap, Lee Vermeulen", "GPL-2+")
