"""Embed a whole corpus: parallel decoding, batched inference, sharded resumable output.

Worker processes (a torch DataLoader over `loev_core.embeddings.decode`) decode and resample; the main
process runs the model on batches of equal-length waves. Files over `long_seconds` are streamed in
`stream_seconds` chunks whose embeddings are averaged (duration-weighted), so a 2-hour file never sits
in memory. Bad files (`AudioError` or any other decoding failure) are skipped and listed with their
reason; finished files land in atomically written shards (`loev_core.embeddings.store`), so a rerun
does only what is left: new files and files changed since (`loev_core.embeddings.resume`), while rows of files
no longer in the source are dropped.
"""

from __future__ import annotations

import inspect
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from loev_core.audio import AudioError, Clip
from loev_core.checkpoint import model_id
from loev_core.embeddings.decode import (
    DecodedFiles,
    Item,
    decode_file,
    decode_threads,
    decoded_in_threads,
    default_workers,
    distinct_clips,
    init_worker,
)
from loev_core.embeddings.resume import file_stamp, finished_files, is_done, write_outputs
from loev_core.embeddings.store import ShardWriter, load_embeddings, parts_dir
from loev_core.files import FolderBusyError, folder_lock

__all__ = ["EmbedOptions", "EmbedReport", "FolderBusyError", "embed_corpus", "embed_file", "load_embeddings",
           "model_id", "resolve_precision"]
FORMAT_VERSION = 1
MIN_CHUNK_SECONDS = 0.5  # shorter chunks are shorter than the model can hear a key or a tempo in
LONG_SECONDS = 600.0
STREAM_SECONDS = 60.0


@dataclass
class EmbedReport:
    """What a run did; counts are exact and `skipped` holds the same rows as `skipped_csv`."""

    out: Path
    n_clips: int  # distinct files in the source
    n_embedded: int = 0  # files with embeddings in the output (this run and earlier ones)
    n_skipped: int = 0  # bad files in the output (this run and earlier ones)
    n_new: int = 0  # files decoded by this run (embedded or skipped)
    n_resumed: int = 0  # files finished by an earlier run, not decoded again
    n_changed: int = 0  # files embedded again because their size or mtime changed since an earlier run
    n_dropped: int = 0  # rows of earlier runs dropped: their files are no longer in the source
    n_rows: int = 0
    n_duplicates: int = 0  # repeated paths in the source, embedded once
    audio_seconds: float = 0.0  # audio embedded by this run
    wall_seconds: float = 0.0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    skipped_csv: Path | None = None

    @property
    def realtime_factor(self) -> float:
        return self.audio_seconds / self.wall_seconds if self.wall_seconds else 0.0


@dataclass(frozen=True)
class EmbedOptions:
    """How `embed_corpus` reads, batches and stores a corpus (the defaults suit `loev embed`)."""

    batch_size: int = 64  # waves per model call
    workers: int | None = None  # decoding processes; None: `decode.default_workers()`
    resume: bool = True  # keep earlier shards (False deletes them and starts over)
    chunk_seconds: float | None = None  # one row per chunk of this length instead of one per file
    progress: bool = True
    split: str | None = None  # only manifest rows with this split
    shard_size: int = 1024  # files per shard ...
    shard_seconds: float = 60.0  # ... or seconds per shard, whichever comes first
    long_seconds: float = LONG_SECONDS  # files longer than this are streamed ...
    stream_seconds: float = STREAM_SECONDS  # ... in chunks of this length, embeddings averaged
    checkpoint: str | None = None  # recorded in embed.json (provenance only)
    wait_lock: bool = False  # wait for another writer of the folder instead of raising FolderBusyError
    precision: str = "auto"  # "fp32" | "bf16" (`LOEVModel.embed`) | "auto": `resolve_precision`; recorded, never mixed
    threads: int | None = None  # torch threads for the model during the run; None: `model_threads(workers)`

    def __post_init__(self) -> None:
        """Refuse settings that would embed nothing or never finish, before any file is read."""
        for name, least in (("batch_size", 1), ("shard_size", 1), ("workers", 0), ("long_seconds", 0.0),
                            ("stream_seconds", 0.0)):
            value, whole = getattr(self, name), isinstance(least, int)
            if value is not None and not (value >= least if whole else value > least):  # `not`: NaN is refused too
                raise ValueError(f"{name} must be {'at least' if whole else 'more than'} {least:g}, got {value}")
        if self.chunk_seconds is not None and not self.chunk_seconds >= MIN_CHUNK_SECONDS:
            raise ValueError(f"chunk_seconds must be at least {MIN_CHUNK_SECONDS:g} (a shorter chunk is shorter than "
                             f"the model can hear a key or a tempo in), got {self.chunk_seconds}")


