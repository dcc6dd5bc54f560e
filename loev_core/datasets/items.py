"""Dataset items and their splits: one labelled audio track, and the train / validation / test policy.

Every source (a mirdata loader, a manifest) is turned into the same `Item`s, so the probe protocol
never knows where a track came from. Splits follow the dataset's official one when it has one, a
split file when given, else a seeded grouped split (all tracks of one group on the same side, a
group's side depending only on its name and the seed).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SPLITS = ("train", "validation", "test")
SPLIT_ALIASES = {"train": "train", "training": "train", "valid": "validation", "validation": "validation",
                 "val": "validation", "dev": "validation", "test": "test", "testing": "test", "eval": "test"}
DEFAULT_FRACTIONS = (0.7, 0.1, 0.2)  # train, validation, test shares of groups in a seeded split
VALIDATION_FRACTION = 0.15  # share of train groups held out for early stopping when no validation split exists
# grouping columns of a manifest, in order: a work, else a recording (clips cut from one track), else an album or
# an artist, is never on both sides of a split that `loev eval` makes
GROUP_COLUMNS = ("piece", "track", "album", "artist")


class DatasetError(ValueError):
    """A dataset cannot be used as given (unknown name, no index, wrong data home); the message says what to do."""


@dataclass(frozen=True)
class Item:
    """One track: its audio path, labels by task name, its split (None until assigned) and split group."""

    track_id: str
    path: str
    labels: Mapping[str, Any] = field(default_factory=dict)
    split: str | None = None
    group: str | None = None


def normalize_split(text: object) -> str | None:
    """'training', 'valid', 'Test' ... -> 'train' | 'validation' | 'test'; None for anything else."""
    return SPLIT_ALIASES.get(str(text or "").strip().lower())


def group_rank(seed: int, group: str) -> str:
    """Sort key of a group in a seeded split: depends only on its name and the seed."""
    return hashlib.sha1(f"{seed}:{group}".encode()).hexdigest()


def _group(item: Item) -> str:
    return item.group or item.track_id


def seeded_split(items: Sequence[Item], seed: int = 0,
                 fractions: tuple[float, float, float] = DEFAULT_FRACTIONS) -> list[Item]:
    """Copies of `items` with a grouped train/validation/test split (groups ranked by a seeded hash).

    Each side gets at least one group when there are three or more groups."""
    groups = sorted({_group(i) for i in items}, key=lambda g: group_rank(seed, g))
    n = len(groups)
    if n < 3:
        raise DatasetError(f"a train/validation/test split needs at least 3 tracks or groups, got {n}")
    n_test = min(n - 2, max(1, round(fractions[2] * n)))
    n_val = min(n - n_test - 1, max(1, round(fractions[1] * n)))
    side = {g: "test" if k < n_test else "validation" if k < n_test + n_val else "train"
            for k, g in enumerate(groups)}
    return [dataclasses.replace(i, split=side[_group(i)]) for i in items]


def carve_validation(items: Sequence[Item], seed: int = 0, fraction: float = VALIDATION_FRACTION) -> list[Item]:
    """When no item is in the validation split, move a seeded share of train groups there (for early stopping)."""
    if any(i.split == "validation" for i in items):
        return list(items)
    groups = sorted({_group(i) for i in items if i.split == "train"}, key=lambda g: group_rank(seed + 1, g))
    if len(groups) < 2:
        raise DatasetError(f"the train split has {len(groups)} track(s) or group(s): early stopping needs a "
                           "validation split, so at least 2 are needed")
    held = set(groups[:min(len(groups) - 1, max(1, round(fraction * len(groups))))])
    return [dataclasses.replace(i, split="validation") if i.split == "train" and _group(i) in held else i
            for i in items]


def _id_forms(text: str) -> tuple[str, ...]:
    """A split file names a track by its id or by its audio path ('blues/blues.00000.wav' -> 'blues.00000')."""
    text = text.strip()
    return (text, Path(text).name, Path(text).stem) if text else ()


def read_split_file(spec: str | Path) -> dict[str, str]:
    """Track id (or audio path) -> split, from a split file.

    Forms: a JSON object {split: [ids]} or {id: split}; a CSV/TSV/text file of `id,split` lines; or
    `SPLIT=FILE`, a list of ids (one a line) that all belong to SPLIT (give one per split)."""
    text = str(spec)
    name, sep, rest = text.partition("=")
    side = normalize_split(name) if sep else None
    if side and not Path(text).exists():
        path = Path(rest)
        if not path.is_file():
            raise DatasetError(f"split file {path} not found")
        return {line.strip(): side for line in path.read_text().splitlines()
                if line.strip() and not line.startswith("#")}
    path = Path(text)
    if not path.is_file():
        raise DatasetError(f"split file {path} not found")
    if path.suffix.lower() == ".json":
        data = json.loads(path.read_text())
        if not isinstance(data, dict):
            raise DatasetError(f"{path}: expected a JSON object {{split: [ids]}} or {{id: split}}")
        if all(normalize_split(k) and isinstance(v, list) for k, v in data.items()):
            return {str(t): str(k) for k, v in data.items() for t in v}
        return {str(k): str(v) for k, v in data.items()}
    out: dict[str, str] = {}
    with path.open(newline="") as f:
        for row in csv.reader(f, delimiter="\t" if path.suffix.lower() == ".tsv" else ","):
            cells = row[0].split() if len(row) == 1 else row
            if len(cells) >= 2 and not cells[0].startswith("#"):
                out[cells[0].strip()] = cells[1].strip()
    return out


def apply_split_file(items: Sequence[Item], specs: Sequence[str | Path]) -> list[Item]:
    """Items with the split a split file gives them; tracks the file does not name are left out."""
    mapping: dict[str, str] = {}
    for spec in specs:
        for key, split in read_split_file(spec).items():
            side = normalize_split(split)
            if side is None:
                raise DatasetError(f"{spec}: unknown split {split!r} for {key!r} (use train, validation or test)")
            for form in _id_forms(key):
                mapping.setdefault(form, side)
    out = []
    for i in items:
        side = next((mapping[f] for f in (i.track_id, *_id_forms(i.path)) if f in mapping), None)
        if side:
            out.append(dataclasses.replace(i, split=side))
    if not out:
        raise DatasetError("the split file names none of the dataset's tracks (ids or audio file names)")
    return out


def split_counts(items: Sequence[Item]) -> dict[str, int]:
    return {s: sum(i.split == s for i in items) for s in SPLITS}
