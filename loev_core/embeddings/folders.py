"""Output folders of the embedding commands: checked before any work, and indexes replaced whole.

A bad `--out` (an existing file, a folder that cannot be written) is found before a model is loaded or a
file decoded, with one line saying why, and nothing is written. An index is (re)built in a hidden sibling
folder and swapped in only when complete: in one step where the system can exchange two folders
(Linux `renameat2(RENAME_EXCHANGE)`), else by two renames, so an interrupted rebuild leaves the previous
index usable, and nothing of it (subspaces of another model, an old `embeddings/`) outlives a rebuild. A
rebuild holds the staging folder's lock (`index_lock`) from before anything is reused or embedded until the
swap, so a second writer of the same index is refused at once instead of losing its index to the first.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from loev_core.embeddings.store import Embeddings, read_shard_index, shard_paths
from loev_core.files import LOCK_NAME, FolderBusyError, folder_lock

# what `build_index` and `embed_for_index` put in an index folder; a folder holding anything else is not replaced
INDEX_FILES = re.compile(r"index\.json|meta\.jsonl|embeddings|\.lock|.+\.faiss|\..+\.tmp")
AT_FDCWD, RENAME_EXCHANGE = -100, 2
# what index.json and the embeddings' embed.json both record: they differ when embeddings/ is not the index's own
MADE_ALIKE = ("model_id", "sample_rate", "long_seconds", "stream_seconds")
_held = threading.local()  # staging folders this thread holds the lock of (`index_lock` is re-entrant)


def output_problem(out: str | Path, kind: str = "folder", indexed: str | Path | None = None) -> str | None:
    """Why `out` cannot be written, in one line, or None. `kind`: "folder" (created if missing), "file"
    (written, with its `<name>.parts/` folder beside it) or "index" (a folder rebuilt beside itself; `indexed`:
    the embeddings it is built from, kept by the rebuild when they are its `embeddings/`)."""
    p = Path(out)
    if kind == "file":
        if p.is_dir():
            return f"{p} is a folder; give a file name ending in .npz, or a folder without .npz"
        parts = p.with_name(p.name + ".parts")
        if parts.exists() and not parts.is_dir():
            return f"{parts} (where the shards of {p.name} go) is a file, not a folder"
        return _unwritable(p.parent)
    if p.exists() and not p.is_dir():
        return f"{p} is an existing file, not a folder: give a new or existing folder"
    if kind == "index":
        problem = _foreign(p, indexed)
        return problem or _unwritable(p.resolve().parent)  # the rebuild is assembled beside it
    return _unwritable(p)


def _unwritable(folder: Path) -> str | None:
    """Why no file can be created in `folder` (made if missing), or None; the probe leaves nothing behind."""
    existing = folder.absolute()
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a folder" + ("" if existing == folder.absolute() else
                                                        f", so {folder} cannot be made")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as e:
        return f"cannot write in {existing} ({e.strerror or e})"
    return None


def _foreign(folder: Path, indexed: str | Path | None = None) -> str | None:
    """Why `folder` must not be replaced by an index (it holds other files, or embeddings not its own), or None."""
    if not folder.is_dir():
        return None
    other = sorted(p.name for p in folder.iterdir() if not INDEX_FILES.fullmatch(p.name))
    if other:
        shown = ", ".join(other[:3]) + (f" and {len(other) - 3} more" if len(other) > 3 else "")
        why = f"it holds {shown}"
    elif (folder / "embeddings").exists() and not _same(indexed, folder / "embeddings"):
        why = _foreign_embeddings(folder)
    else:
        why = None
    return why and f"{folder} is not an index folder ({why}): give a new folder, or an index folder to rebuild"


def _same(a: str | Path | None, b: Path) -> bool:
    return a is not None and Path(a).resolve() == b.resolve()


def _foreign_embeddings(folder: Path) -> str | None:
    """Why `folder/embeddings` is not the index's own (so a rebuild must not replace it), or None: index.json
    must name it, and it must be made by the model and settings index.json records."""
    emb = folder / "embeddings"
    try:
        info = json.loads((folder / "index.json").read_text())
    except FileNotFoundError:
        return "it holds embeddings/ but no index.json"
    except (OSError, ValueError):
        return "it holds embeddings/ and an unreadable index.json"
    if not emb.is_dir() or info.get("embeddings") != "embeddings":
        return "its embeddings/ is not the index's own: index.json does not name it"
    try:
        made = json.loads((emb / "embed.json").read_text()) if (emb / "embed.json").is_file() else \
            read_shard_index(shard_paths(emb)[0])[2] if shard_paths(emb) else {}
    except (OSError, ValueError, KeyError):
        return "its embeddings/ cannot be read"
    for key in MADE_ALIKE:
        if key in info and key in made and info[key] != made[key]:
            return f"its embeddings/ was made with {key} {made[key]!r}, the index with {info[key]!r}"
    return None


def check_index_folder(out: Path, indexed: str | Path | None = None) -> Path:
    """`out` resolved, after refusing one that is a file, holds other files than an index's, or cannot be written."""
    problem = output_problem(out, "index", indexed)
    if problem:
        raise ValueError(problem)
    return out.resolve()


