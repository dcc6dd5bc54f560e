"""Datasets mirdata lacks (MagnaTagATune, NSynth, ACM Mirum tempo) as a manifest, for the reference protocol.

Columns (CSV or JSONL, paths relative to the manifest): `path` (required); any of the task columns
`key` ('C major', 'A minor'), `tempo` (BPM), `genre`, `instrument`, `pitch_class` ('C#', or a MIDI
note number) and `tags` (multi-label, `;`-separated: 'guitar;slow;rock'); optional `split`
(train | validation | test; else a seeded grouped split) and a grouping column `piece`, `album` or
`artist` (tracks of one group stay on one side of a made split).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loev_core.audio import resolve_corpus
from loev_core.datasets.items import GROUP_COLUMNS, DatasetError, Item, normalize_split
from loev_core.datasets.tasks import TASKS
from loev_core.keys import PITCH_NAMES, normalize_key, parse_key
from loev_core.tempo import parse_tempo

TAG_SEPARATOR = ";"


def _pitch_class(value: Any) -> str:
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return PITCH_NAMES[int(text) % 12]
    return PITCH_NAMES[parse_key(text)[0]]


PARSERS = {
    "key": lambda v: normalize_key(str(v)),
    "tempo": parse_tempo,
    "genre": lambda v: str(v).strip(),
    "instrument": lambda v: str(v).strip(),
    "pitch_class": _pitch_class,
    "tags": lambda v: tuple(sorted({t.strip() for t in str(v).split(TAG_SEPARATOR) if t.strip()})),
}


def parse_labels(row: dict[str, Any]) -> dict[str, Any]:
    """Task labels of one manifest row; cells that do not parse count as missing."""
    out = {}
    for task, parse in PARSERS.items():
        if row.get(task) in (None, ""):
            continue
        try:
            value = parse(row[task])
        except (ValueError, IndexError):
            continue
        if value not in ("", ()):
            out[task] = value
    return out


def manifest_items(source: str | Path) -> tuple[list[Item], tuple[str, ...]]:
    """Items of a manifest (or a folder with manifest.csv) and the tasks its columns label."""
    try:
        clips = resolve_corpus(source, allow_outside=True)
    except (FileNotFoundError, ValueError) as e:
        raise DatasetError(str(e)) from None
    items = []
    for c in clips:
        group = next((str(c.labels[g]) for g in GROUP_COLUMNS if c.labels.get(g)), None)
        items.append(Item(c.path, c.path, parse_labels(c.labels), normalize_split(c.labels.get("split")), group))
    tasks = tuple(t for t in TASKS if any(t in i.labels for i in items))
    if not items:
        raise DatasetError(f"{source}: no manifest rows")
    if not tasks:
        raise DatasetError(f"{source}: no label column the reference protocol can probe ({', '.join(TASKS)})")
    return items, tasks
