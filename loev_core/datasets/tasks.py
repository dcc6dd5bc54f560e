"""The tasks of the paper's evaluation and which dataset carries which: one table, pure label logic.

Labels inside an `Item` are canonical: key names ('Eb minor', `labels.normalize_key`), tempo in BPM
(float), class names (str) and tag tuples. How a label moves under a transform (key and pitch class
transposed by a pitch shift, tempo scaled by a time stretch) and when two labels count as the same for
retrieval (tempo within 4 %, tags sharing one) are defined here once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from loev_core.keys import PITCH_NAMES, key_index, transpose_key
from loev_core.tempo import tempo_match


@dataclass(frozen=True)
class Task:
    """A task: how it is probed (`kind`), the metrics it reports and the transform that moves its label."""

    name: str
    kind: str  # "key" (24 classes), "tempo" (300 BPM classes), "class" (single label), "tags" (multi-label)
    metrics: tuple[str, ...]
    moved_by: str | None = None


TASKS: dict[str, Task] = {
    "key": Task("key", "key", ("accuracy", "weighted"), "pitch_shift"),
    "tempo": Task("tempo", "tempo", ("acc1", "acc2"), "time_stretch"),
    "genre": Task("genre", "class", ("accuracy",)),
    "instrument": Task("instrument", "class", ("accuracy",)),
    "pitch_class": Task("pitch_class", "class", ("accuracy",), "pitch_shift"),
    "tags": Task("tags", "tags", ("roc_auc", "pr_auc")),
}


@dataclass(frozen=True)
class DatasetSpec:
    """A mirdata dataset we evaluate on: its tasks and how its split is made."""

    name: str
    tasks: tuple[str, ...]
    split: str  # "official", "seeded" (or a --split-file)
    about: str


DATASETS: dict[str, DatasetSpec] = {s.name: s for s in (
    DatasetSpec("giantsteps_key", ("key",), "seeded",
                "GiantSteps key (604 EDM excerpts); the reference trains on beatport_key and tests here"),
    DatasetSpec("beatport_key", ("key",), "seeded", "Beatport / GiantSteps-MTG key (1,486 EDM excerpts)"),
    DatasetSpec("giantsteps_tempo", ("tempo",), "seeded", "GiantSteps tempo (664 EDM excerpts)"),
    DatasetSpec("gtzan_genre", ("genre", "tempo"), "seeded",
                "GTZAN (1,000 x 30 s, 10 genres; tempo from the gtzan_tempo_beat annotations)"),
    DatasetSpec("hainsworth", ("tempo",), "seeded", "Hainsworth (222 excerpts; its index is not public)"),
    DatasetSpec("mtg_jamendo_autotagging_moodtheme", ("tags",), "official",
                "MTG-Jamendo mood/theme (56 tags, split-0)"),
    DatasetSpec("medley_solos_db", ("instrument",), "official", "Medley-solos-DB (8 instruments, 3 s clips)"),
    DatasetSpec("good_sounds", ("instrument", "pitch_class"), "seeded", "GOOD-SOUNDS (single notes, 12 instruments)"),
)}


def task_of(name: str) -> Task:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; known: {', '.join(TASKS)}")
    return TASKS[name]


def move_label(task: str, label: Any, transform: str, value: float) -> Any:
    """A label after `transform` by `value`: key / pitch class transposed by round(semitones), tempo x rate."""
    t = task_of(task)
    if label is None or t.moved_by != transform:
        return label
    if t.kind == "key":
        return transpose_key(str(label), value)
    if t.kind == "tempo":
        return float(label) * float(value)
    if task == "pitch_class":
        return PITCH_NAMES[(PITCH_NAMES.index(str(label)) + int(round(value))) % 12]
    return label


def tag_matrix(labels: Sequence[Any], vocab: dict[str, int]) -> np.ndarray:
    """Multi-hot float32 [len(labels), max(1, len(vocab))]; tags outside `vocab` are dropped."""
    m = np.zeros((len(labels), max(len(vocab), 1)), dtype=np.float32)
    for r, tags in enumerate(labels):
        for tag in tags:
            if tag in vocab:
                m[r, vocab[tag]] = 1.0
    return m


def relevance(task: str, query: Sequence[Any], database: Sequence[Any]) -> np.ndarray:
    """Boolean [M, N]: is database item n relevant to query m (same key / class, tempo within 4 %,
    at least one shared tag)?"""
    kind = task_of(task).kind
    if kind == "tempo":
        return tempo_match(np.asarray(database, dtype=float)[None, :], np.asarray(query, dtype=float)[:, None])
    if kind == "tags":
        vocab = {t: k for k, t in enumerate(sorted({t for tags in (*query, *database) for t in tags}))}
        return (tag_matrix(query, vocab) @ tag_matrix(database, vocab).T) > 0
    if kind == "key":
        q, d = np.asarray([key_index(k) for k in query]), np.asarray([key_index(k) for k in database])
        return q[:, None] == d[None, :]
    return np.asarray(query, dtype=object)[:, None] == np.asarray(database, dtype=object)[None, :]
