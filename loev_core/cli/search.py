"""`loev search`: the nearest corpus clips of an audio file in one subspace of an index."""

from __future__ import annotations

import argparse
import json
import sys

from loev_core.cli.embed import at_least


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--index", required=True, help="index folder written by `loev index`")
    parser.add_argument("--query", required=True, help="audio file to search with")
    parser.add_argument("--subspace", default=None, help="e.g. Z.pitch_shift (default: Z.invariant or the first)")
    parser.add_argument("-k", type=at_least(1), default=10, help="number of neighbours, at least 1 (default 10)")
    parser.add_argument("--checkpoint", default=None,
                        help="model to embed the query (default: the index's); another model than the one the "
                             "index was built with is refused unless --any-model")
    parser.add_argument("--any-model", action="store_true",
                        help="search even with a model other than the index's (only a warning): its scores "
                             "compare two models' spaces and mean nothing, so this is for experiments only")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def mismatch_message(args: argparse.Namespace, index_checkpoint: str | None, checkpoint: str, made_by: str,
                     query_model: str) -> str:
    """Both models named, and the two ways out: an index of this model, or --any-model."""
    built = f"{args.index} was built with model {made_by} ({index_checkpoint or 'checkpoint not recorded'})"
    if args.checkpoint:
        return (f"{built}, but --checkpoint {checkpoint} is model {query_model}: scores across two models mean "
                f"nothing. Build an index with this model (`loev index --checkpoint {checkpoint} ...`), or pass "
                "--any-model to search anyway")
    return (f"{built}, but that checkpoint now holds model {query_model} (it changed since): rebuild the index "
            "with `loev index`, or pass --any-model to search anyway")


def run(args: argparse.Namespace) -> int:
    from loev_core.audio import AudioError
    from loev_core.checkpoint import CheckpointError, load_model
    from loev_core.embeddings.index import Index, ModelMismatch, check_query, search_audio

    try:
        index = Index(args.index)
        subspace = args.subspace or ("Z.invariant" if "Z.invariant" in index.subspaces else index.subspaces[0])
        if subspace not in index.subspaces:
            raise ValueError(f"unknown subspace {subspace!r}; this index has {', '.join(index.subspaces)}")
        check_query(args.query)  # before a model is loaded
        checkpoint = args.checkpoint or index.checkpoint
        if not checkpoint:
            raise ValueError(f"{args.index}: index.json names no checkpoint; pass --checkpoint")
        table = search_audio(index, load_model(checkpoint), args.query, subspace, args.k, any_model=args.any_model)
    except ModelMismatch as e:
        print(f"loev search: error: {mismatch_message(args, index.checkpoint, checkpoint, e.expected, e.actual)}",
              file=sys.stderr)
        return 2
    except (AudioError, CheckpointError, FileNotFoundError, ValueError) as e:
        print(f"loev search: error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"query": args.query, "subspace": subspace, "k": args.k, "index": args.index,
                          "results": json.loads(table.to_json(orient="records"))}, indent=2))
        return 0
    print(f"{len(table)} nearest to {args.query} in {subspace}:")
    for r in table.itertuples():
        labels = ", ".join(f"{k}={v}" for k, v in r.labels.items())
        where = f" @{r.offset:.1f}s" if r.offset else ""
        print(f"{r.rank:>4}  {r.score:.4f}  {r.path}{where}  {labels}")
    return 0
