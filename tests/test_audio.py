"""loev_core.audio: decoding, resampling, channel mixing, the one error type, streaming, manifests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from loev_core.audio import AudioError, load_audio, read_manifest, resolve_corpus, stream_audio

SR = 16000


def tone(freq: float, seconds: float, sr: int, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_hz(wave: torch.Tensor, sr: int) -> float:
    spec = np.abs(np.fft.rfft(wave.numpy() * np.hanning(wave.numel())))
    return float(np.fft.rfftfreq(wave.numel(), 1 / sr)[spec.argmax()])


def _write(path: Path, y: np.ndarray, sr: int, fmt: str, subtype: str) -> None:
    sf.write(str(path), y, sr, format=fmt, subtype=subtype)


@pytest.mark.parametrize("ext,fmt,subtype,lossy", [
    ("wav", "WAV", "PCM_16", False), ("flac", "FLAC", "PCM_16", False),
    ("ogg", "OGG", "VORBIS", True), ("mp3", "MP3", "MPEG_LAYER_III", True)])
def test_round_trip(tmp_path: Path, ext: str, fmt: str, subtype: str, lossy: bool) -> None:
    y = tone(440.0, 1.0, SR)
    path = tmp_path / f"a.{ext}"
    try:
        _write(path, y, SR, fmt, subtype)
    except Exception as e:  # libsndfile builds without LAME/mpg123 cannot write mp3
        pytest.skip(f"soundfile cannot write {ext} here: {e}")
    wave = load_audio(path, SR)
    assert wave.dtype == torch.float32 and wave.ndim == 1
    if lossy:  # codecs may pad by a frame; the content must be the same tone
        assert abs(wave.numel() - y.size) <= 0.06 * SR
        assert abs(peak_hz(wave, SR) - 440.0) < 3.0
        assert abs(float(wave.pow(2).mean().sqrt()) - 0.5 / np.sqrt(2)) < 0.05
    else:
        assert wave.numel() == y.size
        assert np.allclose(wave.numpy(), y, atol=1e-3)


@pytest.mark.parametrize("native_sr", [8000, 96000])
def test_resampling_to_16k(tmp_path: Path, native_sr: int) -> None:
    path = tmp_path / f"r{native_sr}.wav"
    _write(path, tone(440.0, 1.5, native_sr), native_sr, "WAV", "PCM_16")
    wave = load_audio(path, SR)
    assert abs(wave.numel() - int(1.5 * SR)) <= 1
    assert abs(peak_hz(wave, SR) - 440.0) < 2.0
    assert abs(float(wave.abs().max()) - 0.5) < 0.05  # no gain change from the resampler


def test_eight_channels_to_mono(tmp_path: Path) -> None:
    base = tone(330.0, 0.5, SR)
    y = np.stack([base * (c + 1) / 8 for c in range(8)], axis=1)
    path = tmp_path / "octo.wav"
    _write(path, y, SR, "WAV", "FLOAT")
    mono = load_audio(path, SR)
    multi = load_audio(path, SR, mono=False)
    assert mono.shape == (base.size,) and multi.shape == (8, base.size)
    assert np.allclose(mono.numpy(), y.mean(axis=1), atol=1e-6)


def _bad_files(tmp_path: Path) -> dict[str, Path]:
    files = {}
    rng = np.random.default_rng(0)
    files["corrupt"] = tmp_path / "corrupt.wav"
    files["corrupt"].write_bytes(b"RIFF" + rng.integers(0, 256, 4000, dtype=np.uint8).tobytes())
    files["empty"] = tmp_path / "empty.flac"
    files["empty"].write_bytes(b"")
    files["text"] = tmp_path / "notes.wav"
    files["text"].write_text("this is not audio, just a text file with a .wav name\n" * 20)
    nan = tone(440.0, 0.5, SR)
    nan[100:200] = np.nan
    files["nan"] = tmp_path / "nan.wav"
    _write(files["nan"], nan, SR, "WAV", "FLOAT")
    files["silent"] = tmp_path / "silent.wav"
    _write(files["silent"], np.zeros(SR, dtype=np.float32), SR, "WAV", "PCM_16")
    files["short"] = tmp_path / "short.wav"
    _write(files["short"], tone(440.0, 0.05, SR), SR, "WAV", "PCM_16")
    return files


@pytest.mark.parametrize("kind,reason", [
    ("corrupt", "unreadable"), ("empty", "empty file"), ("text", "unreadable"), ("nan", "NaN"),
    ("silent", "silent"), ("short", "shorter than")])
def test_bad_audio_raises_audio_error_naming_the_file(tmp_path: Path, kind: str, reason: str) -> None:
    path = _bad_files(tmp_path)[kind]
    with pytest.raises(AudioError) as err:
        load_audio(path, SR)
    assert str(path) in str(err.value)
    assert reason in err.value.reason
    assert err.value.path == str(path)


def test_a_format_that_needs_ffmpeg_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """libsndfile cannot decode .m4a; without ffmpeg on the machine the error says what to install."""
    import loev_core.audio as audio

    f = tmp_path / "song.m4a"
    f.write_bytes(b"\x00\x00\x00\x18ftypM4A " + bytes(200))
    monkeypatch.setattr(audio.shutil, "which", lambda name: None)
    with pytest.raises(AudioError, match=r"song\.m4a.*\.m4a files need ffmpeg \(e\.g\. apt-get install ffmpeg\)"):
        load_audio(f, 16000)
    monkeypatch.setattr(audio.shutil, "which", lambda name: "/usr/bin/ffmpeg")  # installed: no such hint
    with pytest.raises(AudioError) as e:
        load_audio(f, 16000)
    assert "need ffmpeg" not in str(e.value)
    wav = tmp_path / "broken.wav"
    wav.write_bytes(b"RIFF" + bytes(40))
    monkeypatch.setattr(audio.shutil, "which", lambda name: None)
    with pytest.raises(AudioError) as e:
        load_audio(wav, 16000)
    assert "ffmpeg" not in str(e.value)  # a format libsndfile reads: the file itself is bad


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="file not found"):
        load_audio(tmp_path / "nope.wav", SR)


def test_offset_and_duration(tmp_path: Path) -> None:
    y = np.concatenate([tone(440.0, 1.0, SR), tone(880.0, 1.0, SR), tone(220.0, 1.0, SR)])
    path = tmp_path / "three.flac"
    _write(path, y, SR, "FLAC", "PCM_16")
    mid = load_audio(path, SR, offset=1.2, duration=0.5)
    assert mid.numel() == int(0.5 * SR)
    assert abs(peak_hz(mid, SR) - 880.0) < 4.0
    tail = load_audio(path, SR, offset=2.25)
    assert tail.numel() == int(0.75 * SR)
    assert abs(peak_hz(tail, SR) - 220.0) < 4.0
    with pytest.raises(AudioError):  # past the end: nothing left to decode
        load_audio(path, SR, offset=10.0, duration=1.0)


def test_stream_audio_yields_bounded_chunks(tmp_path: Path) -> None:
    native = 8000
    y = np.tile(tone(440.0, 1.0, native), 65)  # 65 s
    y[20 * native:30 * native] = 0.0  # a silent chunk is skipped
    path = tmp_path / "long.wav"
    _write(path, y, native, "WAV", "PCM_16")
    chunks = list(stream_audio(path, SR, chunk_seconds=10.0))
    offsets = [o for o, _ in chunks]
    assert offsets == [0.0, 10.0, 30.0, 40.0, 50.0, 60.0]
    for _, wave in chunks:
        assert wave.ndim == 1 and wave.numel() <= 10 * SR
    assert chunks[-1][1].numel() == 5 * SR  # 5 s tail kept (at least half a chunk)


def test_very_long_file_needs_streaming(tmp_path: Path) -> None:
    native = 1000  # 21 minutes at 1 kHz stays a small file
    path = tmp_path / "hours.wav"
    _write(path, np.tile(tone(100.0, 1.0, native), 21 * 60), native, "WAV", "PCM_16")
    with pytest.raises(AudioError, match="stream_audio"):
        load_audio(path, SR)
    assert load_audio(path, SR, offset=60.0, duration=2.0).numel() == 2 * SR


def test_whole_file_is_opened_once_and_too_long_is_said_before_decoding(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """`load_audio` (and so `embed_corpus`'s decoding) opens a file once: its header gives the length check
    (an ogg open costs about as much as decoding a quarter of a 3 s clip); AudioTooLong says how long."""
    from loev_core.audio import AudioTooLong
    from loev_core.embeddings.decode import decode_file

    path = tmp_path / "a.ogg"
    _write(path, tone(440.0, 3.0, 44100), 44100, "OGG", "VORBIS")
    opens = []
    real = sf.SoundFile

    def counting(*args, **kwargs):
        opens.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(sf, "SoundFile", counting)
    monkeypatch.setattr(sf, "info", lambda *a, **k: pytest.fail("no separate header read"))
    items = list(decode_file(0, str(path), SR, None, 600.0, 60.0))
    assert len(opens) == 1 and len(items) == 1 and items[0][2].numel() == 3 * SR and items[0][4] is None
    with pytest.raises(AudioTooLong, match="stream_audio") as err:
        load_audio(path, SR, max_seconds=2.0)
    assert err.value.seconds == pytest.approx(3.0) and isinstance(err.value, AudioError)
    assert load_audio(path, SR, offset=1.5, max_seconds=2.0).numel() == pytest.approx(1.5 * SR, abs=2)


def test_read_manifest_refuses_paths_outside(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    root.mkdir()
    _write(tmp_path / "outside.wav", tone(440.0, 0.5, SR), SR, "WAV", "PCM_16")
    for rel in ("../outside.wav", str(tmp_path / "outside.wav")):
        (root / "manifest.csv").write_text(f"path,key\n{rel},C major\n")
        with pytest.raises(ValueError, match="outside"):
            read_manifest(root / "manifest.csv")
        clips = read_manifest(root / "manifest.csv", allow_outside=True)
        assert Path(clips[0].path) == (tmp_path / "outside.wav").resolve()


def test_the_command_line_reads_absolute_paths_and_the_dashboard_only_inside_its_folders(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A researcher's own manifest may list files anywhere (`/data/...`); what the dashboard lists it also serves,
    so there every entry must lie inside the allowed folders (`--allow DIR` adds one)."""
    from loev_core.explore.paths import PathRefused, corpus_clips

    root = tmp_path / "labels"
    root.mkdir()
    _write(tmp_path / "elsewhere.wav", tone(440.0, 0.5, SR), SR, "WAV", "PCM_16")
    (root / "manifest.csv").write_text(f"path,key\n{tmp_path / 'elsewhere.wav'},C major\n")
    clips = resolve_corpus(root / "manifest.csv", allow_outside=True)
    assert [Path(c.path) for c in clips] == [(tmp_path / "elsewhere.wav").resolve()] and clips[0].labels["key"]
    with pytest.raises(ValueError, match="outside"):
        resolve_corpus(root / "manifest.csv")
    with pytest.raises(PathRefused, match="outside the allowed folders.*--allow DIR"):
        corpus_clips(root / "manifest.csv", [root])
    assert [c.path for c in corpus_clips(root / "manifest.csv", [root, tmp_path])] == [c.path for c in clips]
    from loev_core.cli import main

    err = tmp_path / "none"  # `loev dashboard --corpus` says it at start, with the remedy (nothing is served)
    assert main(["dashboard", "--corpus", str(root / "manifest.csv"), "--prepare", "--cache-dir", str(err)]) == 2
    assert "add --allow DIR" in capsys.readouterr().err


def test_resolve_corpus_split_filter(tmp_path: Path) -> None:
    root = tmp_path / "c"
    (root / "audio").mkdir(parents=True)
    rows = [("audio/a.wav", "train", "C major"), ("audio/b.wav", "test", "A minor"),
            ("audio/c.wav", "train", "G major")]
    for rel, _, _ in rows:
        _write(root / rel, tone(440.0, 0.3, SR), SR, "WAV", "PCM_16")
    (root / "manifest.csv").write_text("path,split,key\n" + "".join(f"{r},{s},{k}\n" for r, s, k in rows))
    assert len(resolve_corpus(root)) == 3
    test = resolve_corpus(root, "test")
    assert [Path(c.path).name for c in test] == ["b.wav"] and test[0].labels == {"split": "test", "key": "A minor"}
    assert [Path(c.path).name for c in resolve_corpus(root / "manifest.csv", "train")] == ["a.wav", "c.wav"]
    jsonl = root / "m.jsonl"
    jsonl.write_text("\n".join(json.dumps({"path": r, "split": s, "key": k}) for r, s, k in rows) + "\n")
    assert len(resolve_corpus(jsonl, "train")) == 2
    (root / "manifest.csv").unlink()
    assert len(resolve_corpus(root)) == 3  # no manifest: scan the folder
    with pytest.raises(FileNotFoundError):
        resolve_corpus(tmp_path / "missing")
