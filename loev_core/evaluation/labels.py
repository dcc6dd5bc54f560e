"""Label handling for evaluation: label arrays per task (tempo: `loev_core.tempo`; keys: `loev_core.keys`).

Labels arrive as manifest strings ("C major", "A minor", "120", ...). Everything here is pure and
vectorised so the probes, retrieval and the summary agree on one definition of "same key" and
"same tempo" (within 4 %, the MIREX acc1 tolerance).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from loev_core.keys import key_index
from loev_core.tempo import (  # noqa: F401 (re-exported: evaluation's label helpers in one import)
    OCTAVE_FACTORS,
    TEMPO_BIN_RATIO,
    TEMPO_TOLERANCE,
    parse_tempo,
    stretch_tempo,
    tempo_accuracy,
    tempo_bins,
    tempo_match,
    tempo_match_octave,
    tempo_to_bin,
)


def label_arrays(rows: Sequence[dict[str, object]]) -> dict[str, np.ndarray]:
    """Per-clip label dicts -> aligned arrays: key class (-1 if missing), tempo BPM (nan if missing),
    instrument string ('' if missing). Bad cells count as missing, so one typo cannot stop a run."""
    keys, tempi, instruments = [], [], []
    for r in rows:
        try:
            keys.append(key_index(str(r["key"])))
        except (KeyError, ValueError):
            keys.append(-1)
        try:
            tempi.append(parse_tempo(r["tempo"]))
        except (KeyError, ValueError):
            tempi.append(math.nan)
        instruments.append(str(r.get("instrument") or ""))
    return {"key": np.asarray(keys, dtype=int), "tempo": np.asarray(tempi, dtype=float),
            "instrument": np.asarray(instruments, dtype=object)}


def has_label(task: str, labels: dict[str, np.ndarray]) -> np.ndarray:
    """Mask of clips that carry a usable label for `task` (key, tempo or instrument)."""
    arr = labels[task]
    if task == "key":
        return arr >= 0
    if task == "tempo":
        return np.isfinite(arr)
    return arr != ""
