"""What `evaluate` prepares before any model runs: the decoded train/test splits, and the transformed
copies (pitch-shift probe inputs, transformed retrieval queries) that every model then embeds.

The random choices here come from the run's one seeded generator, drawn in a fixed order (train shift
subset and amounts, test shift subset and amounts, query subset, query shifts, query rates), so a run
is reproducible and the draws never look at results.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from tqdm.auto import tqdm

from loev_core.audio import AudioError, Clip, load_excerpt, resolve_corpus
from loev_core.embeddings.waves import centre_crop
from loev_core.evaluation.labels import has_label, label_arrays
from loev_core.evaluation.probes import SHIFT_RANGE
from loev_core.evaluation.retrieval import TASKS
from loev_core.evaluation.splits import assign_splits, has_split
from loev_core.evaluation.transforms import moved_labels, transform_waves

if TYPE_CHECKING:
    from loev_core.evaluation.run import EvalOptions

log = logging.getLogger(__name__)
SPLITS = ("train", "test")


@dataclasses.dataclass
class Split:
    """The decoded clips of one split, in order, with their label arrays (`labels.label_arrays`)."""

    clips: list[Clip]
    waves: list[torch.Tensor]
    labels: dict[str, np.ndarray]
    skipped: list[str] = dataclasses.field(default_factory=list)  # "path: why" of each clip left out


def subset(n: int, cap: int | None, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of at most `cap` of `n` items, drawn from `rng` (all of them, with no draw, when
    `cap` is None or not smaller than `n`)."""
    return np.arange(n) if cap is None or cap >= n else np.sort(rng.choice(n, size=cap, replace=False))


def load_split(clips: list[Clip], sample_rate: int, name: str, progress: bool,
               excerpt_seconds: float | None = None) -> Split:
    """Decode every clip of a split (the middle `excerpt_seconds` of longer files); unreadable ones are
    skipped with a warning, not fatal."""
    kept, waves, bad = [], [], []
    for c in tqdm(clips, desc=f"load {name}", unit="clip", disable=not progress, leave=False):
        try:
            waves.append(load_excerpt(c.path, sample_rate, excerpt_seconds))
            kept.append(c)
        except AudioError as e:
            bad.append(str(e))
    if bad:
        log.warning("%s: skipped %d unreadable clip(s), e.g. %s", name, len(bad), bad[0])
    if not kept:
        raise ValueError(f"the {name} split has no usable clips")
    return Split(kept, waves, label_arrays([c.labels for c in kept]), bad)


def sample_clips(clips: list[Clip], cap: int | None, seed: int) -> list[Clip]:
    """At most `cap` clips, a seeded sample in corpus order (all of them when the split is smaller).

    The split's audio is decoded into memory (2,000 x 30 s is about 4 GB at 16 kHz), so a catalogue
    the size of MagnaTagATune is sampled rather than exhausting the machine. Its own generator leaves
    every other random choice of the run unchanged."""
    if cap is None or len(clips) <= cap:
        return clips
    keep = np.sort(np.random.default_rng([seed, 7]).choice(len(clips), size=cap, replace=False))
    return [clips[i] for i in keep]


@dataclasses.dataclass(frozen=True)
class EvalCorpus:
    """The corpus split into decoded train and test clips."""

    train: Split
    test: Split
    n_listed: dict[str, int]  # clips per split before sampling down to `max_clips`
    split_note: str  # how the split was made (`splits.assign_splits`)
    labelled: dict[str, bool]  # retrieval task -> whether any test clip carries its label
    made_split: bool = False  # the corpus had no split column: no model trained on either side

    def unseen(self) -> Split:
        """The clips no model under evaluation was trained on: the test split, or every clip when the split was
        made here (it exists only for the probes; label-free scores then use all the recordings)."""
        if not self.made_split:
            return self.test
        clips = self.train.clips + self.test.clips
        return Split(clips, self.train.waves + self.test.waves, label_arrays([c.labels for c in clips]))


