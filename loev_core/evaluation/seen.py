"""Did a model train on the music it is scored on? From what its checkpoint records of every training stage.

A checkpoint lists each stage's corpora: the folder or manifest given, the split used, the clip count and a
content hash of the files (`train.provenance`). `loev eval` used to say "no model trained on either" of a corpus
without a split column, which is only true when no checkpoint lists it; a model evaluated on its own training
folder scored itself. A corpus counts as seen when a recorded corpus, read today with its split, lists files
that are scored, or, when it is no longer where it was, when the scored corpus holds the same files (same count,
same content hash).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from loev_core.audio import ManifestError, resolve_corpus
from loev_core.train.preflight import split_filter
from loev_core.train.provenance import content_hash


def recorded_corpora(metadata: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every corpus a checkpoint records, of its last stage and of each stage of its history, once each."""
    found: dict[tuple, dict[str, Any]] = {}
    stages = [metadata, *(metadata.get("history") or [])]
    for stage in stages:
        data = stage.get("data") if isinstance(stage, Mapping) else None
        for c in (data or {}).get("corpora") or []:
            if isinstance(c, Mapping) and c.get("source"):
                found.setdefault((c["source"], c.get("split", ""), c.get("sha256")), dict(c))
    return list(found.values())


def _paths(clips: Iterable[Any]) -> set[str]:
    return {os.path.realpath(c.path) for c in clips}


def scored_paths(corpus: str | Path, scored: Iterable[str]) -> set[str]:
    """The files `loev eval` scores: rows whose split is in `scored` ("*": every row)."""
    scored = set(scored)
    clips = resolve_corpus(corpus, allow_outside=True)
    return _paths(c for c in clips if "*" in scored or str(c.labels.get("split", "")) in scored)


def _trained_paths(record: Mapping[str, Any]) -> set[str] | None:
    """The files a recorded corpus lists today with its recorded split (None when it is no longer there, e.g. a
    relative path read from another folder)."""
    source = Path(str(record["source"])).expanduser()
    if not source.exists():
        return None
    try:
        return _paths(resolve_corpus(source, split_filter(str(record.get("split", ""))), allow_outside=True))
    except (OSError, ManifestError):
        return None


def _same_files(corpus: Path, record: Mapping[str, Any]) -> bool:
    """The evaluated corpus, read with the recorded split, is the recorded set of files (count, then hash)."""
    try:
        clips = resolve_corpus(corpus, split_filter(str(record.get("split", ""))), allow_outside=True)
    except (OSError, ManifestError):
        return False
    return bool(clips) and len(clips) == record.get("clips") and content_hash(clips) == record.get("sha256")


def seen_by(metadata: Mapping[str, Any], corpus: str | Path, scored: Iterable[str] = ("test",)) -> str | None:
    """Why the model's training reached the evaluated rows (`scored`: the split values scored, or ("*",) when
    every row is), or None when nothing it records says so. A recorded corpus still on disk is compared file by
    file (a subset, a superset, another manifest of the same folder); one that is not, by its content hash (the
    same files copied elsewhere)."""
    corpus, scored = Path(corpus), set(scored)
    here = scored_paths(corpus, scored)
    for record in recorded_corpora(metadata):
        split = str(record.get("split", ""))
        rows = "every row" if split in ("", "*") else f"split {split}"
        trained = _trained_paths(record)
        if trained is not None:
            shared = len(trained & here)
            if shared:
                return f"it trained on {shared} of the {len(here)} files scored here ({record['source']}, {rows})"
            continue
        reaches = split in ("", "*") or "*" in scored or split in scored  # an identical copy: same split rows
        if reaches and record.get("sha256") and _same_files(corpus, record):
            return f"it trained on the same {record['clips']} files ({record['source']}, same content hash)"
    return None


def trained_on_note(results: dict[str, Any]) -> str:
    """Which models' own checkpoints say they trained on the scored rows (`seen.seen_by`), or, without a split
    column, that none does (results written before this was checked say nothing)."""
    if "seen" not in results:
        return ""
    seen = results["seen"]
    if not seen:
        return "none of the models records training on these files"
    return "; ".join(f"**{name} is not held out here: {why}**" for name, why in seen.items())
