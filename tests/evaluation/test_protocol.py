"""The reference protocol's parts on hand-made cases: tempo classes and acc1/acc2, probes on separable
data, tag ROC/PR-AUC, seed spread, chunking, retrieval relevance, splits and the paper tables."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from loev_core.datasets.items import DatasetError, Item, apply_split_file, carve_validation, seeded_split
from loev_core.datasets.tasks import move_label, relevance
from loev_core.evaluation.label_retrieval import task_p_at_k
from loev_core.evaluation.paper_tables import latex_tables, markdown_tables, results_frame
from loev_core.evaluation.protocol import mean_spread, probe_task, tag_scores, task_scores, tempo_class
from loev_core.evaluation.tracks import chunk_starts, embed_track, track_chunks


def test_tempo_is_300_bpm_classes_scored_by_acc1_and_acc2() -> None:
    assert tempo_class([59.6, 120.2, 300.4, -3.0]).tolist() == [60, 120, 299, 0]
    logits = np.full((4, 300), -5.0)
    for row, cls in enumerate([104, 60, 180, 150]):  # references 100, 120, 90, 140
        logits[row, cls] = 5.0
    scores = task_scores("tempo", logits, [100.0, 120.0, 90.0, 140.0], ())
    assert scores["acc1"] == pytest.approx(1 / 4)  # 104 is within 4 % of 100; 150 is 7 % off 140
    assert scores["acc2"] == pytest.approx(3 / 4)  # 60 = 120 / 2 and 180 = 2 x 90 are octave errors


def test_key_scores_use_mir_evals_weighted_score() -> None:
    logits = np.zeros((3, 24))
    logits[0, 0] = logits[1, 7] = logits[2, 21] = 1.0  # C major, G major, A minor
    scores = task_scores("key", logits, ["C major", "C major", "C major"], ())
    assert scores["accuracy"] == pytest.approx(1 / 3)
    assert scores["weighted"] == pytest.approx((1.0 + 0.5 + 0.3) / 3)  # exact, fifth, relative


def test_tag_roc_and_pr_auc_on_a_hand_case() -> None:
    truth = np.array([[1, 1, 0], [0, 1, 0], [1, 0, 0], [0, 0, 0]], dtype=np.float32)
    probs = np.array([[0.9, 0.2, 0.5], [0.1, 0.9, 0.5], [0.8, 0.6, 0.5], [0.3, 0.1, 0.5]])
    scores = tag_scores(probs, truth)  # tag 3 has no positive: left out
    assert scores["roc_auc"] == pytest.approx((1.0 + 0.75) / 2)
    assert scores["pr_auc"] == pytest.approx((1.0 + (1 + 2 / 3) / 2) / 2)
    assert np.isnan(tag_scores(probs, np.zeros_like(truth))["roc_auc"])


def test_mean_and_spread_over_seeds() -> None:
    out = mean_spread([{"accuracy": 0.5}, {"accuracy": 0.7}])
    assert out["accuracy"] == pytest.approx(0.6) and out["accuracy_std"] == pytest.approx(np.sqrt(0.02))
    assert mean_spread([{"acc1": 0.4}]) == {"acc1": 0.4, "acc1_std": 0.0}


def _clusters(n: int, classes: list, seed: int) -> tuple[np.ndarray, list]:
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).normal(0, 3, (len(classes), 16))
    y = [classes[k % len(classes)] for k in range(n)]
    x = np.stack([centres[classes.index(c)] for c in y]) + rng.normal(0, 0.5, (n, 16))
    return x.astype(np.float32), y


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_probes_separate_separable_data(kind: str) -> None:
    data = {s: _clusters(n, ["rock", "jazz", "pop"], seed) for s, n, seed in
            (("train", 60, 0), ("validation", 15, 1), ("test", 30, 2))}
    res = probe_task("genre", kind, {s: d[0] for s, d in data.items()}, {s: d[1] for s, d in data.items()},
                     seeds=(0, 1))
    assert res["accuracy"] >= 0.95 and set(res) == {"accuracy", "accuracy_std"}
    keys = {s: _clusters(n, ["C major", "A minor"], seed) for s, n, seed in
            (("train", 40, 3), ("validation", 10, 4), ("test", 20, 5))}
    res = probe_task("key", kind, {s: d[0] for s, d in keys.items()}, {s: d[1] for s, d in keys.items()}, seeds=(0,))
    assert res["accuracy"] >= 0.95 and res["weighted"] >= res["accuracy"]


def test_multi_label_probe_ranks_the_right_tags() -> None:
    rng = np.random.default_rng(0)

    def split(n: int) -> tuple[np.ndarray, list]:
        tags = [tuple(t for t, on in zip(("a", "b", "c"), rng.random(3) < 0.5, strict=True) if on) for _ in range(n)]
        x = np.stack([[float(t in tg) for t in "abc"] for tg in tags]) * 3 + rng.normal(0, 0.3, (n, 3))
        return np.hstack([x, rng.normal(0, 1, (n, 5))]).astype(np.float32), tags

    data = {s: split(n) for s, n in (("train", 80), ("validation", 20), ("test", 40))}
    res = probe_task("tags", "mlp", {s: d[0] for s, d in data.items()}, {s: d[1] for s, d in data.items()},
                     seeds=(0,))
    assert res["roc_auc"] > 0.9 and res["pr_auc"] > 0.8


def test_chunks_spread_over_the_track() -> None:
    assert chunk_starts(10, 3, 64) == [0, 2, 5, 7]  # as many as cover the track, the last ending at the end
    assert chunk_starts(10, 3, 2) == [0, 7]
    assert chunk_starts(2, 3, 64) == [0]
    wave = torch.arange(10.0)
    assert track_chunks(wave, 3, 64).shape == (4, 3) and track_chunks(wave[:2], 3, 64).shape == (1, 2)

    class Mean:
        clip_seconds = 3.0

        def embed(self, x: torch.Tensor, sr: int, batch_size: int = 32) -> dict[str, torch.Tensor]:
            return {"V": x.mean(dim=1, keepdim=True)}

    out = embed_track(Mean(), wave, 1, max_chunks=2)  # chunks [0, 1, 2] and [7, 8, 9]
    assert out["V"].tolist() == [pytest.approx(4.5)]  # the mean of 1 and 8


def test_labels_move_with_transforms_and_define_relevance() -> None:
    assert move_label("key", "A minor", "pitch_shift", 3) == "C minor"
    assert move_label("key", "A minor", "time_stretch", 1.2) == "A minor"
    assert move_label("tempo", 100.0, "time_stretch", 1.2) == pytest.approx(120.0)
    assert move_label("pitch_class", "B", "pitch_shift", 2) == "C#"
    assert move_label("genre", "rock", "pitch_shift", 2) == "rock"
    assert relevance("tempo", [100.0], [103.0, 105.0, 50.0]).tolist() == [[True, False, False]]
    assert relevance("tags", [("a", "b")], [("b",), ("c",), ()]).tolist() == [[True, False, False]]
    assert relevance("key", ["C major"], ["C major", "A minor"]).tolist() == [[True, False]]
    db = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    p = task_p_at_k("genre", db, ["x", "x", "y", "z"], db, ["x", "x", "y", "z"], np.arange(4), ks=(1, 3))
    assert p["p_at_1"] == pytest.approx(0.5)  # 0 and 1 find each other; 2 and 3 find a different genre
    assert p["p_at_3"] == pytest.approx((1 / 3 + 1 / 3) / 4)


def _items(n: int, groups: int) -> list[Item]:
    return [Item(f"t{k}", f"/d/genre/t{k}.wav", {"genre": "g"}, group=f"g{k % groups}") for k in range(n)]


def test_seeded_split_is_grouped_and_deterministic() -> None:
    items = seeded_split(_items(40, 10), seed=3)
    assert items == seeded_split(_items(40, 10), seed=3) and items != seeded_split(_items(40, 10), seed=4)
    side = {}
    for i in items:
        assert side.setdefault(i.group, i.split) == i.split
    assert {i.split for i in items} == {"train", "validation", "test"}
    with pytest.raises(DatasetError):
        seeded_split(_items(4, 2))
    carved = carve_validation([Item(f"t{k}", "p", split="train" if k < 8 else "test") for k in range(10)])
    assert sum(i.split == "validation" for i in carved) == 1 and sum(i.split == "test" for i in carved) == 2


def test_split_files_in_their_three_forms(tmp_path: Path) -> None:
    items = _items(6, 6)
    (tmp_path / "s.json").write_text(json.dumps({"train": ["t0", "t1", "t2"], "valid": ["t3"], "test": ["t4"]}))
    got = apply_split_file(items, [tmp_path / "s.json"])
    assert [(i.track_id, i.split) for i in got] == [("t0", "train"), ("t1", "train"), ("t2", "train"),
                                                    ("t3", "validation"), ("t4", "test")]  # t5 is not listed
    (tmp_path / "s.csv").write_text("t0,train\nt1,test\n")
    assert [i.split for i in apply_split_file(items, [tmp_path / "s.csv"])] == ["train", "test"]
    (tmp_path / "train.txt").write_text("genre/t0.wav\ngenre/t1.wav\n")  # the GTZAN fault-filtered form
    (tmp_path / "test.txt").write_text("genre/t2.wav\n")
    got = apply_split_file(items, [f"train={tmp_path / 'train.txt'}", f"test={tmp_path / 'test.txt'}"])
    assert [(i.track_id, i.split) for i in got] == [("t0", "train"), ("t1", "train"), ("t2", "test")]
    (tmp_path / "bad.csv").write_text("t0,holdout\n")
    with pytest.raises(DatasetError, match="unknown split"):
        apply_split_file(items, [tmp_path / "bad.csv"])


def test_paper_tables_bold_the_best_and_escape_latex() -> None:
    cell = {"accuracy": 0.5, "accuracy_std": 0.1, "linear_accuracy": 0.4, "p_at_1": 0.3}
    results = {"dataset": "gtzan_genre", "tasks": {"genre": {
        "m_1": {"V": cell, "Z.pitch_shift": {**cell, "accuracy": 0.7, "p_at_1": None}}}},
        "protocol": {"probes": ["linear", "mlp"], "headline_probe": "mlp", "seeds": [0, 1, 2], "ks": [1],
                     "query_transforms": []}, "counts": {"train": 7, "validation": 1, "test": 2}}
    md = markdown_tables(results)
    assert "| m_1 | Z.pitch_shift | **0.700 ± 0.100** |" in md and "| m_1 | V | 0.500 ± 0.100 |" in md
    assert "| m_1 | Z.pitch_shift | – |" in md.split("clean queries")[1]  # a missing value
    tex = latex_tables(results)
    assert "m\\_1 & V" in tex and "Z.pitch\\_shift & \\textbf{0.700 $\\pm$ 0.100}" in tex
    assert "gtzan\\_genre" in tex and tex.count("\\begin{tabular}") == 3  # MLP, linear, clean retrieval
    frame = results_frame(results)
    assert list(frame.index) == ["m_1 / V", "m_1 / Z.pitch_shift"]
    assert list(frame.columns) == ["genre accuracy", "genre P@1"]
