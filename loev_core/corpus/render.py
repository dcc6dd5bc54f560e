"""Note events -> mono float32 audio: FluidSynth with a General MIDI soundfont, or a numpy fallback.

FluidSynth gives realistic timbres; the additive fallback (harmonic partials + envelopes per GM family,
noise drums) keeps generation and tests working on machines without libfluidsynth or a soundfont.
Both are deterministic: a fresh FluidSynth synth per clip (a second, idle synth keeps the soundfont's
samples cached, so creating one costs ~50 ms) and seeded noise in the fallback.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from loev_core.corpus.compose import NoteEvent

log = logging.getLogger(__name__)

SOUNDFONT_CANDIDATES = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/soundfonts/FluidR3_GM.sf2",
                        "/usr/share/sounds/sf2/default-GM.sf2", "/usr/share/soundfonts/default.sf2")
CHANNELS = {"melody": 0, "harmony": 1, "bass": 2, "drums": 9}
TARGET_RMS = 0.1  # -20 dBFS


class SynthError(ValueError):
    """The synthesiser asked for cannot run (soundfont missing, unreadable or not loadable; no FluidSynth)."""


def find_soundfont() -> str | None:
    """$LOEV_SOUNDFONT, else the first Debian/Fedora GM soundfont that exists."""
    env = os.environ.get("LOEV_SOUNDFONT")
    for cand in ((env,) if env else ()) + SOUNDFONT_CANDIDATES:
        if cand and Path(cand).is_file():
            return cand
    return None


def _timeline(events: list[NoteEvent], tempo: float) -> list[NoteEvent]:
    """Events in seconds; a note is cut where the same pitch restarts on its part (no stolen note-offs)."""
    spb = 60.0 / tempo
    out = sorted((NoteEvent(e.start * spb, e.dur * spb, e.pitch, e.velocity, e.part) for e in events),
                 key=lambda e: (e.start, e.part, e.pitch))
    nxt: dict[tuple[str, int], float] = {}
    res = []
    for e in reversed(out):
        k = (e.part, e.pitch)
        end = min(e.start + e.dur, nxt.get(k, np.inf) - 0.005)
        nxt[k] = e.start
        if end > e.start:
            res.append(NoteEvent(e.start, end - e.start, e.pitch, e.velocity, e.part))
    return res[::-1]


class FluidRenderer:
    """Renders with pyfluidsynth; one instance per worker process."""

    name = "fluidsynth"

    def __init__(self, soundfont: str, sample_rate: int) -> None:
        import fluidsynth

        self._fluidsynth = fluidsynth
        self.soundfont, self.sample_rate = soundfont, sample_rate
        self._holder = self._new_synth()[0]  # keeps the sample cache warm for per-clip synths

    def _new_synth(self) -> tuple[object, int]:
        settings = {"synth.chorus.active": 0, "synth.reverb.active": 1, "synth.cpu-cores": 1,
                    "synth.polyphony": 256}
        fs = self._fluidsynth.Synth(gain=0.25, samplerate=float(self.sample_rate), **settings)
        sfid = fs.sfload(self.soundfont)
        if sfid < 0:
            raise RuntimeError(f"FluidSynth cannot load {self.soundfont}")
        fs.set_reverb(roomsize=0.35, damping=0.4, width=0.8, level=0.25)
        return fs, sfid

    def render(self, events: list[NoteEvent], programs: dict[str, int], tempo: float, duration: float,
               seed: int, family: str = "piano") -> np.ndarray:
        """Mono audio of `duration` seconds; programs maps part -> GM program (seed, family unused)."""
        fs, sfid = self._new_synth()
        try:
            for part, ch in CHANNELS.items():
                if part == "drums":
                    fs.program_select(ch, sfid, 128, 0)
                else:
                    fs.program_select(ch, sfid, 0, programs.get(part, 0))
            msgs = []
            for e in _timeline(events, tempo):
                ch = CHANNELS[e.part]
                msgs.append((e.start, 1, ch, e.pitch, e.velocity))
                msgs.append((e.start + e.dur, 0, ch, e.pitch, 0))
            msgs.sort()  # note-offs (0) before note-ons (1) at equal times
            total = int(round(duration * self.sample_rate))
            chunks, done = [], 0
            for t, on, ch, key, vel in msgs:
                frame = min(int(round(t * self.sample_rate)), total)
                if frame > done:
                    chunks.append(fs.get_samples(frame - done))
                    done = frame
                if on:
                    fs.noteon(ch, int(np.clip(key, 0, 127)), int(np.clip(vel, 1, 127)))
                else:
                    fs.noteoff(ch, int(np.clip(key, 0, 127)))
            if total > done:
                chunks.append(fs.get_samples(total - done))
        finally:
            fs.delete()
        stereo = np.concatenate(chunks).astype(np.float32).reshape(-1, 2) / 32768.0
        return stereo.mean(axis=1)


# Fallback timbres: (partial amplitudes, partial frequency ratios or None for harmonic,
# attack s, decay time constant s or None for sustained, vibrato depth).
_TIMBRES: dict[str, tuple[tuple[float, ...], tuple[float, ...] | None, float, float | None, float]] = {
    "piano": ((1, 0.45, 0.3, 0.18, 0.12, 0.08, 0.05), None, 0.004, 0.9, 0.0),
    "chromatic percussion": ((1, 0.35, 0.12), (1.0, 3.93, 9.5), 0.002, 0.45, 0.0),
    "organ": ((1, 0.7, 0.45, 0.4, 0.2, 0.25, 0.1, 0.15), None, 0.02, None, 0.0),
    "guitar": ((1, 0.6, 0.35, 0.25, 0.12, 0.08), None, 0.003, 0.6, 0.0),
    "strings": ((1, 0.5, 0.33, 0.25, 0.2, 0.16, 0.14, 0.12), None, 0.08, None, 0.004),
    "ensemble": ((1, 0.45, 0.3, 0.2, 0.12, 0.08), None, 0.12, None, 0.003),
    "brass": ((1, 0.85, 0.7, 0.55, 0.45, 0.35, 0.25, 0.18), None, 0.04, None, 0.002),
    "reed": ((1, 0.08, 0.6, 0.06, 0.4, 0.05, 0.25, 0.04, 0.15), None, 0.03, None, 0.003),
    "pipe": ((1, 0.2, 0.08), None, 0.05, None, 0.005),
}


class AdditiveRenderer:
    """Plain numpy synthesiser: no dependencies, recognisable families, audible drums."""

    name = "additive"

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate

    def _note(self, e: NoteEvent, family: str) -> np.ndarray:
        sr = self.sample_rate
        amps, ratios, attack, decay, vib = _TIMBRES[family]
        release = 0.06
        n = int((e.dur + release) * sr)
        t = np.arange(n) / sr
        f0 = 440.0 * 2 ** ((e.pitch - 69) / 12)
        phase = 2 * np.pi * f0 * (t + vib / (2 * np.pi * 5.5) * np.sin(2 * np.pi * 5.5 * t) * (vib > 0))
        wave = np.zeros(n)
        for k, a in enumerate(amps):
            r = ratios[k] if ratios else k + 1.0
            if f0 * r < 0.45 * sr:
                wave += a * np.sin(r * phase)
        env = np.minimum(1.0, t / max(attack, 1e-4))
        if decay is not None:
            env *= np.exp(-t / (decay * (2.0 ** ((60 - e.pitch) / 24))))
        env *= np.clip((e.dur + release - t) / release, 0.0, 1.0)
        return (e.velocity / 127.0) * env * wave / sum(amps)

    def _drum(self, e: NoteEvent, rng: np.random.Generator) -> np.ndarray:
        sr = self.sample_rate
        n = int(0.5 * sr)
        t = np.arange(n) / sr
        noise = rng.standard_normal(n)
        if e.pitch == 36:  # kick: falling sine
            y = np.sin(2 * np.pi * (50 * t + 70 * 0.03 * (1 - np.exp(-t / 0.03)))) * np.exp(-t / 0.15)
        elif e.pitch in (38, 39):  # snare / clap: noise burst plus a tone
            y = 0.6 * noise * np.exp(-t / 0.07) + 0.4 * np.sin(2 * np.pi * 190 * t) * np.exp(-t / 0.05)
        elif e.pitch == 49:  # crash
            y = 0.5 * np.diff(noise, prepend=0.0) * np.exp(-t / 0.4)
        else:  # hats and the rest: bright, short noise
            y = 0.5 * np.diff(noise, prepend=0.0) * np.exp(-t / 0.025)
        return (e.velocity / 127.0) * y

    def render(self, events: list[NoteEvent], programs: dict[str, int], tempo: float, duration: float,
               seed: int, family: str = "piano") -> np.ndarray:
        """Mono audio of `duration` seconds in `family`'s timbre; `seed` drives the drum noise."""
        sr = self.sample_rate
        total = int(round(duration * sr))
        out = np.zeros(total + sr)
        rng = np.random.default_rng(seed)
        for e in _timeline(events, tempo):
            start = int(round(e.start * sr))
            if start >= total:
                continue
            y = self._drum(e, rng) if e.part == "drums" else self._note(e, family)
            gain = {"melody": 1.0, "harmony": 0.5, "bass": 0.8, "drums": 0.9}[e.part]
            stop = min(start + len(y), len(out))
            out[start:stop] += gain * y[: stop - start]
        return out[:total].astype(np.float32)