def resolve_precision(model: Any, precision: str = "auto") -> str:
    """The precision `embed_corpus` and `embed_file` embed at. "auto": "bf16" for a model on CPU whose
    `embed` takes a precision when the CPU has native bfloat16 (AVX512-BF16 or AMX: about 20% less CPU
    time end to end, embeddings within cosine 0.999 of float32, see docs/experiments.md), else "fp32"."""
    from loev_core.model.inference import PRECISIONS, bf16_is_fast

    takes = "precision" in inspect.signature(model.embed).parameters
    if precision == "auto":
        on_cpu = all(p.device.type == "cpu" for p in model.parameters()) if hasattr(model, "parameters") else True
        return "bf16" if takes and on_cpu and bf16_is_fast() else "fp32"
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be 'auto' or one of {PRECISIONS}, got {precision!r}")
    if precision != "fp32" and not takes:
        raise ValueError(f"{type(model).__name__}.embed has no precision: use precision='fp32'")
    return precision


def _embed(model: Any, waves: torch.Tensor, precision: str = "fp32") -> dict[str, np.ndarray]:
    with torch.inference_mode():
        out = (model.embed(waves, model.sample_rate) if precision == "fp32"
               else model.embed(waves, model.sample_rate, precision=precision))
    return {k: out[k].detach().float().cpu().numpy() for k in model.subspaces}


def model_threads(workers: int) -> int | None:
    """Torch threads for the model while `embed_corpus` runs: one when the decoding threads share a
    machine of <= 2 cores with it (two threads would leave the model's parallel regions waiting for a
    core the decoders hold: 2-4x slower there), else torch's own setting (None)."""
    return 1 if workers == 0 and (os.cpu_count() or 2) <= 2 else None


def embed_file(model: Any, path: str | Path, long_seconds: float = LONG_SECONDS,
               stream_seconds: float = STREAM_SECONDS, precision: str = "auto") -> dict[str, np.ndarray]:
    """One file -> {subspace: float32 [D]}, exactly as `embed_corpus` embeds it (used for queries)."""
    precision = resolve_precision(model, precision)
    sums: dict[str, np.ndarray] = {}
    weight = 0.0
    for _, _, wave, _, err, _ in decode_file(0, str(path), model.sample_rate, None, long_seconds, stream_seconds):
        if err is not None:
            raise AudioError(path, err)
        w = wave.numel() / model.sample_rate
        for k, v in _embed(model, wave.unsqueeze(0), precision).items():
            sums[k] = sums.get(k, 0.0) + w * v[0]
        weight += w
    return {k: (v / weight).astype(np.float32) for k, v in sums.items()}


@dataclass
class _File:
    waiting: int = 0
    last: bool = False
    seconds: float = 0.0
    parts: list[tuple[float, float, dict[str, np.ndarray]]] = field(default_factory=list)


class _Batcher:
    """Groups segments by length into model batches and hands finished files to the writer."""

    def __init__(self, model: Any, clips: list[Clip], writer: ShardWriter, batch_size: int,
                 chunk: float | None, bar: tqdm, report: EmbedReport, precision: str = "fp32") -> None:
        self.model, self.clips, self.writer, self.bs, self.chunk = model, clips, writer, batch_size, chunk
        self.precision = precision
        self.bar, self.report, self.sr = bar, report, model.sample_rate
        self.max_pending = batch_size * int(round(model.clip_seconds * model.sample_rate))
        self.buckets: dict[int, list[tuple[int, float, torch.Tensor]]] = {}
        self.files: dict[int, _File] = {}
        self.pending = 0

    def add(self, item: Item) -> None:
        idx, off, wave, last, err, seconds = item
        if err is not None:
            self.files.pop(idx, None)
            self.writer.skip(self.clips[idx].path, err)
            self.report.skipped.append((self.clips[idx].path, err))
            self.bar.update(1)
            self.bar.set_postfix(skipped=len(self.report.skipped), refresh=False)
            return
        f = self.files.setdefault(idx, _File())
        f.waiting, f.last, f.seconds = f.waiting + 1, last, seconds
        bucket = self.buckets.setdefault(wave.numel(), [])
        bucket.append((idx, off, wave))
        self.pending += wave.numel()
        if len(bucket) >= self.bs:
            self._run(wave.numel())
        elif self.pending >= self.max_pending:
            self.flush()

    def flush(self) -> None:
        for length in list(self.buckets):
            self._run(length)

    def _run(self, length: int) -> None:
        items = self.buckets.pop(length)
        self.pending -= length * len(items)
        out = _embed(self.model, torch.stack([w for _, _, w in items]), self.precision)
        for j, (idx, off, _) in enumerate(items):
            f = self.files.get(idx)
            if f is None:  # the file failed later in its stream
                continue
            f.parts.append((off, length / self.sr, {k: v[j].copy() for k, v in out.items()}))
            f.waiting -= 1
            if f.last and f.waiting == 0:
                self._finish(idx, self.files.pop(idx))

    def _finish(self, idx: int, f: _File) -> None:
        clip = self.clips[idx]
        parts = sorted(f.parts, key=lambda p: p[0])
        if self.chunk:
            rows = [({"path": clip.path, "offset": off, "duration": dur, "labels": clip.labels}, vec)
                    for off, dur, vec in parts]
        else:
            w = np.array([dur for _, dur, _ in parts])
            vec = {k: (sum(wi * p[2][k] for wi, p in zip(w, parts, strict=True)) / w.sum()).astype(np.float32)
                   for k in parts[0][2]}
            rows = [({"path": clip.path, "offset": 0.0, "duration": f.seconds, "labels": clip.labels}, vec)]
        self.writer.add(rows)
        self.report.audio_seconds += sum(dur for _, dur, _ in parts)
        self.bar.update(1)


