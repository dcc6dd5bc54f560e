"""Sharded, crash-safe storage for corpus embeddings (the on-disk half of `loev_core.embeddings.compute`).

Each shard `shard-NNNNN.npz` is self-contained: one float32 array per subspace (`emb:<name>`), the
rows' metadata as JSON strings (`__meta__`), the files found bad while it was filled (`__skipped__`),
the producing model's id (`__info__`) and each file's size and mtime when it was read (`__stamps__`, so a
rerun embeds a changed file again; shards written before it lack it). When a path is in several shards
(it changed and was embedded again), the latest shard holding it wins. A shard appears only through
`os.replace` of a fsynced temp file, so after a kill -9 every visible shard is complete and a rerun resumes from them.
Everything is plain arrays (numbers and unicode); loading uses `allow_pickle=False`.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loev_core.files import atomic_write_bytes, atomic_write_text

SHARD_PATTERN = re.compile(r"^shard-(\d{5,})\.npz$")
EMB_PREFIX = "emb:"
META_KEY, SKIP_KEY, INFO_KEY, STAMP_KEY = "__meta__", "__skipped__", "__info__", "__stamps__"
RESERVED_COLUMNS = ("path", "offset", "duration", "labels")
Stamp = list[int] | None  # [size, mtime_ns] of a file when it was read; None: it could not be stat'ed


def _json_array(items: Iterable[Any]) -> np.ndarray:
    strings = [json.dumps(x, default=str) for x in items]
    return np.array(strings, dtype=str) if strings else np.zeros(0, dtype="<U1")


def shard_paths(directory: Path) -> list[Path]:
    """Complete shards of a folder, in write order (temp files never match)."""
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := SHARD_PATTERN.match(p.name))]
    return [p for _, p in sorted(found)]


def remove_stale_temps(directory: Path) -> int:
    """Delete half-written temp files left by a killed run; returns how many."""
    stale = [p for p in directory.glob(".shard-*.tmp")] if directory.is_dir() else []
    for p in stale:
        p.unlink(missing_ok=True)
    return len(stale)


def write_shard(path: Path, rows: list[dict[str, Any]], vectors: dict[str, list[np.ndarray]],
                skipped: list[tuple[str, str]], info: dict[str, Any],
                stamps: dict[str, Stamp] | None = None) -> None:
    """Write one shard atomically; `vectors[name]` holds one [D] array per row of `rows`, `stamps` the
    (size, mtime_ns) of its files as they were when read."""
    arrays: dict[str, np.ndarray] = {
        META_KEY: _json_array(rows),
        SKIP_KEY: _json_array([list(s) for s in skipped]),
        INFO_KEY: np.array(json.dumps(info)),
    }
    if stamps is not None:
        arrays[STAMP_KEY] = np.array(json.dumps(stamps))
    for name, vs in vectors.items():
        arrays[EMB_PREFIX + name] = (np.stack(vs).astype(np.float32) if vs
                                     else np.zeros((0, 0), np.float32))
    atomic_write_bytes(path, lambda f: np.savez(f, **arrays))


def read_shard_index(path: Path) -> tuple[list[dict[str, Any]], list[tuple[str, str]], dict[str, Any]]:
    """Rows, skipped files and info of a shard without reading its vectors."""
    with np.load(path, allow_pickle=False) as z:
        rows = [json.loads(s) for s in z[META_KEY].tolist()]
        skipped = [(str(p), str(r)) for p, r in (json.loads(s) for s in z[SKIP_KEY].tolist())]
        info = json.loads(str(z[INFO_KEY]))
    return rows, skipped, info


def read_shard_stamps(path: Path) -> dict[str, Stamp] | None:
    """{path: [size, mtime_ns] or None (could not be read)} of a shard's files; None for a shard written
    before stamps were recorded (its files are trusted by path)."""
    with np.load(path, allow_pickle=False) as z:
        return json.loads(str(z[STAMP_KEY])) if STAMP_KEY in z.files else None


def latest_shard(indexes: list[tuple[list[dict[str, Any]], list[tuple[str, str]], Any]]) -> dict[str, int]:
    """{path: position of the last shard holding it} over `read_shard_index` results in write order: only
    that shard's rows (or skip) of the path count, earlier ones were replaced when it changed."""
    latest: dict[str, int] = {}
    for k, (rows, skipped, _) in enumerate(indexes):
        latest.update((r["path"], k) for r in rows)
        latest.update((s[0], k) for s in skipped)
    return latest


