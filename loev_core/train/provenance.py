"""What a model was trained on, recorded in every checkpoint: the corpora (with content hashes) and the
full history of training stages, so a bundled model says where it came from without its run folders.

A stage is one `loev train` invocation up to a step count: a fresh run, a resume (a warm restart to a new
total) or a fine-tune from `train.init`. A fine-tune inherits the history of the checkpoint it starts from.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loev_core.audio import Clip
from loev_core.checkpoint import read_metadata

HASH_CHUNK = 1 << 20


def content_hash(clips: Sequence[Clip]) -> str:
    """sha256 over every file's name and bytes, in path order: the same audio gives the same hash on any
    machine and in any folder; one changed byte or one more file gives another."""
    root = Path(_common_root([c.path for c in clips])) if clips else Path(".")
    total = hashlib.sha256()
    for path in sorted(str(c.path) for c in clips):
        h = hashlib.sha256()
        try:
            with open(path, "rb") as f:
                while chunk := f.read(HASH_CHUNK):
                    h.update(chunk)
        except OSError:
            h.update(b"<unreadable>")
        rel = str(Path(path).relative_to(root)) if Path(path).is_relative_to(root) else Path(path).name
        total.update(f"{rel}\0{h.hexdigest()}\n".encode())
    return total.hexdigest()


def _common_root(paths: Sequence[str]) -> str:
    return os.path.commonpath([str(Path(p).parent) for p in paths])


@dataclass(frozen=True)
class CorpusRecord:
    """One training corpus as recorded in checkpoints."""

    source: str
    split: str
    clips: int  # files (clips, or whole tracks that are cropped every step)
    tracks: int  # distinct recordings (the manifest's `track` column; = clips without one)
    seconds: float  # total duration when the manifest has it, else 0
    share: float  # expected share of every batch
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def corpus_record(source: str, split: str, clips: Sequence[Clip], share: float) -> CorpusRecord:
    tracks = {str(c.labels.get("track") or c.path) for c in clips}
    seconds = 0.0
    for c in clips:
        with contextlib.suppress(TypeError, ValueError):
            seconds += float(c.labels.get("duration") or 0.0)
    return CorpusRecord(str(source), split, len(clips), len(tracks), round(seconds, 1), round(share, 4),
                        content_hash(clips))


def data_summary(corpora: Sequence[CorpusRecord], skipped_files: int, unreadable_draws: int = 0) -> dict[str, Any]:
    """The `data` entry of a checkpoint. `clips`/`source` keep the single-corpus form older readers know;
    `skipped_files` counts files (left out of the draws), `unreadable_draws` draws of a file that failed to
    decode at crop time (without `train.cache_audio` a bad file is only found when drawn)."""
    return {"clips": sum(c.clips for c in corpora), "source": " + ".join(c.source for c in corpora),
            "skipped_files": skipped_files, "unreadable_draws": unreadable_draws,
            "corpora": [c.to_dict() for c in corpora]}


def stage_record(cfg_dict: dict[str, Any], run_dir: Path, start: int, end: int, data: dict[str, Any]) -> dict:
    """One stage: where it ran, its steps, its whole config (settings change between stages) and its data."""
    return {"run": run_dir.name, "from_step": start, "to_step": end, "data": data, "config": cfg_dict,
            "finished": datetime.now(UTC).isoformat(timespec="seconds")}


def inherited_history(init: str) -> list[dict[str, Any]]:
    """The stages behind a `train.init` checkpoint: its own recorded history, or, for a checkpoint from
    before histories were recorded, one stage summarised from its metadata (marked `summarised`)."""
    if not init:
        return []
    p = Path(init)
    meta = read_metadata(p / "model.safetensors" if p.is_dir() else p)
    if isinstance(meta.get("history"), list):
        return list(meta["history"])
    return [{"run": p.name, "from_step": None, "to_step": meta.get("steps"), "data": meta.get("data"),
             "config": meta.get("config"), "created": meta.get("created"), "summarised": True,
             "note": "from a checkpoint saved before stage histories: its last stage only (its steps count from "
                     "that stage's start, which may itself be a fine-tune of earlier stages)"}]


def history_so_far(resumed: dict[str, Any] | None, init: str) -> list[dict[str, Any]]:
    """Stages before this one: a resumed run's saved history (which already includes what it inherited),
    else what `train.init` brings."""
    if resumed is not None and isinstance(resumed.get("history"), list):
        return list(resumed["history"])
    return inherited_history(init)
