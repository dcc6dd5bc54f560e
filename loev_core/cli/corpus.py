"""`loev corpus`: generate a labelled, reproducible music corpus (audio + manifest.csv), or, with
`loev corpus real`, build one from the free recordings Debian ships (loev_core/corpus/real.py)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from typing import TypeVar

from loev_core.corpus.generate import FORMATS, SAMPLE_RATES, generate_corpus

T = TypeVar("T")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", help="output folder (audio/ and manifest.csv go here)")
    parser.add_argument("--clips", type=int, help="number of clips (required for the generated corpus)")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same manifest and audio")
    parser.add_argument("--role", choices=("demo", "train"), default="demo",
                        help="piece pool: train and demo corpora never share a piece")
    parser.add_argument("--format", choices=sorted(FORMATS), default="ogg", help="audio format (ogg = vorbis)")
    parser.add_argument("--seconds", type=float, nargs=2, default=(3.0, 4.0), metavar=("MIN", "MAX"),
                        help="clip length range in seconds")
    parser.add_argument("--sample-rate", type=int, default=16000,
                        help=f"Hz, {SAMPLE_RATES[0]} to {SAMPLE_RATES[1]} (default 16000)")
    parser.add_argument("--workers", type=int, default=None, help="parallel processes, 1 or more (default: all cores)")
    parser.add_argument("--synth", choices=("auto", "fluidsynth", "additive"), default="auto",
                        help="auto uses FluidSynth when a GM soundfont is installed, else a numpy synthesiser")
    parser.add_argument("--soundfont", default=None, help="GM .sf2 file (default: $LOEV_SOUNDFONT or Debian's)")
    sub = parser.add_subparsers(dest="source", metavar="{real,real-demo}",
                                help="real: free recordings from Debian packages instead of generated clips "
                                     "(`loev corpus real --help`); real-demo: the dashboard's real-music demo clips")
    add_real_arguments(sub.add_parser("real", help="build a corpus of real recordings from Debian packages",
                                      description="Real-music corpus from Debian's free game-music packages "
                                                  "(docs/real-music.md)."))
    add_demo_arguments(sub.add_parser("real-demo", help="cut the dashboard's real-music demo set",
                                      description="A few hundred 5 s clips of real recordings the bundled models "
                                                  "never train on (docs/real-music.md)."))


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    from loev_core.corpus.real_demo import DemoOptions
    from loev_core.explore.session import DEB_CACHE, REAL_DEMO

    d = DemoOptions()
    parser.add_argument("--out", default=str(REAL_DEMO), help=f"output folder (default {REAL_DEMO})")
    parser.add_argument("--cache", "--deb-dir", dest="cache", default=str(DEB_CACHE), metavar="DIR",
                        help=f"where the .debs are kept; packages found there are not downloaded (default {DEB_CACHE})")
    parser.add_argument("--clip-seconds", type=float, default=d.clip_seconds, metavar="S",
                        help=f"clip length (default {d.clip_seconds:g})")
    parser.add_argument("--clips-per-track", type=int, default=d.clips_per_track, metavar="N",
                        help=f"clips per track, evenly spaced (default {d.clips_per_track})")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _built(command: str, build: Callable[[], T]) -> T | None:
    """Run a real-music build; a missing apt/registry or a bad setting is printed (exit status 2), not raised."""
    from loev_core.corpus.debian import DebianError

    try:
        return build()
    except (DebianError, ValueError) as e:
        print(f"loev corpus {command}: error: {e}", file=sys.stderr)
        return None


def run_demo(args: argparse.Namespace) -> int:
    from loev_core.corpus.real_demo import DemoOptions, build_real_demo

    opts = DemoOptions(clip_seconds=args.clip_seconds, clips_per_track=args.clips_per_track)
    demo = _built("real-demo", lambda: build_real_demo(args.out, args.cache, opts, progress=not args.quiet))
    if demo is None:
        return 2
    info = demo.info
    took = f", built in {info['build_seconds']} s" if demo.rebuilt else "; nothing to do"
    print(f"{'wrote' if demo.rebuilt else 'up to date'}: {demo.manifest} ({info['clips']} clips of {info['tracks']} "
          f"tracks, {info['bytes'] / 1e6:.1f} MB{took})")
    return 0


def add_real_arguments(parser: argparse.ArgumentParser) -> None:
    from loev_core.corpus.real import DEFAULT_HOLDOUT, MIN_SECONDS, PACKAGES

    parser.add_argument("--out", required=True, help="output folder (audio/, manifest.csv, corpus.json go here)")
    parser.add_argument("--cache", "--deb-dir", dest="cache", metavar="DIR",
                        help="where the .debs are kept; packages found there are not downloaded (default: OUT/debs)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the train/test split by track")
    parser.add_argument("--holdout", default=DEFAULT_HOLDOUT, metavar="PACKAGE",
                        help=f"package held out whole as split 'unseen' (default {DEFAULT_HOLDOUT}; 'none': none)")
    parser.add_argument("--test-fraction", type=float, default=0.2, metavar="F",
                        help="share of each other package's tracks in the test split (default 0.2)")
    parser.add_argument("--min-seconds", type=float, default=MIN_SECONDS, metavar="S",
                        help=f"shortest recording kept (default {MIN_SECONDS:g}: drops jingles and effects)")
    parser.add_argument("--packages", default=",".join(PACKAGES),
                        help=f"comma list, a subset of the default {','.join(PACKAGES)}")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run_real(args: argparse.Namespace) -> int:
    from loev_core.corpus.real import RealOptions, build_real_corpus

    holdout = None if str(args.holdout).lower() == "none" else args.holdout
    packages = tuple(p.strip() for p in args.packages.split(",") if p.strip())
    opts = RealOptions(seed=args.seed, holdout=holdout, test_fraction=args.test_fraction,
                       min_seconds=args.min_seconds, packages=packages)
    corpus = _built("real", lambda: build_real_corpus(args.out, args.cache, opts, progress=not args.quiet))
    if corpus is None:
        return 2
    info = corpus.info
    if not corpus.rebuilt:
        print(f"up to date: {corpus.manifest} ({info['tracks']} tracks, {info['hours']:.2f} h; nothing to do)")
        return 0
    for name, p in info["per_package"].items():
        splits = ", ".join(f"{s} {n}" for s, n in sorted(p["splits"].items()))
        skipped = ", ".join(f"{n} {why}" for why, n in sorted(p["skipped"].items())) or "none"
        print(f"{name}: {p['tracks']} tracks, {p['hours']:.2f} h ({splits}); skipped: {skipped}")
    print(f"wrote {info['tracks']} tracks ({info['hours']:.2f} h) and {corpus.manifest} in {info['build_seconds']} s")
    return 0


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.source == "real":
        return run_real(args)
    if args.source == "real-demo":
        return run_demo(args)
    if args.out is None or args.clips is None:
        print("loev corpus: error: the generated corpus needs --out DIR and --clips N (or `loev corpus real --out "
              "DIR`)", file=sys.stderr)
        return 2
    try:
        manifest = generate_corpus(args.out, args.clips, args.seed, role=args.role,
                                   clip_seconds=tuple(args.seconds), sample_rate=args.sample_rate, fmt=args.format,
                                   workers=args.workers, synth=args.synth, soundfont=args.soundfont)
    except ValueError as e:  # a bad setting, or a synthesiser/soundfont that cannot run (SynthError)
        print(f"loev corpus: error: {e}", file=sys.stderr)
        return 2
    print(f"manifest: {manifest}")
    return 0
