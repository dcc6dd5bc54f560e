"""Cut full-length recordings into short clips: small Ogg files plus a manifest.csv with where each came from.

The dashboard explores clips of a few seconds; a real recording lasts minutes. One function,
`cut_tracks`, serves both the real-music demo set (a fixed number of clips per track, evenly spaced,
`loev corpus real-demo`) and a folder of the user's own tracks (`loev dashboard --corpus ~/music`, one clip
every `hop` seconds). Each clip keeps its track, its start in the original and the track's credits, so
the dashboard can name the track and play the original from the clip's position. A rerun with the same
sources and settings finds `clips.json`, the manifest and every clip in place and writes nothing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from loev_core.audio import AudioError, audio_info, load_audio
from loev_core.files import atomic_write_bytes, atomic_write_text

CLIP_COLUMNS = ("path", "track", "start", "duration")
CLIPS_JSON = "clips.json"
LAYOUT = 1  # bump when the clip files or the manifest change, so old clip folders are rebuilt


@dataclass(frozen=True)
class CutOptions:
    """How tracks become clips: a fixed `count` per track (evenly spaced), or one every `hop_seconds`
    (at most `max_clips`); tracks no longer than `whole_seconds` are kept whole as one clip."""

    clip_seconds: float = 5.0
    count: int | None = None
    hop_seconds: float | None = 30.0
    max_clips: int | None = 20
    whole_seconds: float = 0.0
    sample_rate: int = 22050


@dataclass(frozen=True)
class TrackSource:
    """One recording to cut: its file, its name (the `track` column) and extra columns (source, author, ...)."""

    file: Path
    track: str
    columns: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CutReport:
    """What `cut_tracks` did: the manifest, the rows, unreadable files (file, reason), whether it wrote anything."""

    manifest: Path
    rows: list[dict[str, str]]
    skipped: list[tuple[str, str]]
    rebuilt: bool


def clip_starts(duration: float, opts: CutOptions) -> list[float]:
    """Start times (s) of a track's clips: `count` clips each centred in one of `count` equal parts, or centres
    every `hop_seconds` from hop/2 (evenly thinned to `max_clips`); one clip at 0 for a track no longer than a clip."""
    clip = opts.clip_seconds
    if duration <= clip:
        return [0.0]
    count = opts.count
    if count is None:
        hop = float(opts.hop_seconds or clip)
        centres = np.arange(hop / 2, duration - clip / 2 + 1e-9, hop)
        if centres.size == 0:  # shorter than half a hop plus half a clip: one clip in the middle
            return [round((duration - clip) / 2, 3)]
        if opts.max_clips is None or centres.size <= opts.max_clips:
            return [round(float(s), 3) for s in np.clip(centres - clip / 2, 0.0, duration - clip)]
        count = opts.max_clips
    centres = (np.arange(count) + 0.5) * duration / count
    return [round(float(s), 3) for s in np.clip(centres - clip / 2, 0.0, duration - clip)]


def slug(text: str) -> str:
    """A file-name-safe version of a track name (folders become dashes)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text.replace("/", "-")).strip("-.") or "track"


def _fingerprint(tracks: Sequence[TrackSource], opts: CutOptions) -> dict[str, Any]:
    files = []
    for t in tracks:
        try:
            st = t.file.stat()
            files.append([str(t.file), t.track, st.st_size, st.st_mtime_ns, t.columns])
        except OSError:
            files.append([str(t.file), t.track, -1, 0, t.columns])
    digest = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()
    return {"layout": LAYOUT, "options": asdict(opts), "sources": digest}


def _stored(out: Path, wanted: dict[str, Any]) -> dict[str, Any] | None:
    """clips.json when it records `wanted` and every clip it lists is present with its size, else None."""
    try:
        info = json.loads((out / CLIPS_JSON).read_text())
    except (OSError, ValueError):
        return None
    sizes = info.get("files") or {}
    if info.get("settings") != wanted or not (out / "manifest.csv").is_file():
        return None
    return info if all((out / p).is_file() and (out / p).stat().st_size == s for p, s in sizes.items()) else None


