"""Retrieval in a chosen subspace, LOEV++ presets, and "why is this a neighbour?" breakdowns.

A preset searches several subspaces at once: candidates come from each subspace's index (so a
100k-item approximate index still answers fast) and are re-scored exactly by their mean cosine
similarity over the preset's subspaces. Per-subspace distances of each neighbour to the query show
which aspect (key, tempo, everything else) made it a neighbour.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from loev_core.audio import AudioError
from loev_core.embeddings.index import normalize
from loev_core.evaluation.repeats import REPEAT_SHARE, peak_correlation_to
from loev_core.explore.cache import CorpusData
from loev_core.explore.paths import PathRefused
from loev_core.explore.transforms import clip_wave

# preset -> the heads whose subspaces must agree. The pitch-variant head keeps key, the
# tempo-variant head keeps tempo, and all heads together keep everything.
PRESET_HEADS: dict[str, tuple[str, ...]] = {
    "same key": ("pitch_shift",),
    "same tempo": ("time_stretch",),
    "same everything": ("invariant", "pitch_shift", "time_stretch"),
}
# preset -> the label its P@k should count by default: "same tempo" scored against key reads as a
# failure when the neighbours do share the tempo.
PRESET_LABEL: dict[str, str] = {"same key": "key", "same tempo": "tempo"}
CANDIDATE_FACTOR = 10
MAX_TRACK_CLIPS = 64  # same-track P@k compares the query with at most this many clips of its track for repeats


def presets_for(subspaces: Sequence[str]) -> dict[str, list[str]]:
    """Presets a model supports: LOEV++ branches `V.<head>`, else LOEV heads `Z.<head>`."""
    out: dict[str, list[str]] = {}
    for name, heads in PRESET_HEADS.items():
        for prefix in ("V.", "Z."):
            subs = [f"{prefix}{h}" for h in heads]
            if all(s in subspaces for s in subs):
                out[name] = subs
                break
    return out


def query_from_row(data: CorpusData, row: int) -> dict[str, np.ndarray]:
    """A corpus item as a query: its unit vector in every subspace."""
    return {s: data.vectors(s, [row])[0] for s in data.subspaces}


def search(data: CorpusData, query: Mapping[str, np.ndarray], subspaces: Sequence[str], k: int = 10,
           exclude: int | Sequence[int] | None = None) -> pd.DataFrame:
    """Top-k rows by mean cosine similarity over `subspaces`; `exclude` drops the query's own row (or rows:
    its own and its repeats)."""
    subspaces = list(subspaces)
    banned = [] if exclude is None else [int(exclude)] if np.isscalar(exclude) else [int(r) for r in exclude]
    extra = len(banned)
    if len(subspaces) == 1:
        scores, ids = data.index.search(query[subspaces[0]], subspaces[0], min(k + extra, len(data)))
        cand = pd.DataFrame({"row": ids[0], "score": scores[0]})
    else:
        pool: set[int] = set()
        for s in subspaces:
            _, ids = data.index.search(query[s], s, min(k * CANDIDATE_FACTOR + extra, len(data)))
            pool.update(int(i) for i in ids[0] if i >= 0)
        rows = np.array(sorted(pool), dtype=np.int64)
        sims = np.mean([data.vectors(s, rows) @ normalize(query[s])[0] for s in subspaces], axis=0)
        cand = pd.DataFrame({"row": rows, "score": sims}).sort_values("score", ascending=False, kind="stable")
    cand = cand[cand["row"] >= 0]
    if banned:
        cand = cand[~cand["row"].isin(banned)]
    cand = cand.head(k)
    cand.insert(0, "rank", np.arange(1, len(cand) + 1))
    return cand.reset_index(drop=True)


def track_repeats(data: CorpusData, row: int, roots: Sequence[Path], sample_rate: int = 16000,
                  share: float = REPEAT_SHARE) -> list[int]:
    """Rows of the query's track whose audio repeats the query's (`loev_core.evaluation.repeats`): a loop that
    comes back is one moment twice, so same-track P@k skips it as `loev eval` does. Clips that cannot be read
    are left out of the comparison (counted as no repeat); a corpus without a `track` column has none."""
    if "track" not in data.meta.columns:
        return []
    tracks = data.meta["track"].to_numpy()
    rows = [int(r) for r in np.nonzero(tracks == tracks[int(row)])[0] if r != row][:MAX_TRACK_CLIPS]
    if not rows:
        return []
    query = clip_wave(data, row, sample_rate, roots).numpy()
    kept, waves = [], []
    for r in rows:
        try:
            waves.append(clip_wave(data, r, sample_rate, roots).numpy())
        except (AudioError, PathRefused):
            continue
        kept.append(r)
    if not kept:
        return []
    return [r for r, p in zip(kept, peak_correlation_to(query, waves), strict=True) if p >= share]


def breakdown(data: CorpusData, query: Mapping[str, np.ndarray], rows: Sequence[int]) -> pd.DataFrame:
    """Cosine distance (0 = same direction, 2 = opposite) of each row to the query, per subspace."""
    rows = np.asarray(rows, dtype=np.int64)
    cols = {s: 1.0 - data.vectors(s, rows) @ normalize(query[s])[0] for s in data.subspaces if s in query}
    return pd.DataFrame(cols, index=rows)


def same_label(labels: Sequence[object], target: object, label: str = "") -> np.ndarray:
    """Which retrieved items share the query's label, as `loev eval` counts it (tempo: within 4 %)."""
    values = list(labels)
    if label == "tempo":
        from loev_core.evaluation.labels import tempo_match

        try:
            return np.asarray(tempo_match(np.asarray(values, dtype=float), float(target)), dtype=bool)
        except (TypeError, ValueError):
            pass
    return np.array([str(v) == str(target) for v in values], dtype=bool)


def precision_at_k(labels: Sequence[object], target: object, label: str = "") -> float:
    """P@k of one query, k = len(labels): the share of its retrieved items whose label matches, scored
    by `loev eval`'s P@k on a single query whose neighbours are the items in order."""
    from loev_core.evaluation.retrieval import precision_at_k as eval_precision_at_k

    hits = same_label(labels, target, label)
    return eval_precision_at_k(np.arange(hits.size)[None, :], hits[None, :], ks=(hits.size,))[f"P@{hits.size}"]


def neighbour_table(data: CorpusData, hits: pd.DataFrame, label_columns: Sequence[str]) -> pd.DataFrame:
    """Hits joined with their metadata (name, labels) for display."""
    meta = data.meta.set_index("row")
    cols = ["name", *[c for c in label_columns if c in meta.columns]]
    return hits.join(meta[cols], on="row")
