"""`loev bench dashboard`: cold and warm render time of every page (Streamlit AppTest), UMAP at 5k/20k;
with `--first-visit`, what a visitor of a fresh clone waits for in a real browser (`first_visit`); with
`--concurrent`, five users doing retrieval at once on a 20,000-item index (`concurrent`).

Cold = first render with empty caches (a fresh cache folder: the corpus is embedded, the maps and
curves computed); warm = the same page rendered again (what a user sees on every later visit; the
issue's target is under 2 s). Runs on the bundled models and demo corpus when present, otherwise
on a small generated corpus and an untrained model (reported as `setup`).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from loev_core.explore.session import (
    DEMO_CORPUS,
    ENV_CACHE,
    ENV_CHECKPOINTS,
    ENV_CORPUS,
    app_path,
    bundled_checkpoints,
)

PAGES = {"models": None, "tour": "views/tour.py", "explorer": "views/explorer.py",
         "equivariance": "views/equivariance.py", "retrieval": "views/retrieval.py", "compare": "views/compare.py"}


def pages() -> dict[str, str | None]:
    """The app's pages (the tour when this version has one)."""
    return {k: v for k, v in PAGES.items() if v is None or (app_path().parent / v).is_file()}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", action="append", default=[], help="default: the bundled demo models")
    p.add_argument("--corpus", default=None, help="default: assets/demo")
    p.add_argument("--method", default="UMAP", choices=("UMAP", "PCA", "t-SNE"), help="projection of the maps")
    p.add_argument("--umap-sizes", default="5000,20000", help="point counts for the UMAP timing ('' to skip)")
    p.add_argument("--warm-repeats", type=int, default=3, help="warm renders per page (the median is reported)")
    p.add_argument("--first-visit", action="store_true",
                   help="instead: a fresh copy with empty caches, `loev dashboard --prepare`, then every page's first "
                        "and warm visit in headless Chromium")
    p.add_argument("--no-prepare", action="store_true", help="with --first-visit: start the server unprepared")
    p.add_argument("--concurrent", action="store_true",
                   help="instead: five users in headless Chromium doing retrieval at once on a 20,000-item index")
    p.add_argument("--items", type=int, default=20_000, help="with --concurrent: index size")
    p.add_argument("--sessions", type=int, default=5, help="with --concurrent: simultaneous users")
    p.add_argument("--keep", default=None, metavar="DIR", help="with --first-visit: work in DIR and keep it (logs)")


def _synthetic(folder: Path) -> tuple[list[Path], Path]:
    """Untrained tiny models and a generated corpus, when the bundled assets are missing."""
    import torch

    from loev_core import ExperimentConfig, build_model, save_model
    from loev_core.bench.synthetic import write_clips
    from loev_core.config import ModelConfig

    torch.manual_seed(0)
    ckpts = [save_model(build_model(ExperimentConfig(model=ModelConfig(kind=k))), folder / k)
             for k in ("simclr", "loevpp")]
    audio = folder / "corpus"
    audio.mkdir()
    clips = write_clips(audio, 64, seconds=3.5, sr=16000)
    keys = ["C", "D", "E", "F", "G", "A", "B"]
    lines = ["path,split,key,tempo"] + [f"{c.name},{'test' if i % 4 == 3 else 'train'},{keys[i % 7]} major,"
                                         f"{80 + 10 * (i % 6)}" for i, c in enumerate(clips)]
    (audio / "manifest.csv").write_text("\n".join(lines) + "\n")
    return ckpts, audio


def _render(page: str, method: str) -> float:
    from streamlit.testing.v1 import AppTest

    t0 = time.perf_counter()
    at = AppTest.from_file(str(app_path()), default_timeout=1800)
    at.query_params["method"] = method
    at.run()
    if PAGES[page]:
        at.switch_page(PAGES[page])
        at.run()
    if at.exception:
        raise RuntimeError(f"page {page} failed: {at.exception[0].message}")
    return time.perf_counter() - t0


def _umap_seconds(n: int, dim: int = 128) -> float:
    from loev_core.explore.projection import compute_projection

    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, dim))[rng.integers(0, 16, n)] * 3 + rng.standard_normal((n, dim))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    t0 = time.perf_counter()
    compute_projection(x, "UMAP")
    return round(time.perf_counter() - t0, 2)


def measure(args: argparse.Namespace) -> dict:
    if args.first_visit:
        from loev_core.bench.first_visit import measure_first_visit

        return measure_first_visit(prepare=not args.no_prepare, keep=Path(args.keep) if args.keep else None)
    if args.concurrent:
        from loev_core.bench.concurrent import measure_concurrent

        bundled = bundled_checkpoints()
        ckpt = Path(args.checkpoint[0]) if args.checkpoint else bundled.get("demo-loevpp")
        if ckpt is None:
            raise RuntimeError("--concurrent needs a checkpoint (--checkpoint DIR) when the bundled models are missing")
        return measure_concurrent(ckpt, Path(args.corpus) if args.corpus else DEMO_CORPUS, args.items, args.sessions)
    import streamlit as st

    result: dict = {}
    with tempfile.TemporaryDirectory(prefix="loev-bench-dash-") as tmp:
        ckpts = [Path(c) for c in args.checkpoint] or list(bundled_checkpoints().values())
        corpus = Path(args.corpus) if args.corpus else DEMO_CORPUS
        result["setup"] = "given/bundled"
        if not ckpts or not corpus.exists():
            ckpts, corpus = _synthetic(Path(tmp))
            result["setup"] = "synthetic (bundled models or demo corpus missing)"
        result["models"] = [c.name for c in ckpts]
        result["corpus"] = str(corpus)
        result["method"] = args.method
        os.environ.update({ENV_CHECKPOINTS: os.pathsep.join(str(c) for c in ckpts), ENV_CORPUS: str(corpus),
                           ENV_CACHE: str(Path(tmp) / "cache")})
        st.cache_resource.clear()
        st.cache_data.clear()
        _render("models", args.method)  # imports and app start-up, not counted against any page
        for page in pages():
            result[f"cold_{page}_s"] = round(_render(page, args.method), 2)
            warm = sorted(_render(page, args.method) for _ in range(max(1, args.warm_repeats)))
            result[f"warm_{page}_s"] = round(warm[len(warm) // 2], 3)
        result["warm_max_s"] = max(v for k, v in result.items() if k.startswith("warm_") and k.endswith("_s"))
        st.cache_resource.clear()
        st.cache_data.clear()
    sizes = [int(s) for s in args.umap_sizes.split(",") if s.strip()]
    if sizes:
        result["umap_first_use_s"] = _umap_seconds(4500)  # numba compile (once per machine with a cache dir)
    for n in sizes:
        result[f"umap_{n // 1000}k_s"] = _umap_seconds(n)
    return result
