"""Reproducible labelled music corpus (key, tempo, instrument, piece, drums) for demos, training and tests.

`generate_corpus(out, n_clips, seed, role=...)` writes audio plus `manifest.csv`; see `loev corpus --help`.
Submodules load lazily so `python -m loev_core.corpus.<module>` runs without importing the rest.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "generate_corpus": "generate", "MANIFEST_COLUMNS": "generate", "FAMILIES": "plan", "ClipSpec": "plan",
    "plan_corpus": "plan", "estimate_key": "theory", "KEY_NAMES": "loev_core.keys", "key_name": "loev_core.keys",
    "parse_key": "loev_core.keys",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = _EXPORTS[name]
    return getattr(importlib.import_module(module if "." in module else f"{__name__}.{module}"), name)
