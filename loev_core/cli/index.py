"""`loev index`: embed a corpus (resumably) and build one FAISS index per subspace."""

from __future__ import annotations

import argparse
import sys
import time

from loev_core.cli.embed import add_embed_options, at_least, embed_options, out_problem, print_changes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", help="model checkpoint (folder or .safetensors)")
    parser.add_argument("--audio", help="audio folder (recursive) or CSV/JSONL manifest")
    parser.add_argument("--embeddings", help="index existing `loev embed` output instead of embedding")
    parser.add_argument("--out", required=True, help="index folder: a new one, or an index to rebuild (replaced "
                        "only once the new index is complete)")
    parser.add_argument("--exact-threshold", type=at_least(0), default=50_000,
                        help="exact search up to this many items, approximate above (default 50000)")
    parser.add_argument("--kind", choices=("auto", "flat", "hnsw", "ivf"), default="auto",
                        help="force an index type (default: auto from --exact-threshold)")
    parser.add_argument("--ef-search", type=at_least(1), default=None, help="HNSW efSearch (recall/speed trade-off)")
    add_embed_options(parser)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace
    from pathlib import Path

    from loev_core.checkpoint import CheckpointError
    from loev_core.embeddings.folders import index_lock
    from loev_core.embeddings.index import IndexParams, build_index, load_embeddings
    from loev_core.embeddings.rebuild import embed_for_index_report

    if bool(args.embeddings) == bool(args.checkpoint and args.audio):
        print("loev index: error: give --checkpoint and --audio, or --embeddings", file=sys.stderr)
        return 2
    problem = out_problem(args.out, "index", args.embeddings)  # before anything is loaded or embedded
    if problem:
        print(f"loev index: error: {problem}", file=sys.stderr)
        return 2
    params = IndexParams() if args.ef_search is None else replace(IndexParams(), ef_search=args.ef_search)
    t0 = time.perf_counter()
    report = None
    try:
        options = embed_options(args)
        with index_lock(Path(args.out).resolve()):  # held from before anything is reused or embedded to the swap
            if args.embeddings:
                embeddings = load_embeddings(args.embeddings)
            else:
                embeddings, report = embed_for_index_report(args.checkpoint, args.audio, args.out, options)
            index = build_index(embeddings, args.out, exact_threshold=args.exact_threshold, kind=args.kind,
                                params=params)
    except (CheckpointError, FileNotFoundError, ValueError) as e:
        print(f"loev index: error: {e}", file=sys.stderr)
        return 2
    if report is not None:
        print_changes(report)
    types = sorted({e["type"] for e in index.info["subspaces"].values()})
    print(f"indexed {len(index)} item(s) x {len(index.subspaces)} subspace(s) ({', '.join(types)}) "
          f"into {args.out} in {time.perf_counter() - t0:.1f} s")
    if index.info.get("n_skipped"):
        print(f"skipped {index.info['n_skipped']} bad file(s), listed in {args.out}/embeddings/skipped.csv")
    return 0
