"""Fuzzing `load_audio`: valid wav, flac, ogg and mp3 clips with random byte mutations (flips, truncation,
inserted junk, duplicated chunks, zeroed runs, header fields set to extremes) give a finite float32 wave or
an AudioError naming the file, nothing else; headers claiming days of audio are refused, not allocated."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import example, given

from loev_core.audio import AudioError, load_audio
from loev_core.bench.fuzz import Tally, ci_budget, run_case
from loev_core.bench.fuzz_inputs import Case, audio_cases, audio_seed, mp3_writable

TALLY = Tally()
FUZZ_CLASS = "audio"  # tests/fuzz/conftest.py prints TALLY under this name


def patched(ext: str, at: int, fmt: str, value: int, note: str) -> Case:
    data = bytearray(audio_seed(ext, 1, 16000))
    struct.pack_into(fmt, data, at, value)
    return Case({f"clip.{ext}": bytes(data)}, f"clip.{ext}", note)


def float_wav(value: float) -> Case:
    y = np.full(8000, 0.1, dtype=np.float32)
    y[100] = value
    buf = io.BytesIO()
    sf.write(buf, y, 16000, format="WAV", subtype="FLOAT")
    return Case({"clip.wav": buf.getvalue()}, "clip.wav", f"float wav holding {value}")


@pytest.mark.timeout(180)
@ci_budget(200)
@given(case=audio_cases())
@example(case=patched("wav", 24, "<I", 0, "sample rate 0"))
@example(case=patched("wav", 24, "<I", 1, "sample rate 1 Hz: hours of audio claimed"))
@example(case=patched("wav", 24, "<I", 0xFFFFFFFF, "sample rate 2**32 - 1"))
@example(case=patched("wav", 40, "<I", 0xFFFFFFFF, "data chunk of 4 GiB"))
@example(case=patched("wav", 22, "<H", 0xFFFF, "65535 channels"))
@example(case=patched("flac", 21, ">I", 0xFFFFFFFF, "flac total samples"))
@example(case=Case({"clip.mp3": b"\xff\xfb" + bytes(5000)}, "clip.mp3", "mp3 frame header, then zeros"))
@example(case=float_wav(float("nan")))
@example(case=float_wav(3e38))
def test_audio_files_decode_or_name_the_file(case: Case) -> None:
    TALLY.outcomes[run_case("audio", case)] += 1


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg", "mp3"])
def test_seeds_decode(tmp_path: Path, ext: str) -> None:
    """The mutations start from valid clips of every format (mp3 only where libsndfile can encode it)."""
    if ext == "mp3" and not mp3_writable():
        pytest.skip(f"libsndfile {sf.__libsndfile_version__} cannot encode MP3 (needs >= 1.1, built with LAME)")
    (tmp_path / f"seed.{ext}").write_bytes(audio_seed(ext, 2, 44100))
    assert load_audio(tmp_path / f"seed.{ext}", 16000).numel() > 0.3 * 16000


def test_non_finite_samples_are_refused(tmp_path: Path) -> None:
    (tmp_path / "nan.wav").write_bytes(float_wav(float("inf")).files["clip.wav"])
    with pytest.raises(AudioError, match="nan.wav: contains NaN or infinite samples"):
        load_audio(tmp_path / "nan.wav", 16000)


def test_claimed_hours_are_refused_without_decoding(tmp_path: Path) -> None:
    (tmp_path / "liar.wav").write_bytes(patched("wav", 24, "<I", 1, "").files["clip.wav"])
    with pytest.raises(AudioError, match="liar.wav: .*use stream_audio"):
        load_audio(tmp_path / "liar.wav", 16000)
