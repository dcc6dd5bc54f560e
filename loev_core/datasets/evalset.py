"""The tracks of one evaluation, split: from a mirdata dataset, two of them (train on one, test on the
other, as the reference does for key) or a manifest."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from loev_core.datasets.items import (
    DatasetError,
    Item,
    apply_split_file,
    carve_validation,
    seeded_split,
    split_counts,
)
from loev_core.datasets.manifest_source import manifest_items
from loev_core.datasets.mirdata_source import dataset_spec, load_items


@dataclass(frozen=True)
class EvalSet:
    """Split tracks (every item's split is train, validation or test) and the tasks to score."""

    dataset: str
    tasks: tuple[str, ...]
    items: tuple[Item, ...]
    split_note: str
    listed: int
    train_dataset: str | None = None


def assign_splits(items: Sequence[Item], split_files: Sequence[str | Path] = (), seed: int = 0,
                  official: str = "the dataset's own split") -> tuple[list[Item], str]:
    """A split file if given, else the items' own split (those without one are left out), else a seeded
    grouped split; a validation split is carved from train when there is none. Returns (items, note)."""
    if split_files:
        out, note = apply_split_file(items, split_files), f"split file {', '.join(map(str, split_files))}"
    elif any(i.split for i in items):
        out, note = [i for i in items if i.split], official
    else:
        out = seeded_split(items, seed)
        note = f"seeded grouped split 70/10/20 (seed {seed})"
    had_validation = any(i.split == "validation" for i in out)
    out = carve_validation(out, seed)
    if not had_validation:
        note += "; validation carved from train (15 % of its groups)"
    counts = split_counts(out)
    if not counts["test"] or not counts["train"]:
        raise DatasetError(f"the split leaves {counts['train']} train and {counts['test']} test tracks; both "
                           "splits need tracks")
    return out, note


def from_mirdata(name: str, data_home: str | Path, index: str | Path | None = None, *,
                 split_files: Sequence[str | Path] = (), seed: int = 0, train_dataset: str | None = None,
                 train_home: str | Path | None = None, train_index: str | Path | None = None) -> EvalSet:
    """The tracks of a mirdata dataset, split; with `train_dataset`, probes train (and early-stop) on that
    dataset and every track of `name` is a test track."""
    spec = dataset_spec(name)
    items = load_items(name, data_home, index)
    if train_dataset is None:
        split, note = assign_splits(items, split_files, seed, f"official {name} split")
        return EvalSet(name, spec.tasks, tuple(split), note, len(items))
    train_spec = dataset_spec(train_dataset)
    if train_dataset == name:
        raise DatasetError(f"--train-dataset {name} is the --dataset itself: drop it to split {name}")
    tasks = tuple(t for t in spec.tasks if t in train_spec.tasks)
    if not tasks:
        raise DatasetError(f"{train_dataset} and {name} share no task ({train_spec.tasks} vs {spec.tasks})")
    home = Path(train_home) if train_home else Path(data_home).expanduser().parent / train_dataset
    train_items = [dataclasses.replace(i, split="train") for i in load_items(train_dataset, home, train_index)]
    train_items = carve_validation(train_items, seed)
    test_items = [dataclasses.replace(i, split="test") for i in items]
    note = (f"train on {train_dataset} (validation: 15 % of its groups), test on every {name} track")
    return EvalSet(name, tasks, tuple(train_items + test_items), note, len(items) + len(train_items), train_dataset)


def from_manifest(source: str | Path, split_files: Sequence[str | Path] = (), seed: int = 0,
                  name: str | None = None) -> EvalSet:
    """The tracks of a manifest (docs/datasets.md lists its columns), split."""
    items, tasks = manifest_items(source)
    split, note = assign_splits(items, split_files, seed, "split column of the manifest")
    p = Path(source)
    label = name or (p.name if p.is_dir() else p.parent.name if p.stem == "manifest" else p.stem)
    return EvalSet(label, tasks, tuple(split), note, len(items))
