"""`loev bench NAME [--json]`: each benchmark is a module `loev_core.bench.<name>` with
`add_arguments(parser)` and `measure(args) -> dict`; this prints it as text or JSON. A module may also have
`check_arguments(args) -> str | None`: a problem it returns is printed as one line, exit status 2."""

from __future__ import annotations

import argparse
import importlib
import json
import sys

BENCHES = ("augment", "train", "embed", "search", "dashboard", "fuzz")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bench", choices=BENCHES)
    parser.add_argument("rest", nargs=argparse.REMAINDER, help="options of that benchmark (--json, ...)")


def run(args: argparse.Namespace) -> int:
    module = importlib.import_module(f"loev_core.bench.{args.bench}")
    p = argparse.ArgumentParser(prog=f"loev bench {args.bench}")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    module.add_arguments(p)
    opts = p.parse_args(args.rest)
    check = getattr(module, "check_arguments", None)
    problem = check(opts) if check is not None else None
    if problem:
        print(f"loev bench {args.bench}: error: {problem}", file=sys.stderr)
        return 2
    result = module.measure(opts)
    if opts.json:
        print(json.dumps(result, indent=2))
    else:
        for k, v in result.items():
            print(f"{k:>32}: {v}")
    return 0
