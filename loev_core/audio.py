"""Audio decoding with one error type, so long jobs can skip bad files instead of dying.

soundfile (libsndfile) decodes wav/flac/ogg/opus/mp3 quickly and can seek; librosa/audioread is the
fallback for anything else. Resampling uses soxr (libsoxr, high quality): about 4x faster than
torchaudio's windowed-sinc resampler at 44.1 -> 16 kHz, which matters when embedding big collections.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import shutil
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr
import torch

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".opus", ".mp3", ".aiff", ".aif", ".m4a")
MIN_SECONDS = 0.1
SILENCE_RMS = 1e-5
MAX_SECONDS_IN_MEMORY = 20 * 60  # longer requests must go through `stream_audio`


class AudioError(RuntimeError):
    """A file cannot be used as audio; the message names the file and the reason."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


class ManifestError(ValueError):
    """A corpus manifest cannot be used: unreadable, malformed, or an entry without a path or pointing
    outside its folder. The message names the manifest (and the row)."""


def audio_info(path: str | Path) -> tuple[int, float, int]:
    """Return (sample_rate, duration_seconds, channels) without decoding the whole file."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(path, "file not found")
    if path.stat().st_size == 0:
        raise AudioError(path, "empty file (0 bytes)")
    try:
        info = sf.info(str(path))
        return int(info.samplerate), float(info.frames) / info.samplerate, int(info.channels)
    except Exception:
        pass
    try:
        import librosa

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sr = int(librosa.get_samplerate(str(path)))
            dur = float(librosa.get_duration(path=str(path)))
        return sr, dur, 1
    except Exception as e:
        raise _unreadable(path, _reason(e)) from None


FFMPEG_FORMATS = (".m4a", ".aac", ".mp4", ".wma")  # libsndfile cannot decode these; librosa needs ffmpeg


PLAIN_REASONS = {"NoBackendError": "no decoder recognises its format", "EOFError": "it ends too early (cut short?)"}


def _reason(e: BaseException) -> str:
    """A decoder's failure in words (not a Python class name): known kinds plainly, else its own first line."""
    text = str(e).strip().splitlines()[0][:160] if str(e).strip() else ""
    return PLAIN_REASONS.get(type(e).__name__) or text or "the decoders could not read it"


def _unreadable(path: Path, why: str) -> AudioError:
    """The decode error, with what to install when the format needs ffmpeg and the machine has none."""
    hint = ""
    if path.suffix.lower() in FFMPEG_FORMATS and shutil.which("ffmpeg") is None:
        hint = f"; {path.suffix.lower()} files need ffmpeg (e.g. apt-get install ffmpeg), or convert them to .flac"
    return AudioError(path, f"unreadable audio ({why}){hint}")


class AudioTooLong(AudioError):
    """A whole file was asked for that is longer than allowed in memory (`load_audio`'s `max_seconds`)."""

    def __init__(self, path: str | Path, seconds: float) -> None:
        super().__init__(path, f"{seconds / 60:.0f} min long: use stream_audio() for files this long")
        self.seconds = seconds


def _decode(path: Path, offset: float, duration: float | None,
            max_seconds: float | None = None) -> tuple[np.ndarray, int]:
    """Decode to float32 [frames, channels] at the native rate; AudioTooLong when `duration` is None and
    more than `max_seconds` remain after `offset` (checked before decoding, on the one open of the file)."""
    try:
        with sf.SoundFile(str(path)) as f:
            sr = f.samplerate
            if duration is None and max_seconds is not None and f.frames / sr - offset > max_seconds:
                raise AudioTooLong(path, f.frames / sr)
            start = int(round(offset * sr))
            if start:
                f.seek(min(start, f.frames))
            frames = -1 if duration is None else int(round(duration * sr))
            data = f.read(frames, dtype="float32", always_2d=True)
        return data, int(sr)
    except AudioTooLong:
        raise
    except Exception as first:
        if duration is None and max_seconds is not None:  # libsndfile cannot read it: ask librosa how long
            _, total, _ = audio_info(path)
            if total - offset > max_seconds:
                raise AudioTooLong(path, total) from None
        try:
            import librosa

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                y, sr = librosa.load(str(path), sr=None, mono=False, offset=offset, duration=duration)
            y = np.atleast_2d(y).T.astype(np.float32)
            return y, int(sr)
        except Exception:
            raise _unreadable(path, _reason(first)) from None


def _all_finite(x: np.ndarray) -> bool:
    """No NaN or inf in `x`: one sum (finite unless some value is not, or it overflows) before the full check."""
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(x.sum())) or bool(np.isfinite(x).all())


