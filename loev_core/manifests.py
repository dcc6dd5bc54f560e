"""Corpora as lists of clips: a CSV or JSONL manifest (a `path` column plus labels), or a folder of audio.

Kept apart from decoding (`loev_core.audio`, which re-exports these names): reading a manifest checks its text,
its rows and where its entries point, and every problem is one `ManifestError` naming the manifest and the row.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".opus", ".mp3", ".aiff", ".aif", ".m4a")


class ManifestError(ValueError):
    """A corpus manifest cannot be used: unreadable, malformed, or an entry without a path or pointing
    outside its folder. The message names the manifest (and the row)."""


@dataclass
class Clip:
    """One entry of a corpus: an audio path plus free-form labels (key, tempo, instrument, ...)."""

    path: str
    labels: dict[str, Any] = field(default_factory=dict)


def _safe_child(root: Path, rel: str, source: Path, allow_outside: bool = False) -> Path:
    if "\0" in rel:
        raise ManifestError(f"{source}: entry {rel!r} contains a NUL byte")
    try:
        p = (root / rel).resolve()  # symlinks and `..` followed before the check
    except (OSError, RuntimeError) as e:  # a symlink loop, a name too long
        raise ManifestError(f"{source}: entry {rel!r} cannot be resolved ({e})") from None
    if not allow_outside and not p.is_relative_to(root.resolve()):
        raise ManifestError(f"{source}: entry {rel!r} points outside {root}")
    return p


def _manifest_text(path: Path) -> str:
    """The manifest's text: UTF-8 (a BOM is dropped), or UTF-16 with a BOM; anything else is refused."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ManifestError(f"{path}: cannot read the manifest ({e.strerror or e})") from None
    encoding = "utf-16" if raw[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) else "utf-8-sig"
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as e:
        raise ManifestError(f"{path}: not UTF-8 (or UTF-16 with a BOM) text: {e.reason} at byte {e.start}") from None


def _manifest_rows(path: Path) -> list[tuple[int, Any]]:
    """(line or row number, row) of a JSONL or CSV manifest; rows are mappings unless the JSONL is malformed."""
    text = _manifest_text(path)
    if path.suffix.lower() == ".jsonl":
        rows = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append((n, json.loads(line)))
                except (ValueError, RecursionError) as e:  # not JSON, nested too deeply, a number too long
                    raise ManifestError(f"{path}: line {n} is not valid JSON ({type(e).__name__})") from None
        return rows
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        return [(i, row) for i, row in enumerate(reader, 1)]
    except csv.Error as e:  # a field over csv.field_size_limit(), a malformed quote
        raise ManifestError(f"{path}: CSV near line {reader.line_num + 1}: {e}") from None


def read_manifest(path: str | Path, allow_outside: bool = False) -> list[Clip]:
    """Read a CSV or JSONL manifest (`path` column plus labels); paths are relative to the manifest.

    Text is UTF-8 (with or without a BOM) or UTF-16 with a BOM. Entries that escape the manifest's folder
    (`..`, absolute paths, symlinks leading out) are refused unless `allow_outside` is set; the dashboard
    never sets it (`explore.paths.corpus_clips`). Every problem raises `ManifestError` (a ValueError) naming
    the manifest and the row: unreadable or undecodable files, malformed CSV or JSON, a row that is not a
    mapping or has no string `path`, an entry outside the folder.
    """
    path = Path(path)
    root = path.parent
    clips = []
    for i, row in _manifest_rows(path):
        if not isinstance(row, dict):
            raise ManifestError(f"{path}: row {i} is not a mapping (a JSON object)")
        if i == 1 and "path" not in row and path.suffix.lower() != ".jsonl":  # the header has no such column
            header = ", ".join(repr(str(k))[:40] for k in list(row)[:4])
            raise ManifestError(f"{path}: not a manifest (its first line has no 'path' column: {header}). A corpus "
                                "is a folder of audio, or a CSV/JSONL manifest listing each file in a 'path' column.")
        if "path" not in row or not row["path"]:
            raise ManifestError(f"{path}: row {i} has no 'path'")
        rel = row.pop("path")
        if not isinstance(rel, str):
            raise ManifestError(f"{path}: row {i}: 'path' must be a string, got {type(rel).__name__}")
        p = _safe_child(root, rel, path, allow_outside)
        clips.append(Clip(str(p), {k: v for k, v in row.items() if v not in (None, "")}))
    return clips


def scan_folder(root: str | Path) -> list[Clip]:
    """All audio files under `root`, recursively, in a stable order."""
    root = Path(root)
    return [Clip(str(p)) for p in sorted(root.rglob("*")) if p.suffix.lower() in AUDIO_EXTENSIONS]


def resolve_corpus(source: str | Path, split: str | None = None, allow_outside: bool = False) -> list[Clip]:
    """A folder (scanned; uses its manifest.csv when present) or a manifest file; optional split filter.

    A missing source raises FileNotFoundError; a manifest that cannot be used, ManifestError (`read_manifest`).
    The command line reads a user's own manifests, absolute paths included (`allow_outside`); the dashboard,
    which serves what it lists, keeps every entry inside the manifest's folder."""
    source = Path(source)
    if source.is_dir():
        manifest = next((source / n for n in ("manifest.csv", "manifest.jsonl") if (source / n).exists()), None)
        clips = read_manifest(manifest, allow_outside) if manifest else scan_folder(source)
    elif source.is_file() and source.suffix.lower() in AUDIO_EXTENSIONS:
        raise ManifestError(f"{source}: one audio file is not a corpus; give the folder that holds it")
    elif source.is_file():
        clips = read_manifest(source, allow_outside)
    else:
        raise FileNotFoundError(f"{source}: no such folder or manifest")
    if split:
        clips = [c for c in clips if c.labels.get("split", split) == split]
    return clips
