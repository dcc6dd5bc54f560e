"""`loev bench fuzz --seconds N`: hostile inputs against the loaders, for as long as asked.

Four classes of input (config YAML, corpus manifests, checkpoints, audio files; strategies in
`fuzz_inputs` and `fuzz_checkpoints`). The only allowed outcomes are success or the loader's documented
error naming the file: ConfigError, ManifestError, CheckpointError, AudioError. Anything else (another
exception, a Rust panic, a case running past `--case-timeout`) is a failure; its files are saved under
`--out` for reproduction. tests/fuzz runs the same checks with a fixed, derandomized budget.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import resource
import signal
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

try:
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st
except ModuleNotFoundError as e:  # a test dependency, not a runtime one
    raise SystemExit("loev bench fuzz needs hypothesis: pip install 'loev-explorer[test]'") from e

from loev_core.audio import AudioError, ManifestError, load_audio, read_manifest, resolve_corpus
from loev_core.bench.fuzz_checkpoints import checkpoint_cases
from loev_core.bench.fuzz_inputs import Case, audio_cases, config_cases, manifest_cases
from loev_core.checkpoint import CheckpointError, load_model, read_metadata
from loev_core.config import ConfigError, ExperimentConfig
from loev_core.config_parse import config_from_dict, load_config

# Cases are files of up to a few hundred kB, some slow to load: hypothesis's speed and size checks don't apply.
SLOW_INPUTS = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]


def ci_budget(max_examples: int) -> settings:
    """A fixed, reproducible budget for a fuzz test in CI: the same cases every run, no example database."""
    return settings(max_examples=max_examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=SLOW_INPUTS)


class FuzzFailure(AssertionError):
    """A loader gave an outcome other than success or its documented error naming the file."""


class CaseTimeout(Exception):
    """A case ran past the bench's per-case time limit (a hang, or a huge allocation being filled)."""


def outcome(target: Path, call: Callable[[], Any], documented: type[Exception]) -> Any:
    """`call()`'s result; None when it raised `documented` naming `target`; FuzzFailure for anything else."""
    try:
        return call()
    except documented as e:
        if target.name not in str(e):
            raise FuzzFailure(f"{type(e).__name__} does not name {target.name}: {e}") from e
        return None
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:  # pyo3 panics (safetensors) derive from BaseException
        raise FuzzFailure(f"{type(e).__name__}: {str(e)[:500]}") from e


def check_config(path: Path) -> str:
    cfg = outcome(path, lambda: load_config(path), ConfigError)
    if cfg is None:
        return "refused"
    if not isinstance(cfg, ExperimentConfig):
        raise FuzzFailure(f"load_config gave {type(cfg).__name__}")
    again = outcome(path, lambda: config_from_dict(cfg.to_dict()), ConfigError)  # what checkpoints store
    if again != cfg:
        raise FuzzFailure(f"config does not survive to_dict -> config_from_dict: {cfg}")
    return "ok"


def _confined(clips: list[Any] | None, root: Path) -> None:
    for c in clips or ():
        if not Path(c.path).is_absolute() or not Path(c.path).is_relative_to(root.resolve()):
            raise FuzzFailure(f"entry {c.path!r} escapes {root}")


def check_manifest(path: Path) -> str:
    from loev_core.explore.paths import PathRefused, corpus_clips

    clips = outcome(path, lambda: read_manifest(path), ManifestError)
    _confined(clips, path.parent)
    _confined(outcome(path, lambda: resolve_corpus(path), ManifestError), path.parent)
    if path.name in ("manifest.csv", "manifest.jsonl"):  # the folder stands for its manifest
        _confined(outcome(path, lambda: resolve_corpus(path.parent), ManifestError), path.parent)
        # the dashboard's guard: clips inside its roots, or PathRefused naming the corpus folder
        _confined(outcome(path.parent, lambda: corpus_clips(path.parent, [path.parent]), PathRefused), path.parent)
    return "refused" if clips is None else "ok"


def check_checkpoint(path: Path) -> str:
    outcome(path, lambda: read_metadata(path), CheckpointError)
    model = outcome(path, lambda: load_model(path), CheckpointError)
    if model is None:
        return "refused"
    bad = [k for k, t in model.state_dict().items() if t.is_floating_point() and not torch.isfinite(t).all()]
    if bad:
        raise FuzzFailure(f"model loaded with non-finite weights in {bad[:3]}")
    return "ok"


def check_audio(path: Path) -> str:
    wave = outcome(path, lambda: load_audio(path, sample_rate=16000), AudioError)
    if wave is None:
        return "refused"
    if not (isinstance(wave, torch.Tensor) and wave.ndim == 1 and wave.dtype == torch.float32 and wave.numel()):
        raise FuzzFailure(f"load_audio gave {type(wave).__name__} {getattr(wave, 'shape', '')}")
    if not torch.isfinite(wave).all():
        raise FuzzFailure("load_audio gave non-finite samples")
    return "ok"


CLASSES: dict[str, tuple[Callable[[], st.SearchStrategy[Case]], Callable[[Path], str]]] = {
    "config": (config_cases, check_config),
    "manifest": (manifest_cases, check_manifest),
    "checkpoint": (checkpoint_cases, check_checkpoint),
    "audio": (audio_cases, check_audio),
}