def read_vectors(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k[len(EMB_PREFIX):]: z[k] for k in z.files if k.startswith(EMB_PREFIX)}


def meta_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows -> DataFrame: path, offset, duration, labels (dict) and one column per label key."""
    flat = []
    for r in rows:
        labels = r.get("labels") or {}
        extra = {(f"label_{k}" if k in RESERVED_COLUMNS else k): v for k, v in labels.items()}
        flat.append({"path": r["path"], "offset": float(r.get("offset", 0.0)),
                     "duration": float(r.get("duration", 0.0)), "labels": labels, **extra})
    if not flat:
        return pd.DataFrame({c: [] for c in RESERVED_COLUMNS})
    return pd.DataFrame(flat)


def merge_shards(directory: Path) -> tuple[dict[str, np.ndarray], list[dict[str, Any]], list[tuple[str, str]]]:
    """Concatenate every shard of `directory` in write order, each path from the latest shard holding it."""
    parts: dict[str, list[np.ndarray]] = {}
    rows: list[dict[str, Any]] = []
    skipped: list[tuple[str, str]] = []
    shards = shard_paths(directory)
    indexes = [read_shard_index(p) for p in shards]
    latest = latest_shard(indexes)
    for k, (p, (r, s, _)) in enumerate(zip(shards, indexes, strict=True)):
        mask = np.array([latest[x["path"]] == k for x in r], dtype=bool)
        rows += [x for x, m in zip(r, mask, strict=True) if m]
        skipped += [x for x in s if latest[x[0]] == k]
        for name, arr in read_vectors(p).items():
            if arr.shape[0] and mask.any():
                parts.setdefault(name, []).append(arr[mask])
    vectors = {k: np.concatenate(v) for k, v in parts.items()}
    for name, arr in vectors.items():
        if arr.shape[0] != len(rows):
            raise ValueError(f"{directory}: subspace {name} has {arr.shape[0]} rows, metadata has {len(rows)}")
    return vectors, rows, skipped


def write_merged(path: Path, vectors: dict[str, np.ndarray], rows: list[dict[str, Any]],
                 skipped: list[tuple[str, str]], info: dict[str, Any]) -> None:
    """The single-file form (`--out FILE.npz`): same keys as a shard, all rows."""
    arrays = {META_KEY: _json_array(rows), SKIP_KEY: _json_array([list(s) for s in skipped]),
              INFO_KEY: np.array(json.dumps(info))}
    arrays.update({EMB_PREFIX + k: np.ascontiguousarray(v, np.float32) for k, v in vectors.items()})
    atomic_write_bytes(path, lambda f: np.savez(f, **arrays))


def parts_dir(out: Path) -> Path:
    """Where shards live: `out` itself, or `<out>.parts/` when `out` names a single .npz file."""
    return out.with_name(out.name + ".parts") if out.suffix == ".npz" else out


@dataclass(frozen=True)
class Provenance:
    """Where embeddings came from; `build_index` records it in index.json (checkpoint always, the other
    fields when set). `model_id` is the id of the model that embedded them, which is also the
    `checkpoint_id` of its file: one id, whether the index embedded the audio or read embeddings."""

    checkpoint: str | None = None
    embeddings: str | None = None  # the embeddings folder, relative to the index folder holding it
    n_skipped: int | None = None  # bad files, when the index embedded the audio itself
    sample_rate: int | None = None
    model_id: str | None = None
    long_seconds: float | None = None
    stream_seconds: float | None = None

    @classmethod
    def from_summary(cls, summary: dict[str, Any]) -> Provenance:
        """The provenance fields of an embed.json written by `embed_corpus`."""
        return cls(checkpoint=summary.get("checkpoint"), sample_rate=summary.get("sample_rate"),
                   model_id=summary.get("model_id"), long_seconds=summary.get("long_seconds"),
                   stream_seconds=summary.get("stream_seconds"))

    def index_fields(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k == "checkpoint" or v is not None}


@dataclass(frozen=True, eq=False)
class Embeddings:
    """Corpus embeddings: {subspace: float32 [N, D]}, metadata with N rows (`meta_frame`), provenance."""

    vectors: dict[str, np.ndarray]
    meta: pd.DataFrame
    provenance: Provenance = Provenance()
    source: str | None = None  # where they were read from, for messages


def load_embeddings(path: str | Path) -> Embeddings:
    """Embeddings written by `embed_corpus`, with the provenance its embed.json records.

    Accepts the shard folder, or the single .npz file (falling back to its `.parts/` folder when the
    merged file has not been written yet, e.g. the run was interrupted).
    """
    path = Path(path)
    folder = parts_dir(path)
    summary = folder / "embed.json"
    provenance = Provenance.from_summary(json.loads(summary.read_text())) if summary.is_file() else Provenance()
    if path.is_file():
        with np.load(path, allow_pickle=False) as z:
            rows = [json.loads(s) for s in z[META_KEY].tolist()]
            vectors = {k[len(EMB_PREFIX):]: z[k] for k in z.files if k.startswith(EMB_PREFIX)}
    else:
        if not shard_paths(folder):
            raise FileNotFoundError(f"{path}: no embeddings here (no shard-*.npz files)")
        vectors, rows, _ = merge_shards(folder)
    return Embeddings(vectors, meta_frame(rows), provenance, str(path))


class ShardWriter:
    """Collects finished files and writes a shard every `shard_size` files or `shard_seconds`
    (so a kill -9 loses at most that much work)."""

    def __init__(self, folder: Path, info: dict[str, Any], shard_size: int, shard_seconds: float,
                 stamps: dict[str, Stamp] | None = None) -> None:
        self.folder, self.info, self.size, self.seconds = folder, info, shard_size, shard_seconds
        self.stamps = stamps or {}  # {path: stamp taken before the file was decoded}
        existing = shard_paths(folder)
        self.next = int(SHARD_PATTERN.match(existing[-1].name).group(1)) + 1 if existing else 0
        self._reset()

    def _reset(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.vectors: dict[str, list[np.ndarray]] = {k: [] for k in self.info["subspaces"]}
        self.skipped: list[tuple[str, str]] = []
        self.written: dict[str, Stamp] = {}
        self.files, self.last = 0, time.monotonic()

    def add(self, rows: list[tuple[dict[str, Any], dict[str, np.ndarray]]]) -> None:
        """All rows of one finished file (one row, or one per chunk)."""
        for meta, vec in rows:
            self.rows.append(meta)
            self.written[meta["path"]] = self.stamps.get(meta["path"])
            for k, lst in self.vectors.items():
                lst.append(vec[k])
        self.files += 1
        self._maybe_flush()

    def skip(self, path: str, reason: str) -> None:
        self.skipped.append((path, reason))
        self.written[path] = self.stamps.get(path)
        self.files += 1
        self._maybe_flush()

    def _maybe_flush(self) -> None:
        if self.files >= self.size or time.monotonic() - self.last >= self.seconds:
            self.flush()

    def flush(self) -> None:
        if self.files:
            write_shard(self.folder / f"shard-{self.next:05d}.npz", self.rows, self.vectors, self.skipped,
                        self.info, self.written)
            self.next += 1
        self._reset()


def write_skipped_csv(path: Path, skipped: list[tuple[str, str]]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["path", "reason"])
    w.writerows(sorted(skipped))
    atomic_write_text(path, buf.getvalue())
