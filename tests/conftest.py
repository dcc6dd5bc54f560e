"""Shared fixtures: a tiny labelled corpus of real audio files, made on the fly (no downloads), and the
dashboard's environment on it (tiny untrained checkpoints, a private cache folder). Helpers: tests/support.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from loev_core.explore.session import ENV_CACHE, ENV_CHECKPOINTS, ENV_CORPUS, ENV_ROOTS
from tests.support import DashEnv, make_corpus, tiny_checkpoint

os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 labelled 3.5 s clips (ogg) with manifest.csv; train/test split by clip."""
    return make_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="session")
def dash_env(tmp_path_factory: pytest.TempPathFactory, tiny_corpus: Path) -> DashEnv:
    """Two tiny checkpoints (SimCLR, LOEV++), the shared tiny corpus and a private cache folder."""
    root = tmp_path_factory.mktemp("dash")
    ckpts = {k: tiny_checkpoint(root / f"ckpt-{k}", k) for k in ("simclr", "loevpp")}
    env = {ENV_CHECKPOINTS: os.pathsep.join(str(p) for p in ckpts.values()), ENV_CORPUS: str(tiny_corpus),
           ENV_CACHE: str(root / "cache"), ENV_ROOTS: str(root)}
    return DashEnv(root, ckpts, tiny_corpus, env)
