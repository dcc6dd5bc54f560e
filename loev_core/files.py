"""Crash-safe file writes and per-folder writer locks, shared by checkpoints, embeddings, indexes,
reports and the dashboard's caches.

A file written here appears only through `os.replace` of a fsynced temp file beside it, so after a
crash or a full disk readers see either the old file or the complete new one, never half of it.
Temp files are named `.<name>.<random>.tmp`, so stale ones are easy to find and never match the
final name.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

LOCK_NAME = ".lock"
FILE_MODE = 0o644  # mkstemp makes 0600; written files are meant to be read by others (reports, checkpoints)


class FolderBusyError(ValueError):
    """Another process holds the folder's writer lock."""


@contextlib.contextmanager
def atomic_path(path: str | Path, mode: int = FILE_MODE) -> Iterator[Path]:
    """Yield a temp path beside `path` to write to; on a clean exit it is fsynced, given `mode` and
    renamed over `path`. On any error the temp file is removed and `path` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with tmp.open("rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, write: Callable[[IO[bytes]], Any], mode: int = FILE_MODE) -> None:
    """Call `write(fileobj)` on a temp file beside `path`, then fsync and rename it over `path`."""
    with atomic_path(path, mode) as tmp, tmp.open("wb") as f:
        write(f)


def atomic_write_text(path: str | Path, text: str, mode: int = FILE_MODE) -> None:
    """Write `text` (UTF-8) to `path` atomically."""
    atomic_write_bytes(path, lambda f: f.write(text.encode()), mode)


@contextlib.contextmanager
def folder_lock(folder: Path, wait: bool = False, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold an exclusive lock on `folder` (its `.lock` file) while writing into it.

    When another process holds it: raise FolderBusyError naming that process, or, with `wait` or an
    `on_wait` callback, block until it is free (`on_wait` is called first, so a page can say what it
    is waiting for). flock is released by the kernel when a process dies (kill -9 included), so a
    crashed writer never leaves a folder locked.
    """
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / LOCK_NAME).open("a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait and on_wait is None:
                f.seek(0)
                owner = f.read().strip() or "another process"
                raise FolderBusyError(f"{folder} is being written by {owner}: wait for it to finish, or write "
                                      "to another folder") from None
            if on_wait is not None:
                on_wait()
            fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()}")
        f.flush()
        try:
            yield
        finally:
            f.truncate(0)
            f.flush()
            fcntl.flock(f, fcntl.LOCK_UN)
