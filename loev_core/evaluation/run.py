"""`evaluate`: every probe, retrieval score and equivariance curve for a list of checkpoints.

Audio is decoded once; clean embeddings are computed once per model and split; every transformed
copy (pitch-shift probe inputs, transformed queries, curve batches) is computed once and embedded by
every model. Caps on the number of clips for the transformed parts keep a 720-clip x 3-model run in
minutes on two CPU cores. All random choices (subsets, shift amounts, stretch rates) come from one
seeded generator and never look at results.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from loev_core.audio import AudioError, Clip, load_excerpt, resolve_corpus
from loev_core.checkpoint import checkpoint_id, load_model
from loev_core.embeddings.waves import centre_crop, embed_waves, stack_common, transform_span
from loev_core.evaluation.equivariance import DEFAULT_VALUES, equivariance_curves
from loev_core.evaluation.labels import has_label, label_arrays
from loev_core.evaluation.probes import (
    PROBE_KINDS,
    SHIFT_RANGE,
    probe_instrument,
    probe_key,
    probe_shift,
    probe_tempo,
    shift_features,
)
from loev_core.evaluation.retrieval import KS, TASKS, retrieval_scores
from loev_core.evaluation.splits import assign_splits
from loev_core.evaluation.transforms import moved_labels, transform_waves

log = logging.getLogger(__name__)
PROBE_TASKS = {"key": probe_key, "tempo": probe_tempo, "instrument": probe_instrument}


@dataclasses.dataclass(frozen=True)
class EvalOptions:
    """Knobs of a run; the caps bound the cost of the transformed parts (None = no cap)."""

    # test clips per equivariance curve: every clip of a demo-sized test split (144). With a sample of 32
    # the same model's Spearman ranged 0.81-0.98 across samples on the validation subset
    # (scripts/curve_noise.py), so a pass or fail said more about the sample than the model.
    max_curve_clips: int | None = 256
    max_shift_clips: int | None = 192  # clips per split for the pitch-shift probe
    max_query_clips: int | None = 500  # transformed retrieval queries (test clips; two copies each in memory)
    curve_values: dict[str, list[float]] = dataclasses.field(default_factory=lambda: dict(DEFAULT_VALUES))
    probes: tuple[str, ...] = PROBE_KINDS
    shift_input: str = "pair"
    query_shifts: tuple[int, ...] = (-4, -3, -2, -1, 1, 2, 3, 4)
    query_rates: tuple[float, float] = (0.7, 1.3)
    ks: tuple[int, ...] = KS
    interval: str = "bootstrap"
    excerpt_seconds: float | None = 30.0  # longer files are evaluated on their middle 30 s
    max_clips: int | None = 2000  # per split: a seeded sample of bigger splits (audio is held in memory)
    test_fraction: float = 0.2  # share of groups held out when the corpus has no split column
    batch_size: int = 32
    seed: int = 0
    progress: bool = True


@dataclasses.dataclass
class Split:
    clips: list[Clip]
    waves: list[torch.Tensor]
    labels: dict[str, np.ndarray]


def _subset(n: int, cap: int | None, rng: np.random.Generator) -> np.ndarray:
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
    return Split(kept, waves, label_arrays([c.labels for c in kept]))


def sample_clips(clips: list[Clip], cap: int | None, seed: int) -> list[Clip]:
    """At most `cap` clips, a seeded sample in corpus order (all of them when the split is smaller).

    The split's audio is decoded into memory (2,000 x 30 s is about 4 GB at 16 kHz), so a catalogue
    the size of MagnaTagATune is sampled rather than exhausting the machine. Its own generator leaves
    every other random choice of the run unchanged."""
    if cap is None or len(clips) <= cap:
        return clips
    keep = np.sort(np.random.default_rng([seed, 7]).choice(len(clips), size=cap, replace=False))
    return [clips[i] for i in keep]


def model_name(path: str | Path, taken: set[str]) -> str:
    p = Path(path)
    base = p.parent.name if p.is_file() and p.name == "model.safetensors" else p.stem if p.is_file() else p.name
    name, i = base or "model", 2
    while name in taken:
        name, i = f"{base}-{i}", i + 1
    taken.add(name)
    return name


def run_probes(train_emb: dict[str, np.ndarray], test_emb: dict[str, np.ndarray], train: Split, test: Split,
               shift: dict[str, Any] | None, opts: EvalOptions, desc: str) -> dict[str, Any]:
    """{subspace: {probe kind: {task: metrics}}}; tasks lacking labels in either split are skipped."""
    out: dict[str, Any] = {}
    for space in tqdm(list(train_emb), desc=f"probes {desc}", unit="space", disable=not opts.progress, leave=False):
        out[space] = {}
        for kind in opts.probes:
            res = {}
            for task, fn in PROBE_TASKS.items():
                mtr, mte = has_label(task, train.labels), has_label(task, test.labels)
                if mtr.any() and mte.any():
                    res[task] = fn(kind, train_emb[space][mtr], train.labels[task][mtr], test_emb[space][mte],
                                   test.labels[task][mte], opts.seed)
            if shift is not None:
                xtr = shift_features(shift["train_clean"][space], shift["train_moved"][space], opts.shift_input)
                xte = shift_features(shift["test_clean"][space], shift["test_moved"][space], opts.shift_input)
                res["pitch_shift"] = probe_shift(kind, xtr, shift["train_values"], xte, shift["test_values"],
                                                 opts.seed)
            out[space][kind] = res
    return out


def evaluate(checkpoints: Sequence[str | Path], corpus: str | Path, out_dir: str | Path, *,
             names: Sequence[str] | None = None, readme: str | Path | None = None,
             options: EvalOptions | None = None, **overrides: Any) -> dict[str, Any]:
    """Evaluate checkpoints on a corpus: a manifest (labels optional; without a train|test `split`
    column a grouped split is made, `splits.assign_splits`) or a plain folder of audio, which gets the
    label-free parts: pitch-shift probe and equivariance curves.

    Writes results.json, results.md, PNG plots and report.html to `out_dir` (and, with `readme`, the
    table and pitch-shift plot between the README's eval markers). `overrides` set `EvalOptions` fields.
    Returns the results dict (see `report.write_report` for the files and their keys).
    """
    from loev_core.evaluation.report import write_report
    from loev_core.evaluation.summary import check_targets

    opts = dataclasses.replace(options or EvalOptions(), **overrides)
    t0 = time.time()
    if not checkpoints:
        raise ValueError("give at least one checkpoint")
    taken: set[str] = set()
    names = list(names) if names else [model_name(c, taken) for c in checkpoints]
    if len(names) != len(checkpoints) or len(set(names)) != len(names):
        raise ValueError(f"need one distinct name per checkpoint, got {names}")
    paths = dict(zip(names, checkpoints, strict=True))
    models = {n: load_model(c) for n, c in paths.items()}
    sr = next(iter(models.values())).sample_rate
    window = min(int(round(m.clip_seconds * sr)) for m in models.values())
    listed = resolve_corpus(corpus)
    if not listed:
        raise ValueError(f"{corpus}: no audio files (or manifest rows) found")
    clips, split_note = assign_splits(listed, opts.test_fraction, opts.seed)
    by_split = {s: [c for c in clips if c.labels.get("split") == s] for s in ("train", "test")}
    n_listed = {s: len(cs) for s, cs in by_split.items()}
    by_split = {s: sample_clips(cs, opts.max_clips, opts.seed) for s, cs in by_split.items()}
    for s, cs in by_split.items():
        if not cs:
            raise ValueError(f"{corpus}: no clips with split={s!r} (a split column needs train and test rows; "
                             "without the column a split is made)")
    train = load_split(by_split["train"], sr, "train", opts.progress, opts.excerpt_seconds)
    test = load_split(by_split["test"], sr, "test", opts.progress, opts.excerpt_seconds)
    rng = np.random.default_rng(opts.seed)
    bs, prog = opts.batch_size, opts.progress
    span = transform_span(window, sr)  # parts scored on the window transform only this much (demo clips: whole)
    labelled = {t: bool(has_label(t, test.labels).any()) for t in TASKS}

    # Transformed inputs, made once and shared by every model.
    shift_sets = {}
    for split_name, split in (("train", train), ("test", test)):
        idx = _subset(len(split.waves), opts.max_shift_clips, rng)
        vals = rng.integers(-SHIFT_RANGE, SHIFT_RANGE + 1, size=len(idx)).astype(float)
        moved = transform_waves("pitch_shift", [centre_crop(split.waves[i], span) for i in idx], sr, vals, bs)
        shift_sets[split_name] = (idx, vals, [centre_crop(w, window) for w in moved])
    # transformed queries only where a label can score them (a folder of recordings has none)
    q_idx = _subset(len(test.waves), opts.max_query_clips, rng) if any(labelled.values()) else np.arange(0)
    q_vals = {"pitch_shift": rng.choice(np.asarray(opts.query_shifts, dtype=float), size=len(q_idx)),
              "time_stretch": rng.uniform(*opts.query_rates, size=len(q_idx))} if len(q_idx) else {}
    queries = {t: transform_waves(t, [test.waves[i] for i in q_idx], sr, v, bs) for t, v in q_vals.items()}
    q_labels = {t: label_arrays([moved_labels(t, test.clips[i].labels, float(v)) for i, v in zip(q_idx, vals,
                                                                                                 strict=True)])
                for t, vals in q_vals.items()}

    results: dict[str, Any] = {"corpus": str(corpus), "n_train": len(train.waves), "n_test": len(test.waves),
                               "n_listed": n_listed, "split": split_note, "labelled": labelled, "sample_rate": sr,
                               "options": dataclasses.asdict(opts), "models": {}}
    timings = {"load+transform": round(time.time() - t0, 1)}
    for name, model in models.items():
        t_model = time.time()
        emb = {s: embed_waves(model, sp.waves, sr, bs, f"embed {name} {s}", prog)
               for s, sp in (("train", train), ("test", test))}
        shift = {}
        for s, (idx, vals, moved) in shift_sets.items():
            shift[f"{s}_clean"] = embed_waves(model, [centre_crop((train if s == "train" else test).waves[i], window)
                                                      for i in idx], sr, bs, f"embed {name} {s} crops", prog)
            shift[f"{s}_moved"] = embed_waves(model, moved, sr, bs, f"embed {name} {s} shifted", prog)
            shift[f"{s}_values"] = vals
        retrieval: dict[str, Any] = {sp: {} for sp in model.subspaces}
        q_emb = {t: embed_waves(model, w, sr, bs, f"embed {name} {t} queries", prog) for t, w in queries.items()}
        for sp in model.subspaces:
            db = emb["test"][sp]
            retrieval[sp]["clean"] = retrieval_scores(db, test.labels, db, test.labels,
                                                      np.arange(len(db)), opts.ks)
            for t in queries:
                retrieval[sp][t] = retrieval_scores(db, test.labels, q_emb[t][sp], q_labels[t], q_idx, opts.ks)
        timings[f"embed+retrieval {name}"] = round(time.time() - t_model, 1)
        t_probe = time.time()
        results["models"][name] = {
            "checkpoint": str(paths[name]), "checkpoint_id": checkpoint_id(paths[name]), "kind": model.kind,
            "subspaces": list(model.subspaces), "retrieval": retrieval, "curves": {},
            "probes": run_probes(emb["train"], emb["test"], train, test, shift, opts, name)}
        timings[f"probes {name}"] = round(time.time() - t_probe, 1)

    t_curves = time.time()
    c_idx = _subset(len(test.waves), opts.max_curve_clips, rng)
    curve_waves = stack_common([centre_crop(test.waves[i], span) for i in c_idx])
    for transform, values in opts.curve_values.items():
        if not values:
            continue
        curves = equivariance_curves(models, curve_waves, sr, transform, values, window=window, batch_size=bs,
                                     interval=opts.interval, seed=opts.seed, progress=prog)
        for name in models:
            results["models"][name]["curves"][transform] = curves[name]
    timings["curves"] = round(time.time() - t_curves, 1)
    results["timings"] = timings
    results["n_curve_clips"] = len(c_idx)
    results["n_shift_clips"] = {s: len(v[0]) for s, v in shift_sets.items()}
    results["n_query_clips"] = len(q_idx)
    results["summary"] = check_targets(results)
    results["seconds"] = round(time.time() - t0, 1)
    write_report(results, Path(out_dir), readme=readme)
    return results
