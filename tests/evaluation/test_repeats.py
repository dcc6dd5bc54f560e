"""Repeated moments of a recording (loops, repeated sections) and the recordings scores that skip them."""

from __future__ import annotations

import numpy as np
import torch

from loev_core.evaluation.repeats import (
    REPEAT_SHARE,
    peak_correlation,
    peak_correlation_to,
    repeated_count,
    repeats,
)
from loev_core.evaluation.retrieval import cosine_nearest
from loev_core.evaluation.track_retrieval import degraded_hits, nearest_other, same_track_hits

T = 4000


def _music(seed: int, n: int = 3 * T) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(n)


def test_peak_correlation_is_the_share_of_a_window_that_recurs() -> None:
    """A loop found again 10 % later shares 90 % of its samples: peak 0.9; louder, it is the same moment (1.0);
    other music is near 0; the diagonal is 1."""
    x = _music(0)
    a, later, other = x[:T], x[T // 10:T // 10 + T], _music(1)[:T]
    peak = peak_correlation(np.stack([a, later, 3 * a, other]))
    assert np.allclose(np.diag(peak), 1) and np.allclose(peak, peak.T)
    assert abs(peak[0, 1] - 0.9) < 0.03 and abs(peak[0, 2] - 1) < 1e-9 and abs(peak[0, 3]) < 0.1


def test_peak_correlation_of_one_query_matches_the_matrix_and_pads_short_clips() -> None:
    """The dashboard's one-query form gives the matrix's row; a clip cut short at the end of a track is padded
    (its first half recurring whole in the query scores about 0.71: the square root of the half's share of the
    query's energy)."""
    x = _music(0)
    a, later, other = x[:T], x[T // 10:T // 10 + T], _music(1)[:T]
    row = peak_correlation_to(a, [later, 3 * a, other])
    assert np.allclose(row, peak_correlation(np.stack([a, later, 3 * a, other]))[0, 1:])
    short = peak_correlation_to(a, [a[: T // 2], x[T:T + T // 2], a, np.concatenate([a, a])])
    assert abs(short[0] - np.sqrt(0.5)) < 0.03 and abs(short[1]) < 0.1 and abs(short[2] - 1) < 1e-9
    assert abs(short[3] - 1) < 1e-9  # a longer clip is cut to the query's length


def test_repeats_are_found_within_a_track_only() -> None:
    x, y = _music(2), _music(3)
    waves = torch.tensor(np.stack([x[:T], x[T:2 * T], x[T // 20:T // 20 + T],  # track a: clip 2 repeats clip 0
                                   x[:T], y[:T]]), dtype=torch.float32)  # track b: a copy of clip 0, and other music
    tracks = np.array(["a", "a", "a", "b", "b"], dtype=object)
    twins = repeats(waves, tracks)
    assert [t.tolist() for t in twins] == [[2], [], [0], [], []]  # the same audio in another track is not a repeat
    assert repeated_count(twins) == 2 and REPEAT_SHARE == 0.8
    assert [t.tolist() for t in repeats(waves, tracks, share=0.99)] == [[], [], [], [], []]


def test_cosine_nearest_skips_banned_rows() -> None:
    db = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    assert cosine_nearest(db, db[:2], [[0], [1]]).tolist() == [1, 0]
    assert cosine_nearest(db, db[:1], [[0, 1]]).tolist() == [2]


def test_a_repeat_is_neither_another_clip_nor_a_wrong_copy() -> None:
    """Clip 0's nearest clip is its repeat (clip 1): without repeats that is a free same-recording hit, with them
    clip 0 must find clip 2 (another moment of its track) and finds clip 3 of track b instead. A degraded copy
    of clip 0 that lands on clip 1 found its moment."""
    emb = np.array([[1.0, 0.0, 0.0], [0.99, 0.1, 0.0], [0.0, 0.0, 1.0], [0.8, 0.6, 0.0], [0.6, 0.8, 0.0]])
    tracks = np.array(["a", "a", "a", "b", "b"], dtype=object)
    twins = [np.array([1]), np.array([0]), np.array([], dtype=np.int64), np.array([], dtype=np.int64),
             np.array([], dtype=np.int64)]
    hits, asked = same_track_hits(emb, tracks)
    assert hits[0] and hits[1]
    queries, nearest = nearest_other(emb, tracks, twins)
    assert queries.tolist() == [0, 1, 2, 3, 4] and nearest[0] == 3
    hits, _ = same_track_hits(emb, tracks, (queries, nearest))
    assert not hits[0]
    # a track whose other clips all repeat the clip: it has nothing else to be found by, so it is not asked
    alone = [np.array([1]), np.array([0]), np.array([], dtype=np.int64)]
    queries, _ = nearest_other(emb[:3], np.array(["a", "a", "b"], dtype=object), alone)
    assert queries.tolist() == []  # clips 0 and 1 have only each other; clip 2 is alone in b
    copies = emb[[1, 1, 2, 3, 4]]  # clip 0's copy lands on its repeat
    assert degraded_hits(emb, copies).tolist() == [False, True, True, True, True]
    assert degraded_hits(emb, copies, twins).tolist() == [True, True, True, True, True]
