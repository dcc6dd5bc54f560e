"""`loev export RUN --out PATH`: the inference-only checkpoint (weights + metadata, no optimizer), with the
run's training curve (`metrics.csv`) beside it, where the dashboard looks for a model's curves."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from loev_core.checkpoint import MODEL_FILE, CheckpointError, load_model, save_model
from loev_core.files import atomic_write_bytes
from loev_core.train.state import TRAIN_STATE as STATE_FILE

TRAIN_STATE = Path("checkpoints") / STATE_FILE
METRICS = "metrics.csv"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run folder (or a training checkpoint file)")
    p.add_argument("--out", required=True, help="output folder (model.safetensors + model.json + the run's "
                   "metrics.csv)")


def training_state(run: Path) -> Path:
    """The checkpoint to export: `run` itself (a file) or the run folder's training state. An exported model
    given instead of a run is named as such: it needs no export."""
    if not run.is_dir():
        return run
    if not (run / TRAIN_STATE).is_file() and (run / MODEL_FILE).is_file():
        raise CheckpointError(f"{run} is an exported model ({MODEL_FILE} + model.json), not a training run: it can "
                              f"be used as it is (e.g. `loev index --checkpoint {run}`); nothing to export")
    return run / TRAIN_STATE


def copy_metrics(src: Path, out: Path) -> Path | None:
    """Copy the run's training curve into `out`, unless `out` is inside the run (the dashboard then finds the
    run's own file, `loev_core.explore.runinfo.find_metrics`). Returns the copy."""
    run_dir = src.parent.parent if src.parent.name == TRAIN_STATE.parent.name else src.parent
    curve, out = run_dir / METRICS, out.resolve()
    if not curve.is_file() or run_dir.resolve() in (out, out.parent, out.parent.parent):
        return None
    data = curve.read_bytes()
    atomic_write_bytes(out / METRICS, lambda f: f.write(data))
    return out / METRICS


def export(run: str | Path, out: str | Path) -> Path:
    from loev_core.embeddings.folders import output_problem

    problem = output_problem(out)  # before anything is read: a bad --out touches nothing
    if problem:
        raise ValueError(f"--out: {problem}")
    src = training_state(Path(run))
    model = load_model(src)
    meta = dict(model.metadata)
    extra = {k: meta[k] for k in ("steps", "last_losses", "data", "history") if k in meta}
    saved = save_model(model, out, **extra)
    copy_metrics(src, saved)
    return saved


def run(args: argparse.Namespace) -> int:
    try:
        out = export(args.run, args.out)
    except (CheckpointError, ValueError) as e:
        print(f"loev export: error: {e}", file=sys.stderr)
        return 2
    print(f"exported to {out}")
    return 0
