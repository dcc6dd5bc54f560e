"""The per-model and cross-model phases of `evaluate`: embed a model's inputs, score retrieval and the
probes on them, and the equivariance curves of all models on one shared batch of test clips."""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm.auto import tqdm

from loev_core.embeddings.waves import centre_crop, embed_waves, stack_common
from loev_core.evaluation.equivariance import Curve, equivariance_curves
from loev_core.evaluation.inputs import SPLITS, EvalCorpus, QueryInputs, Split, TransformedInputs, subset
from loev_core.evaluation.labels import has_label
from loev_core.evaluation.probes import probe_instrument, probe_key, probe_shift, probe_tempo, shift_features
from loev_core.evaluation.retrieval import retrieval_scores

if TYPE_CHECKING:
    from loev_core.evaluation.run import EvalOptions

PROBE_TASKS = {"key": probe_key, "tempo": probe_tempo, "instrument": probe_instrument}
Vectors = dict[str, np.ndarray]  # subspace -> float32 [N, D]


@dataclasses.dataclass(frozen=True)
class ShiftEmbeddings:
    """One split's pitch-shift probe inputs embedded: the clean crops, their shifted copies, the shifts."""

    clean: Vectors
    moved: Vectors
    values: np.ndarray


@dataclasses.dataclass(frozen=True)
class ModelEmbeddings:
    """Everything one model embeds: clean clips and shift-probe inputs per split, queries per transform."""

    clean: dict[str, Vectors]
    shift: dict[str, ShiftEmbeddings]
    queries: dict[str, Vectors]


@dataclasses.dataclass(frozen=True)
class ModelScores:
    """One model's results.json parts that do not involve other models, with the seconds they took."""

    retrieval: dict[str, Any]  # {subspace: {"clean" | transform: {task: metrics}}}
    probes: dict[str, Any]  # {subspace: {probe kind: {task: metrics}}}
    embed_retrieval_seconds: float
    probe_seconds: float


@dataclasses.dataclass(frozen=True)
class CurveResults:
    """Equivariance curves of every model: {model: {transform: {subspace: Curve}}}."""

    by_model: dict[str, dict[str, dict[str, Curve]]]
    n_clips: int
    seconds: float


def run_probes(train_emb: Vectors, test_emb: Vectors, train: Split, test: Split,
               shift: dict[str, ShiftEmbeddings] | None, opts: EvalOptions, desc: str) -> dict[str, Any]:
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
                tr, te = shift["train"], shift["test"]
                xtr = shift_features(tr.clean[space], tr.moved[space], opts.shift_input)
                xte = shift_features(te.clean[space], te.moved[space], opts.shift_input)
                res["pitch_shift"] = probe_shift(kind, xtr, tr.values, xte, te.values, opts.seed)
            out[space][kind] = res
    return out


def embed_model(name: str, model: Any, corpus: EvalCorpus, inputs: TransformedInputs, sample_rate: int, window: int,
                opts: EvalOptions) -> ModelEmbeddings:
    """Embed the clean splits, the shift-probe crops and shifted copies, then the transformed queries."""
    def embed(waves: list, what: str) -> Vectors:
        return embed_waves(model, waves, sample_rate, opts.batch_size, f"embed {name} {what}", opts.progress)

    splits = dict(zip(SPLITS, (corpus.train, corpus.test), strict=True))
    clean = {s: embed(sp.waves, s) for s, sp in splits.items()}
    shift = {s: ShiftEmbeddings(embed([centre_crop(splits[s].waves[i], window) for i in si.idx], f"{s} crops"),
                                embed(si.moved, f"{s} shifted"), si.values)
             for s, si in inputs.shift.items()}
    queries = {t: embed(w, f"{t} queries") for t, w in inputs.queries.waves.items()}
    return ModelEmbeddings(clean, shift, queries)


def score_retrieval(subspaces: list[str], emb: ModelEmbeddings, test: Split, queries: QueryInputs,
                    opts: EvalOptions) -> dict[str, Any]:
    """P@k of clean test clips against each other, and of each transformed query against the clean clips."""
    retrieval: dict[str, Any] = {sp: {} for sp in subspaces}
    for sp in subspaces:
        db = emb.clean["test"][sp]
        retrieval[sp]["clean"] = retrieval_scores(db, test.labels, db, test.labels, np.arange(len(db)), opts.ks)
        for t in queries.waves:
            retrieval[sp][t] = retrieval_scores(db, test.labels, emb.queries[t][sp], queries.labels[t], queries.idx,
                                                opts.ks)
    return retrieval


def score_model(name: str, model: Any, corpus: EvalCorpus, inputs: TransformedInputs, sample_rate: int, window: int,
                opts: EvalOptions) -> ModelScores:
    """Embed, then retrieval and probes for one model."""
    t0 = time.time()
    emb = embed_model(name, model, corpus, inputs, sample_rate, window, opts)
    retrieval = score_retrieval(list(model.subspaces), emb, corpus.test, inputs.queries, opts)
    t_probe = time.time()
    probes = run_probes(emb.clean["train"], emb.clean["test"], corpus.train, corpus.test, emb.shift, opts, name)
    return ModelScores(retrieval, probes, round(t_probe - t0, 1), round(time.time() - t_probe, 1))


def run_curves(models: dict[str, Any], test: Split, sample_rate: int, window: int, span: int, opts: EvalOptions,
               rng: np.random.Generator) -> CurveResults:
    """Every model's curves for each transform with values, on one seeded subset of the test clips."""
    t0 = time.time()
    idx = subset(len(test.waves), opts.max_curve_clips, rng)
    waves = stack_common([centre_crop(test.waves[i], span) for i in idx])
    by_model: dict[str, dict[str, dict[str, Curve]]] = {name: {} for name in models}
    for transform, values in opts.curve_values.items():
        if not values:
            continue
        curves = equivariance_curves(models, waves, sample_rate, transform, values, window=window,
                                     batch_size=opts.batch_size, interval=opts.interval, seed=opts.seed,
                                     progress=opts.progress)
        for name in models:
            by_model[name][transform] = curves[name]
    return CurveResults(by_model, len(idx), round(time.time() - t0, 1))
