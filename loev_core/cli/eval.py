"""`loev eval`: probes, retrieval P@k and equivariance curves for one or more checkpoints.

Two inputs: `--corpus` (our manifest format or a folder; the explorer's own evaluation, or the paper's
reference protocol with `--protocol reference`) or `--dataset` (a dataset on disk read through mirdata,
always the reference protocol: paper-style tables). Setup problems (unknown dataset, no mirdata index,
wrong data home, mirdata not installed) exit with status 2 and a message saying what to do.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from loev_core.datasets.tasks import DATASETS
from loev_core.evaluation.dataset_run import ProtocolOptions
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


def _track_clips(text: str) -> int:
    """Windows per track: same-recording retrieval asks each clip for another one of its track, so at least 2."""
    value = int(text)
    if value < 2:
        raise argparse.ArgumentTypeError("must be >= 2 (each clip needs another of its track to find)")
    return value


def _share(text: str) -> float:
    """--repeat-share: a share of a clip, in (0, 1]."""
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError("must be in (0, 1] (the share of a clip that recurs in its repeat)")
    return value


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
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--corpus", metavar="DIR|MANIFEST",
                        help="folder (its manifest.csv, else every audio file in it) or a manifest; labels "
                             "(key, tempo, instrument, piece), track and a train|test split column are optional "
                             "(without track, each file of 30 s or more is one recording)")
    source.add_argument("--dataset", metavar="NAME",
                        help="a dataset on disk read through mirdata (never downloaded): " + ", ".join(DATASETS))
    parser.add_argument("--excerpt-seconds", type=_seconds, default=d.excerpt_seconds, metavar="S",
                        help=f"evaluate longer files on their middle S seconds (default {d.excerpt_seconds:g}; "
                             "0 = whole files)")
    parser.add_argument("--max-clips", type=_cap, default=d.max_clips, metavar="N",
                        help=f"per split: evaluate a seeded sample of N clips of bigger splits (default "
                             f"{d.max_clips}; their audio is held in memory; 0 = all)")
    parser.add_argument("--track-clips", type=_track_clips, default=d.track_clips, metavar="N",
                        help=f"windows cut from each test track for same-recording and degraded-copy retrieval "
                             f"(default {d.track_clips}; more gives tighter intervals over few tracks)")
    parser.add_argument("--repeat-share", type=_share, default=d.repeat_share, metavar="S",
                        help=f"a clip repeats another of its track when this share of it recurs there (peak "
                             f"cross-correlation; default {d.repeat_share:g}): repeats are one moment, found as a "
                             "degraded copy and skipped as another clip of the recording")
    parser.add_argument("--test-fraction", type=float, default=d.test_fraction, metavar="F",
                        help=f"without a split column: share of pieces (else tracks, albums, artists, files) held out "
                             f"for test (default {d.test_fraction:g})")
    parser.add_argument("--out", required=True, metavar="DIR", help="where results.json/.md, PNGs, HTML go")
    parser.add_argument("--readme", metavar="README.md",
                        help="also replace the block between <!-- eval:start --> and <!-- eval:end --> (a corpus "
                             "with a track column: <!-- real:start --> and <!-- real:end -->)")
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
    parser.add_argument("--batch-size", type=int, default=d.batch_size,
                        help=f"clips embedded at once (default {d.batch_size}; lower it if memory runs short)")
    parser.add_argument("--seed", type=int, default=d.seed,
                        help=f"seed of every sample, split and noise draw, so a rerun gives the same numbers "
                             f"(default {d.seed})")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads (0 = torch default; 1 is fastest on a busy shared CPU)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    add_dataset_arguments(parser)


def add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the reference protocol (`--dataset`, or `--corpus` with `--protocol reference`)."""
    p = ProtocolOptions()
    g = parser.add_argument_group("datasets and the reference protocol (docs/datasets.md)")
    g.add_argument("--protocol", choices=("explorer", "reference"), default=None,
                   help="with --corpus: the explorer's evaluation (default) or the paper's reference protocol "
                        "(manifest columns: key, tempo, genre, instrument, pitch_class, tags as 'a;b;c')")
    g.add_argument("--data-home", metavar="DIR", help="folder holding the --dataset (mirdata's data_home)")
    g.add_argument("--index", metavar="FILE", help="mirdata index JSON of the --dataset, when mirdata has not "
                                                   "downloaded it (it is not part of the mirdata package)")
    g.add_argument("--train-dataset", metavar="NAME",
                   help="train the probes on this dataset and test on every --dataset track "
                        "(the reference: --train-dataset beatport_key --dataset giantsteps_key)")
    g.add_argument("--train-data-home", metavar="DIR", help="its data home (default: DATA_HOME/../NAME)")
    g.add_argument("--train-index", metavar="FILE", help="its mirdata index JSON, if not downloaded")
    g.add_argument("--split-file", action="append", metavar="FILE|SPLIT=FILE", default=[],
                   help="train/validation/test split: a JSON {split: [ids]}, an 'id,split' CSV, or one "
                        "SPLIT=FILE list of ids per split (ids or audio paths); default: the dataset's "
                        "official split, else a seeded grouped split")
    g.add_argument("--chunks", type=int, default=p.chunks, metavar="N",
                   help=f"training-length chunks averaged per track (default {p.chunks}, as the reference)")
    g.add_argument("--seeds", type=int, default=p.seeds, metavar="N",
                   help=f"probe seeds; tables give mean and spread (default {p.seeds})")
    g.add_argument("--max-tracks", type=_cap, default=None, metavar="N",
                   help="per split: a seeded sample of N tracks (default: all)")


