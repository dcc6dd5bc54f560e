"""`build_real_demo`: the dashboard's real-music demo set, a few hundred 5 s clips of real recordings that the
bundled models never train on.

The models train on the real corpus' `train` split, with `singularity-music` held out whole. So the demo
set takes only tracks in split `test` or `unseen` of that corpus as `loev corpus real` builds it by
default (seed 0, test fraction 0.2). The split is drawn per package (`real.split_tracks`), so building
the real corpus from just the three smallest packages (asc-music, drascula-music, singularity-music:
98 MB of .debs) gives those packages exactly the split of the full corpus; the builder is reused
as it is (fetch, unpack, credits, split), into a scratch folder removed afterwards. Each kept track is
cut into `clips_per_track` clips, evenly spaced (`clips.cut_tracks`); the packages' copyright files
travel along in licences/. A rerun with the same .debs and settings changes nothing.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from loev_core.corpus import debian, real
from loev_core.corpus.clips import CutOptions, CutReport, TrackSource, cut_tracks
from loev_core.files import atomic_write_text

DEMO_PACKAGES = ("asc-music", "drascula-music", "singularity-music")
KEPT_SPLITS = ("test", real.UNSEEN)  # never `train`: the bundled models' training tracks
LAYOUT = 1


@dataclass(frozen=True)
class DemoOptions:
    """The demo set's settings. `real` must keep `loev corpus real`'s default split settings (seed, test
    fraction, hold-out) for the "never trained on" promise to hold; `min_seconds` only for tests."""

    clip_seconds: float = 5.0
    clips_per_track: int = 12
    sample_rate: int = 22050
    real: real.RealOptions = field(default_factory=lambda: real.RealOptions(packages=DEMO_PACKAGES))


@dataclass(frozen=True)
class RealDemo:
    """A built (or found) demo set: its manifest, corpus.json's contents and whether anything was written."""

    manifest: Path
    info: dict[str, Any]
    rebuilt: bool


def _wanted(opts: DemoOptions, cache: Path, progress: bool) -> dict[str, Any]:
    """What corpus.json records: the clip settings and the real corpus' settings with each .deb's sha256."""
    paths = debian.download(opts.real.packages, cache, progress)
    debs = {n: debian.describe(p) for n, p in paths.items()}
    clip = {k: v for k, v in asdict(opts).items() if k != "real"}
    return {"layout": LAYOUT, "clips": clip, "real": real.settings(opts.real, debs)}


def build_real_demo(out_dir: str | Path, cache: str | Path | None = None, options: DemoOptions | None = None,
                    progress: bool = True) -> RealDemo:
    """Build the demo set in `out_dir` (audio/, manifest.csv, licences/, corpus.json) from the .debs in `cache`
    (downloaded with apt-get when missing; default `out_dir/debs`).

    Raises `DebianError` (no apt-get, no registry, no dpkg-deb, a bad .deb) and ValueError (bad options)."""
    opts = options or DemoOptions()
    if opts.clips_per_track < 1 or not 0 < opts.clip_seconds < math.inf:
        raise ValueError("clips_per_track must be >= 1 and clip_seconds > 0")
    out = Path(out_dir)
    cache_dir = Path(cache) if cache is not None else out / "debs"
    real.check_folders(out, cache_dir)
    t0 = time.perf_counter()
    wanted = _wanted(opts, cache_dir, progress)
    done = real.up_to_date(out, wanted)
    if done is not None:
        return RealDemo(out / "manifest.csv", done, rebuilt=False)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".tracks-", dir=out) as tmp:
        corpus = real.build_real_corpus(Path(tmp) / "corpus", cache_dir, opts.real, progress)
        tracks = [t for t in corpus.tracks if t.split in KEPT_SPLITS]
        shutil.rmtree(out / "licences", ignore_errors=True)
        shutil.copytree(Path(tmp) / "corpus" / "licences", out / "licences")
        sources = [TrackSource(Path(tmp) / "corpus" / t.path, t.track,
                               {"source": t.source, "author": t.author, "licence": t.licence, "split": "test",
                                "track_split": t.split, "copyright": f"licences/{t.source}.txt"})
                   for t in tracks]
        cut = CutOptions(clip_seconds=opts.clip_seconds, count=opts.clips_per_track, sample_rate=opts.sample_rate)
        report = cut_tracks(sources, out, cut, progress, desc="cut the demo tracks into clips")
    info = _info(out, wanted, report, corpus.info, round(time.perf_counter() - t0, 1))
    atomic_write_text(out / "corpus.json", json.dumps(info, indent=1) + "\n")
    return RealDemo(out / "manifest.csv", info, rebuilt=True)


def _info(out: Path, wanted: dict[str, Any], report: CutReport, corpus: dict[str, Any], seconds: float) -> dict:
    """corpus.json: settings, counts per package, size, build time, and every file with its size."""
    per: dict[str, dict[str, int]] = {}
    for r in report.rows:
        p = per.setdefault(r["source"], {"tracks": 0, "clips": 0})
        p["clips"] += 1
    for track in {(r["source"], r["track"]) for r in report.rows}:
        per[track[0]]["tracks"] += 1
    files = {r["path"]: (out / r["path"]).stat().st_size for r in report.rows}
    files.update({f"licences/{p.name}": p.stat().st_size for p in sorted((out / "licences").glob("*.txt"))})
    return {"kind": "real-demo", "settings": wanted, "clips": len(report.rows),
            "tracks": len({r["track"] for r in report.rows}), "per_package": per,
            "skipped": [list(s) for s in report.skipped], "bytes": sum(files.values()),
            "build_seconds": seconds, "real_corpus": {"per_package": corpus.get("per_package", {})},
            "command": f"loev corpus real-demo --out {out}", "files": files}

