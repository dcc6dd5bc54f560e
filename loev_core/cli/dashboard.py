"""`loev dashboard`: start the Streamlit app on loopback, on the bundled models and demo corpus.

Options reach the app as `LOEV_DASHBOARD_*` environment variables (see loev_core.explore.session),
so `streamlit run dashboard/app.py` alone behaves like `loev dashboard` with no options. The server
runs in this process, from the installed `loev_dashboard` package (any working folder will do); its
Streamlit settings come from `loev_core/explore/streamlit.toml` as flags. Before it accepts
connections, the warm-up thread (`loev_core.explore.warmup`) starts compiling UMAP and embedding the
corpus with every model, so the first visitor waits less.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from loev_core.explore.session import (
    DEMO_CORPUS,
    ENV_CACHE,
    ENV_CHECKPOINTS,
    ENV_CORPUS,
    ENV_ROOTS,
    ENV_WARM,
    app_path,
    bundled_checkpoints,
    numba_cache_dir,
    streamlit_options,
)

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


def build_env(args: argparse.Namespace) -> dict[str, str]:
    """The app's environment: checkpoints, corpus, allowed folders, caches."""
    env = dict(os.environ)
    env.setdefault("NUMBA_CACHE_DIR", str(numba_cache_dir()))
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
    problem = check(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if args.address not in LOOPBACK:
        print(f"warning: binding to {args.address}: anyone who can reach this machine can use the dashboard",
              file=sys.stderr)
    env = build_env(args)
    if not args.no_warm:
        env[ENV_WARM] = "1"
    os.environ.update(env)  # before numba, UMAP or the app are imported: they read it
    Path(env["NUMBA_CACHE_DIR"]).mkdir(parents=True, exist_ok=True)
    # Streamlit (and plotly, narwhals, pandas with it) is imported before the warm-up thread starts: that
    # thread imports UMAP, which imports narwhals too, and two threads importing them at once can stop
    # the server with an import `_DeadlockError`.
    from streamlit.web import bootstrap

    if not args.no_warm:
        from loev_core.explore import warmup
        from loev_core.explore.session import load_settings

        print("Preparing in the background: UMAP compile (first run only) and corpus embeddings "
              "(once per model and corpus)", file=sys.stderr)
        warmup.start(load_settings())
    flags = {**streamlit_options(), "server.headless": True, "server.address": args.address,
             "server.port": args.port, "client.toolbarMode": "minimal"}
    bootstrap.load_config_options(flag_options=flags)
    print(f"LOEV Explorer on http://{args.address}:{args.port}", file=sys.stderr, flush=True)
    bootstrap.run(str(app_path()), False, [], flags)
    return 0
