"""Scales, chords and key-profile estimation shared by the composer, the music21 importer and tests.

Pitch classes are ints 0..11 (C=0). Key labels and their parsing live in `loev_core.keys`.
"""

from __future__ import annotations

import numpy as np

from loev_core.keys import MODES

# Scale degrees (semitones above the tonic). Minor uses harmonic minor for V/vii so the leading tone,
# which is what tells A minor from C major, is always present in dominant harmony.
SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
}
LEADING_TONE = 11

# Krumhansl-Kessler probe-tone profiles (tonic first).
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
# Albrecht & Shanahan (2013) profiles, fitted on symbolic music: better than Krumhansl's on scores, so
# the music21 importer validates openings with them.
AS_MAJOR = np.array([0.238, 0.006, 0.111, 0.006, 0.137, 0.094, 0.016, 0.214, 0.009, 0.080, 0.008, 0.081])
AS_MINOR = np.array([0.220, 0.006, 0.104, 0.123, 0.019, 0.103, 0.012, 0.214, 0.062, 0.022, 0.061, 0.052])
PROFILES = {"krumhansl": (KK_MAJOR, KK_MINOR), "albrecht": (AS_MAJOR, AS_MINOR)}


def scale_pitch_classes(tonic: int, mode: str) -> list[int]:
    """Pitch classes of the diatonic scale (harmonic minor: raised 7th) used for melodies."""
    degrees = list(SCALES[mode])
    if mode == "minor":
        degrees[6] = LEADING_TONE
    return [(tonic + d) % 12 for d in degrees]


def triad(tonic: int, mode: str, degree: int, seventh: bool = False) -> list[int]:
    """Pitch classes (root first) of the chord on scale `degree` (0-based) built from stacked thirds.

    In minor the dominant (degree 4) and leading-tone (degree 6) chords use the raised 7th.
    """
    scale = list(SCALES[mode])
    if mode == "minor" and degree in (4, 6):
        scale[6] = LEADING_TONE
    n = 4 if seventh else 3
    pcs = []
    for i in range(n):
        idx = degree + 2 * i
        pcs.append((tonic + scale[idx % 7] + 12 * (idx // 7)) % 12)
    return pcs


def estimate_key(profile: np.ndarray, templates: str = "krumhansl") -> tuple[int, str, float]:
    """Krumhansl-Schmuckler estimate from a 12-bin pitch-class profile: (tonic, mode, correlation)."""
    profile = np.asarray(profile, dtype=np.float64)
    if profile.shape != (12,) or not np.isfinite(profile).all() or profile.std() == 0:
        raise ValueError("profile must be 12 finite, non-constant values")
    best = (0, "major", -2.0)
    for mode, template in zip(MODES, PROFILES[templates], strict=True):
        for tonic in range(12):
            r = float(np.corrcoef(profile, np.roll(template, tonic))[0, 1])
            if r > best[2]:
                best = (tonic, mode, r)
    return best


def key_scores(profile: np.ndarray) -> np.ndarray:
    """Correlation with all 24 key templates, in `loev_core.keys.KEY_NAMES` order (useful for top-k checks)."""
    profile = np.asarray(profile, dtype=np.float64)
    out = np.empty(24)
    for m, template in enumerate((KK_MAJOR, KK_MINOR)):
        for tonic in range(12):
            out[12 * m + tonic] = np.corrcoef(profile, np.roll(template, tonic))[0, 1]
    return out


def pitch_class_profile(notes: list[tuple[float, float, int]], start: float = 0.0,
                        end: float = float("inf")) -> np.ndarray:
    """Duration-weighted pitch-class histogram of (onset, duration, midi) notes inside [start, end)."""
    hist = np.zeros(12)
    for onset, dur, midi in notes:
        lo, hi = max(onset, start), min(onset + dur, end)
        if hi > lo:
            hist[int(midi) % 12] += hi - lo
    return hist
