"""`loev eval`: probes, retrieval P@k and equivariance curves for one or more checkpoints."""

from __future__ import annotations

import argparse
import logging
import sys

from loev_core.evaluation.run import EvalOptions


def _span(values: list[float]) -> str:
    """An evenly spaced default list as help text: "-6..6", or "0.7..1.3 in steps of 0.1"."""
    if len(values) < 2:
        return ",".join(f"{v:g}" for v in values)
    step = round(values[1] - values[0], 6)
    return f"{values[0]:g}..{values[-1]:g}" + ("" if step == 1 else f" in steps of {step:g}")


def _cap(text: str) -> int | None:
    """A clip cap: a positive integer, or 0 / 'all' for no cap."""
    if text.lower() in ("0", "all", "none"):
        return None
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1, or 0/'all' for no cap")
    return value


def _seconds(text: str) -> float | None:
    """A positive duration in seconds, or 0 for none."""
    value = float(text)
    if value < 0 or value != value:
        raise argparse.ArgumentTypeError("must be >= 0 seconds (0 = whole files)")
    return value or None


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = EvalOptions()
    parser.add_argument("--checkpoint", action="append", required=True, metavar="CKPT",
                        help="checkpoint folder or .safetensors file; repeat for several models")
    parser.add_argument("--name", action="append", metavar="NAME",
                        help="display name per --checkpoint, in order (default: folder name)")
    parser.add_argument("--corpus", required=True, metavar="DIR|MANIFEST",
                        help="folder (its manifest.csv, else every audio file in it) or a manifest; labels "
                             "(key, tempo, instrument) and a train|test split column are optional")
    parser.add_argument("--excerpt-seconds", type=_seconds, default=d.excerpt_seconds, metavar="S",
                        help=f"evaluate longer files on their middle S seconds (default {d.excerpt_seconds:g}; "
                             "0 = whole files)")
    parser.add_argument("--max-clips", type=_cap, default=d.max_clips, metavar="N",
                        help=f"per split: evaluate a seeded sample of N clips of bigger splits (default "
                             f"{d.max_clips}; their audio is held in memory; 0 = all)")
    parser.add_argument("--test-fraction", type=float, default=d.test_fraction, metavar="F",
                        help=f"without a split column: share of pieces (else albums, artists, files) held out "
                             f"for test (default {d.test_fraction:g})")
    parser.add_argument("--out", required=True, metavar="DIR", help="where results.json/.md, PNGs, HTML go")
    parser.add_argument("--readme", metavar="README.md",
                        help="also replace the block between <!-- eval:start --> and <!-- eval:end -->")
    parser.add_argument("--curve-clips", type=_cap, default=d.max_curve_clips, metavar="N",
                        help=f"test clips per equivariance curve (default {d.max_curve_clips}; 0 = all); fewer is "
                             "faster but noisier: the report gives each curve's Spearman interval over clips")
    parser.add_argument("--shift-clips", type=_cap, default=d.max_shift_clips, metavar="N",
                        help=f"clips per split for the pitch-shift probe (default {d.max_shift_clips}; 0 = all)")
    parser.add_argument("--query-clips", type=_cap, default=d.max_query_clips, metavar="N",
                        help=f"transformed retrieval queries, from the test split (default {d.max_query_clips}; "
                             "0 = every test clip)")
    dv = d.curve_values
    parser.add_argument("--pitch-shifts", type=_floats, default=dv["pitch_shift"], metavar="LIST",
                        help=f"curve values in semitones (default {_span(dv['pitch_shift'])}); "
                             "write --pitch-shifts=-2,0,2")
    parser.add_argument("--stretch-rates", type=_floats, default=dv["time_stretch"], metavar="LIST",
                        help=f"curve time-stretch rates (default {_span(dv['time_stretch'])})")
    parser.add_argument("--gains", type=_floats, default=dv["gain"], metavar="LIST",
                        help=f"curve gains in dB (default {_span(dv['gain'])})")
    parser.add_argument("--probes", default=",".join(d.probes), help="comma list of linear,mlp")
    parser.add_argument("--shift-input", choices=("pair", "single"), default=d.shift_input,
                        help="pitch-shift probe input: clean+shifted embeddings (pair) or shifted only")
    parser.add_argument("--interval", choices=("bootstrap", "t"), default=d.interval,
                        help="95%% interval of the curves")
    parser.add_argument("--batch-size", type=int, default=d.batch_size)
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads (0 = torch default; 1 is fastest on a busy shared CPU)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    import torch

    from loev_core.audio import AudioError
    from loev_core.checkpoint import CheckpointError
    from loev_core.evaluation.report import markdown_report
    from loev_core.evaluation.run import evaluate

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.name and len(args.name) != len(args.checkpoint):
        print("loev eval: give one --name per --checkpoint", file=sys.stderr)
        return 2
    probes = tuple(p.strip() for p in args.probes.split(",") if p.strip())
    try:
        results = evaluate(args.checkpoint, args.corpus, args.out, names=args.name, readme=args.readme,
                           max_curve_clips=args.curve_clips, max_shift_clips=args.shift_clips,
                           max_query_clips=args.query_clips, probes=probes,
                           curve_values={"pitch_shift": args.pitch_shifts, "time_stretch": args.stretch_rates,
                                         "gain": args.gains}, shift_input=args.shift_input,
                           interval=args.interval, excerpt_seconds=args.excerpt_seconds, max_clips=args.max_clips,
                           test_fraction=args.test_fraction, batch_size=args.batch_size, seed=args.seed,
                           progress=not args.quiet)
    except (CheckpointError, AudioError, FileNotFoundError, ValueError) as e:
        print(f"loev eval: {e}", file=sys.stderr)
        return 1
    print(markdown_report(results))
    print(f"\nwrote {', '.join(results['files'].values())}")
    return 0