def _ogg(wave: np.ndarray, sample_rate: int) -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, wave.astype(np.float32), sample_rate, format="OGG", subtype="VORBIS")
    return buf.getvalue()


def _cut_one(t: TrackSource, out: Path, opts: CutOptions, taken: set[str]) -> list[dict[str, str]]:
    """The clips of one track, written under out/audio/; raises AudioError when it cannot be read."""
    _, duration, _ = audio_info(t.file)
    base = slug(t.track.rsplit(".", 1)[0] if "." in Path(t.track).name else t.track)
    while base in taken:
        base += "-2"
    taken.add(base)
    rows = []
    if duration <= opts.whole_seconds:  # short: kept as it is (no second lossy encode)
        rel = f"audio/{base}{t.file.suffix.lower()}"
        data = t.file.read_bytes()
        atomic_write_bytes(out / rel, lambda f: f.write(data))
        return [{"path": rel, "track": t.track, "start": "0.000", "duration": f"{duration:.3f}", **t.columns}]
    for i, start in enumerate(clip_starts(duration, opts)):
        length = min(opts.clip_seconds, duration - start)
        try:
            wave = load_audio(t.file, opts.sample_rate, offset=start, duration=length, min_seconds=0.0)
        except AudioError as e:
            if "silent" in e.reason:  # a silent stretch (an intro, a pause) is no clip; the track goes on
                continue
            raise
        rel = f"audio/{base}-{i:02d}.ogg"
        encoded = _ogg(wave.numpy(), opts.sample_rate)
        atomic_write_bytes(out / rel, lambda f, b=encoded: f.write(b))
        rows.append({"path": rel, "track": t.track, "start": f"{start:.3f}", "duration": f"{length:.3f}",
                     **t.columns})
    return rows


def cut_tracks(tracks: Sequence[TrackSource], out_dir: str | Path, opts: CutOptions | None = None,
               progress: bool = True, desc: str = "cut tracks into clips",
               on_track: Callable[[int, int], None] | None = None) -> CutReport:
    """Cut every track into clips under `out_dir/audio/`, write `manifest.csv` (path, track, start, duration,
    then the tracks' extra columns) and `clips.json`. Unreadable files are skipped and listed, not fatal.
    `on_track(done, total)` after each track: a progress bar in a page, where tqdm's is not seen."""
    opts = opts or CutOptions()
    out = Path(out_dir)
    wanted = _fingerprint(tracks, opts)
    done = _stored(out, wanted)
    if done is not None:
        with (out / "manifest.csv").open(newline="") as f:
            rows = list(csv.DictReader(f))
        return CutReport(out / "manifest.csv", rows, [tuple(s) for s in done.get("skipped", [])], rebuilt=False)
    rows: list[dict[str, str]] = []
    skipped: list[tuple[str, str]] = []
    taken: set[str] = set()
    (out / "audio").mkdir(parents=True, exist_ok=True)
    for old in (out / "audio").iterdir():  # clips of an earlier build would linger beside the new ones
        if old.is_file():
            old.unlink()
    for done, t in enumerate(tqdm(tracks, desc=desc, unit="track", disable=not progress), start=1):
        try:
            rows += _cut_one(t, out, opts, taken)
        except (AudioError, OSError, RuntimeError, ValueError) as e:
            skipped.append((str(t.file), getattr(e, "reason", None) or str(e)))
        if on_track is not None:
            on_track(done, len(tracks))
    columns = list(dict.fromkeys([*CLIP_COLUMNS, *(k for r in rows for k in r)]))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out / "manifest.csv", buf.getvalue())
    info = {"settings": wanted, "tracks": len(tracks) - len(skipped), "clips": len(rows), "skipped": skipped,
            "files": {r["path"]: (out / r["path"]).stat().st_size for r in rows}}
    atomic_write_text(out / CLIPS_JSON, json.dumps(info, indent=1) + "\n")
    return CutReport(out / "manifest.csv", rows, skipped, rebuilt=True)
