"""`build_real_corpus`: a corpus of real recordings from free music that Debian ships, with each track's
author and licence, split by track, and one whole package held out as an "unseen source".

Only the packages in `PACKAGES` are used, so results stay comparable between machines. Their .debs are
cached; the recordings are copied as they are (Ogg Vorbis or MP3, native rate: no second lossy encode;
the models resample on load). Tracker modules, and jingles or effects shorter than `MIN_SECONDS`, are
left out. A rerun with the same .debs and settings finds manifest and files in place and does nothing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from loev_core.audio import AudioError, audio_info
from loev_core.corpus import debian
from loev_core.corpus.copyright import parse_copyright
from loev_core.corpus.debian import ARCHIVES, DebianError
from loev_core.files import atomic_write_text

PACKAGES = ("ufoai-music", "nexuiz-music", "singularity-music", "drascula-music", "asc-music")
DEFAULT_HOLDOUT = "singularity-music"
MIN_SECONDS = 30.0
MUSIC = (".ogg", ".oga", ".mp3", ".flac", ".wav", ".opus")
TRACKER = (".mod", ".xm", ".s3m", ".it", ".mtm", ".umx", ".669", ".med")
COLUMNS = ("path", "track", "source", "author", "licence", "split", "duration", "sample_rate", "channels",
           "copyright", "original")
UNSEEN = "unseen"
LAYOUT = 1  # bump when the folder layout or the manifest changes, so old corpora are rebuilt


@dataclass(frozen=True)
class RealOptions:
    """What defines a real corpus: same options and same .debs, same manifest."""

    seed: int = 0
    holdout: str | None = DEFAULT_HOLDOUT
    test_fraction: float = 0.2
    min_seconds: float = MIN_SECONDS
    packages: tuple[str, ...] = PACKAGES


@dataclass(frozen=True)
class Track:
    """One recording kept for the corpus."""

    path: str  # relative to the corpus folder
    track: str  # source/slug: the identity same-recording retrieval scores
    source: str
    author: str
    licence: str
    duration: float
    sample_rate: int
    channels: int
    original: str  # where the package holds it (archive:member for .pk3)
    split: str = ""


@dataclass(frozen=True)
class RealCorpus:
    """The result of a build: the manifest, corpus.json's contents, and whether anything was (re)built."""

    manifest: Path
    info: dict[str, Any]
    rebuilt: bool
    tracks: tuple[Track, ...] = field(default=())


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "track"


def split_tracks(tracks: list[Track], opts: RealOptions) -> list[Track]:
    """Per package, the round(test_fraction * n) tracks first in a seeded hash order go to test (at least one
    when a package has two or more), the rest to train; the hold-out package is all `unseen`."""
    out: dict[str, str] = {}
    for source in sorted({t.source for t in tracks}):
        mine = sorted((t.track for t in tracks if t.source == source),
                      key=lambda k: hashlib.sha256(f"{opts.seed}/{k}".encode()).hexdigest())
        n_test = round(opts.test_fraction * len(mine))
        n_test = max(n_test, 1) if len(mine) >= 2 and opts.test_fraction > 0 else n_test
        for i, k in enumerate(mine):
            out[k] = UNSEEN if source == opts.holdout else "test" if i < n_test else "train"
    return [replace(t, split=out[t.track]) for t in tracks]


def _keep(path: Path, opts: RealOptions, skipped: Counter) -> tuple[float, int, int] | None:
    """(duration, rate, channels) when `path` is music of at least `min_seconds`; else it is deleted and
    counted in `skipped`."""
    try:
        sr, duration, channels = audio_info(path)
    except AudioError:
        skipped["unreadable"] += 1
    else:
        if duration >= opts.min_seconds:
            return duration, sr, channels
        skipped["short"] += 1
    path.unlink(missing_ok=True)
    return None