def check_wave(wave: torch.Tensor, path: str | Path, sample_rate: int, min_seconds: float) -> None:
    """Raise AudioError for waves no model should see (NaN/inf, too short, silent).

    The checks run in numpy: decoding runs in worker threads, where every torch op would start its own
    team of intra-op threads that fight the model's for the cores (60x slower per call on 2 busy cores)."""
    if wave.numel() == 0:
        raise AudioError(path, "no samples")
    x = wave.detach().float().cpu().numpy().ravel()
    if not _all_finite(x):
        raise AudioError(path, "contains NaN or infinite samples")
    if wave.shape[-1] < min_seconds * sample_rate:
        raise AudioError(path, f"shorter than {min_seconds:.2f} s ({wave.shape[-1] / sample_rate:.3f} s)")
    with np.errstate(over="ignore", invalid="ignore"):  # huge finite samples: the RMS is inf, not silent
        rms = float(np.sqrt(np.dot(x, x) / x.size))
    if rms < SILENCE_RMS:
        raise AudioError(path, "silent (RMS below 1e-5)")


def resample(wave: torch.Tensor, orig_sr: int, new_sr: int) -> torch.Tensor:
    """Resample the last axis of `wave` ([T] or [C, T], CPU float) from `orig_sr` to `new_sr`."""
    if orig_sr == new_sr:
        return wave
    x = wave.detach().cpu().numpy().astype(np.float32, copy=False)
    y = soxr.resample(x.T, int(orig_sr), int(new_sr), quality="HQ").T  # soxr wants [T] or [T, C]
    return torch.from_numpy(np.ascontiguousarray(y)).to(wave.dtype)


def load_audio(
    path: str | Path,
    sample_rate: int,
    mono: bool = True,
    offset: float = 0.0,
    duration: float | None = None,
    min_seconds: float = MIN_SECONDS,
    max_seconds: float = MAX_SECONDS_IN_MEMORY,
) -> torch.Tensor:
    """Decode `path` to float32 at `sample_rate`: Tensor[T] if mono else Tensor[C, T].

    Raises AudioError (never anything else) for unreadable, empty, silent, non-finite or too short audio,
    and its subclass AudioTooLong when `duration` is None and more than `max_seconds` follow `offset`.
    The file is opened once (the length check reads its header), and no torch op runs before the result.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(path, "file not found")
    if path.stat().st_size == 0:
        raise AudioError(path, "empty file (0 bytes)")
    data, sr = _decode(path, offset, duration, max_seconds)
    if data.ndim != 2 or data.shape[1] == 0:
        raise AudioError(path, "zero channels")
    if not _all_finite(data):
        raise AudioError(path, "contains NaN or infinite samples")
    if mono:  # the channels' average; a mono file's one channel as it is
        data = data[:, 0:1] if data.shape[1] == 1 else data.mean(axis=1, dtype=np.float32, keepdims=True)
    wave = resample(torch.from_numpy(data.T), sr, sample_rate).contiguous()  # [C, T]
    if mono:
        wave = wave[0]
    check_wave(wave, path, sample_rate, min_seconds)
    return wave


def load_excerpt(path: str | Path, sample_rate: int, max_seconds: float | None = None) -> torch.Tensor:
    """Mono wave of the whole file, or of its middle `max_seconds` when it is longer.

    Evaluation on full tracks would decode, transform and embed minutes of audio per clip; a centred
    excerpt bounds that cost and skips intros and fade-outs. Errors are `load_audio`'s.
    """
    if max_seconds is not None:
        _, total, _ = audio_info(path)
        if total > max_seconds:
            return load_audio(path, sample_rate, offset=(total - max_seconds) / 2, duration=max_seconds)
    return load_audio(path, sample_rate)


def stream_audio(
    path: str | Path, sample_rate: int, chunk_seconds: float, hop_seconds: float | None = None
) -> Iterator[tuple[float, torch.Tensor]]:
    """Yield (offset_seconds, mono chunk) over a file of any length with bounded memory.

    Chunks that are silent are skipped; a trailing chunk shorter than half a chunk is dropped.
    """
    path = Path(path)
    native_sr, total, _ = audio_info(path)
    hop = hop_seconds or chunk_seconds
    offset = 0.0
    while offset + min(chunk_seconds, 0.5 * chunk_seconds) <= total + 1e-9:
        try:
            wave = load_audio(path, sample_rate, offset=offset, duration=chunk_seconds,
                              min_seconds=0.5 * chunk_seconds)
        except AudioError as e:
            if "silent" not in e.reason and "shorter" not in e.reason:
                raise
        else:
            yield offset, wave
        offset += hop


@dataclass
class Clip:
    """One entry of a corpus: an audio path plus free-form labels (key, tempo, instrument, ...)."""

    path: str
    labels: dict[str, Any] = field(default_factory=dict)


def _safe_child(root: Path, rel: str, source: Path, allow_outside: bool = False) -> Path:
    if "\0" in rel:
        raise ManifestError(f"{source}: entry {rel!r} contains a NUL byte")
    try:
        p = (root / rel).resolve()  # symlinks and `..` followed before the check
    except (OSError, RuntimeError) as e:  # a symlink loop, a name too long
        raise ManifestError(f"{source}: entry {rel!r} cannot be resolved ({e})") from None
    if not allow_outside and not p.is_relative_to(root.resolve()):
        raise ManifestError(f"{source}: entry {rel!r} points outside {root}")
    return p


def _manifest_text(path: Path) -> str:
    """The manifest's text: UTF-8 (a BOM is dropped), or UTF-16 with a BOM; anything else is refused."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ManifestError(f"{path}: cannot read the manifest ({e.strerror or e})") from None
    encoding = "utf-16" if raw[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) else "utf-8-sig"
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as e:
        raise ManifestError(f"{path}: not UTF-8 (or UTF-16 with a BOM) text: {e.reason} at byte {e.start}") from None


