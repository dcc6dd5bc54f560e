"""Evaluation suite: labels, metrics on hand-made cases, probes, equivariance curves, reports, CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from loev_core import ExperimentConfig, build_model, save_model
from loev_core.config import AudioConfig, ModelConfig
from loev_core.evaluation import equivariance_curve
from loev_core.evaluation.equivariance import (
    amount,
    between_clips,
    cosine_distance,
    near_far,
    rise,
    transform_distances,
)
from loev_core.evaluation.labels import label_arrays, tempo_accuracy, tempo_bins, tempo_match, tempo_to_bin
from loev_core.evaluation.markdown import README_END, README_START, update_readme
from loev_core.evaluation.probes import fit_predict, key_scores, probe_instrument, probe_key, probe_shift, probe_tempo
from loev_core.evaluation.report import rise_text
from loev_core.evaluation.retrieval import cosine_knn, retrieval_scores
from loev_core.evaluation.summary import PITCH_STEP, check_targets, distance_at
from loev_core.evaluation.transforms import apply_transform, moved_labels, transform_waves
from loev_core.keys import key_index, normalize_key, parse_key, transpose_key

SR = 16000


def tiny_model(kind: str) -> torch.nn.Module:
    torch.manual_seed(0)
    cfg = ExperimentConfig(audio=AudioConfig(clip_seconds=1.0),
                           model=ModelConfig(kind=kind, width=8, head_hidden=32, head_out=16))
    return build_model(cfg).eval()


def test_key_parsing_and_transposition() -> None:
    assert parse_key("C major") == (0, "major") and parse_key("a minor") == (9, "minor")
    assert parse_key("Db") == (1, "major") and parse_key("F#:min") == (6, "minor") and parse_key("Bbm") == (10, "minor")
    assert normalize_key("D# major") == "Eb major" and key_index("A minor") == 21
    assert transpose_key("C major", 2) == "D major"
    assert transpose_key("B major", 1) == "C major"
    assert transpose_key("A minor", -3.4) == "F# minor"  # round(-3.4) = -3
    assert transpose_key("E minor", 12) == "E minor"
    with pytest.raises(ValueError):
        parse_key("H dorian")
    assert moved_labels("pitch_shift", {"key": "G major", "tempo": "100"}, 5.0)["key"] == "C major"
    assert moved_labels("time_stretch", {"key": "G major", "tempo": "100"}, 1.2)["tempo"] == pytest.approx(120)
    arrays = label_arrays([{"key": "C major", "tempo": "90"}, {"key": "??", "instrument": "piano"}])
    assert arrays["key"].tolist() == [0, -1] and np.isnan(arrays["tempo"][1])
    assert arrays["instrument"].tolist() == ["", "piano"]


def test_tempo_acc1_acc2_hand_cases() -> None:
    est = [100.0, 104.0, 104.5, 50.0, 201.0, 33.4, 150.0]
    ref = [100.0] * len(est)
    assert tempo_match(est, ref).tolist() == [True, True, False, False, False, False, False]
    acc = tempo_accuracy(est, ref)
    assert acc["acc1"] == pytest.approx(2 / 7)
    assert acc["acc2"] == pytest.approx(5 / 7)  # 50, 201, 33.4 are octave errors; x1.5 is not
    edges, centres = tempo_bins([60, 75, 122, 180])
    bpm = np.linspace(60, 180, 200)
    assert tempo_match(centres[tempo_to_bin(bpm, edges)], bpm).all()


def test_precision_at_k_on_hand_built_embeddings() -> None:
    db = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [-1.0, 0.0]])
    labels = label_arrays([{"key": k, "tempo": t, "instrument": i} for k, t, i in [
        ("C major", 100, "piano"), ("C major", 103, "organ"), ("A minor", 100, "piano"),
        ("A minor", 150, "piano"), ("C major", 50, "organ")]])
    nn = cosine_knn(db, db, 2, exclude=np.arange(5))
    assert nn.tolist() == [[1, 3], [0, 3], [3, 1], [2, 1], [2, 3]]  # worked out by hand, self excluded
    res = retrieval_scores(db, labels, db, labels, np.arange(5), ks=(1, 2))
    assert res["key"] == pytest.approx({"P@1": 0.8, "P@2": 0.4})
    assert res["tempo"]["P@1"] == pytest.approx(0.4)  # 103 vs 100 is within 4 %
    assert res["instrument"] == pytest.approx({"P@1": 0.4, "P@2": 0.3})
    # a query with a transposed key finds nothing in the same key
    q = label_arrays([{"key": "D major"}])
    assert retrieval_scores(db, labels, db[:1], q, [0], ks=(1,))["key"]["P@1"] == 0.0


def test_probes_learn_a_separable_task() -> None:
    rng = np.random.default_rng(0)
    classes = np.arange(6)
    y_tr, y_te = np.repeat(classes, 12), np.repeat(classes, 4)
    centres = rng.standard_normal((6, 16)) * 5

    def feats(y: np.ndarray) -> np.ndarray:
        return centres[y] + 0.1 * rng.standard_normal((len(y), 16))

    x_tr, x_te = feats(y_tr), feats(y_te)
    keys = np.array([0, 2, 7, 9, 12, 21])
    bpm = np.array([60.0, 75, 90, 110, 135, 170])
    inst = np.array(["piano", "organ", "guitar", "strings", "flute", "brass"])
    for kind in ("linear", "mlp"):
        k = probe_key(kind, x_tr, keys[y_tr], x_te, keys[y_te])
        assert k == {"accuracy": 1.0, "weighted_score": 1.0}
        assert probe_tempo(kind, x_tr, bpm[y_tr], x_te, bpm[y_te])["acc1"] == 1.0
        assert probe_instrument(kind, x_tr, inst[y_tr], x_te, inst[y_te])["accuracy"] == 1.0
        s = probe_shift(kind, x_tr, y_tr - 3.0, x_te, y_te - 3.0)
        assert s["accuracy"] == 1.0 and s["mae"] == 0.0
    assert key_scores([7], [0])["weighted_score"] == pytest.approx(0.5)  # perfect fifth


def test_linear_probe_picks_its_strength_on_train_folds_only() -> None:
    """C comes from cross-validation inside the train split (a grid fixed in advance); a split too small
    for stratified folds falls back to C = 1. The test split never reaches the fit."""
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV

    from loev_core.evaluation.probes import CV_FOLDS, LINEAR_CS, make_probe

    clf = make_probe("linear")[-1]
    assert isinstance(clf, LogisticRegressionCV) and list(clf.Cs) == list(LINEAR_CS) and clf.cv == CV_FOLDS
    assert isinstance(make_probe("linear", validate=False)[-1], LogisticRegression)
    rng = np.random.default_rng(1)
    y_tr = np.repeat(np.arange(4), 10)
    x_tr = np.concatenate([np.eye(4)[y_tr] * 3, rng.standard_normal((40, 60))], axis=1)
    x_te = np.concatenate([np.eye(4) * 3, np.zeros((4, 60))], axis=1)
    assert list(fit_predict("linear", x_tr, y_tr, x_te)) == [0, 1, 2, 3]
    few = np.array([0, 1, 2, 3, 0, 1, 2, 3])  # 2 per class: no 3 stratified folds, so C = 1, no error
    x_few = np.concatenate([np.eye(4)[few] * 3, 0.1 * rng.standard_normal((8, 60))], axis=1)
    assert list(fit_predict("linear", x_few, few, x_few)) == list(few)


def test_equivariance_curve_keys_shapes_identity() -> None:
    model = tiny_model("loev")
    t = torch.arange(SR) / SR
    waves = torch.stack([0.3 * torch.sin(2 * torch.pi * f * t) for f in (220.0, 330.0, 440.0)])
    curves = equivariance_curve(model, waves, SR, "pitch_shift", [-2.0, 0.0, 2.0], progress=False)
    graded = equivariance_curve(model, waves, SR, "pitch_shift", [-4.0, -1.0, 0.0, 1.0, 4.0], progress=False)
    assert all(c["near_far_lo"] <= c["near_far"] <= c["near_far_hi"] for c in graded.values())
    assert list(curves) == model.subspaces
    for c in curves.values():
        # no "near_far": +-1 and +-4 are not among these shifts
        assert set(c) == {"values", "mean", "lo", "hi", "between", "rise", "rise_lo", "rise_hi"}
        assert 0.0 <= c["between"] <= 2.0 and c["rise_lo"] <= c["rise"] <= c["rise_hi"]
        assert c["values"] == [-2.0, 0.0, 2.0] and len(c["mean"]) == len(c["lo"]) == len(c["hi"]) == 3
        assert c["mean"][1] == 0.0 and c["lo"][1] == 0.0 and c["hi"][1] == 0.0
        assert all(lo <= m <= hi for lo, m, hi in zip(c["lo"], c["mean"], c["hi"], strict=True))
        assert c["mean"][0] > 0 and c["mean"][2] > 0
    gain = equivariance_curve(model, waves[:2], SR, "gain", [0.0, -6.0], interval="t", progress=False)
    assert gain["V"]["mean"][0] == 0.0 and gain["V"]["values"] == [0.0, -6.0] and "near_far" not in gain["V"]
    assert torch.equal(apply_transform("time_stretch", waves, SR, 1.0), waves)
    assert apply_transform("time_stretch", waves, SR, [0.8, 1.0, 1.25]).shape == waves.shape
    faster = transform_waves("time_stretch", list(waves), SR, [0.8, 1.0, 1.25])
    assert [w.shape[-1] for w in faster] == [SR, SR, int(SR / 1.25)]  # the zero padding is trimmed
    assert distance_at(curves["V"], 2.0) == pytest.approx((curves["V"]["mean"][0] + curves["V"]["mean"][2]) / 2)
    clean = {k: v.numpy() for k, v in model.embed(waves, SR).items()}
    assert curves["V"]["between"] == pytest.approx(between_clips(clean["V"]), abs=1e-6)


def test_transform_distances_are_the_rows_behind_the_curves() -> None:
    # per-clip distances: one row per value, one column per clip; the curve is their row mean, and a
    # column equals the distance computed by hand for that clip alone
    model = tiny_model("loevpp")
    t = torch.arange(SR) / SR
    waves = torch.stack([0.3 * torch.sin(2 * torch.pi * f * t) for f in (220.0, 330.0, 440.0)])
    values = [-3.0, 0.0, 1.0]
    dist, between = transform_distances({"m": model}, waves, SR, "pitch_shift", values, batch_size=2,
                                        progress=False)
    curves = equivariance_curve(model, waves, SR, "pitch_shift", values, batch_size=2, progress=False)
    for k, d in dist["m"].items():
        assert d.shape == (3, 3) and np.all(d[1] == 0.0)
        assert np.allclose(d.mean(axis=1), curves[k]["mean"])
        assert between["m"][k] == pytest.approx(curves[k]["between"])
    one = apply_transform("pitch_shift", waves[2:], SR, -3.0)
    by_hand = cosine_distance(model.embed(waves[2:], SR)["Z.pitch_shift"].numpy(),
                              model.embed(one, SR)["Z.pitch_shift"].numpy())
    assert dist["m"]["Z.pitch_shift"][0, 2] == pytest.approx(float(by_hand[0]), abs=1e-5)


def test_rise_hand_computed_and_its_interval_over_clips() -> None:
    size = amount("pitch_shift", [-2.0, -1.0, 0.0, 1.0, 2.0])
    assert list(size) == [2.0, 1.0, 0.0, 1.0, 2.0]
    assert amount("time_stretch", [0.8, 1.0, 1.25]) == pytest.approx([np.log(1.25), 0.0, np.log(1.25)])
    # every clip rises identically: Spearman exactly 1, no spread; with x ties the ideal rho is still 1
    steady = np.repeat(size[:, None] * 0.1, 8, axis=1)
    assert rise(size, steady) == pytest.approx((1.0, 1.0, 1.0))
    # hand case: clip means 0.3, 0.1, 0, 0.2, 0.4 -> ranks 4, 2, 1, 3, 5 against size ranks 4.5, 2.5, 1,
    # 2.5, 4.5: Pearson of the centred ranks = 9 / sqrt(10 * 9) = 0.9487
    curve = np.array([[0.3], [0.1], [0.0], [0.2], [0.4]])
    assert rise(size, np.repeat(curve, 4, axis=1))[0] == pytest.approx(9 / np.sqrt(90))
    # noisy clips: the interval widens and contains the point value; a flat curve is undefined
    rng = np.random.default_rng(0)
    noisy = size[:, None] * 0.02 + rng.random((5, 40)) * 0.3
    rho, lo, hi = rise(size, noisy)
    assert lo <= rho <= hi and hi - lo > 0.05
    assert np.isnan(rise(size, np.zeros((5, 3)))[0])
    # one clip: its Spearman, but nothing to resample, so no interval (not a zero-width one)
    one = rise(size, curve)
    assert one[0] == pytest.approx(9 / np.sqrt(90)) and np.isnan(one[1]) and np.isnan(one[2])
    assert rise_text({"rise": one[0], "rise_lo": None, "rise_hi": None}) == "0.95 [–]"  # as read back from JSON


def test_near_far_hand_computed_and_the_step_target() -> None:
    """+-1 over +-4: a ramp is well under 1 (its interval too), a step is about 1; the target row passes only
    when the whole 95 % interval is under 1, and older results without the numbers get no row."""
    values = [-4.0, -1.0, 0.0, 1.0, 4.0]
    size = amount("pitch_shift", values)
    ramp = np.repeat(np.array([[0.4], [0.1], [0.0], [0.1], [0.4]]), 6, axis=1)
    assert near_far(size, ramp) == pytest.approx((0.25, 0.25, 0.25))
    rng = np.random.default_rng(0)
    step = np.abs(size)[:, None].clip(0, 1) * 0.4 + rng.normal(0, 0.05, (5, 30)) * (size[:, None] > 0)
    ratio, lo, hi = near_far(size, step)
    assert lo < ratio < hi and lo < 1 < hi  # a step: d(+-1) is not below d(+-4)
    assert np.isnan(near_far(amount("pitch_shift", [-2.0, 0.0, 2.0]), ramp[:3])[0])  # no +-1 / +-4 measured

    def results(curve: dict) -> dict:
        flat = {"values": values, "mean": [0.01] * 5}
        return {"models": {"m": {"kind": "loev", "probes": {}, "retrieval": {},
                                 "curves": {"pitch_shift": {"Z.pitch_shift": curve, "Z.invariant": flat}}}}}

    curve = {"values": values, "mean": [0.4, 0.1, 0.0, 0.1, 0.4], "near_far": 0.25, "near_far_lo": 0.2,
             "near_far_hi": 0.3}
    row = next(r for r in check_targets(results(curve)) if r["target"] == PITCH_STEP)
    assert row["passed"] is True and row["measured"] == 0.25 and "0.1000 at +-1, 0.4000 at +-4" in row["detail"]
    row = next(r for r in check_targets(results({**curve, "near_far_hi": 1.1})) if r["target"] == PITCH_STEP)
    assert row["passed"] is False
    older = {k: v for k, v in curve.items() if not k.startswith("near_far")}
    assert not [r for r in check_targets(results(older)) if r["target"] == PITCH_STEP]


def test_between_clips_hand_computed() -> None:
    # unit vectors at 0, 90 and 180 degrees: pair distances 1, 2 and 1 (scale does not matter)
    emb = np.array([[1.0, 0.0], [0.0, 3.0], [-2.0, 0.0]])
    assert between_clips(emb) == pytest.approx(4.0 / 3.0)
    assert np.isnan(between_clips(emb[:1]))


def test_update_readme_replaces_only_the_block(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{README_START}\nold\n{README_END}\noutro\n")
    update_readme(readme, "| a |\n| --- |")
    update_readme(readme, "| new |\n| --- |")
    assert readme.read_text() == f"intro\n{README_START}\n| new |\n| --- |\n{README_END}\noutro\n"
    (tmp_path / "bad.md").write_text("no markers")
    with pytest.raises(ValueError):
        update_readme(tmp_path / "bad.md", "x")


def make_tone_corpus(root: Path) -> Path:
    """12 labelled 1.5 s clips: a triad on the tonic with clicks on the beat (key and tempo audible)."""
    root.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(1.5 * SR)) / SR
    rows = []
    for i in range(12):
        tonic, bpm, minor = [0, 7, 9][i % 3], [80, 120][i % 2], i % 3 == 2
        f0 = 220.0 * 2 ** ((tonic - 9) / 12)
        third = 3 if minor else 4
        y = sum(np.sin(2 * np.pi * f0 * 2 ** (s / 12) * t) for s in (0, third, 7)) * 0.15
        y[(np.arange(t.size) % int(SR * 60 / bpm)) < 80] += 0.5
        sf.write(root / f"c{i}.wav", y.astype(np.float32), SR)
        key = f"{['C', 'G', 'A'][i % 3]} {'minor' if minor else 'major'}"
        rows.append({"path": f"c{i}.wav", "split": "test" if i >= 8 else "train", "key": key, "tempo": bpm,
                     "instrument": ["sine", "organ"][i % 2], "piece": f"p{i}", "drums": "no"})
    with (root / "manifest.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return root


@pytest.mark.slow  # ~7 s: the whole `loev eval` (probes, retrieval, curves, plots, report) on two models
def test_cli_end_to_end(tmp_path: Path) -> None:
    from loev_core.cli import main

    corpus = make_tone_corpus(tmp_path / "corpus")
    ckpts = [str(save_model(tiny_model(k), tmp_path / f"tiny-{k}")) for k in ("simclr", "loevpp")]
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{README_START}\nplaceholder\n{README_END}\n")
    out = tmp_path / "eval"
    argv = ["eval", "--checkpoint", ckpts[0], "--checkpoint", ckpts[1], "--corpus", str(corpus), "--out", str(out),
            "--readme", str(readme), "--curve-clips", "2", "--shift-clips", "4", "--pitch-shifts=-4,0,4",
            "--stretch-rates=0.8,1,1.2", "--gains=-6,0", "--quiet"]
    assert main(argv) == 0
    res = json.loads((out / "results.json").read_text())
    assert set(res["models"]) == {"tiny-simclr", "tiny-loevpp"} and res["n_train"] == 8 and res["n_test"] == 4
    pp = res["models"]["tiny-loevpp"]
    assert set(pp["probes"]) == set(pp["subspaces"]) and "V.pitch_shift" in pp["retrieval"]
    assert set(pp["probes"]["V"]["mlp"]) == {"key", "tempo", "instrument", "pitch_shift"}
    assert set(pp["retrieval"]["V"]) == {"clean", "pitch_shift", "time_stretch"}
    assert set(pp["retrieval"]["V"]["clean"]["key"]) == {"P@1", "P@3", "P@5", "P@10"}
    assert pp["curves"]["pitch_shift"]["Z.pitch_shift"]["values"] == [-4.0, 0.0, 4.0]
    assert "near_far" not in pp["curves"]["pitch_shift"]["Z.pitch_shift"]  # no +-1 among these shifts
    assert {r["target"].split(",")[0] for r in res["summary"]} >= {"key weighted score", "tempo acc1"}
    for name in ("pitch_shift.png", "time_stretch.png", "gain.png", "probes.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "plotly" in (out / "report.html").read_text()[:5_000_000].lower()
    md = (out / "results.md").read_text()
    assert "| tiny-loevpp | V.pitch_shift |" in md and "## Targets" in md and "with \\|shift\\|" in md
    assert all(len(line.split(" | ")) == 6 for line in md.splitlines()
               if line.startswith("| ") and "Spearman" in line)  # pipes escaped
    text = readme.read_text()
    assert "placeholder" not in text and "![pitch-shift equivariance](eval/pitch_shift.png)" in text
    assert main(["eval", "--checkpoint", str(tmp_path / "missing"), "--corpus", str(corpus), "--out", str(out)]) == 1
