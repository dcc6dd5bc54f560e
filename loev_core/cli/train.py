"""`loev train --config configs/X.yaml [--set key=value ...] [--run-dir DIR] | --resume RUN`."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

from loev_core.config import ConfigError
from loev_core.config_parse import load_config


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="YAML experiment config (see configs/)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.steps=500 (repeatable)")
    p.add_argument("--run-dir", help="output folder (default runs/<config name>-<time>)")
    p.add_argument("--resume", metavar="RUN", help="continue the run in this folder from its last checkpoint")
    p.add_argument("--devices", type=int, default=1, help="processes (CPU) or GPUs per node")
    p.add_argument("--num-nodes", type=int, default=1, help="nodes; multi-node runs are launched with torchrun")
    p.add_argument("--accelerator", choices=("cpu", "gpu"), default="cpu")
    p.add_argument("--stop-after", type=int, help=argparse.SUPPRESS)  # tests: stop early, as if killed
    p.add_argument("--no-progress", action="store_true")


def _fail(message: str, code: int = 2) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def _cuda_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _has_gpus(devices: int) -> bool:
    """Under torchrun each process brings its own device; otherwise this machine must have `devices` of them."""
    return "WORLD_SIZE" in os.environ or _cuda_count() >= devices


def run(args: argparse.Namespace) -> int:
    from loev_core.checkpoint import CheckpointError
    from loev_core.train import preflight
    from loev_core.train.finetune import check_fine_tuning
    from loev_core.train.loop import TrainingDataError, train

    if args.devices < 1 or args.num_nodes < 1:
        return _fail("--devices and --num-nodes must be >= 1")
    if args.accelerator == "gpu" and not _has_gpus(args.devices):
        return _fail(f"--accelerator gpu needs {args.devices} CUDA device(s) and this machine has "
                     f"{_cuda_count()}: train on the CPU (leave out --accelerator) or on a GPU machine")
    if args.resume:
        if args.config or args.run_dir:  # a resume continues the run's own config, in its own folder
            return _fail("--resume continues RUN with its own config.yaml in its own folder: leave out --config "
                         "and --run-dir (change a value with --set, e.g. --set train.steps=2000)")
        run_dir = Path(args.resume)
        cfg_path = run_dir / "config.yaml"
        if not cfg_path.exists():
            return _fail(f"{run_dir} is not a run folder (no config.yaml)")
    elif args.config:
        cfg_path = Path(args.config)
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        run_dir = Path(args.run_dir or f"runs/{cfg_path.stem}-{stamp}")
    else:
        print("error: give --config or --resume", file=sys.stderr)
        return 2
    try:
        cfg = load_config(cfg_path, args.set)
        if cfg.train.init or cfg.train.trainable:
            check_fine_tuning(cfg)
        if not cfg.train.data:
            return _fail("train.data is empty: set it in the config or with --set train.data=DIR")
        if args.resume:
            preflight.check_resume_fits(cfg, run_dir)
            done = preflight.steps_done(run_dir)
            if done is not None and done >= cfg.train.steps:
                print(f"{run_dir} is already at step {done} of {cfg.train.steps}: nothing to do (train on with "
                      f"--set train.steps={done + cfg.train.steps})")
                return 0
        else:
            preflight.check_run_folder(run_dir)
        preflight.check_training_data(cfg)
        preflight.check_processes(cfg, args.devices * args.num_nodes)
    except (ConfigError, CheckpointError) as e:
        return _fail(str(e))
    if args.num_nodes > 1 and "WORLD_SIZE" not in os.environ:
        print("error: multi-node training is launched with torchrun, e.g.\n  torchrun --nnodes "
              f"{args.num_nodes} --nproc-per-node {args.devices} --rdzv-endpoint HOST:PORT -m loev_core.cli train "
              "--config ...", file=sys.stderr)
        return 2
    try:
        out = train(cfg, run_dir, resume=bool(args.resume), devices=args.devices, accelerator=args.accelerator,
                    stop_after=args.stop_after, progress=not args.no_progress)
    except TrainingDataError as e:
        return _fail(str(e), 1)
    except OSError as e:  # a run folder that cannot be written (read-only, a file in the way)
        return _fail(f"cannot write the run folder {run_dir}: {e.strerror or e}", 1)
    print(f"run folder: {out}")
    return 0
