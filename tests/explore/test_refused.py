"""What the dashboard refuses, with a message that says why: paths outside its roots, manifests pointing out
of their folder, bad uploads (audio and checkpoints), an index folder made by another model."""

from __future__ import annotations

import io
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from loev_core.checkpoint import checkpoint_id
from loev_core.embeddings.index import Embeddings, build_index
from loev_core.embeddings.store import Provenance
from loev_core.explore.cache import load_corpus
from loev_core.explore.paths import PathRefused, corpus_clips, resolve_allowed
from loev_core.explore.uploads import UploadError, save_checkpoint_upload, sniff_audio, validate_audio_upload
from tests.support import DashEnv


def test_paths_outside_roots_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "allowed"
    (root / "a").mkdir(parents=True)
    (tmp_path / "secret").mkdir()
    (root / "link").symlink_to(tmp_path / "secret")
    assert resolve_allowed(root / "a", [root]) == (root / "a").resolve()
    for bad in ("/etc", str(tmp_path / "secret"), str(root / ".." / "secret"), str(root / "link"), "", "a\x00b"):
        with pytest.raises(PathRefused):
            resolve_allowed(bad, [root])
    with pytest.raises(PathRefused, match="does not exist"):
        resolve_allowed(root / "missing", [root])


def test_manifest_pointing_outside_the_allowed_folders_is_refused(tmp_path: Path) -> None:
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "manifest.csv").write_text("path,key\n../outside.wav,C\n")
    with pytest.raises(PathRefused, match="outside.wav' is outside the allowed folders"):
        corpus_clips(tmp_path / "c", [tmp_path / "c"])
    assert len(corpus_clips(tmp_path / "c", [tmp_path])) == 1  # inside an allowed folder: served like any other
    (tmp_path / "empty").mkdir()
    with pytest.raises(PathRefused, match="no audio files"):
        corpus_clips(tmp_path / "empty", [tmp_path])
    (tmp_path / "notes.md").write_text("# My music\nsome words\n")  # a file typed where a corpus belongs
    with pytest.raises(PathRefused, match=r"not a manifest \(its first line has no 'path' column: '# My music'\)"):
        corpus_clips(tmp_path / "notes.md", [tmp_path])
    (tmp_path / "song.ogg").write_bytes(b"OggS")
    with pytest.raises(PathRefused, match="one audio file is not a corpus; give the folder that holds it"):
        corpus_clips(tmp_path / "song.ogg", [tmp_path])


def wav_bytes(seconds: float = 1.0, sr: int = 16000, fmt: str = "WAV") -> bytes:
    t = np.arange(int(seconds * sr)) / sr
    buf = io.BytesIO()
    sf.write(buf, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), sr, format=fmt)
    return buf.getvalue()


def test_uploads_are_validated() -> None:
    wave = validate_audio_upload("tone.wav", wav_bytes(sr=44100), 16000)
    assert abs(wave.numel() - 16000) < 10
    assert sniff_audio(wav_bytes(fmt="FLAC")[:16]) == "flac"
    cases = [("big.wav", wav_bytes(seconds=40), "upload limit", 1.0), ("empty.wav", b"", "empty", 50),
             ("notes.wav", b"hello, this is a text file\n" * 20, "not a real WAV file: it looks like text", 50),
             ("flac.wav", wav_bytes(fmt="FLAC"), "contains FLAC audio", 50), ("x.exe", b"MZ" * 100, "unsupported", 50),
             ("cut.wav", wav_bytes()[:60], "cannot use this audio", 50)]
    for name, data, message, limit in cases:
        with pytest.raises(UploadError, match=message):
            validate_audio_upload(name, data, 16000, max_mb=limit)


def test_checkpoint_uploads_are_checked(tmp_path: Path, dash_env: DashEnv) -> None:
    data = (dash_env.checkpoints["simclr"] / "model.safetensors").read_bytes()
    folder = save_checkpoint_upload("mine.safetensors", data, tmp_path)
    assert checkpoint_id(folder) == checkpoint_id(dash_env.checkpoints["simclr"])
    for name, blob, message in (("model.pt", data, "safetensors"),
                                ("evil.safetensors", b"\x80\x04\x95" + b"\0" * 64, "pickle"),
                                ("cut.safetensors", data[:100], "not a usable checkpoint")):
        with pytest.raises(UploadError, match=message):
            save_checkpoint_upload(name, blob, tmp_path / "u")


@pytest.mark.parametrize("field", ["model_id", "checkpoint_id"])  # checkpoint_id: index.json written before
def test_an_index_folder_of_another_model_is_refused(tmp_path: Path, field: str) -> None:
    """Whether `loev index` embedded the audio or read embeddings, index.json names the model that made the
    vectors; the dashboard refuses to search them with another model (the scores would mean nothing)."""
    x = np.random.default_rng(0).standard_normal((12, 8)).astype(np.float32)
    meta = pd.DataFrame({"path": [f"/music/c{i}.ogg" for i in range(12)], "offset": 0.0, "duration": 3.0})
    folder = tmp_path / "ix"
    build_index(Embeddings({"Z.invariant": x}, meta, Provenance(checkpoint="m.ckpt", model_id="made-by")), folder)
    spec = json.loads((folder / "index.json").read_text())
    assert spec["model_id"] == "made-by" and "checkpoint_id" not in spec  # one id, not two copies of it
    if field == "checkpoint_id":
        spec["checkpoint_id"] = spec.pop("model_id")
        (folder / "index.json").write_text(json.dumps(spec))
    model = SimpleNamespace(subspaces=["Z.invariant"])
    assert len(load_corpus(model, tmp_path / "m.ckpt", "made-by", folder, [tmp_path], tmp_path / "cache")) == 12
    with pytest.raises(PathRefused, match="built with another checkpoint \\(made-by\\); this model is other"):
        load_corpus(model, tmp_path / "m.ckpt", "other", folder, [tmp_path], tmp_path / "cache")
