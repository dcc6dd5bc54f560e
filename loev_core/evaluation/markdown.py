"""Markdown pieces of the evaluation reports: number cells, tables, the JSON-safe copy of results, and the
README blocks that `loev eval --readme` replaces, so README numbers always come from a run, never from typing."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from loev_core.files import atomic_write_text

README_START, README_END = "<!-- eval:start -->", "<!-- eval:end -->"
REAL_START, REAL_END = "<!-- real:start -->", "<!-- real:end -->"  # a corpus of recordings (a `track` column)


def jsonable(obj: Any) -> Any:
    """JSON-safe copy: NaN/inf become null, tuples lists, numpy scalars floats."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def fmt(v: Any, digits: int = 3) -> str:
    return "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{digits}f}"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    return "\n".join(lines + ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows])


def update_readme(readme: str | Path, block: str, markers: tuple[str, str] = (README_START, README_END)) -> None:
    """Replace what lies between the markers; refuse if they are missing (never append blindly)."""
    path = Path(readme)
    text = path.read_text()
    start, end = text.find(markers[0]), text.find(markers[1])
    if start < 0 or end < start:
        raise ValueError(f"{path}: needs '{markers[0]}' followed by '{markers[1]}'")
    atomic_write_text(path, text[:start + len(markers[0])] + "\n" + block.strip() + "\n" + text[end:],
                      mode=path.stat().st_mode & 0o777)