def _embed_new(model: Any, clips: list[Clip], todo: list[tuple[int, str]], writer: ShardWriter,
               options: EmbedOptions, report: EmbedReport) -> None:
    """Decode and embed the files in `todo` into shards; finished files are kept even when interrupted."""
    o = options
    workers = default_workers() if o.workers is None else o.workers
    threads = o.threads if o.threads is not None else model_threads(workers)
    with tqdm(total=len(todo), unit="file", desc="embed", disable=not o.progress, smoothing=0.05) as bar:
        batcher = _Batcher(model, clips, writer, o.batch_size, o.chunk_seconds, bar, report, o.precision)
        if not todo:
            return
        args = (int(model.sample_rate), o.chunk_seconds, o.long_seconds, o.stream_seconds)
        loader = decoded_in_threads(todo, lambda f: decode_file(f[0], f[1], *args), decode_threads()) \
            if workers == 0 else DataLoader(DecodedFiles(todo, *args), batch_size=None,
                                            num_workers=min(workers, len(todo)), worker_init_fn=init_worker,
                                            prefetch_factor=8)
        previous = torch.get_num_threads()
        if threads:
            torch.set_num_threads(threads)
        try:
            for item in loader:
                batcher.add(item)
            batcher.flush()
        finally:
            if hasattr(loader, "close"):
                loader.close()  # stops the decoding threads now, not at garbage collection
            if threads:
                torch.set_num_threads(previous)
            writer.flush()


def embed_corpus(model: Any, source: str | Path | Sequence[Clip], out_path: str | Path,
                 options: EmbedOptions = EmbedOptions()) -> EmbedReport:
    """Embed every clip of `source` (folder, manifest or list of Clip) into `out_path`.

    `out_path` is a folder of shards, or a `.npz` file (shards then go to `<out>.parts/` and are
    merged into the file at the end). A rerun with `options.resume` skips every file already embedded
    or already found bad and not changed since, and drops the rows of files no longer in `source`. Another
    process writing to the same folder raises FolderBusyError (or, with `options.wait_lock`, is waited for).
    """
    t0 = time.perf_counter()
    options = replace(options, precision=resolve_precision(model, options.precision))
    clips, n_duplicates = distinct_clips(source, options.split)
    out = Path(out_path)
    report = EmbedReport(out, len(clips), n_duplicates=n_duplicates)
    folder = parts_dir(out)
    folder.mkdir(parents=True, exist_ok=True)
    info = {"format_version": FORMAT_VERSION, "model_id": model_id(model), "checkpoint": options.checkpoint,
            "chunk_seconds": options.chunk_seconds, "subspaces": list(model.subspaces),
            "sample_rate": int(model.sample_rate), "long_seconds": options.long_seconds,
            "stream_seconds": options.stream_seconds, "precision": options.precision}
    with folder_lock(folder, wait=options.wait_lock):
        done = finished_files(folder, info, options.resume)
        stamps = {c.path: file_stamp(c.path) for c in clips}  # before decoding: a file changed meanwhile is redone
        todo = [(i, c.path) for i, c in enumerate(clips) if not is_done(done, c.path, stamps[c.path])]
        report.n_resumed, report.n_new = len(clips) - len(todo), len(todo)
        report.n_changed = sum(path in done for _, path in todo)
        writer = ShardWriter(folder, info, options.shard_size, options.shard_seconds, stamps)
        _embed_new(model, clips, todo, writer, options, report)
        write_outputs(folder, out, set(stamps), info, report)
    report.wall_seconds = time.perf_counter() - t0
    return report
