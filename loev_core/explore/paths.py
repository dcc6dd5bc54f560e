"""Which files the dashboard may open: typed paths must stay inside the allowed roots.

A dashboard is a server: a path typed into a text box must not become a way to read arbitrary
files on the machine. Paths are resolved (symlinks and `..` included) before the check, and a
corpus manifest whose entries leave its folder is refused, not silently followed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from loev_core.audio import Clip, resolve_corpus
from loev_core.explore.session import BASE_DIR

INDEX_SPEC = "index.json"


class PathRefused(ValueError):
    """A path the dashboard will not open; the message says why, in plain words."""


def resolve_allowed(text: str | Path, roots: Sequence[Path], what: str = "path") -> Path:
    """Resolve a typed path (relative: against the checkout, else the working folder); check it is in a root."""
    raw = str(text).strip()
    if not raw:
        raise PathRefused(f"Empty {what}: type a folder or file path.")
    if "\x00" in raw:
        raise PathRefused(f"The {what} contains a NUL byte.")
    p = Path(raw).expanduser()
    p = (p if p.is_absolute() else BASE_DIR / p).resolve()
    if not any(p == r or p.is_relative_to(r) for r in (Path(r).resolve() for r in roots)):
        allowed = ", ".join(str(r) for r in roots)
        raise PathRefused(f"Refused {what} {raw!r}: it is outside the allowed folders ({allowed}). "
                          "Start `loev dashboard` with --checkpoint/--corpus/--allow DIR to allow it.")
    if not p.exists():
        raise PathRefused(f"The {what} {raw!r} does not exist.")
    return p


def is_index_folder(path: Path) -> bool:
    """An index built by `loev index` (index.json + FAISS files) can stand in for a corpus."""
    return path.is_dir() and (path / INDEX_SPEC).is_file()


def outside_roots(clips: Sequence[Clip], roots: Sequence[Path]) -> str | None:
    """The first clip path outside every allowed folder (the dashboard serves what a corpus lists), or None."""
    allowed = [Path(r).resolve() for r in roots]
    for c in clips:
        p = Path(c.path).resolve()
        if not any(p == r or p.is_relative_to(r) for r in allowed):
            return c.path
    return None


def corpus_clips(source: Path, roots: Sequence[Path]) -> list[Clip]:
    """Clips of a corpus folder or manifest. A manifest may list files anywhere inside the allowed folders
    (absolute paths included, as the command line reads them); an entry outside them is refused, since every
    listed file can be played."""
    source = resolve_allowed(source, roots, "corpus")
    try:
        clips = resolve_corpus(source, allow_outside=True)
    except ValueError as e:  # read_manifest: an entry has no path, a malformed manifest
        raise PathRefused(f"Refused corpus: {e}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise PathRefused(f"Cannot read the corpus {source}: {e}") from None
    if not clips:
        raise PathRefused(f"The corpus {source} holds no audio files (wav, flac, ogg, mp3, ...).")
    outside = outside_roots(clips, roots)
    if outside is not None:
        raise PathRefused(f"Refused corpus {source}: its entry {outside!r} is outside the allowed folders "
                          f"({', '.join(str(r) for r in roots)}). Start `loev dashboard` with --allow DIR for the "
                          "folder that holds its audio.")
    return clips


def check_clip_path(path: str | Path, roots: Sequence[Path]) -> Path:
    """An audio path coming from an index's metadata: played only when inside the allowed roots."""
    return resolve_allowed(path, roots, "audio file")
