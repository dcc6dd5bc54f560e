"""The `loev` command line: a thin dispatcher; each subcommand lives in the module named here.

Modules are imported lazily so `loev --help` stays fast and one broken optional dependency cannot
take down unrelated commands. Each command module exposes `add_arguments(parser)` and `run(args) -> int`.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("loev_core.train.cli", "train SimCLR, LOEV or LOEV++ from a YAML config"),
    "export": ("loev_core.checkpoint_cli", "write the inference-only checkpoint of a run"),
    "embed": ("loev_core.embed_cli", "embed every clip of a folder or manifest into one file"),
    "index": ("loev_core.index_cli", "build one FAISS index per subspace"),
    "search": ("loev_core.index_cli_search", "query an index with an audio file"),
    "corpus": ("loev_core.corpus.cli", "generate the labelled demo corpus"),
    "eval": ("loev_core.evaluation.cli", "probes, retrieval and equivariance curves"),
    "bench": ("loev_core.bench.cli", "benchmarks: augment, train, embed, search, dashboard"),
    "dashboard": ("loev_core.dashboard_cli", "launch the Streamlit dashboard"),
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


if __name__ == "__main__":
    raise SystemExit(main())
