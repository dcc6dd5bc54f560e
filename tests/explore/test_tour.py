"""loev_core.explore.tour without Streamlit: the explorer's teaching pair, neighbour shares by label, the tour's
example clip (followed across models), clips matched across models, what a shifted copy's search finds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loev_core.embeddings.index import Embeddings, Index, build_index
from loev_core.explore.cache import CorpusData, enrich_meta
from loev_core.explore.tour import (
    agreement,
    chance,
    copy_ranks,
    copy_report,
    distance_at,
    found_within,
    pool_rows,
    retrieval_example,
    same_clip,
    teaching_pair,
    tour_clip,
)
from tests.support import DashEnv

KEYS = ("C major", "G major", "D major", "A minor")
SOUNDS = ("piano", "organ", "brass")


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> CorpusData:
    """120 clips: `V.pitch_shift` clusters them by key, `V.invariant` by instrument (as LOEV++ should)."""
    rng = np.random.default_rng(0)
    n = 120
    key = np.arange(n) % len(KEYS)
    sound = (np.arange(n) // len(KEYS)) % len(SOUNDS)
    centres_k, centres_s = rng.standard_normal((len(KEYS), 16)) * 3, rng.standard_normal((len(SOUNDS), 16)) * 3
    vectors = {"V.pitch_shift": unit(centres_k[key] + rng.standard_normal((n, 16))),
               "V.invariant": unit(centres_s[sound] + rng.standard_normal((n, 16)))}
    labels = [{"key": KEYS[k], "instrument": SOUNDS[s], "split": "test" if i % 3 == 0 else "train"}
              for i, (k, s) in enumerate(zip(key, sound, strict=True))]
    meta = pd.DataFrame({"path": [f"/music/c{i:03d}.ogg" for i in range(n)], "offset": 0.0, "duration": 3.0,
                         "labels": labels})
    folder = tmp_path_factory.mktemp("tour-index")
    build_index(Embeddings(vectors, meta), folder, exact_threshold=10_000)
    index = Index(folder)
    return CorpusData(index, enrich_meta(index.meta), "ckpt-corpus", folder)


def test_the_teaching_pair_prefers_branches_then_heads() -> None:
    assert teaching_pair(["V", "Z.invariant", "Z.pitch_shift", "V.invariant", "V.pitch_shift"]) == \
        ("V.invariant", "V.pitch_shift")
    assert teaching_pair(["V", "Z.invariant", "Z.pitch_shift", "Z.time_stretch"]) == ("Z.invariant", "Z.pitch_shift")
    assert teaching_pair(["V", "Z.invariant"]) == ("V", "Z.invariant")
    assert teaching_pair(["V"]) == ("V", "V")


def test_neighbour_shares_tell_what_each_subspace_sorts_by(corpus: CorpusData) -> None:
    rows = pool_rows(corpus)
    assert len(rows) == 40 and set(corpus.meta["split"].iloc[rows]) == {"test"}  # the test split when there is one
    assert agreement(corpus, "V.pitch_shift", "key") > 0.9
    assert agreement(corpus, "V.invariant", "key") < 0.5
    assert agreement(corpus, "V.invariant", "instrument") > 0.9
    assert chance(corpus, "key") == pytest.approx(0.25)
    assert np.isnan(agreement(corpus, "V.invariant", "no-such-label"))


def test_the_example_clip_shows_targeted_retrieval(corpus: CorpusData) -> None:
    row = retrieval_example(corpus, "V.pitch_shift", "V.invariant")
    assert row == retrieval_example(corpus, "V.pitch_shift", "V.invariant")  # stable
    assert agreement(corpus, "V.pitch_shift", "key", 5, [row]) == 1.0
    assert agreement(corpus, "V.invariant", "instrument", 5, [row]) == 1.0
    assert tour_clip(corpus, corpus) == tour_clip(None, corpus) == row
    shuffled = corpus.meta.sample(frac=1.0, random_state=2).reset_index(drop=True)
    other = CorpusData(corpus.index, shuffled, "other-corpus", corpus.source)
    assert other.meta["path"].iloc[tour_clip(corpus, other)] == corpus.meta["path"].iloc[row]  # the same clip


def test_clips_are_matched_across_models_by_file(corpus: CorpusData) -> None:
    assert same_clip(corpus, 7, corpus) == 7
    shuffled = corpus.meta.sample(frac=1.0, random_state=1).reset_index(drop=True)
    other = CorpusData(corpus.index, shuffled, "other-corpus", corpus.source)
    row = same_clip(corpus, 7, other)
    assert row is not None and other.meta["path"].iloc[row] == corpus.meta["path"].iloc[7]
    missing = CorpusData(corpus.index, shuffled[shuffled["path"] != corpus.meta["path"].iloc[7]].reset_index(drop=True),
                         "smaller", corpus.source)
    assert same_clip(corpus, 7, missing) is None


def test_a_shifted_copy_that_stays_put_finds_its_original_first(corpus: CorpusData) -> None:
    values = [-4.0, 0.0, 4.0]
    v = corpus.vectors("V.invariant", [5])[0]
    stay = {"V.invariant": np.stack([v, v, v])}
    far = corpus.vectors("V.invariant", [6])[0] * -1.0
    gone = {"V.invariant": np.stack([v, v, far])}
    assert copy_report(stay, values, corpus, 5, "V.invariant") == pytest.approx(
        {"copy": 1.0, "rank": 1, "shift": 4.0, "of": 120})
    assert copy_report(gone, values, corpus, 5, "V.invariant", depth=10)["rank"] == 11


def test_distance_at_averages_both_sides() -> None:
    curves = {"Z.pitch_shift": {"values": [-4, -2, 0, 2, 4], "mean": [0.5, 0.2, 0.0, 0.2, 0.3]}}
    assert distance_at(curves, "Z.pitch_shift", 4) == pytest.approx(0.4)
    assert np.isnan(distance_at(curves, "Z.pitch_shift", 3))


def test_found_within_counts_ranks_hand_computed() -> None:
    assert found_within(np.array([1, 3, 7, 101])) == {1: 0.25, 5: 0.5, 10: 0.75}
    assert found_within(np.array([2, 2]), tops=(1, 2)) == {1: 0.0, 2: 1.0}


def test_copy_ranks_find_an_unmoved_clip_first_in_every_subspace(dash_env: DashEnv) -> None:
    """Moved by 0 semitones, a clip's copy is the clip, embedded as the corpus was: every subspace returns the
    original first. Moved by 4, each rank is a place in the answers, or depth + 1 when it is not among them."""
    from loev_core import load_model
    from loev_core.checkpoint import checkpoint_id
    from loev_core.explore.cache import load_corpus
    from loev_core.explore.transforms import curve_rows

    ckpt = dash_env.checkpoints["loevpp"]
    model = load_model(ckpt)
    roots = [dash_env.root, dash_env.corpus]
    data = load_corpus(model, ckpt, checkpoint_id(ckpt), dash_env.corpus, roots, dash_env.root / "explore-cache")
    rows = curve_rows(data, 5)
    same = copy_ranks(model, data, rows, roots, ["V.invariant", "V.pitch_shift"], shift=0.0)
    assert {s: r.tolist() for s, r in same.items()} == {"V.invariant": [1] * 5, "V.pitch_shift": [1] * 5}
    moved = copy_ranks(model, data, rows, roots, ["V.pitch_shift"], shift=4.0, depth=3)
    assert moved["V.pitch_shift"].shape == (5,) and set(moved["V.pitch_shift"].tolist()) <= {1, 2, 3, 4}
    assert copy_ranks(model, data, [], roots, ["V"])["V"].shape == (0,)  # no clips: nothing searched
