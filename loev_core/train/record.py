"""What a training run reports as it goes (rank 0 only): the progress bar, and loss/learning-rate rows
in metrics.csv and TensorBoard."""

from __future__ import annotations

import csv
import time
from pathlib import Path

from tqdm.auto import tqdm

from loev_core.config import ExperimentConfig


class MetricsLog:
    """metrics.csv (truncated to the resume step, so the curve has no duplicates) plus TensorBoard."""

    def __init__(self, run_dir: Path, heads: tuple[str, ...], start_step: int) -> None:
        self.path = run_dir / "metrics.csv"
        self.fields = ["step", "lr", "loss", *[f"loss.{h}" for h in heads], "seconds"]
        rows = []
        if self.path.exists() and start_step > 0:
            with self.path.open() as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= start_step]
        with self.path.open("w", newline="") as f:
            w = csv.DictWriter(f, self.fields)
            w.writeheader()
            w.writerows(rows)
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(run_dir / "tensorboard"), purge_step=start_step + 1)
        except Exception:  # tensorboard is optional at run time
            self.tb = None

    def write(self, step: int, lr: float, losses: dict[str, float], seconds: float) -> None:
        row = {"step": step, "lr": f"{lr:.6g}", "loss": f"{losses['total']:.6f}", "seconds": f"{seconds:.3f}"}
        row |= {f"loss.{h}": f"{v:.6f}" for h, v in losses.items() if h != "total"}
        with self.path.open("a", newline="") as f:
            csv.DictWriter(f, self.fields).writerow(row)
        if self.tb:
            for k, v in losses.items():
                self.tb.add_scalar(f"loss/{k}", v, step)
            self.tb.add_scalar("lr", lr, step)

    def close(self) -> None:
        if self.tb:
            self.tb.close()


class RunReport:
    """Rank 0's progress bar and metrics rows (every `log_every` steps and the last); other ranks get a
    disabled bar and write nothing. Seconds in metrics.csv count from its creation."""

    def __init__(self, cfg: ExperimentConfig, run_dir: Path, start: int, rank: int, progress: bool) -> None:
        self.train, self.rank = cfg.train, rank
        self.metrics = MetricsLog(run_dir, cfg.model.heads, start) if rank == 0 else None
        self.bar = tqdm(total=cfg.train.steps, initial=start, desc=f"train {cfg.model.kind}",
                        disable=not progress or rank != 0, dynamic_ncols=True)
        self.t0 = time.perf_counter()

    def step(self, step: int, lr: float, losses: dict[str, float]) -> None:
        """After optimizer step `step` (counted from 1), with the step's mean losses."""
        if self.metrics is None:
            return
        self.bar.update(1)
        self.bar.set_postfix({k: f"{v:.3f}" for k, v in losses.items()})  # whole names: "pitchshi" read badly
        if step % self.train.log_every == 0 or step == self.train.steps:
            self.metrics.write(step, lr, losses, time.perf_counter() - self.t0)

    def close(self) -> None:
        self.bar.close()
        if self.metrics is not None:
            self.metrics.close()