def load_corpus(corpus: str | Path, sample_rate: int, opts: EvalOptions) -> EvalCorpus:
    """List, split, sample and decode the corpus (a manifest or a folder of audio)."""
    listed = resolve_corpus(corpus, allow_outside=True)
    if not listed:
        raise ValueError(f"{corpus}: no audio files (or manifest rows) found")
    made_split = not has_split(listed)
    clips, split_note = assign_splits(listed, opts.test_fraction, opts.seed)
    by_split = {s: [c for c in clips if c.labels.get("split") == s] for s in SPLITS}
    n_listed = {s: len(cs) for s, cs in by_split.items()}
    by_split = {s: sample_clips(cs, opts.max_clips, opts.seed) for s, cs in by_split.items()}
    for s, cs in by_split.items():
        if not cs:
            raise ValueError(f"{corpus}: no clips with split={s!r} (a split column needs train and test rows; "
                             "without the column a split is made)")
    train, test = (load_split(by_split[s], sample_rate, s, opts.progress, opts.excerpt_seconds) for s in SPLITS)
    labelled = {t: bool(has_label(t, test.labels).any()) for t in TASKS}
    return EvalCorpus(train, test, n_listed, split_note, labelled, made_split)


@dataclasses.dataclass(frozen=True)
class ShiftInputs:
    """Pitch-shift probe inputs of one split: which clips, their shifts in semitones, the shifted copies
    (centre window of each)."""

    idx: np.ndarray
    values: np.ndarray
    moved: list[torch.Tensor]


@dataclasses.dataclass(frozen=True)
class QueryInputs:
    """Transformed retrieval queries: per transform, a copy of each test clip in `idx` and the labels the
    copy should have (a shifted key moves with it); empty when the test clips have no labels."""

    idx: np.ndarray
    waves: dict[str, list[torch.Tensor]]
    labels: dict[str, dict[str, np.ndarray]]


@dataclasses.dataclass(frozen=True)
class TransformedInputs:
    """Every transformed copy of the run, made once and embedded by every model."""

    shift: dict[str, ShiftInputs]  # by split
    queries: QueryInputs


def shift_inputs(split: Split, sample_rate: int, window: int, span: int, opts: EvalOptions,
                 rng: np.random.Generator) -> ShiftInputs:
    idx = subset(len(split.waves), opts.max_shift_clips, rng)
    vals = rng.integers(-SHIFT_RANGE, SHIFT_RANGE + 1, size=len(idx)).astype(float)
    moved = transform_waves("pitch_shift", [centre_crop(split.waves[i], span) for i in idx], sample_rate, vals,
                            opts.batch_size)
    return ShiftInputs(idx, vals, [centre_crop(w, window) for w in moved])


def query_inputs(corpus: EvalCorpus, sample_rate: int, opts: EvalOptions, rng: np.random.Generator) -> QueryInputs:
    test = corpus.test
    # transformed queries only where a label can score them (a folder of recordings has none)
    idx = subset(len(test.waves), opts.max_query_clips, rng) if any(corpus.labelled.values()) else np.arange(0)
    values = {"pitch_shift": rng.choice(np.asarray(opts.query_shifts, dtype=float), size=len(idx)),
              "time_stretch": rng.uniform(*opts.query_rates, size=len(idx))} if len(idx) else {}
    waves = {t: transform_waves(t, [test.waves[i] for i in idx], sample_rate, v, opts.batch_size)
             for t, v in values.items()}
    labels = {t: label_arrays([moved_labels(t, test.clips[i].labels, float(v)) for i, v in zip(idx, vals, strict=True)])
              for t, vals in values.items()}
    return QueryInputs(idx, waves, labels)


def transformed_inputs(corpus: EvalCorpus, sample_rate: int, window: int, span: int, opts: EvalOptions,
                       rng: np.random.Generator) -> TransformedInputs:
    """Pitch-shift probe inputs of each split, then the transformed queries (`window`: samples a model
    scores; `span`: samples kept around it before transforming)."""
    shift = {s: shift_inputs(split, sample_rate, window, span, opts, rng)
             for s, split in zip(SPLITS, (corpus.train, corpus.test), strict=True)}
    return TransformedInputs(shift, query_inputs(corpus, sample_rate, opts, rng))
