"""`loev dashboard`: start the Streamlit app on loopback, on the bundled models and demo corpus.

Options reach the app as `LOEV_DASHBOARD_*` environment variables (see loev_core.explore.session),
so `streamlit run dashboard/app.py` alone behaves like `loev dashboard` with no options. The server
runs in this process, from the installed `loev_dashboard` package (any working folder will do); its
Streamlit settings come from `loev_core/explore/streamlit.toml` as flags. `--prepare` computes what
every page shows first (embeddings, indexes, maps, curves) into the disk caches and exits (`./run
demo` runs it first). Before the server accepts connections, the warm-up thread
(`loev_core.explore.warmup`) reads what is stored into memory; what is not, it computes in the background.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
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
    p.add_argument("--port", type=port_number, default=8501, help="1-65535 (default 8501)")
    p.add_argument("--address", default="127.0.0.1", help="bind address (default loopback only)")
    p.add_argument("--cache-dir", default=None, help="where embeddings, maps and indexes are kept")
    p.add_argument("--allow", action="append", default=[], metavar="DIR",
                   help="extra folder that paths typed in the dashboard may point into (repeatable)")
    p.add_argument("--no-warm", action="store_true",
                   help="do not load or prepare in the background (models, corpus embeddings, maps, curves)")
    p.add_argument("--prepare", action="store_true",
                   help="compute what every page shows first (embeddings, indexes, maps, curves) and exit; "
                        "also builds the real-music demo set from Debian's packages (`loev corpus real-demo`)")
    p.add_argument("--no-real-demo", action="store_true",
                   help="with --prepare: do not build or prepare the real-music demo set")
    p.add_argument("--clip-seconds", type=float, default=5.0, metavar="S",
                   help="a --corpus folder's tracks longer than 30 s are cut into clips this long (default 5)")
    p.add_argument("--hop-seconds", type=float, default=30.0, metavar="S",
                   help="... one clip every S seconds of a track (default 30)")
    p.add_argument("--max-clips", type=int, default=20, metavar="N",
                   help="... at most N clips per track, evenly spaced (default 20)")


def port_number(text: str) -> int:
    """An argparse `type`: a TCP port a server can listen on (1-65535)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 1-65535, got {port}")
    return port