def gather(package: str, root: Path, out: Path, opts: RealOptions, skipped: Counter) -> list[Track]:
    """The music tracks of one unpacked package (files, and the audio inside .pk3/.zip archives), copied
    into `out/audio/<package>/`; author and licence from the package's copyright file."""
    copyright_file = root / "usr" / "share" / "doc" / package / "copyright"
    rights = parse_copyright(copyright_file.read_text(errors="replace") if copyright_file.is_file() else "")
    if copyright_file.is_file():
        (out / "licences").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(copyright_file, out / "licences" / f"{package}.txt")
    tracks: list[Track] = []
    taken: set[str] = set()

    def add(where: str, original: str, fetch: Callable[[Path], object]) -> None:
        name = slug(Path(where).stem)
        while name in taken:
            name += "-2"
        rel = f"audio/{package}/{name}{Path(where).suffix.lower()}"
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        fetch(out / rel)
        kept = _keep(out / rel, opts, skipped)
        if kept is not None:
            taken.add(name)
            who = rights.attribute(where)
            tracks.append(Track(rel, f"{package}/{name}", package, who.author, who.licence, round(kept[0], 2),
                                kept[1], kept[2], original))

    for f in debian.package_files(root):
        rel = f.relative_to(root).as_posix()
        suffix = f.suffix.lower()
        if suffix in TRACKER:
            skipped["tracker"] += 1
        elif suffix in MUSIC:
            add(rel, rel, lambda dest, f=f: shutil.copyfile(f, dest))
        elif suffix in ARCHIVES:
            for member in debian.archive_members(f, MUSIC + TRACKER):
                if member.lower().endswith(TRACKER):
                    skipped["tracker"] += 1
                else:
                    add(f"{Path(rel).parent.as_posix()}/{member}", f"{rel}:{member}",
                        lambda dest, f=f, m=member: debian.extract_member(f, m, dest))
    return tracks


def check_folders(out: Path, cache: Path) -> None:
    """ValueError when --out or --cache names a file: said before any download, not a FileExistsError later."""
    for flag, folder in (("--out", out), ("--cache", cache)):
        bad = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)
        if bad is not None:
            raise ValueError(f"{flag} {folder} is not a folder ({bad} is a file)" if bad != folder
                             else f"{flag} {folder} is a file, not a folder")


