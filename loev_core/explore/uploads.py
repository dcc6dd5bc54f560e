"""Validation of files uploaded through the dashboard: size, real content, real decoding.

An upload is untrusted: it is checked against a size limit, its first bytes must match its
extension (a text file renamed `.wav` is refused with a clear message), and it must decode with
the same loader the corpus uses. Checkpoints must be LOEV safetensors files; nothing is unpickled.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import torch

from loev_core.audio import AudioError, load_audio
from loev_core.checkpoint import MODEL_FILE, CheckpointError, read_metadata
from loev_core.files import atomic_write_bytes

AUDIO_UPLOAD_TYPES = ("wav", "flac", "ogg", "mp3")
MAX_QUERY_SECONDS = 600.0
_NAMES = {"wav": "WAV", "flac": "FLAC", "ogg": "Ogg", "mp3": "MP3"}


class UploadError(ValueError):
    """An uploaded file was refused; the message is meant for the page."""


def sniff_audio(head: bytes) -> str | None:
    """Container of an audio file from its first bytes: wav, flac, ogg, mp3, or None."""
    if (head[:4] == b"RIFF" and head[8:12] == b"WAVE") or head[:4] == b"RF64":
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3"
    return None


def _describe(head: bytes) -> str:
    if head[:1] in (b"{", b"[", b"<") or all(32 <= b < 127 or b in (9, 10, 13) for b in head[:64]):
        return "it looks like text"
    if head[:4] == b"PK\x03\x04":
        return "it looks like a zip archive"
    if head[:4] == b"%PDF":
        return "it looks like a PDF"
    return "its content is not a known audio format"


def check_size(name: str, size: int, max_mb: float) -> None:
    if size == 0:
        raise UploadError(f"{name} is empty (0 bytes).")
    if size > max_mb * 1024 * 1024:
        raise UploadError(f"{name} is {size / 2**20:.1f} MB, over the {max_mb:g} MB upload limit.")


def validate_audio_upload(name: str, data: bytes, sample_rate: int, max_mb: float = 50,
                          max_seconds: float = MAX_QUERY_SECONDS) -> torch.Tensor:
    """Decode an uploaded audio file to a mono wave at `sample_rate`, or raise UploadError."""
    check_size(name, len(data), max_mb)
    ext = Path(name).suffix.lower().lstrip(".")
    if ext not in AUDIO_UPLOAD_TYPES:
        raise UploadError(f"{name}: unsupported file type .{ext or '?'} (use {', '.join(AUDIO_UPLOAD_TYPES)}).")
    kind = sniff_audio(data[:16])
    if kind is None:
        raise UploadError(f"{name} is not a real {_NAMES[ext]} file: {_describe(data[:64])}.")
    if kind != ext:
        raise UploadError(f"{name} is named .{ext} but contains {_NAMES[kind]} audio; rename it to .{kind}.")
    with tempfile.TemporaryDirectory(prefix="loev-upload-") as tmp:
        path = Path(tmp) / f"upload.{ext}"
        path.write_bytes(data)
        try:
            return load_audio(path, sample_rate, duration=max_seconds)
        except AudioError as e:
            raise UploadError(f"{name}: cannot use this audio ({e.reason}).") from None


def save_checkpoint_upload(name: str, data: bytes, upload_dir: Path, max_mb: float = 50) -> Path:
    """Store an uploaded .safetensors checkpoint under `upload_dir/<hash>/` after validating it."""
    check_size(name, len(data), max_mb)
    if not name.lower().endswith(".safetensors"):
        raise UploadError(f"{name}: upload a LOEV checkpoint (.safetensors); other formats are never loaded.")
    digest = hashlib.sha256(data).hexdigest()[:16]
    folder = Path(upload_dir) / digest
    path = folder / MODEL_FILE
    if not path.exists():
        atomic_write_bytes(path, lambda f: f.write(data))
    try:
        read_metadata(path)
    except CheckpointError as e:
        path.unlink(missing_ok=True)
        raise UploadError(f"{name}: not a usable checkpoint ({str(e).split(': ', 1)[-1]}).") from None
    return folder
