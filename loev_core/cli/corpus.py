"""`loev corpus`: generate a labelled, reproducible music corpus (audio + manifest.csv)."""

from __future__ import annotations

import argparse
import logging

from loev_core.corpus.generate import FORMATS, generate_corpus


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output folder (audio/ and manifest.csv go here)")
    parser.add_argument("--clips", type=int, required=True, help="number of clips")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same manifest and audio")
    parser.add_argument("--role", choices=("demo", "train"), default="demo",
                        help="piece pool: train and demo corpora never share a piece")
    parser.add_argument("--format", choices=sorted(FORMATS), default="ogg", help="audio format (ogg = vorbis)")
    parser.add_argument("--seconds", type=float, nargs=2, default=(3.0, 4.0), metavar=("MIN", "MAX"),
                        help="clip length range in seconds")
    parser.add_argument("--sample-rate", type=int, default=16000)
    parser.add_argument("--workers", type=int, default=None, help="parallel processes (default: all cores)")
    parser.add_argument("--synth", choices=("auto", "fluidsynth", "additive"), default="auto",
                        help="auto uses FluidSynth when a GM soundfont is installed, else a numpy synthesiser")
    parser.add_argument("--soundfont", default=None, help="GM .sf2 file (default: $LOEV_SOUNDFONT or Debian's)")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.clips < 1:
        print("error: --clips must be at least 1")
        return 2
    manifest = generate_corpus(args.out, args.clips, args.seed, role=args.role, clip_seconds=tuple(args.seconds),
                               sample_rate=args.sample_rate, fmt=args.format, workers=args.workers,
                               synth=args.synth, soundfont=args.soundfont)
    print(f"manifest: {manifest}")
    return 0
