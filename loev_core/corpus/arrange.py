"""Turn one clip's plan into note events: instrument families, drum kits and the three piece sources.

A clip's melody, harmony and bass all come from one General MIDI family, so the `instrument` label is
what the whole clip sounds like; drums (GM channel 10) are the only other sound.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from loev_core.corpus.compose import NoteEvent, accompany, harmonize, melody, plan_harmony
from loev_core.corpus.plan import ClipSpec

BASS_FLOOR = {"guitar": 40, "pipe": 48, "chromatic percussion": 45}  # raise bass lines above these
KICK, SNARE, CLAP, HAT, OPEN_HAT, CRASH, RIDE = 36, 38, 39, 42, 46, 49, 51


def drums(beats_per_bar: int, end: float, downbeat: float, tempo: float, style: int) -> list[NoteEvent]:
    """A kit pattern locked to the bar: kick on strong beats, backbeat snare, hats on (half) beats."""
    hat_step = 0.5 if tempo <= 140 else 1.0
    if beats_per_bar == 4 and style % 2 == 0:  # rock
        hits = [(0.0, KICK, 100), (2.0, KICK, 95), (1.0, SNARE, 92), (3.0, SNARE, 92)]
    elif beats_per_bar == 4:  # four on the floor
        hits = [(b, KICK, 100) for b in (0.0, 1.0, 2.0, 3.0)] + [(1.0, CLAP, 85), (3.0, CLAP, 85)]
    elif beats_per_bar == 3:  # waltz
        hits = [(0.0, KICK, 100), (1.0, SNARE, 70), (2.0, SNARE, 70)]
    else:
        hits = [(0.0, KICK, 100), (1.0, SNARE, 90)]
    hits += [(float(t), HAT, 70 if t % 1 == 0 else 55) for t in np.arange(0, beats_per_bar, hat_step)]
    out = []
    first_bar = -int(np.ceil(downbeat / beats_per_bar))
    for bar in range(first_bar, int(end // beats_per_bar) + 2):
        for off, key, vel in hits:
            t = downbeat + bar * beats_per_bar + off
            if 0 <= t < end:
                out.append(NoteEvent(t, 0.25, key, vel, "drums"))
    if downbeat < end:
        out.append(NoteEvent(downbeat, 1.0, CRASH, 80, "drums"))
    return out


def _shift_octaves(pitches: list[int], lo: int, hi: int) -> int:
    """Octave offset that centres `pitches` in [lo, hi]."""
    centre = (lo + hi) / 2
    return int(12 * round((centre - float(np.mean(pitches))) / 12))


def _transpose(tonic_from: int, tonic_to: int) -> int:
    d = (tonic_to - tonic_from) % 12
    return d - 12 if d > 5 else d


def _chorale(work: dict[str, Any], spec: ClipSpec, end: float) -> list[NoteEvent]:
    shift = _transpose(work["tonic"], spec.tonic)
    parts = ("melody", "harmony", "harmony", "bass")
    out = []
    for on, du, midi, voice in work["notes"]:
        if on >= end:
            continue
        accent = 10 if abs((on - work["downbeat"]) % work["beats_per_bar"]) < 1e-6 else 0
        vel = (88, 68, 68, 80)[int(voice)] + accent
        out.append(NoteEvent(on, max(du - 0.08, du * 0.9), int(midi) + shift, vel, parts[int(voice)]))
    return out


def _folk(work: dict[str, Any], spec: ClipSpec, end: float) -> list[NoteEvent]:
    shift = _transpose(work["tonic"], spec.tonic)
    notes = [(on, du, int(m) + shift) for on, du, m, _ in work["notes"] if on < end]
    octave = _shift_octaves([n[2] for n in notes], 67, 81)
    notes = [(on, du, m + octave) for on, du, m in notes]
    out = [NoteEvent(on, du * 0.92, m, 90, "melody") for on, du, m in notes]
    chords = harmonize(notes, spec.tonic, spec.mode, work["beats_per_bar"], work["downbeat"], end)
    return out + accompany(chords, spec.accompaniment, work["beats_per_bar"], end, work["downbeat"])


def _procedural(spec: ClipSpec, end: float) -> list[NoteEvent]:
    rng_h = np.random.default_rng([spec.piece_seed, 1])
    rng_m = np.random.default_rng([spec.piece_seed, 2])
    chords = plan_harmony(rng_h, spec.mode, end, spec.beats_per_bar, spec.tempo, spec.tonic)
    return melody(rng_m, chords, spec.tonic, spec.mode, end) + accompany(
        chords, spec.accompaniment, spec.beats_per_bar, end)


def arrange(spec: ClipSpec, work: dict[str, Any] | None) -> tuple[list[NoteEvent], dict[str, int]]:
    """Note events in beats for one clip, plus the GM program of each part."""
    end = spec.duration * spec.tempo / 60.0
    if spec.source == "chorale":
        events = _chorale(work or {}, spec, end)
    elif spec.source == "folk":
        events = _folk(work or {}, spec, end)
    else:
        events = _procedural(spec, end)
    floor = BASS_FLOOR.get(spec.family)
    if floor:
        events = [NoteEvent(e.start, e.dur, e.pitch + 12 * max(0, -((e.pitch - floor) // 12)), e.velocity, e.part)
                  if e.part == "bass" else e for e in events]
    if spec.drums:
        downbeat = work["downbeat"] if work else 0.0
        bpb = work["beats_per_bar"] if work else spec.beats_per_bar
        events += drums(bpb, end, downbeat, spec.tempo, spec.drum_style)
    return events, dict(spec.programs)
