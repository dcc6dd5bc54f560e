"""The preparation step (`loev dashboard --prepare`) and the server's warm-up: every page's first view is
stored once, keyed by checkpoint and corpus, read back into memory at start, recomputed when either changes."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pytest

from loev_core.explore import prepare as P
from loev_core.explore import warmup
from loev_core.explore.memory import Memory
from loev_core.explore.session import ENV_CACHE, ENV_CORPUS, ENV_ROOTS, load_settings
from tests.support import DashEnv, keep_columns


@pytest.fixture
def quick_maps(monkeypatch: pytest.MonkeyPatch) -> None:
    """PCA maps and no UMAP compile: the steps are the same, without numba's start-up (UMAP has its own tests)."""
    monkeypatch.setattr(P, "MAP_METHOD", "PCA")
    monkeypatch.setattr(P, "warm_umap", lambda: None)


def stored(cache: Path) -> dict[str, int]:
    return {"corpora": len(list(cache.glob("corpora/*/index/index.json"))),
            "maps": len(list(cache.glob("projections/proj-*.npz"))), "curves": len(list(cache.glob("curves/*.json")))}


def computed(result: dict) -> list[str]:
    return [w for w in result["computed"] if "compile" not in w]


def test_prepare_stores_every_first_view_once(dash_env: DashEnv, tmp_path: Path, quick_maps: None) -> None:
    settings = load_settings({**dash_env.env, ENV_CACHE: str(tmp_path / "cache")})
    first = P.prepare(settings, Memory())
    assert not first["failed"], first["failed"]
    # two models: each its corpus, a map of every subspace (SimCLR 2, LOEV++ 7), its curves
    assert stored(tmp_path / "cache") == {"corpora": 2, "maps": 9, "curves": 2}
    assert len(computed(first)) == first["steps"] == 2 + 9 + 2
    again = P.prepare(settings, Memory())  # a rerun only reads
    assert computed(again) == [] and not again["failed"]
    assert stored(tmp_path / "cache") == {"corpora": 2, "maps": 9, "curves": 2}


def test_warm_up_reads_what_is_stored_and_computes_the_rest(dash_env: DashEnv, tmp_path: Path,
                                                            quick_maps: None) -> None:
    settings = load_settings({**dash_env.env, ENV_CACHE: str(tmp_path / "cache")})
    memory = Memory()
    warmup.warm(settings, memory, libraries=False)  # nothing stored: computed (in the background in a server)
    assert stored(tmp_path / "cache") == {"corpora": 2, "maps": 9, "curves": 2}
    fresh = Memory()  # a restarted server: every step is read back, none is computed
    pending, failed = P.run_steps(P.plan(settings, fresh), stored_only=True)
    assert pending == [] and failed == []
    held = {k: len(getattr(fresh, k).items) for k in ("models", "corpora", "maps", "curves")}
    assert held == {"models": 2, "corpora": 2, "maps": 9, "curves": 2}
    assert len(fresh.sounds.items) >= 1  # the Equivariance page's players of its first clip
    assert warmup.loaded.is_set()


def test_a_changed_corpus_or_checkpoint_is_prepared_anew(dash_env: DashEnv, tmp_path: Path,
                                                          quick_maps: None) -> None:
    import torch

    from loev_core import load_model, save_model

    corpus = tmp_path / "corpus"
    shutil.copytree(dash_env.corpus, corpus)
    ckpt = tmp_path / "ckpt-loevpp"
    env = {**dash_env.env, ENV_CACHE: str(tmp_path / "cache"), ENV_CORPUS: str(corpus),
           ENV_ROOTS: str(tmp_path), "LOEV_DASHBOARD_CHECKPOINTS": str(dash_env.checkpoints["loevpp"])}
    assert not P.prepare(load_settings(env), Memory())["failed"]
    manifest = corpus / "manifest.csv"
    manifest.write_text(manifest.read_text().replace("C major", "c major", 1))  # one label edited
    again = computed(P.prepare(load_settings(env), Memory()))
    assert any("embeddings" in w for w in again) and any("curves" in w for w in again)
    model = load_model(dash_env.checkpoints["loevpp"])
    with torch.no_grad():
        next(model.parameters()).add_(0.01)  # retrained: other weights, another checkpoint id
    save_model(model, ckpt)
    changed = computed(P.prepare(load_settings({**env, "LOEV_DASHBOARD_CHECKPOINTS": str(ckpt)}), Memory()))
    assert len(changed) == 1 + 7 + 1  # its corpus, its 7 maps and its curves


