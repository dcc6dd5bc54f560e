"""Retrieval P@k over dataset tasks (key, tempo, classes, tags), with clean or transformed queries.

The database is the test split's track embeddings; a query never retrieves its own track. Relevance is
the task's (`datasets.tasks.relevance`): same key or class, tempo within 4 %, at least one shared tag.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from loev_core.datasets.tasks import relevance
from loev_core.evaluation.retrieval import KS, cosine_knn, precision_at_k


def task_p_at_k(task: str, database: np.ndarray, db_labels: Sequence[Any], queries: np.ndarray,
                query_labels: Sequence[Any], exclude: Sequence[int] | np.ndarray | None = None,
                ks: Sequence[int] = KS) -> dict[str, float]:
    """{"p_at_1": ..., "p_at_10": ...}: mean share of relevant items among each query's k nearest."""
    if not len(queries) or not len(database):
        return {f"p_at_{k}": float("nan") for k in ks}
    neighbours = cosine_knn(database, queries, max(ks), exclude)
    scores = precision_at_k(neighbours, relevance(task, query_labels, db_labels), ks)
    return {f"p_at_{k}": scores[f"P@{k}"] for k in ks}
