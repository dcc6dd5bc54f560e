"""`loev embed`: embeddings of every clip of a folder or manifest, resumable and sharded."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when used: `loev search --help` need not load torch for these helpers
    from loev_core.embeddings.compute import EmbedOptions, EmbedReport


def at_least(least: int) -> Callable[[str], int]:
    """An argparse `type`: an integer >= `least`, so a bad count is one usage error, not a crash mid-run."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"must be at least {least}, got {value}")
        return value
    return parse


def chunk_seconds(text: str) -> float:
    """An argparse `type`: a finite chunk length of at least 0.5 s (`EmbedOptions` says why), so a tiny one is
    a usage error rather than a run that never ends."""
    from loev_core.embeddings.compute import MIN_CHUNK_SECONDS

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (math.isfinite(value) and value >= MIN_CHUNK_SECONDS):
        raise argparse.ArgumentTypeError(f"must be at least {MIN_CHUNK_SECONDS:g} seconds (a shorter chunk is "
                                         f"shorter than the model can hear a key or a tempo in), got {text}")
    return value


def out_problem(out: str, kind: str | None = None, indexed: str | None = None) -> str | None:
    """Why `--out` cannot be written (one line), or None: checked before a model is loaded or a file read
    (`indexed`: the `--embeddings` an index is built from)."""
    from loev_core.embeddings.folders import output_problem

    problem = output_problem(out, kind or ("file" if Path(out).suffix == ".npz" else "folder"), indexed)
    return f"--out: {problem}" if problem else None


def add_embed_options(parser: argparse.ArgumentParser) -> None:
    """Options shared with `loev index`, which embeds first."""
    parser.add_argument("--batch-size", type=at_least(1), default=64, help="clips per model call (default 64)")
    parser.add_argument("--workers", type=at_least(0), default=None,
                        help="decoding processes (default: half the CPU cores, at most 4; 0 = none)")
    parser.add_argument("--chunk-seconds", type=chunk_seconds, default=None,
                        help="one row per chunk of this length (at least 0.5) instead of one per file")
    parser.add_argument("--split", default=None,
                        help="only manifest rows with this split (the manifest must have a split column)")
    parser.add_argument("--no-resume", action="store_true", help="discard earlier shards and start over")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                        help="auto (default): bf16 convolutions where the CPU has them natively (within cosine "
                             "0.999 of fp32), else fp32; recorded with the embeddings, never mixed")


def embed_options(args: argparse.Namespace, checkpoint: str | None = None) -> EmbedOptions:
    """The `add_embed_options` flags as `embed_corpus` options (`checkpoint` is recorded in embed.json)."""
    from loev_core.embeddings.compute import EmbedOptions

    return EmbedOptions(batch_size=args.batch_size, workers=args.workers, chunk_seconds=args.chunk_seconds,
                        split=args.split, resume=not args.no_resume, progress=not args.quiet, checkpoint=checkpoint,
                        precision=args.precision)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="model checkpoint (folder or .safetensors)")
    parser.add_argument("--audio", required=True, help="audio folder (recursive) or CSV/JSONL manifest")
    parser.add_argument("--out", required=True, help="output folder of shards, or a single FILE.npz")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    add_embed_options(parser)


def print_report(report: EmbedReport, as_json: bool = False) -> None:
    if as_json:
        d = {k: (str(v) if k in ("out", "skipped_csv") else v) for k, v in asdict(report).items()}
        d["realtime_factor"] = report.realtime_factor
        print(json.dumps(d, indent=2))
        return
    print(f"embedded {report.n_embedded} file(s) ({report.n_rows} rows) into {report.out}; "
          f"{report.n_new} decoded now, {report.n_resumed} done earlier; "
          f"{report.audio_seconds:.0f} s of audio in {report.wall_seconds:.1f} s "
          f"({report.realtime_factor:.0f}x real time)")
    print_changes(report)
    if report.n_duplicates:
        print(f"{report.n_duplicates} duplicate path(s) in the source were embedded once")
    if report.n_skipped:
        print(f"skipped {report.n_skipped} bad file(s), listed in {report.skipped_csv}:")
        for path, reason in report.skipped[:10]:
            print(f"  {path}: {reason}")
        if report.n_skipped > 10:
            print(f"  ... and {report.n_skipped - 10} more")


def print_changes(report: EmbedReport) -> None:
    """What a rerun replaced or dropped of the earlier output (shared with `loev index`)."""
    if report.n_changed:
        print(f"embedded {report.n_changed} changed file(s) again (size or modification time differ)")
    if report.n_dropped:
        print(f"dropped {report.n_dropped} earlier row(s) of files no longer in the source")


def run(args: argparse.Namespace) -> int:
    from loev_core.checkpoint import CheckpointError, load_model
    from loev_core.embeddings.compute import embed_corpus

    problem = out_problem(args.out)
    if problem:
        print(f"loev embed: error: {problem}", file=sys.stderr)
        return 2
    try:
        options = embed_options(args, args.checkpoint)
        model = load_model(args.checkpoint)
        report = embed_corpus(model, args.audio, args.out, options)
    except (CheckpointError, FileNotFoundError, ValueError) as e:
        print(f"loev embed: error: {e}", file=sys.stderr)
        return 2
    print_report(report, args.json)
    return 0 if report.n_embedded else 1