def finish(wave: np.ndarray, sample_rate: int, duration: float) -> np.ndarray:
    """Exact length, short fades, loudness at -20 dBFS RMS with peaks kept below 0.99."""
    n = int(round(duration * sample_rate))
    y = np.zeros(n, dtype=np.float64)
    y[: min(n, len(wave))] = wave[:n]
    fade_in, fade_out = int(0.005 * sample_rate), int(0.04 * sample_rate)
    y[:fade_in] *= np.linspace(0.0, 1.0, fade_in)
    y[-fade_out:] *= np.linspace(1.0, 0.0, fade_out)
    rms = float(np.sqrt(np.mean(y**2)))
    if rms < 1e-6:
        raise RuntimeError("rendered clip is silent")
    y *= TARGET_RMS / rms
    peak = float(np.abs(y).max())
    if peak > 0.99:
        y *= 0.99 / peak
    return y.astype(np.float32)


def check_soundfont(path: str) -> None:
    """Raise SynthError unless `path` is a readable RIFF SoundFont (or DLS) file: checked in the parent so a
    bad --soundfont is one clear line before any worker starts, not a failure in every worker."""
    p = Path(path)
    if not p.exists():
        raise SynthError(f"soundfont {path} does not exist")
    if not p.is_file():
        raise SynthError(f"soundfont {path} is not a file")
    try:
        with p.open("rb") as f:
            head = f.read(12)
    except OSError as e:
        raise SynthError(f"cannot read soundfont {path}: {e.strerror or e}") from None
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] not in (b"sfbk", b"DLS "):
        raise SynthError(f"{path} is not a SoundFont (.sf2) file")


