"""Reproducible labelled music corpus (key, tempo, instrument, piece, drums) for demos, training and tests.

`generate_corpus(out, n_clips, seed, role=...)` writes audio plus `manifest.csv`; see `loev corpus --help`.
Submodules load lazily so `python -m loev_core.corpus.<module>` runs without importing the rest.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "generate_corpus": "generate", "MANIFEST_COLUMNS": "generate", "FAMILIES": "plan", "ClipSpec": "plan",
    "plan_corpus": "plan", "KEY_NAMES": "theory", "estimate_key": "theory", "key_name": "theory",
    "parse_key": "theory",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