def write_manifest(path: Path, tracks: list[Track], relabel_unseen: bool = False) -> None:
    """manifest.csv; with `relabel_unseen`, the train rows plus the hold-out package as `test` (for evaluating
    on the unseen source with `loev eval --corpus DIR/manifest-unseen.csv`)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for t in tracks:
        if relabel_unseen and t.split not in ("train", UNSEEN):
            continue
        row = {k: v for k, v in asdict(t).items() if k in COLUMNS}
        row.update(copyright=f"licences/{t.source}.txt", duration=f"{t.duration:.2f}",
                   split="test" if relabel_unseen and t.split == UNSEEN else t.split)
        writer.writerow(row)
    atomic_write_text(path, buf.getvalue())


def settings(opts: RealOptions, debs: dict[str, Any]) -> dict[str, Any]:
    """What corpus.json records to tell whether a rerun can keep the folder as it is."""
    return {"layout": LAYOUT, **{k: v for k, v in asdict(opts).items() if k != "packages"},
            "packages": {n: {"version": d.version, "deb": d.path.name, "sha256": d.sha256} for n, d in debs.items()}}


def up_to_date(out: Path, wanted: dict[str, Any]) -> dict[str, Any] | None:
    """corpus.json when it records `wanted` and every file it lists is present with its size, else None."""
    try:
        info = json.loads((out / "corpus.json").read_text())
    except (OSError, ValueError):
        return None
    if info.get("settings") != wanted or not (out / "manifest.csv").is_file():
        return None
    sizes = info.get("files") or {}
    ok = all((out / p).is_file() and (out / p).stat().st_size == s for p, s in sizes.items())
    return info if ok and sizes else None


def summarise(tracks: list[Track]) -> dict[str, Any]:
    """Tracks and hours per package and split (printed, and kept in corpus.json)."""
    per: dict[str, dict[str, Any]] = {}
    for t in tracks:
        p = per.setdefault(t.source, {"tracks": 0, "hours": 0.0, "splits": {}})
        p["tracks"] += 1
        p["hours"] += t.duration / 3600
        p["splits"][t.split] = p["splits"].get(t.split, 0) + 1
    for p in per.values():
        p["hours"] = round(p["hours"], 3)
    return per


def build_real_corpus(out_dir: str | Path, cache: str | Path | None = None, options: RealOptions | None = None,
                      progress: bool = True) -> RealCorpus:
    """Download (or reuse) the .debs into `cache` (default `out_dir/debs`), unpack them, keep their music
    tracks under `out_dir/audio/`, write manifest.csv, licences/ and corpus.json, and with a hold-out package
    manifest-unseen.csv (without one there is no unseen source to evaluate, so no such file).

    Raises `DebianError` (no apt-get, no registry, bad .deb) and ValueError (bad options)."""
    opts = options or RealOptions()
    unknown = sorted(set(opts.packages) - set(PACKAGES))
    if unknown or not opts.packages:
        raise ValueError(f"packages must be among {', '.join(PACKAGES)} (got {', '.join(unknown) or 'none'})")
    if opts.holdout is not None and opts.holdout not in opts.packages:
        raise ValueError(f"--holdout {opts.holdout} is not one of the packages: {', '.join(opts.packages)}")
    if not 0 <= opts.test_fraction < 1:
        raise ValueError(f"test fraction must be in [0, 1), got {opts.test_fraction}")
    t0 = time.perf_counter()
    out = Path(out_dir)
    cache_dir = Path(cache) if cache is not None else out / "debs"
    check_folders(out, cache_dir)
    paths = debian.download(opts.packages, cache_dir, progress)
    debs = {n: debian.describe(p) for n, p in paths.items()}
    wanted = settings(opts, debs)
    done = up_to_date(out, wanted)
    if done is not None:
        return RealCorpus(out / "manifest.csv", done, rebuilt=False)
    skipped: dict[str, Counter] = {}
    tracks: list[Track] = []
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".unpack-", dir=out) as tmp:
        for name in tqdm(opts.packages, desc="unpack and keep tracks", unit="pkg", disable=not progress):
            shutil.rmtree(out / "audio" / name, ignore_errors=True)
            skipped[name] = Counter()
            root = debian.unpack(debs[name].path, Path(tmp) / name)
            tracks += gather(name, root, out, opts, skipped[name])
            shutil.rmtree(root, ignore_errors=True)
    if not tracks:
        raise DebianError(f"no music tracks of at least {opts.min_seconds:g} s found in {', '.join(opts.packages)}")
    tracks = split_tracks(tracks, opts)
    write_manifest(out / "manifest.csv", tracks)
    if opts.holdout is not None:
        write_manifest(out / "manifest-unseen.csv", tracks, relabel_unseen=True)
    else:  # an earlier build's, for a hold-out this corpus no longer has
        (out / "manifest-unseen.csv").unlink(missing_ok=True)
    per = summarise(tracks)
    for name, p in per.items():
        p["skipped"] = dict(skipped[name])
    info = {"kind": "real", "settings": wanted, "tracks": len(tracks),
            "hours": round(sum(t.duration for t in tracks) / 3600, 3), "per_package": per,
            "build_seconds": round(time.perf_counter() - t0, 1),
            "command": f"loev corpus real --out {out} --seed {opts.seed} --holdout {opts.holdout or 'none'} "
                       f"--test-fraction {opts.test_fraction:g}",
            "files": {t.path: (out / t.path).stat().st_size for t in tracks}}
    atomic_write_text(out / "corpus.json", json.dumps(info, indent=1) + "\n")
    return RealCorpus(out / "manifest.csv", info, rebuilt=True, tracks=tuple(tracks))
