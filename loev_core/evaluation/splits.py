"""Train/test splits for evaluation corpora that come without one.

A folder of your own recordings, or a manifest of labels without a `split` column, still deserves an
evaluation: probes need a train split to fit on and a test split to score on. The split made here is
grouped (all clips of one piece, else track, album, artist or file land on the same side, so a probe
never scores on a piece it was fitted on) and deterministic: a group's side depends only on its name,
the seed and the set of groups, never on file order or on any result.
"""

from __future__ import annotations

import dataclasses
import math

from loev_core.audio import Clip
from loev_core.datasets.items import GROUP_COLUMNS, group_rank

SPLITS = ("train", "test")


def has_split(clips: list[Clip]) -> bool:
    """Does any clip carry a train|test split of its own (then the manifest's split is used as is)?"""
    return any(c.labels.get("split") in SPLITS for c in clips)


def group_column(clips: list[Clip]) -> str | None:
    """The first of GROUP_COLUMNS that every clip fills in, or None (each file is its own group)."""
    return next((col for col in GROUP_COLUMNS if clips and all(c.labels.get(col) for c in clips)), None)


def assign_splits(clips: list[Clip], test_fraction: float = 0.2, seed: int = 0) -> tuple[list[Clip], str]:
    """(clips, note): the clips unchanged if they carry a split, else copies with a grouped split.

    round(test_fraction * groups) groups (at least 1, at most all but one) go to test, chosen by a
    seeded hash of the group name. The note says in words how the split was made (for the report).
    """
    if has_split(clips):
        return clips, "split from the manifest"
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test fraction must be between 0 and 1, got {test_fraction}")
    col = group_column(clips)

    def group(c: Clip) -> str:
        return str(c.labels[col]) if col else c.path

    groups = sorted({group(c) for c in clips})
    if len(groups) < 2:
        what = f"{col}s" if col else "files"
        raise ValueError(f"the corpus has no split column and only {len(groups)} distinct {what}: "
                         "a train/test split needs at least 2")
    n_test = min(len(groups) - 1, max(1, math.floor(test_fraction * len(groups) + 0.5)))
    test = set(sorted(groups, key=lambda g: group_rank(seed, g))[:n_test])
    out = [dataclasses.replace(c, labels={**c.labels, "split": "test" if group(c) in test else "train"})
           for c in clips]
    unit = col or "file"
    note = (f"no split column: {n_test} of {len(groups)} {unit} groups held out for test "
            f"(grouped by {unit}, fraction {test_fraction:g}, seed {seed})")
    return out, note
