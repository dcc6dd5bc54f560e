"""Musical key labels: the 24 key classes, parsing, canonical names and transposition.

One definition for every part of the package (the corpus generator writes these labels, evaluation
and the dashboard read them back), so "same key" means the same thing everywhere. Pitch classes are
ints 0..11 (C=0); a key class index is tonic + 12 * is_minor; canonical labels are "<tonic> <mode>"
with one spelling per pitch class, so the 24 labels are unique (mir_eval accepts all of them).
"""

from __future__ import annotations

import math
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


# --- circle of fifths: positions and colours (the dashboard's key colours) ---------------------------
# Tonic pitch classes in circle-of-fifths order, from C; a minor key sits at its relative major (A minor
# with C major), so keys a model may confuse (a fifth apart, or relatives) get neighbouring colours.
FIFTHS = (0, 7, 2, 9, 4, 11, 6, 1, 8, 3, 10, 5)
KEYS_BY_FIFTHS = tuple(key_name(pc, "major") for pc in FIFTHS) + tuple(key_name(pc + 9, "minor") for pc in FIFTHS)
HUE_OF_C = 25.0  # OKLCH hue of C major (a warm red); each step round the circle adds 30 degrees
LIGHTNESS = {"major": 0.80, "minor": 0.60}  # majors light, minors deep: told apart on a dark or light page
CHROMA = 0.14


def fifths_position(label: str) -> int:
    """Place 0..11 of a key on the circle of fifths (C=0, G=1, ... F=11); minors at their relative major."""
    tonic, mode = parse_key(label)
    return FIFTHS.index((tonic + (3 if mode == "minor" else 0)) % 12)


def fifths_distance(a: str, b: str) -> int:
    """Steps (0..6) between two keys round the circle: 0 for the same key or its relative, 1 for a fifth."""
    d = abs(fifths_position(a) - fifths_position(b)) % 12
    return min(d, 12 - d)


def key_hue(label: str) -> float:
    """Hue in degrees (OKLCH) of a key's colour: it follows the tonic round the circle of fifths."""
    return (HUE_OF_C + 30.0 * fifths_position(label)) % 360.0


def _oklch_to_rgb(lightness: float, chroma: float, hue: float) -> tuple[float, float, float]:
    """Linear-light OKLCH -> gamma-encoded sRGB in [0, 1] (may fall outside: the caller checks)."""
    a, b = chroma * math.cos(math.radians(hue)), chroma * math.sin(math.radians(hue))
    lms = (lightness + 0.3963377774 * a + 0.2158037573 * b, lightness - 0.1055613458 * a - 0.0638541728 * b,
           lightness - 0.0894841775 * a - 1.2914855480 * b)
    l_, m_, s_ = (v ** 3 for v in lms)
    rgb = (4.0767416621 * l_ - 3.3077115913 * m_ + 0.2309699292 * s_,
           -1.2684380046 * l_ + 2.6097574011 * m_ - 0.3413193965 * s_,
           -0.0041960863 * l_ - 0.7034186147 * m_ + 1.7076147010 * s_)
    return tuple(12.92 * v if v <= 0.0031308 else 1.055 * math.copysign(abs(v) ** (1 / 2.4), v) - 0.055
                 for v in rgb)


def oklch_hex(lightness: float, chroma: float, hue: float) -> str:
    """'#rrggbb' of an OKLCH colour; chroma is lowered until it fits in sRGB (hue and lightness kept)."""
    def fits(c: float) -> bool:
        return all(-1e-9 <= v <= 1 + 1e-9 for v in _oklch_to_rgb(lightness, c, hue))

    lo, hi = 0.0, chroma
    if not fits(hi):
        for _ in range(30):  # bisection on the largest chroma that fits
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if fits(mid) else (lo, mid)
        hi = lo
    return "#" + "".join(f"{round(min(max(v, 0.0), 1.0) * 255):02x}" for v in _oklch_to_rgb(lightness, hi, hue))


def key_colour(label: str) -> str:
    """Colour of a key: hue from its place on the circle of fifths (relatives share it), lightness from the
    mode (majors light, minors deep), equal perceived brightness within a mode. ValueError if not a key."""
    _, mode = parse_key(label)
    return oklch_hex(LIGHTNESS[mode], CHROMA, key_hue(label))
