"""`loev export RUN --out PATH`: the inference-only checkpoint (weights + metadata, no optimizer)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from loev_core.checkpoint import CheckpointError, load_model, save_model


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run folder (or a training checkpoint file)")
    p.add_argument("--out", required=True, help="output folder (model.safetensors + model.json)")


def export(run: str | Path, out: str | Path) -> Path:
    run = Path(run)
    src = run / "checkpoints" / "last.safetensors" if run.is_dir() else run
    model = load_model(src)
    meta = dict(model.metadata)
    extra = {k: meta[k] for k in ("steps", "last_losses", "data", "history") if k in meta}
    return save_model(model, out, **extra)


def run(args: argparse.Namespace) -> int:
    try:
        out = export(args.run, args.out)
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"exported to {out}")
    return 0
