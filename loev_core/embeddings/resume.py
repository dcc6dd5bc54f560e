"""What a rerun of `embed_corpus` keeps, and the output assembled from its shards.

A file counts as done when an earlier shard holds its path with the same size and mtime (`file_stamp`, taken
before the file is decoded, so a file changed while it was read is embedded again next time); shards written
before stamps were recorded are trusted by path. Once a run has embedded what was left, `prune_shards` drops
the rows of files no longer in the source and those replaced by a newer embedding of a changed file, so the
output (the shard folder, or the merged .npz) holds exactly the current source's files, once each.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from loev_core.embeddings.store import (
    Stamp,
    latest_shard,
    merge_shards,
    read_shard_index,
    read_shard_stamps,
    read_vectors,
    remove_stale_temps,
    shard_paths,
    write_merged,
    write_shard,
    write_skipped_csv,
)
from loev_core.files import atomic_write_text

if TYPE_CHECKING:
    from loev_core.embeddings.compute import EmbedReport

TRUSTED = "trusted"  # the stamp of a file in a shard written before stamps: done whatever its size and mtime
SETTINGS = (("model_id", None), ("chunk_seconds", None), ("subspaces", None), ("precision", "fp32"))


def file_stamp(path: str) -> Stamp:
    """[size, mtime_ns] of `path`, or None when it cannot be stat'ed (the decoder then says why)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [int(st.st_size), int(st.st_mtime_ns)]


def finished_files(folder: Path, info: dict[str, Any], resume: bool) -> dict[str, Stamp | str]:
    """{path: stamp it was embedded (or found bad) at} from earlier runs, the latest shard winning (TRUSTED
    for shards without stamps). Shards of another model or setting are refused rather than mixed in (shards
    without a precision are float32); `resume=False` deletes them."""
    remove_stale_temps(folder)
    shards = shard_paths(folder)
    if not resume:
        for p in shards:
            p.unlink()
        return {}
    done: dict[str, Stamp | str] = {}
    for p in shards:
        rows, skipped, old = read_shard_index(p)
        for key, default in SETTINGS:
            if old.get(key, default) != info[key]:
                raise ValueError(f"{p}: written with a different {key} ({old.get(key, default)!r} != {info[key]!r}); "
                                 "use another output, or resume=False (--no-resume) to start over")
        stamps = read_shard_stamps(p)
        for path in [r["path"] for r in rows] + [s[0] for s in skipped]:
            done[path] = TRUSTED if stamps is None else stamps.get(path)
    return done


def is_done(done: dict[str, Stamp | str], path: str, stamp: Stamp) -> bool:
    """Whether `path`, now at `stamp`, needs no embedding: done earlier, and not changed since."""
    return path in done and done[path] in (TRUSTED, stamp)


def prune_shards(folder: Path, keep: set[str]) -> int:
    """Rewrite (atomically; a hard-linked original elsewhere is untouched) or delete the shards holding rows of
    paths not in `keep` or replaced by a later shard. Returns the rows dropped of paths not in `keep` (a
    replaced row is counted as its file's new embedding, `EmbedReport.n_changed`)."""
    shards = shard_paths(folder)
    indexes = [read_shard_index(p) for p in shards]
    latest = latest_shard(indexes)
    gone = 0
    for k, (p, (rows, skipped, info)) in enumerate(zip(shards, indexes, strict=True)):
        mask = np.array([latest[r["path"]] == k and r["path"] in keep for r in rows], dtype=bool)
        kept_skips = [s for s in skipped if latest[s[0]] == k and s[0] in keep]
        if mask.all() and len(kept_skips) == len(skipped):
            continue
        gone += sum(r["path"] not in keep for r, m in zip(rows, mask, strict=True) if not m)
        if not mask.any() and not kept_skips:
            p.unlink()
            continue
        stamps = read_shard_stamps(p)
        paths = {r["path"] for r, m in zip(rows, mask, strict=True) if m} | {s[0] for s in kept_skips}
        vectors = {name: list(arr[mask]) for name, arr in read_vectors(p).items()}
        write_shard(p, [r for r, m in zip(rows, mask, strict=True) if m], vectors, kept_skips, info,
                    None if stamps is None else {x: stamps.get(x) for x in paths})
    return gone


def write_outputs(folder: Path, out: Path, keep: set[str], info: dict[str, Any], report: EmbedReport) -> None:
    """Drop rows not of the current source (`keep`), merge every shard: fill the report's totals, write
    skipped.csv, embed.json and (for a .npz) the file."""
    report.n_dropped = prune_shards(folder, keep)
    vectors, rows, skipped = merge_shards(folder)
    report.n_rows, report.skipped = len(rows), sorted(skipped)
    report.n_embedded, report.n_skipped = len({r["path"] for r in rows}), len(skipped)
    csv_path = folder / "skipped.csv" if folder == out else out.with_name(out.stem + ".skipped.csv")
    write_skipped_csv(csv_path, skipped)
    report.skipped_csv = csv_path
    summary = {**info, "n_files": report.n_embedded, "n_rows": report.n_rows, "n_skipped": report.n_skipped,
               "dims": {k: int(v.shape[1]) for k, v in vectors.items()}}
    atomic_write_text(folder / "embed.json", json.dumps(summary, indent=2))
    if folder != out:
        write_merged(out, vectors, rows, skipped, summary)
