"""The guided tour's computations (no Streamlit): which subspaces show the method's effect, an example
clip, and the few numbers each step quotes.

Everything reads what the dashboard already keeps (corpus indexes, stored maps, stored curves), so the
tour costs a few searches per step once the corpus is embedded. What a first visit needs ready: each
model's corpus, the maps of `teaching_pair`, LOEV's pitch-shift curves, and for the SimCLR model the
pitch-shift trajectory of `tour_clip` (with the original and the `SHIFT` copy to listen to).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from loev_core.explore.cache import CorpusData

STEPS = ("throw-away", "heads", "branches", "retrieval")
# subspace pairs that show the effect of each method, best first: LOEV++'s encoder branches group by key
# far more clearly than its heads; LOEV has heads only; SimCLR has one head (both of its spaces ignore key)
PAIRS = (("V.invariant", "V.pitch_shift"), ("Z.invariant", "Z.pitch_shift"), ("V", "Z.invariant"))
SHIFT = 4.0  # semitones the tour shifts its clip by: far enough to hear a different key
POOL = 240  # clips that corpus-wide neighbour shares are averaged over (fast on any index)
TOUR_COPIES = 24  # clips moved into another key on a corpus without key labels, to count what each subspace finds


def forgetting_subspace(subspaces: Sequence[str]) -> str:
    """The subspace the tour's first step searches to show what SimCLR throws away: its invariant head."""
    return "Z.invariant" if "Z.invariant" in subspaces else subspaces[-1]


def teaching_pair(subspaces: Sequence[str]) -> tuple[str, str]:
    """The two subspaces the explorer opens on: (ignores pitch, keeps pitch) when the model has both."""
    for left, right in PAIRS:
        if left in subspaces and right in subspaces:
            return left, right
    subs = list(subspaces)
    return (subs[0], subs[1]) if len(subs) > 1 else (subs[0], subs[0])


def pool_rows(data: CorpusData, n: int = POOL, seed: int = 0) -> np.ndarray:
    """A fixed sample of rows for corpus-wide summaries, from the test split when there is one (clips the
    model did not train on); the neighbours they are compared with come from the whole corpus."""
    meta = data.meta
    pool = np.asarray(meta.index[meta["split"].astype(str) == "test"] if "split" in meta.columns else meta.index)
    if len(pool) < 2:
        pool = np.asarray(meta.index)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(pool, size=min(n, len(pool)), replace=False))


def neighbours(data: CorpusData, subspace: str, rows: Sequence[int], k: int) -> np.ndarray:
    """[len(rows), k] nearest other rows of each row in one subspace (-1 where the corpus is too small)."""
    rows = np.asarray(rows, dtype=np.int64)
    _, ids = data.index.search(data.vectors(subspace, rows), subspace, min(k + 1, len(data)))
    out = np.full((len(rows), k), -1, dtype=np.int64)
    for i, (row, found) in enumerate(zip(rows, ids, strict=True)):
        others = [int(j) for j in found if j >= 0 and j != row][:k]
        out[i, :len(others)] = others
    return out


def _labels(data: CorpusData, label: str) -> np.ndarray:
    return data.meta[label].astype(str).to_numpy()


def agreement(data: CorpusData, subspace: str, label: str, k: int = 10, rows: Sequence[int] | None = None) -> float:
    """Share of each clip's k nearest neighbours (in `subspace`) that have its `label`, averaged over `rows`
    (default `pool_rows`): how much that subspace sorts the corpus by that label."""
    rows = pool_rows(data) if rows is None else np.asarray(rows, dtype=np.int64)
    if label not in data.meta.columns or not len(rows):
        return float("nan")
    nn = neighbours(data, subspace, rows, k)
    values = _labels(data, label)
    valid = nn >= 0
    same = (values[np.where(valid, nn, 0)] == values[rows][:, None]) & valid
    return float(same.sum() / max(valid.sum(), 1))


def chance(data: CorpusData, label: str) -> float:
    """Share of neighbours that would share the label if neighbours were random clips."""
    if label not in data.meta.columns:
        return float("nan")
    p = data.meta[label].astype(str).value_counts(normalize=True).to_numpy()
    return float(np.sum(p ** 2))


def retrieval_example(data: CorpusData, key_subspace: str, sound_subspace: str, k: int = 5,
                      key_label: str = "key", sound_label: str = "instrument") -> int:
    """The clip of the pool whose neighbours show targeted retrieval best: in `key_subspace` the same key in
    varied sounds, in `sound_subspace` the same sound (instrument) in varied keys. Ties go to the lower row,
    so the choice is stable."""
    rows = pool_rows(data)
    if key_label not in data.meta.columns or key_subspace not in data.subspaces:
        return int(rows[0])

    def matches(subspace: str, label: str) -> np.ndarray:
        values, nn = _labels(data, label), neighbours(data, subspace, rows, k)
        return ((values[np.where(nn >= 0, nn, 0)] == values[rows][:, None]) & (nn >= 0)).sum(1).astype(float)

    score = matches(key_subspace, key_label)
    if sound_label in data.meta.columns and sound_subspace in data.subspaces:
        score += matches(sound_subspace, sound_label)
        score -= 0.5 * (matches(sound_subspace, key_label) + matches(key_subspace, sound_label))
    return int(rows[int(np.argmax(score))])


