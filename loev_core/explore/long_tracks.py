"""A folder of full-length tracks (`loev dashboard --corpus ~/music`, no manifest) as a corpus of clips.

Embedding a 4-minute track as one vector averages away what the pages show (key, tempo, a passage to
hear), so tracks longer than `long_seconds` are cut into clips (`loev_core.corpus.clips.cut_tracks`, the
function the real-music demo set uses) in the dashboard's cache: `clips/<folder>-<hash>/`, the hash
taken over the folder's listing (names, sizes, modification times) and the settings, so a rerun on an
unchanged folder finds them at once. Shorter files are copied as they are. Each clip's `track` is its
file's path inside the folder, and `source_file` the original, which the player can play from the clip's start.
A folder typed on the Models page is cut by the same `clip_folder`, with the options the server was started
with (`--clip-seconds`, `--hop-seconds`, `--max-clips`, passed to the app as LOEV_DASHBOARD_CUT).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from loev_core.audio import AudioError, audio_info, scan_folder
from loev_core.corpus.clips import CLIPS_JSON, CutOptions, CutReport, TrackSource, cut_tracks

LONG_SECONDS = 30.0
ENV_CUT = "LOEV_DASHBOARD_CUT"  # the server's cutting options as JSON, or "off"


@dataclass(frozen=True)
class FolderClips:
    """Where the clips of a folder are, how many, and the files that could not be read."""

    corpus: Path
    report: CutReport

    @property
    def skipped_note(self) -> str:
        """"; N unreadable file(s) skipped", or '' when every file was read (for the messages that report a cut)."""
        n = len(self.report.skipped)
        return f"; {n} unreadable file(s) skipped" if n else ""


def cut_options(clip_seconds: float, hop_seconds: float, max_clips: int) -> CutOptions | None:
    """`loev dashboard`'s cutting options; None when turned off (a value of 0 or less: folders used as they are)."""
    if clip_seconds <= 0 or hop_seconds <= 0 or max_clips < 1:
        return None
    return CutOptions(clip_seconds=clip_seconds, hop_seconds=hop_seconds, max_clips=max_clips)


def options_to_env(opts: CutOptions | None) -> str:
    return json.dumps(asdict(opts)) if opts is not None else "off"


def options_from_env(environ: Mapping[str, str] | None = None) -> CutOptions | None:
    """The options the server was started with (the defaults when not started by `loev dashboard`), so a folder
    typed on the Models page is cut as `--corpus` cuts it; None when cutting is off."""
    raw = (os.environ if environ is None else environ).get(ENV_CUT, "").strip()
    if raw == "off":
        return None
    try:
        return CutOptions(**json.loads(raw)) if raw else CutOptions()
    except (TypeError, ValueError):
        return CutOptions()


def plain_folder(path: Path) -> bool:
    """A folder of audio with no manifest and no `loev index` files: the kind that may need cutting."""
    names = ("manifest.csv", "manifest.jsonl", "index.json")
    return path.is_dir() and not any((path / n).is_file() for n in names)


def _key(folder: Path, files: list[Path], opts: CutOptions, long_seconds: float) -> str:
    h = hashlib.sha256(json.dumps([str(folder), asdict(opts), long_seconds]).encode())
    for f in files:
        st = f.stat()
        h.update(f"{f.relative_to(folder)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:12]


def _has_long(files: list[Path], long_seconds: float) -> bool:
    for f in files:
        try:
            if audio_info(f)[1] > long_seconds:
                return True
        except AudioError:
            continue
    return False


def clip_folder(folder: str | Path, cache_dir: str | Path, opts: CutOptions | None = None,
                long_seconds: float = LONG_SECONDS, progress: bool = True,
                on_track: Callable[[int, int], None] | None = None) -> FolderClips | None:
    """The clips of `folder` when it holds a track longer than `long_seconds`, cut (or found) under
    `cache_dir/clips/`; None when the folder's files are short enough to be used as they are.
    `on_track(done, total)` reports the cutting (the Models page's progress bar)."""
    src = Path(folder).expanduser().resolve()
    if not plain_folder(src):
        return None
    opts = opts or CutOptions()
    opts = CutOptions(**{**asdict(opts), "whole_seconds": long_seconds})
    files = [Path(c.path) for c in scan_folder(src)]
    out = Path(cache_dir) / "clips" / f"{src.name or 'folder'}-{_key(src, files, opts, long_seconds)}"
    short = out.with_name(out.name + ".short")  # this listing was probed once and has no long track
    if not (out / CLIPS_JSON).is_file() and (short.is_file() or not _has_long(files, long_seconds)):
        short.parent.mkdir(parents=True, exist_ok=True)
        short.touch()  # a folder of thousands of short clips is not probed file by file at every start
        return None
    tracks = [TrackSource(f, f.relative_to(src).as_posix(), {"source_file": str(f)}) for f in files]
    report = cut_tracks(tracks, out, opts, progress, desc=f"cut the tracks of {src.name} into clips",
                        on_track=on_track)
    return FolderClips(out, report)


def source_folder(corpus: str | Path, cache_dir: str | Path) -> Path | None:
    """The folder of full-length tracks that `clip_folder` cut `corpus` from, when `corpus` is such a clip folder
    under `cache_dir` (its first clip's `source_file` less its `track`), so the Models page can show the folder
    that was typed, also after a browser reload; None for any other corpus."""
    if Path(corpus).resolve().parent != (Path(cache_dir) / "clips").resolve():
        return None
    try:
        with (Path(corpus) / "manifest.csv").open(newline="") as f:
            row = next(csv.DictReader(f), None)
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    if not row or not row.get("source_file") or not row.get("track") or not (Path(corpus) / CLIPS_JSON).is_file():
        return None
    source, track = Path(row["source_file"]), Path(row["track"])
    if source.parts[-len(track.parts):] != track.parts:
        return None
    return Path(*source.parts[:-len(track.parts)])


def corpus_name(corpus: str | Path, cache_dir: str | Path) -> str:
    """What to call a corpus on screen: the folder of tracks it was cut from (not the cache folder's hashed
    name), else its own folder's name."""
    folder = source_folder(corpus, cache_dir)
    return (folder or Path(corpus)).name or str(corpus)
