"""Decoding for `embed_corpus`: which files (each once, of one split), then files into segments, in worker
processes or decode-ahead threads.

A file is one segment, or (over `long_seconds`, or with `chunk_seconds`) a stream of chunks, so a
2-hour file never sits in memory. A file that cannot be decoded yields one error item with the
reason instead of raising, so a long job survives any single bad file.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch.utils.data import IterableDataset, get_worker_info

from loev_core.audio import AudioError, AudioTooLong, Clip, load_audio, resolve_corpus, stream_audio

Item = tuple[int, float, "torch.Tensor | None", bool, "str | None", float]  # idx, offset, wave, last, error, s
T = TypeVar("T")


def decode_file(idx: int, path: str, sr: int, chunk: float | None, long_s: float,
                stream_s: float) -> Iterator[Item]:
    """Segments of one file; an error item ends the file (earlier segments are then discarded).

    A file up to `long_s` long (and, with `chunk`, up to `chunk`) is opened and decoded once: `load_audio`
    reads its length from the same open and refuses it (AudioTooLong) when it must be streamed instead."""
    try:
        try:
            whole = load_audio(path, sr, max_seconds=min(chunk, long_s) if chunk else long_s)
        except AudioTooLong as e:
            whole, total = None, e.seconds
        if whole is not None:
            yield idx, 0.0, whole, True, None, whole.numel() / sr
            return
        pending = None
        for off, wave in stream_audio(path, sr, chunk or stream_s):
            if pending is not None:
                yield pending
            pending = (idx, off, wave, False, None, total)
        if pending is None:
            raise AudioError(path, "no non-silent audio")
        yield pending[:3] + (True,) + pending[4:]
    except AudioError as e:
        yield idx, 0.0, None, True, e.reason, 0.0
    except Exception as e:  # a long job must survive any single file
        yield idx, 0.0, None, True, f"{type(e).__name__}: {e}", 0.0


class DecodedFiles(IterableDataset):
    """Files split round-robin over the DataLoader's worker processes."""

    def __init__(self, items: list[tuple[int, str]], *args: Any) -> None:
        self.items, self.args = items, args

    def __iter__(self) -> Iterator[Item]:
        info = get_worker_info()
        for idx, path in self.items[info.id::info.num_workers] if info else self.items:
            yield from decode_file(idx, path, *self.args)


def decoded_in_threads(files: Sequence[T], decode: Callable[[T], Iterable[Item]], threads: int = 2,
                       ahead: int = 64) -> Iterator[Item]:
    """`decode(f)` for every file `f` in `threads` background threads, up to `ahead` files ahead of the
    consumer, yielding the items in file order (so the output's row order does not depend on timing).

    Decoding (libsndfile, soxr, numpy) releases the GIL, so the threads overlap the model's forward pass
    and each other without the pickling and shared-memory transfer of worker processes; on a 2-core
    machine two decode threads plus a one-thread model beat both one decode thread and decode processes
    (measurements: docs/experiments.md). A file's own items wait in a small queue, so a long file being
    streamed stays bounded in memory. An exception in a decoder is raised in the consumer; a consumer that
    stops early stops the threads."""
    n = len(files)
    queues: dict[int, queue.Queue] = {}
    cond = threading.Condition()
    state = {"next": 0, "consumed": 0}
    stop = threading.Event()
    end = object()

    def put(q: queue.Queue, item: object) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        while True:
            with cond:
                while state["next"] < n and state["next"] - state["consumed"] >= ahead and not stop.is_set():
                    cond.wait(0.1)
                if stop.is_set() or state["next"] >= n:
                    return
                k = state["next"]
                state["next"] += 1
                q = queues[k] = queue.Queue(maxsize=4)
                cond.notify_all()
            try:
                for item in decode(files[k]):
                    if not put(q, item):
                        return
            except BaseException as e:  # handed to the consumer, raised there
                put(q, e)
                return
            if not put(q, end):
                return

    pool = [threading.Thread(target=work, name="loev-decode", daemon=True) for _ in range(max(1, min(threads, n)))]
    for t in pool:
        t.start()
    try:
        for k in range(n):
            with cond:
                while k not in queues:
                    cond.wait()
                q = queues[k]
            while (item := q.get()) is not end:
                if isinstance(item, BaseException):
                    raise item
                yield item
            with cond:
                del queues[k]
                state["consumed"] = k + 1
                cond.notify_all()
    finally:
        stop.set()
        with cond:
            cond.notify_all()
        for t in pool:
            t.join(timeout=5)


def init_worker(_: int) -> None:
    torch.set_num_threads(1)  # decoders must not fight the model for cores


def default_workers() -> int:
    """Decoding processes: none on <= 2 cores (background threads decode, see `decoded_in_threads`)."""
    cores = os.cpu_count() or 2
    return 0 if cores <= 2 else min(4, cores // 2)


def decode_threads() -> int:
    """Decoding threads when there are no decoding processes: two (one on a 1-core machine)."""
    return min(2, os.cpu_count() or 2)


def distinct_clips(source: str | Path | Sequence[Clip], split: str | None) -> tuple[list[Clip], int]:
    """The source's clips with absolute paths, each path once (first wins), and how many repeats were dropped."""
    listed = (list(source) if isinstance(source, Sequence) and not isinstance(source, str)
              else resolve_corpus(source, None, allow_outside=True))
    if split:
        listed = select_split(listed, split, source if isinstance(source, (str, Path)) else "the clips")
    seen: dict[str, Clip] = {}
    for c in listed:
        path = os.path.abspath(c.path)
        if path not in seen:
            seen[path] = Clip(path, dict(c.labels))
    return list(seen.values()), len(listed) - len(seen)


def select_split(clips: list[Clip], split: str, source: str | Path) -> list[Clip]:
    """The clips of one split (entries without a split are in every one), or a ValueError naming the splits
    there are: a split that matches nothing, or a source without splits, is a mistake worth saying."""
    present = sorted({str(c.labels["split"]) for c in clips if "split" in c.labels})
    if not present:
        raise ValueError(f"{source} has no split column (a folder without a manifest, or a manifest without "
                         f"'split'), so split {split!r} cannot be chosen: leave the split out to use every file")
    if split not in present:
        raise ValueError(f"{source}: no entry has split {split!r}; the splits there are {', '.join(present)}")
    return [c for c in clips if c.labels.get("split", split) == split]
