"""Procedural progressions, melodies and accompaniment, all in beats (the renderer applies the tempo).

Everything here exists to make the key and the tempo audible in a 3-4 s clip: every progression opens
on the tonic and ends with a dominant-tonic cadence (harmonic-minor dominant, so the leading tone tells a
minor key from its relative major), the bass plays chord roots, melodies stay in the scale and land on
the tonic, and the accompaniment (or the drum kit) marks every beat.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from loev_core.corpus.theory import scale_pitch_classes, triad

ACCOMPANIMENTS = ("block", "arpeggio", "alberti", "strum", "pad")
HARMONY_RANGE = (52, 76)
MELODY_RANGE = (64, 86)


@dataclass(frozen=True)
class NoteEvent:
    """One note in beats; `part` is melody | harmony | bass | drums (drums: `pitch` is a GM drum key)."""

    start: float
    dur: float
    pitch: int
    velocity: int
    part: str


@dataclass(frozen=True)
class Chord:
    start: float
    dur: float
    pcs: tuple[int, ...]  # root first


# Functional harmony: tonic, predominant, dominant degrees (0-based) per mode.
# Minor walks favour i/iv/VI, which carry the minor third and sixth, over the major-sounding III.
_MIDDLE = {"major": (5, 3, 1, 2, 3, 4, 5, 1), "minor": (5, 3, 0, 3, 5, 1, 3, 0)}
_RHYTHMS = {  # melody rhythms that fill one chord span, by span length in beats
    0.5: ((0.5,),), 1.0: ((1.0,), (0.5, 0.5)),
    2.0: ((1.0, 1.0), (1.5, 0.5), (0.5, 0.5, 1.0), (2.0,)),
    3.0: ((2.0, 1.0), (1.0, 1.0, 1.0), (1.0, 0.5, 0.5, 1.0)),
    4.0: ((1.0, 1.0, 1.0, 1.0), (2.0, 1.0, 1.0), (1.5, 0.5, 2.0), (1.0, 0.5, 0.5, 2.0)),
}


def progression(rng: np.random.Generator, mode: str, n: int) -> list[tuple[int, bool]]:
    """n chords as (degree, seventh): tonic first, then a functional walk, then predominant-V-I."""
    if n <= 3:
        return [(0, False), (4, True), (0, False)]
    middle = [int(d) for d in rng.choice(_MIDDLE[mode], size=n - 4)]
    pre = int(rng.choice((3, 1))) if mode == "major" else 3
    return [(0, False)] + [(d, False) for d in middle] + [(pre, False), (4, bool(rng.random() < 0.6)), (0, False)]


def plan_harmony(rng: np.random.Generator, mode: str, total_beats: float, beats_per_bar: int,
                 tempo: float, tonic: int) -> list[Chord]:
    """Chords whose cadence fits in the clip: the harmonic rhythm shrinks at slow tempi."""
    final = max(1.0, 0.7 * tempo / 60.0)  # the closing tonic rings at least ~0.7 s
    h = float(beats_per_bar) if rng.random() < 0.6 else beats_per_bar / 2.0
    while h > 0.5 and 3 * h + final > total_beats:
        h = h / 2 if h != 3 else 1.0
    n = int(min(8, max(3, (total_beats - final) // h + 1)))
    degrees = progression(rng, mode, n)
    chords = []
    for i, (deg, seventh) in enumerate(degrees):
        start = i * h
        dur = h if i < len(degrees) - 1 else max(total_beats - start, h)
        chords.append(Chord(start, dur, tuple(triad(tonic, mode, deg, seventh))))
    return chords


def voice_chord(pcs: tuple[int, ...], prev: list[int] | None) -> list[int]:
    """Close-position voicing in the harmony range, nearest to the previous voicing (smooth leading)."""
    lo, hi = HARMONY_RANGE
    options = []
    for base in range(lo, lo + 12):
        voicing = sorted(p for p in range(base, base + 12) if p % 12 in pcs)
        if voicing and voicing[-1] <= hi:
            options.append(voicing)
    if prev is None:
        return min(options, key=lambda v: abs(np.mean(v) - 62))
    return min(options, key=lambda v: abs(np.mean(v) - np.mean(prev)) + 0.1 * abs(len(v) - len(prev)))


def bass_note(pc: int, prev: int | None) -> int:
    candidates = [p for p in range(36, 52) if p % 12 == pc]
    return min(candidates, key=lambda p: abs(p - (prev if prev is not None else 43)))


def _accent(t: float, beats_per_bar: int, downbeat: float = 0.0) -> int:
    pos = (t - downbeat) % beats_per_bar
    return 14 if abs(pos) < 1e-6 else (6 if beats_per_bar == 4 and abs(pos - 2) < 1e-6 else 0)


def accompany(chords: list[Chord], style: str, beats_per_bar: int, end: float, downbeat: float = 0.0
              ) -> list[NoteEvent]:
    """Harmony and bass parts on a beat grid, so the pulse is audible even without drums."""
    if style not in ACCOMPANIMENTS:
        raise ValueError(f"unknown accompaniment {style!r}")
    out: list[NoteEvent] = []
    prev_v: list[int] | None = None
    prev_b: int | None = None
    for ch in chords:
        v = voice_chord(ch.pcs, prev_v)
        b = bass_note(ch.pcs[0], prev_b)
        prev_v, prev_b = v, b
        stop = min(ch.start + ch.dur, end)
        step = 0.5 if style in ("arpeggio", "alberti") else 1.0
        grid = np.arange(ch.start, stop - 1e-6, step)
        if style == "pad":
            out += [NoteEvent(ch.start, stop - ch.start, p, 58, "harmony") for p in v]
        for i, t in enumerate(grid):
            t = float(t)
            acc = _accent(t, beats_per_bar, downbeat)
            if style in ("block", "strum"):
                for j, p in enumerate(v):
                    lag = 0.03 * j if style == "strum" else 0.0
                    out.append(NoteEvent(t + lag, step * 0.85 - lag, p, 62 + acc, "harmony"))
            elif style == "arpeggio":
                seq = v + v[-2:0:-1]
                out.append(NoteEvent(t, step * 0.95, seq[i % len(seq)], 60 + acc, "harmony"))
            elif style == "alberti":
                order = (0, len(v) - 1, 1, len(v) - 1)
                out.append(NoteEvent(t, step * 0.95, v[order[i % 4]], 60 + acc, "harmony"))
        if style == "pad":  # walking root/fifth quarter notes carry the pulse
            fifth = b + 7 if b + 7 < 55 else b - 5
            for i, t in enumerate(grid):
                out.append(NoteEvent(float(t), 0.9, (b, fifth)[i % 2], 72 + _accent(float(t), beats_per_bar, downbeat),
                                     "bass"))
        else:
            for t in grid:
                t = float(t)
                pos = (t - downbeat) % beats_per_bar
                if abs(t - ch.start) < 1e-6 or abs(pos) < 1e-6 or (beats_per_bar == 4 and abs(pos - 2) < 1e-6):
                    out.append(NoteEvent(t, min(1.9, stop - t), b, 80, "bass"))
    return out


def melody(rng: np.random.Generator, chords: list[Chord], tonic: int, mode: str, end: float) -> list[NoteEvent]:
    """Chord tones on chord changes, scale steps in between, ending on the tonic."""
    scale = scale_pitch_classes(tonic, mode)
    lo, hi = MELODY_RANGE
    pitches = [p for p in range(lo, hi + 1) if p % 12 in scale]
    cur = min((p for p in pitches if p % 12 == tonic), key=lambda p: abs(p - 72))
    out = []
    for k, ch in enumerate(chords):
        last = k == len(chords) - 1
        if last:
            target = min((p for p in pitches if p % 12 == tonic), key=lambda p: abs(p - cur))
            out.append(NoteEvent(ch.start, max(end - ch.start, 0.5), target, 92, "melody"))
            break
        pattern = _RHYTHMS[min(_RHYTHMS, key=lambda h: abs(h - ch.dur))]
        rhythm = pattern[int(rng.integers(len(pattern)))]
        t = ch.start
        for j, d in enumerate(rhythm):
            if k == 0 and j == 0:  # open on the tonic chord's third: states the mode at once
                cur = min((p for p in pitches if p % 12 == ch.pcs[1]), key=lambda p: abs(p - cur))
            elif j == 0:
                tones = [p for p in pitches if p % 12 in ch.pcs and p != cur] or [cur]
                cur = min(tones, key=lambda p: abs(p - cur) + rng.random() * 3)
            else:
                i = pitches.index(cur) + int(rng.choice((-1, 1, 1, -2, 2)))
                cur = pitches[int(np.clip(i, 0, len(pitches) - 1))]
            out.append(NoteEvent(t, d * 0.92, cur, 84 + (8 if j == 0 else 0), "melody"))
            t += d
    return out


def harmonize(notes: list[tuple[float, float, int]], tonic: int, mode: str, beats_per_bar: int,
              downbeat: float, end: float) -> list[Chord]:
    """I/IV/V-style chords for a folk melody: per (half) bar, the diatonic triad covering most melody time."""
    degrees = (0, 3, 4, 5, 1) if mode == "major" else (0, 3, 4, 5, 2)
    prior = {0: 0.35, 4: 0.25, 3: 0.15, 5: 0.0, 1: 0.0, 2: 0.0}
    span = 2.0 if beats_per_bar == 4 else float(beats_per_bar)
    bounds = ([0.0] if downbeat > 0 else []) + list(np.arange(downbeat, end, span))
    chords = []
    for i, s in enumerate(bounds):
        e = min(bounds[i + 1] if i + 1 < len(bounds) else end, end)
        if e - s < 1e-6:
            continue
        best, best_score = 0, -1.0
        for deg in degrees:
            pcs = triad(tonic, mode, deg)
            score = prior[deg] + (0.6 if i == int(downbeat > 0) and deg == 0 else 0.0)
            for on, du, midi in notes:
                overlap = min(on + du, e) - max(on, s)
                if overlap > 0 and midi % 12 in pcs:
                    score += overlap * (1.5 if abs(on - s) < 1e-6 else 1.0)
            if score > best_score:
                best, best_score = deg, score
        chords.append(Chord(float(s), float(e - s), tuple(triad(tonic, mode, best))))
    return chords