def tour_clip(ref: CorpusData | None, data: CorpusData) -> int:
    """The clip every step of the tour follows, as a row of `data`: the retrieval example of the LOEV++
    corpus `ref` (its teaching pair) when there is one and `data` holds that clip, else `data`'s own."""
    if ref is not None:
        ignore, keep = teaching_pair(ref.subspaces)
        row = same_clip(ref, retrieval_example(ref, keep, ignore), data)
        if row is not None:
            return row
    ignore, keep = teaching_pair(data.subspaces)
    return retrieval_example(data, keep, ignore)


def same_clip(src: CorpusData, row: int, dst: CorpusData) -> int | None:
    """The row of `src`'s clip `row` in another model's view of the corpus (matched by file and offset)."""
    r = src.meta.iloc[int(row)]
    where = (str(r["path"]), float(r.get("offset") or 0.0))

    def at(meta_row: Any) -> tuple[str, float]:
        return str(meta_row["path"]), float(meta_row.get("offset") or 0.0)

    if 0 <= int(row) < len(dst) and at(dst.meta.iloc[int(row)]) == where:  # the usual case: same listing
        return int(row)
    offsets = dst.meta["offset"].fillna(0.0).astype(float) if "offset" in dst.meta.columns else 0.0
    hit = dst.meta.index[(dst.meta["path"].astype(str) == where[0]) & (offsets == where[1])]
    return int(hit[0]) if len(hit) else None


def copy_report(traj: Mapping[str, np.ndarray], values: Sequence[float], data: CorpusData, row: int,
                subspace: str, shift: float = SHIFT, depth: int = 100) -> dict[str, float]:
    """What a search with a clip's shifted copy finds in `subspace`: the copy's similarity to the clip, and
    the clip's rank among the corpus' answers (1: the original comes back first, so the shift was ignored;
    `depth + 1` when it is not among the first `depth`)."""
    v = np.asarray(traj[subspace])
    values = [float(x) for x in values]
    mid = values.index(0.0)
    at = values.index(float(shift)) if float(shift) in values else len(values) - 1
    _, ids = data.index.search(v[at], subspace, min(depth, len(data)))
    found = np.flatnonzero(ids[0] == int(row))
    return {"copy": float(v[at] @ v[mid]), "rank": int(found[0]) + 1 if found.size else depth + 1,
            "shift": values[at], "of": len(data)}


def distance_at(curves: Mapping[str, Mapping[str, Any]], subspace: str, amount: float = SHIFT) -> float:
    """Mean cosine distance of an equivariance curve at +-`amount` (the mean of both sides)."""
    c = curves[subspace]
    xs, ys = [float(x) for x in c["values"]], [float(y) for y in c["mean"]]
    picks = [ys[i] for i, x in enumerate(xs) if abs(abs(x) - amount) < 1e-6]
    return float(np.mean(picks)) if picks else float("nan")


def copy_ranks(model: Any, data: CorpusData, rows: Sequence[int], roots: Sequence[Any], subspaces: Sequence[str],
               shift: float = SHIFT, depth: int = 100) -> dict[str, np.ndarray]:
    """Steps 1 and 4 on a corpus without key labels, over many clips instead of one: search each subspace with
    each clip of `rows` moved `shift` semitones and return where the original comes back ({subspace: ranks}, 1 =
    first, `depth + 1` = not among the first `depth`). A key-invariant subspace finds the same music whatever the
    key; a key-aware one looks for the new key, so the original falls back."""
    from loev_core.explore.transforms import clip_wave, embed_unit, transformed

    if len(rows) == 0:
        return {sub: np.zeros(0, dtype=int) for sub in subspaces}
    sr = int(model.sample_rate)
    moved = [embed_unit(model, transformed(clip_wave(data, int(r), sr, roots), sr, "pitch_shift", [shift]), sr)
             for r in rows]
    ranks = {}
    for sub in subspaces:
        _, ids = data.index.search(np.concatenate([m[sub] for m in moved]), sub, min(depth, len(data)))
        hit = ids == np.asarray(rows, dtype=ids.dtype)[:, None]
        ranks[sub] = np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, depth + 1)
    return ranks


def found_within(ranks: np.ndarray, tops: Sequence[int] = (1, 5, 10)) -> dict[int, float]:
    """Share of searches whose original came back within the first k answers, for each k in `tops`."""
    r = np.asarray(ranks)
    return {int(k): float(np.mean(r <= k)) if r.size else float("nan") for k in tops}
