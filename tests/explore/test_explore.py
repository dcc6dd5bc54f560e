"""loev_core.explore without a browser: stored projections, alignment, settings, retrieval, model cards (what it
   refuses: test_refused.py)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loev_core import load_model
from loev_core.checkpoint import checkpoint_id
from loev_core.explore import projection as P
from loev_core.explore.cache import load_corpus
from loev_core.explore.retrieval import breakdown, precision_at_k, presets_for, query_from_row, search
from loev_core.explore.runinfo import _loss_summary, find_metrics, find_stages, model_card, read_metrics, read_stages
from loev_core.explore.session import load_settings
from loev_dashboard.plots import metrics_figure
from tests.support import DashEnv, tiny_checkpoint


def clustered(n: int = 90, d: int = 24, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((3, d)) * 4
    x = centres[np.arange(n) % 3] + rng.standard_normal((n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


# UMAP takes ~6 s here (numba start-up), the others well under a second
@pytest.mark.parametrize("method", [pytest.param(m, marks=pytest.mark.slow) if m == "UMAP" else m for m in P.METHODS])
def test_projection_is_deterministic_and_stored(tmp_path: Path, method: str) -> None:
    x = clustered()
    calls = []

    def compute() -> tuple[np.ndarray, np.ndarray]:
        calls.append(1)
        return np.arange(len(x)), P.compute_projection(x, method)

    key = ("ckpt", "corpus", "V", method)
    rows, first = P.stored_projection(tmp_path, key, compute)
    _, again = P.stored_projection(tmp_path, key, compute)
    assert len(calls) == 1 and np.array_equal(first, again) and first.shape == (len(x), 2)
    assert np.array_equal(P.compute_projection(x, method), first)  # same seed, same map, even recomputed
    _, other = P.stored_projection(tmp_path, ("ckpt", "corpus", "Z.invariant", method), compute)
    assert len(calls) == 2 and len(list(tmp_path.glob("proj-*.npz"))) == 2
    (next(tmp_path.glob("proj-*.npz"))).write_bytes(b"damaged")  # a damaged entry is recomputed, not trusted
    P.stored_projection(tmp_path, key, compute)
    P.stored_projection(tmp_path, ("ckpt", "corpus", "Z.invariant", method), compute)
    assert len(calls) == 3


def test_sampling_is_fixed_and_bounded() -> None:
    rows = P.sample_rows(100_000, 20_000)
    assert len(rows) == 20_000 and np.all(np.diff(rows) > 0)
    assert np.array_equal(rows, P.sample_rows(100_000, 20_000))
    assert np.array_equal(P.sample_rows(50), np.arange(50))
    assert P.point_budget("t-SNE") == P.MAX_TSNE_POINTS


def test_procrustes_recovers_a_rotated_scaled_map() -> None:
    rng = np.random.default_rng(1)
    a = rng.standard_normal((200, 2))
    theta = 1.1
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    b = 3.0 * a @ rot * np.array([1, -1]) + np.array([5.0, -2.0])  # rotated, mirrored, scaled, shifted
    aligned, disparity = P.procrustes_align(a, b)
    assert disparity < 1e-8 and np.allclose(aligned, a, atol=1e-4)
    _, unrelated = P.procrustes_align(a, rng.standard_normal((200, 2)))
    assert unrelated > 0.8
    with pytest.raises(ValueError):
        P.procrustes_align(a, a[:10])


def test_new_points_land_next_to_their_neighbours() -> None:
    x = clustered()
    coords = P.compute_projection(x, "PCA")
    placed = P.place_points(x[:5], x, coords, k=5)
    assert np.allclose(placed, coords[:5], atol=0.35 * np.ptp(coords))


def test_settings_default_to_bundled_assets_and_read_the_cli_environment(tmp_path: Path) -> None:
    s = load_settings({})
    assert s.corpus.name == "demo" and s.corpus.parent.name == "assets"
    env = {"LOEV_DASHBOARD_CHECKPOINTS": f"{tmp_path / 'a' / 'run1'}{os.pathsep}{tmp_path / 'b' / 'run1'}",
           "LOEV_DASHBOARD_CORPUS": str(tmp_path / "music"), "LOEV_DASHBOARD_ROOTS": str(tmp_path / "extra")}
    s = load_settings(env)
    assert list(s.checkpoints) == ["run1", "run1-2"]
    assert (tmp_path / "extra").resolve() in s.roots and (tmp_path / "a").resolve() in s.roots


def test_corpus_cache_retrieval_and_breakdown(dash_env: DashEnv) -> None:
    ckpt = dash_env.checkpoints["loevpp"]
    model, cid = load_model(ckpt), checkpoint_id(ckpt)
    seen: list[float] = []
    roots = [dash_env.root, dash_env.corpus]
    cache = dash_env.root / "explore-cache"
    data = load_corpus(model, ckpt, cid, dash_env.corpus, roots, cache, lambda f, _: seen.append(f))
    assert len(data) == 24 and seen and seen[-1] == 1.0
    assert {"key", "tempo", "instrument"} <= set(data.label_columns) and data.meta["tempo"].dtype.kind in "if"
    again = load_corpus(model, ckpt, cid, dash_env.corpus, roots, cache, lambda f, _: seen.append(-1))
    assert -1 not in seen and again.key == data.key  # second load reads the disk cache
    q = query_from_row(data, 0)
    hits = search(data, q, ["Z.invariant"], 5, exclude=0)
    assert len(hits) == 5 and 0 not in hits["row"].tolist() and hits["score"].is_monotonic_decreasing
    presets = presets_for(data.subspaces)
    assert presets["same key"] == ["V.pitch_shift"] and len(presets["same everything"]) == 3
    multi = search(data, q, presets["same everything"], 5)
    assert multi["row"].iloc[0] == 0 and abs(multi["score"].iloc[0] - 1.0) < 1e-4
    table = breakdown(data, q, multi["row"].tolist())
    assert list(table.columns) == data.subspaces and np.allclose(table.loc[0].to_numpy(), 0.0, atol=1e-4)
    assert precision_at_k(["C", "C", "D", "E"], "C") == 0.5
    assert abs(precision_at_k([100, 103, 110], 100, "tempo") - 2 / 3) < 1e-9  # tempo: within 4 %, as loev eval
    assert presets_for(["V", "Z.invariant"]) == {}


def test_model_card_and_training_curves(tmp_path: Path) -> None:
    ckpt = tiny_checkpoint(tmp_path / "run" / "model", "loev")
    (tmp_path / "run" / "metrics.csv").write_text("step,lr,loss,loss.invariant,seconds\n10,0.001,4.2,4.1,1\n"
                                                   "20,0.001,3.9,3.8,2\n")
    card = model_card(ckpt)
    assert card["kind"].startswith("LOEV") and "Z.pitch_shift" in card["subspaces"]
    assert card["loss"] == "paper loss (NT-Xent per head)"
    assert _loss_summary({"graded": {"pitch_shift": 1.0}}) == "graded positives in pitch_shift (scale 1)"
    assert _loss_summary({"graded": {"pitch_shift": 1.5}, "graded_form": "log"}) == \
        "graded positives in pitch_shift (scale 1.5) (log form)"
    assert _loss_summary({"graded": {"pitch_shift": 2.0}, "weights": {"pitch_shift": 6.0, "invariant": 1.0}}) == \
        "graded positives in pitch_shift (scale 2); pitch_shift loss weighted 6"
    assert _loss_summary({"weights": {"time_stretch": 0.5}}) == \
        "paper loss (NT-Xent per head); time_stretch loss weighted 0.5"
    found = find_metrics(ckpt)
    assert found == tmp_path / "run" / "metrics.csv"
    curves = read_metrics(found)
    assert set(curves["series"]) == {"lr", "loss", "loss.invariant"} and len(curves) == 6
    # later stages kept beside it, numbered in training order (10 after 9, not after 1); other csv files ignored
    for n, name in ((10, "last"), (9, "second")):
        (tmp_path / "run" / f"metrics-{n}-{name}.csv").write_text("step,lr,loss,seconds\n10,0.1,2.0,1\n30,0.1,1.5,2\n")
    (tmp_path / "run" / "metrics-notes.csv").write_text("step,lr\n1,2\n")
    stages = find_stages(ckpt)
    assert [name for name, _ in stages] == ["run", "second", "last"]
    long = read_stages(stages)
    loss = long[long["series"] == "loss"]
    assert loss["step"].tolist() == [10, 20, 30, 50, 60, 80]  # each stage starts where the one before ended
    assert loss["stage"].tolist() == ["run", "run", "second", "second", "last", "last"]
    fig = metrics_figure(long)
    assert [a.text for a in fig.layout.annotations] == ["second", "last"]  # a line where each later stage starts
    assert [sh.x0 for sh in fig.layout.shapes] == [30.0, 60.0]


def test_evaluation_results_are_found_by_checkpoint_hash(tmp_path: Path, dash_env: DashEnv) -> None:
    import json

    from loev_core.explore.runinfo import evaluation_tables, find_evaluations, order_evaluations
    from loev_core.explore.session import ASSETS

    ckpt = dash_env.checkpoints["loevpp"]
    cid = checkpoint_id(ckpt)
    model = {"checkpoint_id": cid, "probes": {"V": {"linear": {"key": {"accuracy": 0.5, "weighted": 0.6}}},
                                             "Z.invariant": {"linear": {"key": {"accuracy": 0.1, "weighted": 0.2}}}},
             "retrieval": {"V": {"clean": {"key": {"P@5": 0.4}}}, "Z.invariant": {"clean": {"key": {"P@5": 0.1}}}}}
    out = tmp_path / "eval"
    out.mkdir()
    (out / "results.json").write_text(json.dumps({"models": {"demo": model, "other": {"checkpoint_id": "x"}}}))
    found = find_evaluations(ckpt, cid, extra_roots=(tmp_path,))
    assert len(found) == 1 and found[0]["name"] == "demo"
    tables = evaluation_tables(found[0]["model"])
    assert list(tables) == ["probes (linear)", "retrieval (clean queries)"]
    assert tables["probes (linear)"].loc["V", "key accuracy"] == 0.5
    assert find_evaluations(ckpt, "0" * 16, extra_roots=(tmp_path,)) == []

    # a second evaluation, on recordings, written later: both are found, newest first, each with its tables
    real = tmp_path / "eval" / "real"
    real.mkdir()
    scores = {"same_track_p1": 0.7, "same_track_p1_ci": [0.6, 0.8], "degraded_top1": 0.95,
              "degraded_top1_ci": [0.9, 0.99], "stretch": [0.1, 0.1]}
    (real / "results.json").write_text(json.dumps({"corpus": "recordings", "models": {"r": model},
                                                   "recordings": {"models": {"r": {"V": scores}}}}))
    os.utime(real / "results.json", (time.time() + 5, time.time() + 5))
    both = find_evaluations(ckpt, cid, extra_roots=(tmp_path,))
    assert [ev["name"] for ev in both] == ["r", "demo"]
    rec = evaluation_tables(both[0]["model"], both[0]["results"]["recordings"]["models"]["r"])["recordings"]
    assert rec.loc["V"].to_dict() == {"same-track P@1": 0.7, "same-track low": 0.6, "same-track high": 0.8,
                                      "degraded top-1": 0.95, "degraded low": 0.9, "degraded high": 0.99}
    # shown first: the evaluation on the corpus being explored, else a bundled one, else the newest
    both[1]["results"]["corpus"] = str(dash_env.corpus)  # "demo" ran on the corpus explored, "r" did not
    assert [ev["name"] for ev in order_evaluations(both, dash_env.corpus)] == ["demo", "r"]
    assert [ev["name"] for ev in order_evaluations(both, tmp_path / "elsewhere")] == ["r", "demo"]
    bundled = {"name": "bundled", "file": ASSETS / "eval" / "results.json", "results": {"corpus": "assets/demo"}}
    assert [ev["name"] for ev in order_evaluations([*both, bundled], tmp_path)] == ["bundled", "r", "demo"]


def test_a_results_folder_of_recordings_shows_their_scores() -> None:
    """The Models page's "Evaluation results" box (any `loev eval --out` folder, e.g. on your own songs) shows the
    recordings' scores of every model and says what they are; the bundled real-music run as the example."""
    from loev_core.explore.runinfo import mixed_up_table, read_results_folder, results_caption, results_tables

    results = read_results_folder(Path(__file__).resolve().parents[2] / "assets" / "eval" / "real")
    tables = results_tables(results)
    for name in ("demo-simclr", "demo-loev", "demo-loevpp"):
        rec = tables[f"{name}: recordings"]
        want = results["recordings"]["models"][name]["V"]
        assert rec.loc["V", "degraded top-1"] == want["degraded_top1"]
        assert rec.loc["V", "same-track P@1"] == want["same_track_p1"]
    assert set(tables["demo-loevpp: recordings"].index) >= {"V", "Z.invariant", "V.pitch_shift"}
    n = results["recordings"]["n_tracks"]
    assert f"recordings: {n} tracks cut into {results['recordings']['n_clips']} clips" in results_caption(results)
    # the recordings each model mixes up most, in its best same-recording subspace (SimCLR's is V there)
    mixed = mixed_up_table(results["recordings"]["models"]["demo-simclr"])
    best = max(("V", "Z.invariant"), key=lambda s: results["recordings"]["models"]["demo-simclr"][s]["same_track_p1"])
    assert mixed is not None and set(mixed["subspace"]) == {best} and (mixed["clips"] >= 1).all()
    assert mixed_up_table(None) is None and mixed_up_table({"V": {"same_track_p1": 0.5}}) is None  # older results
    # the caption says which rule the scores used: repeats skipped and found, or (older results) not
    assert "repeats of it skipped" in results_caption(results) and "or a repeat of it" in results_caption(results)
    older = {**results, "recordings": {k: v for k, v in results["recordings"].items() if k != "n_repeated_clips"}}
    assert "repeat" not in results_caption(older)


