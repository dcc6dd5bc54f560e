"""A folder of full-length tracks (`loev dashboard --corpus ~/music`, no manifest) as a corpus of clips.

Embedding a 4-minute track as one vector averages away what the pages show (key, tempo, a passage to
hear), so tracks longer than `long_seconds` are cut into clips (`loev_core.corpus.clips.cut_tracks`, the
function the real-music demo set uses) in the dashboard's cache: `clips/<folder>-<hash>/`, the hash
taken over the folder's listing (names, sizes, modification times) and the settings, so a rerun on an
unchanged folder finds them at once. Shorter files are copied as they are. Each clip's `track` is its
file's path inside the folder, and `source_file` the original, which the player can play from the clip's start.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from loev_core.audio import AudioError, audio_info, scan_folder
from loev_core.corpus.clips import CLIPS_JSON, CutOptions, CutReport, TrackSource, cut_tracks

LONG_SECONDS = 30.0


@dataclass(frozen=True)
class FolderClips:
    """Where the clips of a folder are, how many, and the files that could not be read."""

    corpus: Path
    report: CutReport


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
                long_seconds: float = LONG_SECONDS, progress: bool = True) -> FolderClips | None:
    """The clips of `folder` when it holds a track longer than `long_seconds`, cut (or found) under
    `cache_dir/clips/`; None when the folder's files are short enough to be used as they are."""
    src = Path(folder).expanduser().resolve()
    if not plain_folder(src):
        return None
    opts = opts or CutOptions()
    opts = CutOptions(**{**asdict(opts), "whole_seconds": long_seconds})
    files = [Path(c.path) for c in scan_folder(src)]
    out = Path(cache_dir) / "clips" / f"{src.name or 'folder'}-{_key(src, files, opts, long_seconds)}"
    if not (out / CLIPS_JSON).is_file() and not _has_long(files, long_seconds):
        return None
    tracks = [TrackSource(f, f.relative_to(src).as_posix(), {"source_file": str(f)}) for f in files]
    report = cut_tracks(tracks, out, opts, progress, desc=f"cut the tracks of {src.name} into clips")
    return FolderClips(out, report)
