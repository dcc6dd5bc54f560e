"""Cosine k-NN retrieval scored by precision at k (P@k), as in the reference evaluation.

The database is the clean test split; queries are either the clean clips themselves or transformed
copies whose labels were moved with the transform (key transposed, tempo scaled). A query never
retrieves its own source clip. P@k = share of the k nearest neighbours whose label matches the query's.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from loev_core.evaluation.labels import has_label, tempo_match

KS = (1, 3, 5, 10)
TASKS = ("key", "tempo", "instrument")


def _unit(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)


def cosine_knn(database: np.ndarray, queries: np.ndarray, k: int,
               exclude: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
    """Indices [M, k'] of the k nearest database rows by cosine similarity, best first.

    `exclude[i]` is a database row query i must not retrieve (its own clip), or -1 for none.
    k' = min(k, rows available); ties are broken by database order so results are reproducible.
    """
    sim = _unit(queries) @ _unit(database).T
    if exclude is not None:
        ex = np.asarray(exclude, dtype=int)
        rows = np.nonzero(ex >= 0)[0]
        sim[rows, ex[rows]] = -np.inf
    available = database.shape[0] - (1 if exclude is not None and np.any(np.asarray(exclude) >= 0) else 0)
    k = max(0, min(k, available))
    return np.argsort(-sim, axis=1, kind="stable")[:, :k]


def cosine_nearest(database: np.ndarray, queries: np.ndarray, banned: Sequence[np.ndarray]) -> np.ndarray:
    """Index of each query's nearest database row by cosine similarity, skipping the rows in `banned[i]` (its
    own clip and its repeats); ties go to the first row, as in `cosine_knn`. Every query needs a row left."""
    sim = _unit(queries) @ _unit(database).T
    for i, rows in enumerate(banned):
        sim[i, np.asarray(rows, dtype=np.int64)] = -np.inf
    return sim.argmax(axis=1)


def matches(task: str, query_labels: np.ndarray, db_labels: np.ndarray) -> np.ndarray:
    """Boolean [M, N]: does database clip n share query m's label (tempo: within 4 %)?"""
    q, d = np.asarray(query_labels)[:, None], np.asarray(db_labels)[None, :]
    if task == "tempo":
        return tempo_match(d.astype(float), q.astype(float))
    return q == d


def precision_at_k(neighbours: np.ndarray, relevant: np.ndarray, ks: Sequence[int] = KS) -> dict[str, float]:
    """Mean over queries of the matching share among the first k neighbours, for each k."""
    hit = np.take_along_axis(relevant, neighbours, axis=1)
    out = {}
    for k in ks:
        kk = min(k, hit.shape[1])
        out[f"P@{k}"] = float(hit[:, :kk].mean()) if kk and len(hit) else float("nan")
    return out


def retrieval_scores(database: np.ndarray, db_labels: dict[str, np.ndarray], queries: np.ndarray,
                     query_labels: dict[str, np.ndarray], exclude: Sequence[int] | np.ndarray | None = None,
                     ks: Sequence[int] = KS, tasks: Sequence[str] = TASKS) -> dict[str, dict[str, float]]:
    """P@k for each label task; queries without a label for a task are left out of that task,
    and so are database clips without one (they can match nothing, but still take a neighbour slot)."""
    neighbours = cosine_knn(database, queries, max(ks), exclude)
    out: dict[str, dict[str, float]] = {}
    for task in tasks:
        qmask = has_label(task, query_labels)
        if not qmask.any() or not has_label(task, db_labels).any():
            continue
        rel = matches(task, query_labels[task], db_labels[task]) & has_label(task, db_labels)[None, :]
        out[task] = precision_at_k(neighbours[qmask], rel[qmask], ks)
    return out
