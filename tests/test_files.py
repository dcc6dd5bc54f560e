"""Atomic writes leave either the old file or the whole new one (never a temp file), and a folder's
writer lock refuses or makes a second holder wait."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from loev_core.files import FolderBusyError, atomic_path, atomic_write_bytes, atomic_write_text, folder_lock


def test_atomic_write_replaces_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.txt"
    atomic_write_text(target, "first")
    atomic_write_text(target, "second ünïcode")
    assert target.read_text(encoding="utf-8") == "second ünïcode"
    assert target.stat().st_mode & 0o777 == 0o644  # readable by others, unlike mkstemp's 0600
    atomic_write_bytes(target, lambda f: f.write(b"\x00\x01"), mode=0o600)
    assert target.read_bytes() == b"\x00\x01" and target.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.txt"]


def test_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    atomic_write_bytes(target, lambda f: f.write(b"old"))

    def half_then_fail(f: object) -> None:
        f.write(b"new but incomplete")  # type: ignore[attr-defined]
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        atomic_write_bytes(target, half_then_fail)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_the_temp_file_is_invisible_until_the_block_ends(tmp_path: Path) -> None:
    target = tmp_path / "model.safetensors"
    target.write_bytes(b"old")
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"new")
        assert target.read_bytes() == b"old" and tmp.name.startswith(".model.safetensors.")
        assert tmp.name.endswith(".tmp") and tmp.parent == tmp_path
    assert target.read_bytes() == b"new" and not tmp.exists()


def test_a_second_lock_holder_is_refused_naming_the_first(tmp_path: Path) -> None:
    def take() -> None:
        with folder_lock(tmp_path / "emb"):
            pass

    with folder_lock(tmp_path / "emb"), pytest.raises(FolderBusyError, match=f"pid {os.getpid()}"):
        take()
    take()  # released: free again


@pytest.mark.parametrize("how", ["wait", "on_wait"])
def test_a_second_lock_holder_waits_for_the_first(tmp_path: Path, how: str) -> None:
    events: list[str] = []
    entered = threading.Event()
    kwargs = {"wait": True} if how == "wait" else {"on_wait": lambda: events.append("waiting")}

    def second() -> None:
        with folder_lock(tmp_path, **kwargs):
            events.append("second holds it")
        entered.set()

    with folder_lock(tmp_path):
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.3)
        assert not entered.is_set()  # still blocked while the first holds the lock
        events.append("first releases")
    thread.join(timeout=10)
    assert entered.is_set()
    expected = ["first releases", "second holds it"]
    assert events == (expected if how == "wait" else ["waiting", *expected])