def run_case(kind: str, case: Case) -> str:
    """Write `case` into a fresh folder and check the loader of class `kind` on it: "ok" or "refused"."""
    with tempfile.TemporaryDirectory(prefix=f"loev-fuzz-{kind}-") as d:
        return CLASSES[kind][1](case.write(Path(d)))


@dataclass
class Tally:
    """Cases tried per outcome, and the failing cases with their errors."""

    outcomes: Counter[str] = field(default_factory=Counter)
    failures: list[tuple[Case, str]] = field(default_factory=list)

    @property
    def cases(self) -> int:
        return sum(self.outcomes.values()) + len(self.failures)

    def summary(self, kind: str) -> str:
        return (f"{kind}: {self.cases} cases, {self.outcomes['ok']} loaded, {self.outcomes['refused']} refused, "
                f"{len(self.failures)} failures")


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise CaseTimeout in the main thread after `seconds` (Python code only; a hang inside C is not cut)."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise CaseTimeout(f"no outcome within {seconds} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def explore(kind: str, until: float, tally: Tally, case_timeout: float = 30.0) -> None:
    """Random (not derandomized) cases of class `kind` until `time.monotonic()` passes `until`, and at least
    one (a short budget on a slow machine can end before hypothesis draws its first case); failures are
    recorded in `tally`, not raised, so the run goes on."""

    @settings(max_examples=100, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(CLASSES[kind][0]())
    def attempt(case: Case) -> None:
        if tally.cases and time.monotonic() > until:
            return
        try:
            with time_limit(case_timeout):
                tally.outcomes[run_case(kind, case)] += 1
        except (FuzzFailure, CaseTimeout) as e:
            tally.failures.append((case, f"{type(e).__name__}: {e}"))

    while time.monotonic() < until or not tally.cases:
        attempt()


def save_failure(folder: Path, case: Case, error: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    case.write(folder)
    (folder / "case.json").write_text(json.dumps({"target": case.target, "note": case.note, "error": error}, indent=2))


@contextlib.contextmanager
def native_stderr_to(path: str | None) -> Iterator[None]:
    """Send file descriptor 2 (where libmpg123 and libsndfile complain about every corrupt frame) to `path`."""
    if path is None:
        yield
        return
    saved, target = os.dup(2), os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(target, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(target)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=float, default=60.0, help="time per class (> 0)")
    parser.add_argument("--classes", default=",".join(CLASSES), help="comma-separated: " + ", ".join(CLASSES))
    parser.add_argument("--case-timeout", type=float, default=30.0, help="seconds one case may take (0: no limit)")
    parser.add_argument("--out", default="runs/fuzz-failures", help="where failing cases are saved")
    parser.add_argument("--native-stderr", default=os.devnull,
                        help="where the C decoders' messages go while fuzzing (default: discarded)")


def check_arguments(args: argparse.Namespace) -> str | None:
    """What is wrong with the command line's options, or None: `loev bench fuzz` prints it and exits 2. (`measure`
    itself takes `seconds=0`, one case per class, which tests use as the smallest budget.)"""
    if not (math.isfinite(args.seconds) and args.seconds > 0):
        return f"--seconds must be a finite number of seconds > 0, got {args.seconds:g}"
    if not (math.isfinite(args.case_timeout) and args.case_timeout >= 0):
        return f"--case-timeout must be a finite number of seconds >= 0 (0: no limit), got {args.case_timeout:g}"
    unknown = [k.strip() for k in args.classes.split(",") if k.strip() and k.strip() not in CLASSES]
    if unknown:
        return f"unknown fuzz classes {', '.join(unknown)}; known: {', '.join(CLASSES)}"
    return None


def measure(args: argparse.Namespace) -> dict[str, Any]:
    kinds = [k.strip() for k in args.classes.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in CLASSES]
    if unknown:
        raise SystemExit(f"unknown fuzz classes {unknown}; known: {', '.join(CLASSES)}")
    result: dict[str, Any] = {"seconds_per_class": args.seconds}
    for kind in kinds:
        tally, start = Tally(), time.monotonic()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        with native_stderr_to(args.native_stderr):
            explore(kind, start + args.seconds, tally, args.case_timeout)
        for i, (case, error) in enumerate(tally.failures):
            save_failure(Path(args.out) / kind / f"{i:04d}", case, error)
        result[f"{kind}_cases"] = tally.cases
        result[f"{kind}_loaded"] = tally.outcomes["ok"]
        result[f"{kind}_refused"] = tally.outcomes["refused"]
        result[f"{kind}_failures"] = len(tally.failures)
        result[f"{kind}_cases_per_s"] = round(tally.cases / (time.monotonic() - start), 1)
        result[f"{kind}_peak_rss_growth_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss) // 1024
        errors = Counter(": ".join(e.split(": ")[:2])[:80] for _, e in tally.failures)
        if errors:
            result[f"{kind}_failure_kinds"] = dict(errors.most_common(5))
    if any(result[f"{k}_failures"] for k in kinds):
        result["failures_saved_to"] = str(Path(args.out).resolve())
    return result