def dataset_misuse(args: argparse.Namespace) -> str | None:
    """Why the dataset options do not fit together, or None."""
    reference = args.dataset is not None or args.protocol == "reference"
    if args.dataset is not None and args.protocol == "explorer":
        return "--dataset always runs the reference protocol (drop --protocol explorer)"
    if args.dataset is not None and not args.data_home:
        return "--dataset needs --data-home DIR, the folder holding the dataset"
    if args.dataset is None and any((args.data_home, args.index, args.train_dataset, args.train_data_home,
                                     args.train_index)):
        return "--data-home, --index and --train-dataset go with --dataset"
    if not reference and (args.split_file or args.max_tracks):
        return "--split-file and --max-tracks belong to the reference protocol (--dataset or --protocol reference)"
    if reference and args.readme:
        return "--readme takes the explorer's evaluation (--corpus without --protocol reference)"
    if reference and (args.track_clips != EvalOptions.track_clips or args.repeat_share != EvalOptions.repeat_share):
        return "--track-clips and --repeat-share take the explorer's evaluation (--corpus without --protocol reference)"
    if args.chunks < 1 or args.seeds < 1:
        return "--chunks and --seeds must be >= 1"
    return None


def run_reference(args: argparse.Namespace, probes: tuple[str, ...]) -> int:
    """The reference protocol on a mirdata dataset or a manifest; paper-style tables."""
    from loev_core.audio import AudioError
    from loev_core.checkpoint import CheckpointError
    from loev_core.datasets.evalset import from_manifest, from_mirdata
    from loev_core.datasets.items import DatasetError
    from loev_core.evaluation.dataset_run import evaluate_dataset
    from loev_core.evaluation.paper_tables import markdown_tables

    try:
        if args.dataset is not None:
            evalset = from_mirdata(args.dataset, args.data_home, args.index, split_files=args.split_file,
                                   seed=args.seed, train_dataset=args.train_dataset,
                                   train_home=args.train_data_home, train_index=args.train_index)
        else:
            evalset = from_manifest(args.corpus, args.split_file, args.seed)
    except DatasetError as e:
        print(f"loev eval: {e}", file=sys.stderr)
        return 2
    try:
        results = evaluate_dataset(args.checkpoint, evalset, args.out, names=args.name, probes=probes,
                                   chunks=args.chunks, seeds=args.seeds, query_clips=args.query_clips,
                                   max_tracks=args.max_tracks, batch_size=args.batch_size, seed=args.seed,
                                   progress=not args.quiet)
    except (CheckpointError, AudioError, DatasetError, FileNotFoundError, ValueError) as e:
        print(f"loev eval: {e}", file=sys.stderr)
        return 1
    sk = results["skipped"]
    if sk["missing"] or sk["unreadable"]:
        print(f"loev eval: skipped {sk['missing']} missing and {sk['unreadable']} unreadable audio file(s), "
              f"e.g. {sk['examples'][0]}", file=sys.stderr)
    print(markdown_tables(results))
    print(f"\nwrote {', '.join(results['files'].values())}")
    return 0


def out_problem(out: str | Path) -> str | None:
    """Why the results cannot be written to `out` (a file in the way, no permission), checked before an
    evaluation of minutes is run for nothing (the embedding commands' check); None when it can."""
    from loev_core.embeddings.folders import output_problem

    problem = output_problem(out)
    return f"--out: {problem} (nothing was written)" if problem else None


def readme_problem(readme: str | Path | None) -> str | None:
    """Why `--readme` cannot take the results table (missing, a folder, no eval markers), said before the
    evaluation runs rather than after it."""
    if readme is None:
        return None
    from loev_core.evaluation.markdown import README_END, README_START, REAL_END, REAL_START

    path = Path(readme)
    if not path.is_file():
        return f"--readme {path}: {'a folder, not a file' if path.is_dir() else 'no such file'}"
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        return f"--readme {path}: cannot read it ({e})"
    if not any(0 <= text.find(a) < text.find(b) for a, b in ((README_START, README_END), (REAL_START, REAL_END))):
        return (f"--readme {path}: has neither '{README_START}' ... '{README_END}' nor '{REAL_START}' ... "
                f"'{REAL_END}' to put the table between")
    return None


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
    problem = dataset_misuse(args) or out_problem(args.out) or readme_problem(args.readme)
    if problem:
        print(f"loev eval: {problem}", file=sys.stderr)
        return 2
    if args.dataset is not None or args.protocol == "reference":
        return run_reference(args, probes)
    try:
        results = evaluate(args.checkpoint, args.corpus, args.out, names=args.name, readme=args.readme,
                           max_curve_clips=args.curve_clips, max_shift_clips=args.shift_clips,
                           max_query_clips=args.query_clips, probes=probes,
                           curve_values={"pitch_shift": args.pitch_shifts, "time_stretch": args.stretch_rates,
                                         "gain": args.gains}, shift_input=args.shift_input,
                           interval=args.interval, excerpt_seconds=args.excerpt_seconds, max_clips=args.max_clips,
                           test_fraction=args.test_fraction, track_clips=args.track_clips,
                           repeat_share=args.repeat_share,
                           batch_size=args.batch_size, seed=args.seed, progress=not args.quiet)
    except (CheckpointError, AudioError, FileNotFoundError, ValueError) as e:
        print(f"loev eval: {e}", file=sys.stderr)
        return 1
    print(markdown_report(results))
    print(f"\nwrote {', '.join(results['files'].values())}")
    return 0