def _manifest_rows(path: Path) -> list[tuple[int, Any]]:
    """(line or row number, row) of a JSONL or CSV manifest; rows are mappings unless the JSONL is malformed."""
    text = _manifest_text(path)
    if path.suffix.lower() == ".jsonl":
        rows = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append((n, json.loads(line)))
                except (ValueError, RecursionError) as e:  # not JSON, nested too deeply, a number too long
                    raise ManifestError(f"{path}: line {n} is not valid JSON ({type(e).__name__})") from None
        return rows
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        return [(i, row) for i, row in enumerate(reader, 1)]
    except csv.Error as e:  # a field over csv.field_size_limit(), a malformed quote
        raise ManifestError(f"{path}: CSV near line {reader.line_num + 1}: {e}") from None


def read_manifest(path: str | Path, allow_outside: bool = False) -> list[Clip]:
    """Read a CSV or JSONL manifest (`path` column plus labels); paths are relative to the manifest.

    Text is UTF-8 (with or without a BOM) or UTF-16 with a BOM. Entries that escape the manifest's folder
    (`..`, absolute paths, symlinks leading out) are refused unless `allow_outside` is set; the dashboard
    never sets it (`explore.paths.corpus_clips`). Every problem raises `ManifestError` (a ValueError) naming
    the manifest and the row: unreadable or undecodable files, malformed CSV or JSON, a row that is not a
    mapping or has no string `path`, an entry outside the folder.
    """
    path = Path(path)
    root = path.parent
    clips = []
    for i, row in _manifest_rows(path):
        if not isinstance(row, dict):
            raise ManifestError(f"{path}: row {i} is not a mapping (a JSON object)")
        if i == 1 and "path" not in row and path.suffix.lower() != ".jsonl":  # the header has no such column
            header = ", ".join(repr(str(k))[:40] for k in list(row)[:4])
            raise ManifestError(f"{path}: not a manifest (its first line has no 'path' column: {header}). A corpus "
                                "is a folder of audio, or a CSV/JSONL manifest listing each file in a 'path' column.")
        if "path" not in row or not row["path"]:
            raise ManifestError(f"{path}: row {i} has no 'path'")
        rel = row.pop("path")
        if not isinstance(rel, str):
            raise ManifestError(f"{path}: row {i}: 'path' must be a string, got {type(rel).__name__}")
        p = _safe_child(root, rel, path, allow_outside)
        clips.append(Clip(str(p), {k: v for k, v in row.items() if v not in (None, "")}))
    return clips


def scan_folder(root: str | Path) -> list[Clip]:
    """All audio files under `root`, recursively, in a stable order."""
    root = Path(root)
    return [Clip(str(p)) for p in sorted(root.rglob("*")) if p.suffix.lower() in AUDIO_EXTENSIONS]


def resolve_corpus(source: str | Path, split: str | None = None, allow_outside: bool = False) -> list[Clip]:
    """A folder (scanned; uses its manifest.csv when present) or a manifest file; optional split filter.

    A missing source raises FileNotFoundError; a manifest that cannot be used, ManifestError (`read_manifest`).
    The command line reads a user's own manifests, absolute paths included (`allow_outside`); the dashboard,
    which serves what it lists, keeps every entry inside the manifest's folder."""
    source = Path(source)
    if source.is_dir():
        manifest = next((source / n for n in ("manifest.csv", "manifest.jsonl") if (source / n).exists()), None)
        clips = read_manifest(manifest, allow_outside) if manifest else scan_folder(source)
    elif source.is_file() and source.suffix.lower() in AUDIO_EXTENSIONS:
        raise ManifestError(f"{source}: one audio file is not a corpus; give the folder that holds it")
    elif source.is_file():
        clips = read_manifest(source, allow_outside)
    else:
        raise FileNotFoundError(f"{source}: no such folder or manifest")
    if split:
        clips = [c for c in clips if c.labels.get("split", split) == split]
    return clips