@contextlib.contextmanager
def index_lock(out: Path) -> Iterator[None]:
    """Hold the writer lock of the rebuild of index folder `out` (its staging folder's `.lock`), re-entrant within a
    thread. Another holder: FolderBusyError naming it. A staging folder left with nothing but the lock is removed."""
    stage, held = staging_dir(out), _held.__dict__.setdefault("stages", set())
    if stage in held:
        yield
        return
    with contextlib.ExitStack() as stack:
        for _ in range(3):  # the folder may be swapped in (renamed away) by its writer between opening and locking
            try:
                stack.enter_context(folder_lock(stage))
            except FolderBusyError:
                owner = _lock_owner(stage) or "another process"
                raise FolderBusyError(f"{out} is being written by another loev process ({owner}): wait for it to "
                                      "finish, or write to another folder") from None
            if _lock_owner(stage) == f"pid {os.getpid()}":
                break
            stack.close()
        else:
            raise FolderBusyError(f"{out} is being rebuilt by other loev processes in turn: try again")
        held.add(stage)
        try:
            yield
        finally:
            held.discard(stage)
            if stage.is_dir() and [p.name for p in stage.iterdir()] == [LOCK_NAME]:
                shutil.rmtree(stage, ignore_errors=True)


def _lock_owner(stage: Path) -> str | None:
    try:
        return (stage / LOCK_NAME).read_text().strip() or None
    except OSError:
        return None


def staging_dir(out: Path) -> Path:
    """Where a (re)build of the index folder `out` is assembled: a hidden sibling, kept after an interruption
    so a rerun resumes its embeddings."""
    return out.parent / f".{out.name}.building"


def swap_in(stage: Path, out: Path) -> None:
    """Make the complete folder `stage` the folder `out`, then delete what `out` held before."""
    if not out.exists():
        os.rename(stage, out)
        _sync(out.parent)
        return
    trash = out.parent / f".{out.name}.old-{os.getpid()}"
    if _exchange(stage, out):
        os.rename(stage, trash)
    else:  # no atomic exchange here: a crash between these renames leaves the previous index in `trash`
        os.rename(out, trash)
        os.rename(stage, out)
    _sync(out.parent)
    shutil.rmtree(trash, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders' names in one step; False where the system cannot (not Linux, an old kernel or libc)."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0


def _sync(folder: Path) -> None:
    """Make renames in `folder` durable (best effort: not every system can fsync a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def reuse_embeddings(old: Path, new: Path, same: dict[str, Any] | None = None) -> None:
    """Give the rebuild's embeddings folder `new` the files of `old` by hard links (shards are never modified
    once written; a copy where links are impossible). With `same` (embedding settings), only shards made with
    them are reused, and an unfinished `new` made otherwise is discarded; without it, all of `old` is carried."""
    def made_alike(folder: Path) -> bool:
        shards = shard_paths(folder)
        info = read_shard_index(shards[0])[2] if shards else {}
        return bool(shards) and all(info.get(k, "fp32" if k == "precision" else None) == v for k, v in same.items())

    if new.exists() and (same is None or not made_alike(new)):
        shutil.rmtree(new)
    if new.exists() or not old.is_dir() or (same is not None and not made_alike(old)):
        return
    new.mkdir(parents=True)
    files = shard_paths(old) if same is not None else [p for p in old.iterdir() if p.is_file()]
    for p in files:
        if p.name == LOCK_NAME or p.name.endswith(".tmp"):
            continue
        try:
            os.link(p, new / p.name)
        except OSError:
            shutil.copy2(p, new / p.name)


def clear_stage(embeddings: Embeddings, out: Path, stage: Path) -> tuple[str | None, Embeddings]:
    """Empty `stage` of what an interrupted build left, except the embeddings to index when they are there (those
    `embed_for_index` wrote) or belong to the index being replaced (`--embeddings OUT/embeddings`: carried over
    so the swap keeps them). Returns that folder's name (None: none) and the embeddings naming it."""
    keep, src = None, Path(embeddings.source).resolve() if embeddings.source else None
    for root in (stage, out) if src else ():
        if src != root and src.is_relative_to(root):
            keep = src.relative_to(root).parts[0]
            if root == out:
                reuse_embeddings(out / keep, stage / keep)
            provenance = replace(embeddings.provenance, embeddings=embeddings.provenance.embeddings or keep)
            embeddings = replace(embeddings, provenance=provenance)
            break
    for p in stage.iterdir():
        if p.name not in (keep, LOCK_NAME):
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    return keep, embeddings