def test_dashboard_prepare_option_prepares_and_exits(dash_env: DashEnv, tmp_path: Path, quick_maps: None,
                                                     monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from loev_core.cli import dashboard as cli

    env = {**dash_env.env, ENV_CACHE: str(tmp_path / "cache"), "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    for k, v in env.items():
        monkeypatch.setenv(k, v)  # restored after the test (the command writes its options to os.environ)
    p = argparse.ArgumentParser()
    cli.add_arguments(p)
    args = p.parse_args(["--prepare", "--no-real-demo", "--cache-dir", str(tmp_path / "cache")])
    assert cli.run(args) == 0
    assert "Prepared in" in capsys.readouterr().err
    assert stored(tmp_path / "cache") == {"corpora": 2, "maps": 9, "curves": 2}


def test_prepare_also_prepares_the_real_demo_set_and_says_why_it_cannot_build_it(
        dash_env: DashEnv, tmp_path: Path, quick_maps: None, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """`./run demo` without Debian's tools: one line says why the real-music set cannot be (re)built; a set
    built earlier is still prepared, after the default corpus."""
    from loev_core.cli import dashboard as cli
    from loev_core.explore.session import ENV_REAL_DEMO
    from tests.support import make_corpus

    demo = make_corpus(tmp_path / "real-demo", n=8, seed=3)
    env = {**dash_env.env, ENV_CACHE: str(tmp_path / "cache"), "NUMBA_CACHE_DIR": str(tmp_path / "numba"),
           ENV_REAL_DEMO: str(demo), "PATH": str(tmp_path / "no-tools")}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    p = argparse.ArgumentParser()
    cli.add_arguments(p)
    assert cli.run(p.parse_args(["--prepare", "--cache-dir", str(tmp_path / "cache")])) == 0
    err = capsys.readouterr().err
    assert len([line for line in err.splitlines() if "real-music demo set" in line]) == 1
    assert "note: no real-music demo set (the generated demo set works as usual)" in err
    assert stored(tmp_path / "cache") == {"corpora": 4, "maps": 18, "curves": 4}  # both corpora, both models


def test_warm_up_reads_a_prepared_real_demo_set_after_the_default_corpus(dash_env: DashEnv, tmp_path: Path,
                                                                         quick_maps: None) -> None:
    """The warm-up only reads the real-music demo set (computing it is `--prepare`'s work): once prepared, a
    restarted server holds it in memory, so picking it on the Models page waits for nothing."""
    from loev_core.explore.session import ENV_REAL_DEMO
    from tests.support import make_corpus

    demo = make_corpus(tmp_path / "real-demo", n=8, seed=3)
    settings = load_settings({**dash_env.env, ENV_CACHE: str(tmp_path / "cache"), ENV_REAL_DEMO: str(demo)})
    first = Memory()
    warmup.warm(settings, first, libraries=False)  # nothing stored: the default corpus computed, the demo set not
    assert stored(tmp_path / "cache") == {"corpora": 2, "maps": 9, "curves": 2}
    assert not [k for k in first.corpora.items if str(demo) in k]
    assert not P.prepare(settings, Memory(), extra=(demo,))["failed"]
    fresh = Memory()  # a restarted server
    warmup.warm(settings, fresh, libraries=False)
    assert {k: len(getattr(fresh, k).items) for k in ("corpora", "maps", "curves")} == {"corpora": 4, "maps": 18,
                                                                                      "curves": 4}
    assert len([k for k in fresh.corpora.items if str(demo) in k]) == 2  # both models' view of the demo set


def test_warm_up_prepares_the_tour_count_on_a_corpus_without_keys(dash_env: DashEnv, tmp_path: Path,
                                                                   quick_maps: None) -> None:
    """Without key labels (a folder of tracks given to `loev dashboard --corpus`) the tour's first step counts how
    often SimCLR's search finds clips moved into another key: that count is what the warm-up holds ready, not a
    trajectory the page no longer draws."""
    from loev_core.explore.tour import TOUR_COPIES

    corpus = tmp_path / "no-keys"
    shutil.copytree(dash_env.corpus, corpus)
    keep_columns(corpus)
    settings = load_settings({**dash_env.env, ENV_CACHE: str(tmp_path / "cache"), ENV_CORPUS: str(corpus),
                              ENV_ROOTS: f"{dash_env.root}:{tmp_path}"})
    memory = Memory()
    warmup.warm(settings, memory, libraries=False)
    held = {k[0]: k for k in memory.sounds.items}
    assert "copy_ranks" in held and "trajectory" not in held
    assert held["copy_ranks"][3:] == (TOUR_COPIES, ("Z.invariant",))  # the key the tour page asks for
