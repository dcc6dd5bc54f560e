"""Musical key labels: the 24 key classes, parsing, canonical names and transposition.

One definition for every part of the package (the corpus generator writes these labels, evaluation
and the dashboard read them back), so "same key" means the same thing everywhere. Pitch classes are
ints 0..11 (C=0); a key class index is tonic + 12 * is_minor; canonical labels are "<tonic> <mode>"
with one spelling per pitch class, so the 24 labels are unique (mir_eval accepts all of them).
"""

from __future__ import annotations

import re

PITCH_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
MODES = ("major", "minor")
KEY_NAMES = tuple(f"{p} {m}" for m in MODES for p in PITCH_NAMES)  # index = tonic + 12 * is_minor

_LETTERS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_MODE_ALIASES = {"major": "major", "maj": "major", "": "major", "minor": "minor", "min": "minor", "m": "minor"}
_KEY_RE = re.compile(r"^\s*([A-Ga-g])\s*([#b♯♭]*)\s*[:\s]?\s*([A-Za-z]*)\s*$")


def parse_key(label: str) -> tuple[int, str]:
    """'C major', 'c# minor', 'Db', 'A:min', 'Am' -> (tonic pitch class, mode); ValueError otherwise."""
    m = _KEY_RE.match(str(label))
    mode_raw = m.group(3) if m else ""
    mode = None if m is None else "major" if mode_raw == "M" else _MODE_ALIASES.get(
        mode_raw if mode_raw == "m" else mode_raw.lower())
    if m is None or mode is None:
        raise ValueError(f"not a key label: {label!r} (expected e.g. 'C major' or 'A minor')")
    tonic = _LETTERS[m.group(1).upper()] + sum(1 if c in "#♯" else -1 for c in m.group(2))
    return tonic % 12, mode


def key_index(label: str) -> int:
    """Class index 0..23 of a key label (majors 0..11 from C, minors 12..23)."""
    tonic, mode = parse_key(label)
    return tonic + 12 * MODES.index(mode)


def key_name(tonic: int, mode: str | None = None) -> str:
    """Canonical label: of a tonic pitch class and mode ((9, "minor") -> "A minor"), or, without a
    mode, of a class index 0..23 (3 -> "Eb major")."""
    if mode is None:
        return KEY_NAMES[int(tonic)]
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    return f"{PITCH_NAMES[int(tonic) % 12]} {mode}"


def normalize_key(label: str) -> str:
    """Any accepted spelling -> the canonical label ('D# major' -> 'Eb major')."""
    return key_name(key_index(label))


def transpose_key(label: str, semitones: float) -> str:
    """Key of a clip pitch-shifted by `semitones`: tonic moves by round(semitones) mod 12, mode kept."""
    tonic, mode = parse_key(label)
    return key_name(tonic + int(round(float(semitones))), mode)
