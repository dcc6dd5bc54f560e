"""`evaluate`: every probe, retrieval score and equivariance curve for a list of checkpoints.

Audio is decoded once; clean embeddings are computed once per model and split; every transformed
copy (pitch-shift probe inputs, transformed queries, curve batches) is computed once and embedded by
every model. Caps on the number of clips for the transformed parts keep a 720-clip x 3-model run in
minutes on two CPU cores. All random choices (subsets, shift amounts, stretch rates) come from one
seeded generator and never look at results.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from loev_core.checkpoint import checkpoint_id, checkpoint_label, load_model
from loev_core.config import PITCH_SHIFT_RANGE, TIME_STRETCH_RANGE
from loev_core.embeddings.waves import transform_span
from loev_core.evaluation.equivariance import DEFAULT_VALUES
from loev_core.evaluation.inputs import EvalCorpus, TransformedInputs, load_corpus, transformed_inputs
from loev_core.evaluation.probes import PROBE_KINDS
from loev_core.evaluation.repeats import REPEAT_SHARE
from loev_core.evaluation.retrieval import KS
from loev_core.evaluation.scoring import CurveResults, ModelScores, run_curves, score_model
from loev_core.evaluation.seen import seen_by
from loev_core.evaluation.track_retrieval import evaluate_tracks
from loev_core.model import LOEVModel

# transformed queries: whole-semitone shifts (not 0) and rates within the ranges the models were trained on
QUERY_SHIFTS = tuple(s for s in range(int(PITCH_SHIFT_RANGE[0]), int(PITCH_SHIFT_RANGE[1]) + 1) if s)


@dataclasses.dataclass(frozen=True)
class EvalOptions:
    """Knobs of a run; the caps bound the cost of the transformed parts (None = no cap)."""

    # test clips per equivariance curve: every clip of a demo-sized test split (144). With a small sample
    # the Spearman target says more about which clips were drawn than about the model
    # (scripts/curve_noise.py measures the spread; docs/experiments.md).
    max_curve_clips: int | None = 256
    max_shift_clips: int | None = 192  # clips per split for the pitch-shift probe
    max_query_clips: int | None = 500  # transformed retrieval queries (test clips; two copies each in memory)
    curve_values: dict[str, list[float]] = dataclasses.field(default_factory=lambda: dict(DEFAULT_VALUES))
    probes: tuple[str, ...] = PROBE_KINDS
    shift_input: str = "pair"
    query_shifts: tuple[int, ...] = QUERY_SHIFTS
    query_rates: tuple[float, float] = TIME_STRETCH_RANGE
    ks: tuple[int, ...] = KS
    interval: str = "bootstrap"
    excerpt_seconds: float | None = 30.0  # longer files are evaluated on their middle 30 s
    max_clips: int | None = 2000  # per split: a seeded sample of bigger splits (audio is held in memory)
    test_fraction: float = 0.2  # share of groups held out when the corpus has no split column
    track_clips: int = 8  # windows cut from each test track for same-recording retrieval (`track` column)
    repeat_share: float = REPEAT_SHARE  # a clip repeats another of its track when this share of it recurs there
    batch_size: int = 32
    seed: int = 0
    progress: bool = True


def model_name(path: str | Path, taken: set[str]) -> str:
    """`checkpoint_label` of `path`, made unique among `taken` (-2, -3, ...) and added to it."""
    base = checkpoint_label(path)
    name, i = base, 2
    while name in taken:
        name, i = f"{base}-{i}", i + 1
    taken.add(name)
    return name


@dataclasses.dataclass(frozen=True)
class Models:
    """The checkpoints under evaluation by display name, and the framing they share."""

    paths: dict[str, str | Path]
    models: dict[str, LOEVModel]
    sample_rate: int  # the first model's; every input is decoded at this rate
    window: int  # samples each model scores: the shortest clip length among them
    span: int  # samples kept around the window before transforming (`waves.transform_span`)


def load_models(checkpoints: Sequence[str | Path], names: Sequence[str] | None) -> Models:
    """Load every checkpoint under a distinct name (given, or `model_name` of its path)."""
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
    return Models(paths, models, sr, window, transform_span(window, sr))


def assemble_results(corpus: str | Path, models: Models, data: EvalCorpus, inputs: TransformedInputs,
                     scores: dict[str, ModelScores], curves: CurveResults, opts: EvalOptions,
                     load_seconds: float) -> dict[str, Any]:
    """The results dict (results.json) without its "summary" and "seconds"."""
    results: dict[str, Any] = {
        "corpus": str(corpus), "n_train": len(data.train.waves), "n_test": len(data.test.waves),
        "n_listed": data.n_listed, "skipped": data.train.skipped + data.test.skipped, "split": data.split_note,
        "labelled": data.labelled,
        "sample_rate": models.sample_rate, "options": dataclasses.asdict(opts), "models": {}}
    timings = {"load+transform": load_seconds}
    for name, model in models.models.items():
        s, path = scores[name], models.paths[name]
        timings[f"embed+retrieval {name}"] = s.embed_retrieval_seconds
        timings[f"probes {name}"] = s.probe_seconds
        results["models"][name] = {
            "checkpoint": str(path), "checkpoint_id": checkpoint_id(path), "kind": model.kind,
            "subspaces": list(model.subspaces), "retrieval": s.retrieval, "curves": curves.by_model[name],
            "probes": s.probes}
    timings["curves"] = curves.seconds
    results["timings"] = timings
    results["n_curve_clips"] = curves.n_clips
    results["curve_rows"] = "every clip (no split column)" if data.made_split else "test split"
    results["n_shift_clips"] = {s: len(v.idx) for s, v in inputs.shift.items()}
    results["n_query_clips"] = len(inputs.queries.idx)
    return results


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
    models = load_models(checkpoints, names)
    data = load_corpus(corpus, models.sample_rate, opts)
    rng = np.random.default_rng(opts.seed)
    inputs = transformed_inputs(data, models.sample_rate, models.window, models.span, opts, rng)
    load_seconds = round(time.time() - t0, 1)
    scores = {name: score_model(name, model, data, inputs, models.sample_rate, models.window, opts)
              for name, model in models.models.items()}
    unseen = data.unseen()  # the label-free scores: test split, or every clip when the split was made here
    curves = run_curves(models.models, unseen, models.sample_rate, models.window, models.span, opts, rng)
    results = assemble_results(corpus, models, data, inputs, scores, curves, opts, load_seconds)
    recordings = evaluate_tracks(models.models, unseen, models.sample_rate, models.window, models.span, opts)
    if recordings is not None:  # tracks, or files of recordings' length: the others' results stay as they were
        recordings["rows"] = "every file (no split column)" if data.made_split else "test split"
        results["recordings"] = recordings
        results["timings"]["recordings"] = recordings["seconds"]
    scored_rows = ("*",) if data.made_split else ("test",)  # every row is scored when the split was made here
    results["seen"] = {name: why for name, model in models.models.items()
                       if (why := seen_by(model.metadata, corpus, scored_rows))}
    results["summary"] = check_targets(results)
    results["seconds"] = round(time.time() - t0, 1)
    write_report(results, Path(out_dir), readme=readme)
    return results
