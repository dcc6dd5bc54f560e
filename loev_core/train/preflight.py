"""Checks `loev train` makes before it creates or touches a run folder.

Each failure is a `ConfigError` with one clear sentence, raised before anything is written: a fresh run never
overwrites another run's checkpoints, a resume whose settings no longer fit its checkpoint leaves the run as it
was (its config.yaml is rewritten only after this check), and missing, empty or test-split data is caught
before a half-made run folder appears.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from loev_core.audio import ManifestError, resolve_corpus
from loev_core.checkpoint import CheckpointError, read_metadata, read_tensors
from loev_core.config import ConfigError, ExperimentConfig
from loev_core.train.state import TRAIN_STATE

EVERY_ROW = "*"  # train.split / train.mix_split: use every row of a manifest that has a split column, on purpose
RUN_FILES = ("config.yaml", f"checkpoints/{TRAIN_STATE}", "model/model.safetensors")


def split_filter(split: str) -> str | None:
    """The split `resolve_corpus` keeps ("" and "*" keep every row)."""
    return None if split in ("", EVERY_ROW) else split


def check_run_folder(run_dir: Path) -> None:
    """A fresh run must not write over another run: its checkpoints, model and curves would be replaced."""
    held = [name for name in RUN_FILES if (run_dir / name).exists()]
    if held:
        raise ConfigError(f"{run_dir} already holds a run ({held[-1]}): continue it with `loev train --resume "
                          f"{run_dir}`, or give another --run-dir (nothing was changed)")


def _clips_of(what: str, source: str, split: str) -> list:
    """The corpus's clips in `split`, refusing a manifest whose split column would send test rows to training."""
    try:
        every = resolve_corpus(source, allow_outside=True)
    except (FileNotFoundError, ManifestError) as e:
        raise ConfigError(f"{what} {source}: {e}") from None
    if not every:
        raise ConfigError(f"{what} {source}: no audio files (wav, flac, ogg, mp3, ...) in it")
    splits = Counter(str(c.labels.get("split", "")) for c in every)
    if split == "" and set(splits) - {"", "train"}:
        counts = ", ".join(f"{k or '(none)'} {n}" for k, n in sorted(splits.items()))
        raise ConfigError(f"{what} {source} has a split column ({counts}): training on every row would train on "
                          f"the rows kept for evaluation. Set {what.replace('data', 'split')}=train, or "
                          f"{what.replace('data', 'split')}={EVERY_ROW} to use every row on purpose")
    keep = split_filter(split)
    clips = [c for c in every if keep is None or c.labels.get("split", keep) == keep]
    if not clips:
        counts = ", ".join(f"{k or '(none)'} {n}" for k, n in sorted(splits.items()))
        raise ConfigError(f"{what} {source}: no rows in split {split!r} (its splits: {counts})")
    return clips


def check_training_data(cfg: ExperimentConfig) -> None:
    """Both corpora exist, hold audio, and give rows in their split."""
    t = cfg.train
    _clips_of("train.data", t.data, t.split)
    if t.mix_data:
        _clips_of("train.mix_data", t.mix_data, t.mix_split)


def steps_done(run_dir: Path) -> int | None:
    """The optimizer steps the run's training state holds (None before its first checkpoint)."""
    state = run_dir / "checkpoints" / TRAIN_STATE
    if not state.exists():
        return None
    try:
        return int(read_metadata(state).get("steps", 0))
    except CheckpointError as e:
        raise ConfigError(f"cannot resume: {e}") from None


def check_resume_fits(cfg: ExperimentConfig, run_dir: Path) -> None:
    """The resumed model's weights fit the (possibly --set changed) config: else say so before config.yaml is
    rewritten, so a later plain `--resume` still works."""
    state = run_dir / "checkpoints" / TRAIN_STATE
    if not state.exists():
        return
    from loev_core.model import build_model

    try:
        model = build_model(cfg)
        weights = read_tensors(state, "model.")
        model.load_state_dict(weights)
    except CheckpointError as e:
        raise ConfigError(f"cannot resume: {e}") from None
    except (RuntimeError, ValueError) as e:
        first = str(e).strip().splitlines()
        detail = next((line.strip() for line in first[1:] if line.strip()), first[0] if first else "")
        raise ConfigError(f"cannot resume {run_dir}: its checkpoint does not fit these settings ({detail}). "
                          "A --set that changes the model cannot be used with --resume; the run is unchanged") from None


def check_processes(cfg: ExperimentConfig, processes: int) -> None:
    """Every process takes an equal share of each batch (`StepBatchSampler`): say so before a run folder is made
    rather than in a traceback from each spawned process."""
    if cfg.train.batch_size % processes:
        raise ConfigError(f"train.batch_size {cfg.train.batch_size} cannot be shared by {processes} processes: "
                          f"choose a batch size divisible by {processes} (--set train.batch_size=...) or other "
                          "--devices")