def test_dashboard_command_builds_the_app_environment(tmp_path: Path, dash_env: DashEnv) -> None:
    import argparse

    from loev_core.cli import dashboard as cli
    from loev_core.embeddings.index import Embeddings, build_index

    p = argparse.ArgumentParser()
    cli.add_arguments(p)
    args = p.parse_args(["--checkpoint", str(dash_env.checkpoints["simclr"]), "--corpus", str(dash_env.corpus)])
    assert args.address == "127.0.0.1" and cli.check(args) is None
    env = cli.build_env(args)
    assert env["LOEV_DASHBOARD_CHECKPOINTS"] == str(dash_env.checkpoints["simclr"].resolve())
    assert env["NUMBA_CACHE_DIR"] and env["LOEV_DASHBOARD_CORPUS"] == str(dash_env.corpus.resolve())
    bad = p.parse_args(["--checkpoint", str(dash_env.corpus / "manifest.csv")])
    assert "not a safetensors" in cli.check(bad)
    (tmp_path / "no-audio").mkdir()
    assert "no audio files" in cli.check(p.parse_args(["--corpus", str(tmp_path / "no-audio")]))  # said at start
    one = next((dash_env.corpus / "audio").iterdir())
    assert "one audio file is not a corpus" in cli.check(p.parse_args(["--corpus", str(one)]))
    vectors = {"V": np.eye(4, dtype=np.float32)}
    meta = pd.DataFrame({"path": [str(dash_env.corpus / "audio" / f"clip00{i}.ogg") for i in range(4)],
                         "offset": 0.0, "duration": 3.5, "labels": [{}] * 4})
    build_index(Embeddings(vectors, meta), tmp_path / "ix")
    assert cli.index_audio_roots(tmp_path / "ix") == [(dash_env.corpus / "audio").resolve()]


def test_store_builds_each_corpus_once_and_prebuild_fills_it(dash_env: DashEnv) -> None:
    import threading
    import time

    from loev_core.explore import warmup
    from loev_core.explore.cache import SharedStore
    from loev_core.explore.session import load_settings

    store, calls = SharedStore(), []

    def build() -> str:
        calls.append(1)
        time.sleep(0.3)
        return "built"

    threads = [threading.Thread(target=store.get, args=(("k",), build)) for _ in range(5)]
    for t in threads:
        t.start()
    time.sleep(0.1)
    assert store.busy(("k",))
    for t in threads:
        t.join()
    assert calls == [1] and store.get(("k",), build) == "built" and not store.busy(("k",))
    settings = load_settings({**dash_env.env, "LOEV_DASHBOARD_CACHE": str(dash_env.root / "warm-cache")})
    warmup.prebuild(store, settings)
    for path in settings.checkpoints.values():
        key = warmup.corpus_key(path, checkpoint_id(path), settings.corpus, settings.cache_dir)
        assert len(store.items[key]) == 24