def port_problem(address: str, port: int) -> str | None:
    """Why the server could not listen on `address:port` (a bind test, released at once), or None, so a busy
    port is said before the server's URL is printed."""
    import socket

    try:
        infos = socket.getaddrinfo(address, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as e:
        return f"cannot listen on {address}: {e.strerror or e}"
    family, kind, proto, _, where = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds: TIME_WAIT is no obstacle
        try:
            s.bind(where)
        except OSError as e:
            return f"port {port} on {address} is not available ({e.strerror or e}); choose another with --port"
    return None


def build_env(args: argparse.Namespace) -> dict[str, str]:
    """The app's environment: checkpoints, corpus, allowed folders, caches, and the cutting options (a folder of
    long tracks typed on the Models page is cut as --corpus cuts one)."""
    from loev_core.explore.long_tracks import ENV_CUT, cut_options, options_to_env

    env = dict(os.environ)
    env.setdefault("NUMBA_CACHE_DIR", str(numba_cache_dir()))
    env[ENV_CUT] = options_to_env(cut_options(args.clip_seconds, args.hop_seconds, args.max_clips))
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
    if args.corpus:  # say it now, not as a list of steps that could not be prepared
        from loev_core.audio import resolve_corpus
        from loev_core.explore.paths import is_index_folder, outside_roots
        from loev_core.explore.session import load_settings

        if not is_index_folder(corpus):
            try:
                clips = resolve_corpus(corpus, allow_outside=True)
            except ValueError as e:  # a manifest that cannot be used (ManifestError), one audio file
                return str(e)
            if not clips:
                return f"{corpus}: no audio files (wav, flac, ogg, mp3, ...) or manifest rows in it"
            outside = outside_roots(clips, load_settings(build_env(args)).roots)  # the folders the app will allow
            if outside is not None:  # the dashboard plays what a corpus lists: only inside allowed folders
                return (f"{corpus}: its entry {outside!r} is outside the folders the dashboard may serve files from; "
                        "add --allow DIR for the folder that holds its audio")
    if not args.checkpoint and not bundled_checkpoints():
        print("note: the bundled models are missing (assets/checkpoints); the dashboard will say how to add one",
              file=sys.stderr)
    if not corpus.exists():
        print(f"note: the demo corpus is missing ({corpus}); choose a corpus on the Models page", file=sys.stderr)
    return None


def run(args: argparse.Namespace) -> int:
    problem = check(args) or (None if args.prepare else port_problem(args.address, args.port))
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if args.address not in LOOPBACK and not args.prepare:
        print(f"warning: binding to {args.address}: anyone who can reach this machine can use the dashboard",
              file=sys.stderr)
    cut_long_tracks(args)
    env = build_env(args)
    if not args.no_warm and not args.prepare:
        env[ENV_WARM] = "1"
    os.environ.update(env)  # before numba, UMAP or the app are imported: they read it
    Path(env["NUMBA_CACHE_DIR"]).mkdir(parents=True, exist_ok=True)
    if args.prepare:
        return prepare(real_demo=not args.no_real_demo)
    # Streamlit (and plotly, narwhals, pandas with it) is imported before the warm-up thread starts: that
    # thread imports UMAP, which imports narwhals too, and two threads importing them at once can stop
    # the server with an import `_DeadlockError`.
    from streamlit.web import bootstrap

    if not args.no_warm:
        warm_up()
    # no full garbage collection after every page run: with torch, pandas and the corpora in memory it holds
    # the interpreter for 0.3-0.6 s per run, which five concurrent visitors then wait for in turn
    flags = {**streamlit_options(), "server.headless": True, "server.address": args.address,
             "server.port": args.port, "client.toolbarMode": "minimal", "runner.postScriptGC": False}
    bootstrap.load_config_options(flag_options=flags)
    print(f"LOEV Explorer on http://{args.address}:{args.port}", file=sys.stderr, flush=True)
    bootstrap.run(str(app_path()), False, [], flags)
    return 0


def cut_long_tracks(args: argparse.Namespace) -> None:
    """A --corpus folder of full-length tracks (no manifest) becomes its clips in the cache (cut once, with a
    progress bar), and the folder is allowed so a clip's player can play the original track."""
    from loev_core.explore.long_tracks import clip_folder, cut_options
    from loev_core.explore.session import DASHBOARD_CACHE

    opts = cut_options(args.clip_seconds, args.hop_seconds, args.max_clips)
    if not args.corpus or opts is None:
        return
    folder = Path(args.corpus).expanduser().resolve()
    cache = Path(args.cache_dir).resolve() if args.cache_dir else DASHBOARD_CACHE
    found = clip_folder(folder, cache, opts)
    if found is None:
        return
    print(f"{folder}: {len(found.report.rows)} clips of its tracks in {found.corpus}{found.skipped_note}",
          file=sys.stderr)
    args.corpus = str(found.corpus)
    args.allow = [*args.allow, str(folder)]


def build_real_demo(out: Path | None = None, cache: Path | None = None) -> bool:
    """The real-music demo set (a no-op when built; default: where the dashboard looks for it); when it cannot
    be built, one line saying why, and False."""
    from loev_core.corpus.debian import DebianError
    from loev_core.corpus.real_demo import build_real_demo as build
    from loev_core.explore.session import DEB_CACHE, load_settings

    out = out or load_settings().real_demo
    try:
        demo = build(out, cache or DEB_CACHE)
    except (DebianError, ValueError, OSError) as e:
        why = " ".join(str(e).split())
        print(f"note: no real-music demo set (the generated demo set works as usual): {why}", file=sys.stderr)
        return False
    info = demo.info
    print(f"Real-music demo set: {info['clips']} clips of {info['tracks']} tracks in {out}"
          + (f" (built in {info['build_seconds']} s)" if demo.rebuilt else ""), file=sys.stderr, flush=True)
    return True


def prepare(real_demo: bool = True) -> int:
    """`--prepare`: every page's first view, computed into the disk caches (a quick no-op when stored); the
    real-music demo set built and prepared after the default corpus."""
    from loev_core.explore.prepare import prepare as run_prepare
    from loev_core.explore.session import load_settings

    if real_demo:
        build_real_demo()
    settings = load_settings()
    print(f"Preparing the dashboard: {len(settings.checkpoints)} model(s) on {settings.corpus} "
          f"(cache {settings.cache_dir})", file=sys.stderr, flush=True)
    done = run_prepare(settings, extra=(settings.real_demo,) if real_demo else ())
    if done["failed"]:
        print(f"warning: could not prepare {', '.join(done['failed'])}; the pages will say why", file=sys.stderr)
    print(f"Prepared in {done['seconds']} s ({len(done['computed'])} computed; {done['steps']} steps for "
          f"{len(settings.checkpoints)} model(s) were needed)", file=sys.stderr)
    return 0


def warm_up(wait_s: float = 120.0) -> None:
    """Start the warm-up thread and wait until what is stored is in memory (a few seconds), so the first
    visitor is served from memory; what is not stored is computed in the background."""
    from loev_core.explore import warmup
    from loev_core.explore.session import load_settings

    t0 = time.perf_counter()
    print("Loading the models, maps and curves into memory (what is not prepared is computed in the "
          "background; `loev dashboard --prepare` computes it ahead)", file=sys.stderr, flush=True)
    warmup.start(load_settings())
    if not warmup.loaded.wait(wait_s):
        print(f"note: still loading after {wait_s:.0f} s; starting the server anyway", file=sys.stderr)
    gc.freeze()  # what is loaded now lives as long as the server: later collections need not scan it
    print(f"Ready in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
