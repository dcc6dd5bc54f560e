"""`loev dashboard`: start the Streamlit app on loopback, on the bundled models and demo corpus.

Options reach the app as `LOEV_DASHBOARD_*` environment variables (see loev_core.explore.session),
so `streamlit run dashboard/app.py` alone behaves like `loev dashboard` with no options. While the
server starts, a background process fills NUMBA_CACHE_DIR (UMAP's compiled code, once per version)
and embeds the corpus with every model into the disk cache, so the first visitor waits less.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from loev_core.explore.session import (
    DEMO_CORPUS,
    ENV_CACHE,
    ENV_CHECKPOINTS,
    ENV_CORPUS,
    ENV_ROOTS,
    REPO_ROOT,
    bundled_checkpoints,
)

APP = REPO_ROOT / "dashboard" / "app.py"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", action="append", default=[], metavar="PATH",
                   help="checkpoint folder or .safetensors (repeatable; default: the bundled demo models)")
    p.add_argument("--corpus", default=None, help="audio folder, manifest, or `loev index` folder "
                   "(default: assets/demo)")
    p.add_argument("--port", type=int, default=8501, help="default 8501")
    p.add_argument("--address", default="127.0.0.1", help="bind address (default loopback only)")
    p.add_argument("--cache-dir", default=None, help="where embeddings, maps and indexes are kept")
    p.add_argument("--allow", action="append", default=[], metavar="DIR",
                   help="extra folder that paths typed in the dashboard may point into (repeatable)")
    p.add_argument("--no-warm", action="store_true",
                   help="do not prepare in the background (UMAP compile, corpus embeddings)")
    p.add_argument("--warm-only", action="store_true", help=argparse.SUPPRESS)


def numba_cache_dir() -> Path:
    return Path(os.environ.get("NUMBA_CACHE_DIR") or REPO_ROOT / ".cache" / "numba")


def warm_marker() -> Path:
    import importlib.metadata as md

    versions = "-".join(md.version(p) for p in ("umap-learn", "numba", "pynndescent"))
    return numba_cache_dir() / f".loev-warm2-{versions}-py{sys.version_info.major}{sys.version_info.minor}"


def warm_numba() -> None:
    """Fit UMAP once, on a small set and on one above 4,096 points (where it switches to approximate
    neighbours, another set of numba functions), so numba writes them all to NUMBA_CACHE_DIR."""
    from loev_core.explore.projection import compute_projection

    rng = np.random.default_rng(0)
    for n in (300, 4500):
        x = rng.standard_normal((n, 32)).astype(np.float32)
        compute_projection(x / np.linalg.norm(x, axis=1, keepdims=True), "UMAP")
    warm_marker().touch()


def warm(env: dict[str, str] | None = None) -> None:
    """The background process: fill NUMBA_CACHE_DIR (once per version), then embed the corpus with
    every configured model into the dashboard's disk cache (a no-op when it is already there)."""
    if not warm_marker().exists():
        warm_numba()
    from loev_core.explore.session import load_settings
    from loev_core.explore.warmup import prebuild_disk

    prebuild_disk(load_settings(env))


def start_warming(env: dict[str, str]) -> None:
    """Start `warm` in a detached background process while the server starts."""
    print("Preparing in the background: UMAP compile (first run only) and corpus embeddings "
          "(once per model and corpus)", file=sys.stderr)
    subprocess.Popen([sys.executable, "-m", "loev_core.cli", "dashboard", "--warm-only"], env=env,
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True)


def build_env(args: argparse.Namespace) -> dict[str, str]:
    """The app's environment: checkpoints, corpus, allowed folders, caches."""
    env = dict(os.environ)
    env.setdefault("NUMBA_CACHE_DIR", str(numba_cache_dir()))
    Path(env["NUMBA_CACHE_DIR"]).mkdir(parents=True, exist_ok=True)
    if args.checkpoint:
        env[ENV_CHECKPOINTS] = os.pathsep.join(str(Path(c).resolve()) for c in args.checkpoint)
    if args.corpus:
        env[ENV_CORPUS] = str(Path(args.corpus).resolve())
    if args.cache_dir:
        env[ENV_CACHE] = str(Path(args.cache_dir).resolve())
    allow = [Path(a).resolve() for a in args.allow]
    if args.corpus:
        allow += index_audio_roots(Path(args.corpus))
    if allow:
        env[ENV_ROOTS] = os.pathsep.join(str(a) for a in dict.fromkeys(allow))
    env.setdefault("PYTHONPATH", "")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env["PYTHONPATH"]) if p)
    return env


def index_audio_roots(corpus: Path, sample: int = 2000) -> list[Path]:
    """For a `loev index` folder given on the command line, the folder its audio lives in, so its
    neighbours can be played (the operator chose this index; paths typed in the app stay confined)."""
    import json

    meta = corpus / "meta.jsonl"
    if not (corpus / "index.json").is_file() or not meta.is_file():
        return []
    parents = set()
    with meta.open() as f:
        for _, line in zip(range(sample), f, strict=False):
            if line.strip():
                parents.add(str(Path(json.loads(line)["path"]).resolve().parent))
    common = Path(os.path.commonpath(sorted(parents))) if parents else None
    if common is None or common == Path(common.anchor):
        print("note: the index's audio files share no folder; pass --allow DIR to play them", file=sys.stderr)
        return []
    print(f"allowing the index's audio under {common}", file=sys.stderr)
    return [common]


def check(args: argparse.Namespace) -> str | None:
    """A readable problem with the options, or None."""
    from loev_core.checkpoint import CheckpointError, read_metadata

    for c in args.checkpoint:
        try:
            read_metadata(c)
        except CheckpointError as e:
            return str(e)
    corpus = Path(args.corpus) if args.corpus else DEMO_CORPUS
    if args.corpus and not corpus.exists():
        return f"{corpus}: no such corpus folder or manifest"
    if not args.checkpoint and not bundled_checkpoints():
        print("note: the bundled models are missing (assets/checkpoints); the dashboard will say how to add one",
              file=sys.stderr)
    if not corpus.exists():
        print(f"note: the demo corpus is missing ({corpus}); choose a corpus on the Models page", file=sys.stderr)
    return None


def run(args: argparse.Namespace) -> int:
    if args.warm_only:
        warm()
        return 0
    problem = check(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if args.address not in LOOPBACK:
        print(f"warning: binding to {args.address}: anyone who can reach this machine can use the dashboard",
              file=sys.stderr)
    env = build_env(args)
    if not args.no_warm:
        env["LOEV_DASHBOARD_WARM"] = "1"  # the server also compiles UMAP in a background thread
        start_warming(env)
    cmd = [sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless", "true",
           "--server.address", args.address, "--server.port", str(args.port),
           "--browser.gatherUsageStats", "false", "--client.toolbarMode", "minimal"]
    print(f"LOEV Explorer on http://{args.address}:{args.port}", file=sys.stderr, flush=True)
    os.chdir(REPO_ROOT)  # .streamlit/config.toml (theme, upload limit) is read from the working directory
    os.execvpe(cmd[0], cmd, env)
    return 0  # not reached