def resolve_synth(synth: str, soundfont: str | None = None) -> tuple[str, str | None]:
    """("fluidsynth", soundfont path) or ("additive", None): `auto` decided once, in the parent process.

    A soundfont named by the caller must be usable whatever `synth` is (except additive, which ignores it);
    auto falls back to the additive synthesiser only when FluidSynth or a GM soundfont is not installed."""
    if synth not in ("auto", "fluidsynth", "additive"):
        raise ValueError(f"synth must be auto, fluidsynth or additive, got {synth!r}")
    if synth == "additive":
        return "additive", None
    if soundfont is not None:
        check_soundfont(soundfont)
    try:
        import fluidsynth  # noqa: F401
    except (ImportError, OSError) as e:
        if synth == "fluidsynth":
            raise SynthError(f"FluidSynth is not available ({e}); install pyfluidsynth and libfluidsynth, "
                             "or use --synth additive") from None
        log.warning("FluidSynth unavailable (%s): using the additive fallback synthesiser", e)
        return "additive", None
    sf2 = soundfont or find_soundfont()
    try:
        if sf2 is None:
            raise SynthError("no General MIDI soundfont found: pass --soundfont FILE or set LOEV_SOUNDFONT")
        if soundfont is None:
            check_soundfont(sf2)
    except SynthError as e:
        if synth == "fluidsynth":
            raise
        log.warning("FluidSynth unavailable (%s): using the additive fallback synthesiser", e)
        return "additive", None
    return "fluidsynth", sf2


def make_renderer(synth: str, sample_rate: int, soundfont: str | None = None) -> FluidRenderer | AdditiveRenderer:
    """`synth` is auto | fluidsynth | additive; auto falls back to additive with a warning."""
    if synth not in ("auto", "fluidsynth", "additive"):
        raise ValueError(f"synth must be auto, fluidsynth or additive, got {synth!r}")
    if synth != "additive":
        sf2 = soundfont or find_soundfont()
        try:
            if sf2 is None:
                raise FileNotFoundError("no General MIDI soundfont found (set LOEV_SOUNDFONT)")
            return FluidRenderer(sf2, sample_rate)
        except (ImportError, OSError, RuntimeError) as e:
            if synth == "fluidsynth":
                raise
            log.warning("FluidSynth unavailable (%s): using the additive fallback synthesiser", e)
    return AdditiveRenderer(sample_rate)
