"""The `loev` command line: a thin dispatcher; each subcommand lives in the module named here.

Modules are imported lazily so `loev --help` stays fast and one broken optional dependency cannot
take down unrelated commands. Each command module exposes `add_arguments(parser)` and `run(args) -> int`.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("loev_core.cli.train", "train SimCLR, LOEV or LOEV++ from a YAML config"),
    "export": ("loev_core.cli.export", "write the inference-only checkpoint of a run"),
    "embed": ("loev_core.cli.embed", "embed every clip of a folder or manifest into one file"),
    "index": ("loev_core.cli.index", "build one FAISS index per subspace"),
    "search": ("loev_core.cli.search", "query an index with an audio file"),
    "corpus": ("loev_core.cli.corpus", "generate the labelled demo corpus; `loev corpus real`: the real-music one"),
    "eval": ("loev_core.cli.eval", "probes, retrieval and equivariance curves"),
    "bench": ("loev_core.cli.bench", "benchmarks: augment, train, embed, search, dashboard, fuzz"),
    "dashboard": ("loev_core.cli.dashboard", "launch the Streamlit dashboard"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="loev", description="LOEV Explorer command line")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_) in COMMANDS.items():
        sub.add_parser(name, help=help_, add_help=False)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        parser.print_help()
        return 0 if not argv or argv[0] in ("-h", "--help") else 2
    module_name, help_ = COMMANDS[argv[0]]
    module = importlib.import_module(module_name)
    cmd_parser = argparse.ArgumentParser(prog=f"loev {argv[0]}", description=help_)
    module.add_arguments(cmd_parser)
    args = cmd_parser.parse_args(argv[1:])
    return int(module.run(args) or 0)

