"""The dashboard's real-music demo set (`loev corpus real-demo`) on tiny .debs built here with dpkg-deb: only
tracks of split test or unseen of the full real corpus (as `loev corpus real` splits it by default), clips
with credits and licence files, the rerun no-op, and one clear line instead of a failure without the tools."""

from __future__ import annotations

import csv
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from loev_core.cli import main as loev_main
from loev_core.corpus.real import PACKAGES, RealOptions, build_real_corpus
from loev_core.corpus.real_demo import DEMO_PACKAGES, DemoOptions, build_real_demo
from tests.corpus.test_real import DEP5, FREE_FORM, build_deb

pytestmark = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")
MIN_SECONDS = 1.0  # the test tracks last 2.5 s; the split settings stay `loev corpus real`'s defaults


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four of the five packages (ufoai-music left out: the full corpus only needs a package the demo skips)."""
    work, cache = tmp_path_factory.mktemp("debwork"), tmp_path_factory.mktemp("debs")
    for name, text in (("asc-music", DEP5), ("drascula-music", FREE_FORM), ("singularity-music", DEP5),
                       ("nexuiz-music", FREE_FORM)):
        build_deb(work, cache, name, text, Path(f"usr/share/games/{name}"))
    return cache


def demo_options(**clip: float) -> DemoOptions:
    return DemoOptions(**clip, real=replace(DemoOptions().real, min_seconds=MIN_SECONDS))


def rows(manifest: Path) -> list[dict[str, str]]:
    with manifest.open(newline="") as f:
        return list(csv.DictReader(f))


def test_demo_holds_only_test_and_unseen_tracks_of_the_full_corpus(cache: Path, tmp_path: Path) -> None:
    full_opts = RealOptions(min_seconds=MIN_SECONDS, packages=tuple(p for p in PACKAGES if p != "ufoai-music"))
    assert (full_opts.seed, full_opts.test_fraction, full_opts.holdout) == (0, 0.2, "singularity-music")
    full = {r["track"]: r["split"] for r in rows(build_real_corpus(tmp_path / "full", cache, full_opts,
                                                                   progress=False).manifest)}
    demo = build_real_demo(tmp_path / "demo", cache, demo_options(clip_seconds=0.5, clips_per_track=3),
                           progress=False)
    got = rows(demo.manifest)
    tracks = {r["track"] for r in got}
    assert tracks and all(full[t] in ("test", "unseen") for t in tracks)  # never a training track
    kept = {t for t, s in full.items() if s in ("test", "unseen") and t.split("/")[0] in DEMO_PACKAGES}
    assert tracks == kept  # and every held-out track of the three small packages
    assert {t.split("/")[0] for t in tracks} == set(DEMO_PACKAGES)
    assert len(got) == 3 * len(tracks) and demo.info["clips"] == len(got)
    assert {"path", "track", "source", "author", "licence", "split", "start", "duration"} <= set(got[0])
    assert {r["split"] for r in got} == {"test"}
    assert {r["track_split"] for r in got if r["source"] == "singularity-music"} == {"unseen"}
    for r in got:
        assert (tmp_path / "demo" / r["path"]).is_file() and 0.0 <= float(r["start"]) <= 2.0
        assert (tmp_path / "demo" / r["copyright"]).is_file()
    drascula = next(r for r in got if r["source"] == "drascula-music")
    assert (drascula["author"], drascula["licence"]) == ("Max Composer", "CC-BY-SA-3.0")  # the builder's credits
    assert sorted(p.name for p in (tmp_path / "demo" / "licences").iterdir()) == [f"{p}.txt" for p in
                                                                                sorted(DEMO_PACKAGES)]
    assert not list((tmp_path / "demo").glob(".tracks-*"))  # the full-length tracks are not kept


def test_rerun_is_a_no_op_and_the_cli(cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    opts = demo_options(clip_seconds=0.5, clips_per_track=2)
    first = build_real_demo(out, cache, opts, progress=False)
    stamp = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    again = build_real_demo(out, cache, opts, progress=False)
    assert first.rebuilt and not again.rebuilt
    assert stamp == {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    (out / rows(first.manifest)[0]["path"]).unlink()  # a missing clip: rebuilt
    assert build_real_demo(out, cache, opts, progress=False).rebuilt
    assert build_real_demo(out, cache, demo_options(clip_seconds=0.5, clips_per_track=1), progress=False).rebuilt
    # the command line keeps the default 30 s minimum: the 2.5 s test tracks are all too short, a clear error
    assert loev_main(["corpus", "real-demo", "--out", str(tmp_path / "cli"), "--cache", str(cache), "--quiet"]) == 2
    assert "no music tracks" in capsys.readouterr().err


def test_without_the_package_tools_prepare_says_why_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    from loev_core.cli.dashboard import build_real_demo as prepare_demo

    monkeypatch.setenv("PATH", str(tmp_path / "bin"))  # no apt-get, no dpkg-deb
    assert prepare_demo(tmp_path / "demo", tmp_path / "empty-cache") is False
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("note: no real-music demo set") and "apt-get" in err[0]
    assert not (tmp_path / "demo" / "manifest.csv").exists()
