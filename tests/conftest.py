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


WHEEL_SKIP = {".git", ".venv", ".cache", ".ruff_cache", ".pytest_cache", "assets", "tests", "test-artifacts", "runs",
              "data", "build", "dist"}


@pytest.fixture(scope="session")
def built_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built once per session from a copy of the checkout (so no build/ folder or egg-info
    lands in it), with the venv's setuptools (no build isolation, no network)."""
    import shutil
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    junk = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for entry in repo.iterdir():
        if entry.name in WHEEL_SKIP or entry.name.endswith(".egg-info"):
            continue
        if entry.is_dir():
            shutil.copytree(entry, src / entry.name, ignore=junk)
        else:
            shutil.copy2(entry, src / entry.name)
    cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp / "dist"),
           str(src)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    wheels = sorted((tmp / "dist").glob("loev_explorer-*.whl"))
    if done.returncode or len(wheels) != 1:
        pytest.fail(f"building the wheel failed (setuptools>=77 is in the test extras: pip install -e '.[test]'):\n"
                    f"{done.stdout}\n{done.stderr}")
    return wheels[0]
