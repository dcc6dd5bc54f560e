"""`evaluate_dataset`: the reference protocol for a list of checkpoints on one split dataset.

Every track is decoded once and embedded by every model (chunk-averaged, `tracks`); each task is then
probed per model and subspace (`protocol`, every probe kind, mean and spread over seeds) and scored by
retrieval P@k with clean and transformed queries (pitch-shifted and time-stretched centre excerpts of
test tracks, their labels moved with the transform). All random choices come from seeded generators.

Metric names in `results["tasks"][task][model][subspace]`: the task's metrics from the headline probe
(the MLP; `accuracy`, `weighted`, `acc1`, `acc2`, `roc_auc`, `pr_auc`) and their spread `<metric>_std`;
the other probes as `<kind>_<metric>` (e.g. `linear_accuracy`); retrieval as `p_at_<k>` (clean
queries) and `p_at_<k>_<transform>` (transformed queries).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from loev_core.checkpoint import checkpoint_id
from loev_core.datasets.evalset import EvalSet
from loev_core.datasets.items import SPLITS, DatasetError, Item
from loev_core.datasets.tasks import move_label
from loev_core.embeddings.waves import centre_crop, embed_waves
from loev_core.evaluation.label_retrieval import task_p_at_k
from loev_core.evaluation.protocol import PROBE_KINDS, ProbeSettings, probe_task
from loev_core.evaluation.retrieval import KS
from loev_core.evaluation.run import load_models
from loev_core.evaluation.tracks import DEFAULT_CHUNKS, embed_tracks
from loev_core.evaluation.transforms import transform_waves

QUERY_TRANSFORMS = ("pitch_shift", "time_stretch")


@dataclasses.dataclass(frozen=True)
class ProtocolOptions:
    """Knobs of a reference-protocol run."""

    chunks: int = DEFAULT_CHUNKS  # training-length chunks averaged per track (the reference: up to 64)
    seeds: int = 3
    probes: tuple[str, ...] = PROBE_KINDS
    query_clips: int | None = 500  # test tracks that get transformed queries (None = all)
    query_shifts: tuple[int, ...] = (-4, -3, -2, -1, 1, 2, 3, 4)
    query_rates: tuple[float, float] = (0.7, 1.3)
    ks: tuple[int, ...] = KS
    max_tracks: int | None = None  # per split: a seeded sample of bigger splits (None = all)
    batch_size: int = 32
    seed: int = 0
    progress: bool = True
    probe_settings: ProbeSettings = ProbeSettings()


def headline_probe(probes: Sequence[str]) -> str:
    return "mlp" if "mlp" in probes else probes[0]


def cap_splits(items: Sequence[Item], cap: int | None, seed: int) -> list[Item]:
    """At most `cap` items per split, a seeded sample in input order."""
    if cap is None:
        return list(items)
    keep: set[int] = set()
    for s in SPLITS:
        idx = [k for k, i in enumerate(items) if i.split == s]
        if len(idx) > cap:
            idx = list(np.random.default_rng([seed, 11]).choice(idx, size=cap, replace=False))
        keep.update(int(k) for k in idx)
    return [i for k, i in enumerate(items) if k in keep]


def _queries(models: dict[str, Any], centres: dict[int, Any], sr: int, window: int, opts: ProtocolOptions,
             rng: np.random.Generator) -> dict[str, dict[str, Any]]:
    """{transform: {"positions", "values", "emb": {model: {subspace: [Q, D]}}}} for the kept centre excerpts."""
    pos = sorted(centres)
    out: dict[str, dict[str, Any]] = {}
    if not pos:
        return out
    values = {"pitch_shift": rng.choice(np.asarray(opts.query_shifts, dtype=float), size=len(pos)),
              "time_stretch": rng.uniform(*opts.query_rates, size=len(pos))}
    for t in QUERY_TRANSFORMS:
        waves = [centre_crop(w, window) for w in transform_waves(t, [centres[p] for p in pos], sr, values[t],
                                                                  opts.batch_size)]
        emb = {n: embed_waves(m, waves, sr, opts.batch_size, f"embed {n} {t} queries", opts.progress)
               for n, m in models.items()}
        out[t] = {"positions": pos, "values": values[t], "emb": emb}
    return out


def _retrieval(task: str, db: np.ndarray, db_labels: list, db_pos: list[int], queries: dict[str, Any],
               model: str, space: str, labels_at: dict[int, Any], ks: Sequence[int]) -> dict[str, float]:
    """Clean P@k (every labelled test track a query) and transformed P@k (moved labels)."""
    out = task_p_at_k(task, db, db_labels, db, db_labels, np.arange(len(db)), ks)
    row_of = {p: r for r, p in enumerate(db_pos)}
    for t, q in queries.items():
        rows = [k for k, p in enumerate(q["positions"]) if p in row_of]
        q_labels = [move_label(task, labels_at[q["positions"][k]], t, float(q["values"][k])) for k in rows]
        scores = task_p_at_k(task, db, db_labels, q["emb"][model][space][rows], q_labels,
                             np.asarray([row_of[q["positions"][k]] for k in rows], dtype=int), ks)
        out.update({f"{m}_{t}": v for m, v in scores.items()})
    return out


def evaluate_dataset(checkpoints: Sequence[str | Path], evalset: EvalSet, out_dir: str | Path | None = None, *,
                     names: Sequence[str] | None = None, options: ProtocolOptions | None = None,
                     **overrides: Any) -> dict[str, Any]:
    """Score checkpoints on a split dataset with the reference protocol; writes results.json, results.md,
    results.tex and a PNG to `out_dir` (when given) and returns the results dict."""
    from loev_core.evaluation.paper_tables import write_tables

    opts = dataclasses.replace(options or ProtocolOptions(), **overrides)
    t0 = time.time()
    if not checkpoints:
        raise ValueError("give at least one checkpoint")
    if not opts.probes or not set(opts.probes) <= set(PROBE_KINDS):
        raise ValueError(f"probes must be some of {', '.join(PROBE_KINDS)}, got {opts.probes}")
    loaded = load_models(checkpoints, names)
    models, sr, window = loaded.models, loaded.sample_rate, loaded.window
    labelled = [i for i in evalset.items if any(t in i.labels for t in evalset.tasks)]
    items = cap_splits(labelled, opts.max_tracks, opts.seed)
    rng = np.random.default_rng(opts.seed)
    test_pos = [k for k, i in enumerate(items) if i.split == "test"]
    if opts.query_clips is not None and len(test_pos) > opts.query_clips:
        test_pos = sorted(int(p) for p in rng.choice(test_pos, size=opts.query_clips, replace=False))
    te = embed_tracks(models, [i.path for i in items], sr, opts.chunks, test_pos, loaded.span,
                      opts.batch_size, opts.progress)
    kept = list(te.kept)
    split_rows = {s: [r for r, p in enumerate(kept) if items[p].split == s] for s in SPLITS}
    for s in ("train", "test"):
        if not split_rows[s]:
            raise DatasetError(f"no readable track in the {s} split ({te.skipped.total} skipped: "
                               f"{te.skipped.summary()['examples'][:2]})")
    queries = _queries(models, te.centres, sr, window, opts, rng)
    seeds = tuple(opts.seed + k for k in range(opts.seeds))
    head = headline_probe(opts.probes)
    tasks: dict[str, Any] = {}
    notes: list[str] = []
    jobs = [(t, n, s) for t in evalset.tasks for n in models for s in models[n].subspaces]
    bar = tqdm(total=len(jobs), desc="probes+retrieval", unit="space", disable=not opts.progress)
    for task in evalset.tasks:
        rows = {s: [r for r in split_rows[s] if task in items[kept[r]].labels] for s in SPLITS}
        if not rows["train"] or not rows["test"]:
            notes.append(f"{task}: skipped, no labelled track in the {'train' if not rows['train'] else 'test'} split")
            bar.update(sum(len(m.subspaces) for m in models.values()))
            continue
        labels = {s: [items[kept[r]].labels[task] for r in rows[s]] for s in SPLITS}
        labels_at = {kept[r]: items[kept[r]].labels[task] for r in rows["test"]}
        tasks[task] = {}
        for name, model in models.items():
            tasks[task][name] = {}
            for space in model.subspaces:
                x = {s: te.emb[name][space][rows[s]] for s in SPLITS}
                scores: dict[str, float] = {}
                for kind in opts.probes:
                    res = probe_task(task, kind, x, labels, seeds, opts.probe_settings)
                    scores.update({(k if kind == head else f"{kind}_{k}"): v for k, v in res.items()})
                scores.update(_retrieval(task, x["test"], labels["test"], [kept[r] for r in rows["test"]],
                                         queries, name, space, labels_at, opts.ks))
                tasks[task][name][space] = scores
                bar.update(1)
    bar.close()
    counts = {s: len(split_rows[s]) for s in SPLITS}
    results: dict[str, Any] = {
        "dataset": evalset.dataset, "train_dataset": evalset.train_dataset, "tasks": tasks,
        "checkpoints": {n: {"path": str(c), "checkpoint_id": checkpoint_id(c), "kind": models[n].kind,
                            "subspaces": list(models[n].subspaces)} for n, c in loaded.paths.items()},
        "protocol": {"probes": list(opts.probes), "headline_probe": head, "seeds": list(seeds),
                     "chunks": opts.chunks, "probe_settings": dataclasses.asdict(opts.probe_settings),
                     "ks": list(opts.ks), "query_transforms": list(queries), "sample_rate": sr},
        "split": evalset.split_note, "counts": {"listed": evalset.listed, **counts,
                                                "queries": len(te.centres)},
        "skipped": te.skipped.summary(), "notes": notes, "seconds": round(time.time() - t0, 1),
    }
    if out_dir is not None:
        results["files"] = write_tables(results, Path(out_dir))
    return results
