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


def corpus_clips(source: Path, roots: Sequence[Path]) -> list[Clip]:
    """Clips of a corpus folder or manifest, refusing manifests that point outside their folder."""
    source = resolve_allowed(source, roots, "corpus")
    try:
        clips = resolve_corpus(source)
    except ValueError as e:  # read_manifest: an entry escapes the manifest's folder, or has no path
        raise PathRefused(f"Refused corpus: {e}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise PathRefused(f"Cannot read the corpus {source}: {e}") from None
    if not clips:
        raise PathRefused(f"The corpus {source} holds no audio files (wav, flac, ogg, mp3, ...).")
    return clips


def check_clip_path(path: str | Path, roots: Sequence[Path]) -> Path:
    """An audio path coming from an index's metadata: played only when inside the allowed roots."""
    return resolve_allowed(path, roots, "audio file")
