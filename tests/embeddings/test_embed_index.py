"""Corpus embedding and FAISS indexes: bad files counted, resume after a crash, search correctness, CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import loev_core.embeddings.store as store
from loev_core.audio import Clip
from loev_core.embeddings.compute import EmbedOptions, FolderBusyError, embed_corpus, embed_file, load_embeddings
from loev_core.embeddings.index import Embeddings, Index, build_index, load_index, safe_filename, search_audio

SR = 16000
N_GOOD, BAD = 76, ("corrupt.wav", "empty.flac", "silent.wav", "nan.wav")  # 4 of 80 files = 5% bad


class FakeModel:
    """Deterministic stand-in for LOEVModel: log band energies through fixed projections, so similar
    audio gets similar vectors. Counts the waves it embeds."""

    sample_rate, clip_seconds = SR, 1.0
    subspaces = ["V", "Z.invariant", "Z.pitch_shift"]

    def __init__(self, delay: float = 0.0) -> None:
        g = torch.Generator().manual_seed(0)
        self.proj = {k: torch.randn(33, d, generator=g) for k, d in zip(self.subspaces, (48, 16, 16), strict=True)}
        self.calls, self.delay = 0, delay

    def embed(self, wave: torch.Tensor, sample_rate: int) -> dict[str, torch.Tensor]:
        wave = wave.unsqueeze(0) if wave.dim() == 1 else wave
        assert sample_rate == SR
        self.calls += wave.shape[0]
        time.sleep(self.delay)
        power = torch.fft.rfft(wave).abs().pow(2)
        bands = torch.stack([b.mean(-1) for b in power.chunk(32, dim=-1)], dim=1)
        feats = torch.cat([torch.log(bands + 1e-8), wave.pow(2).mean(-1, keepdim=True).sqrt()], dim=1)
        return {k: feats @ p for k, p in self.proj.items()}


def _tone(freq: float, seconds: float, seed: int) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    noise = np.random.default_rng(seed).standard_normal(t.size)
    return (0.3 * np.sin(2 * np.pi * freq * t) + 0.02 * noise).astype(np.float32)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    for i in range(N_GOOD):
        sf.write(root / f"tone{i:02d}.{('wav', 'flac', 'ogg')[i % 3]}", _tone(110 * 1.05 ** i, 1.0, i), SR)
    (root / "corrupt.wav").write_bytes(os.urandom(700))
    (root / "empty.flac").write_bytes(b"")
    sf.write(root / "silent.wav", np.zeros(SR, np.float32), SR)
    nan = _tone(440, 1.0, 0)
    nan[100] = np.nan
    sf.write(root / "nan.wav", nan, SR, subtype="FLOAT")
    return root


def _good(corpus: Path) -> set[str]:
    return {str(p) for p in corpus.iterdir() if p.name.startswith("tone")}


def test_bad_files_counted_and_every_good_file_indexed(corpus: Path, tmp_path: Path) -> None:
    model = FakeModel()
    report = embed_corpus(model, corpus, tmp_path / "emb", EmbedOptions(batch_size=16, workers=2, progress=False))
    assert (report.n_clips, report.n_embedded, report.n_skipped) == (80, N_GOOD, len(BAD))
    assert sorted(Path(p).name for p, _ in report.skipped) == sorted(BAD)
    lines = report.skipped_csv.read_text().splitlines()
    assert lines[0] == "path,reason" and len(lines) == 1 + len(BAD)
    assert any("silent" in line for line in lines) and any("NaN" in line for line in lines)
    index = build_index(load_embeddings(tmp_path / "emb"), tmp_path / "index")
    assert set(index.meta["path"]) == _good(corpus) and len(index) == N_GOOD
    # rerun: nothing is decoded or embedded again
    again = FakeModel()
    rerun = embed_corpus(again, corpus, tmp_path / "emb", EmbedOptions(workers=2, progress=False))
    assert (rerun.n_new, rerun.n_resumed, again.calls) == (0, 80, 0)
    assert (rerun.n_embedded, rerun.n_skipped) == (N_GOOD, len(BAD))


class _Killed(BaseException):
    pass


def test_interrupted_after_one_shard_resumes(corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real, calls = store.write_shard, []

    def dies_after_first(*args, **kwargs):
        calls.append(1)
        if len(calls) > 1:
            raise _Killed
        real(*args, **kwargs)

    monkeypatch.setattr(store, "write_shard", dies_after_first)
    options = EmbedOptions(batch_size=8, workers=0, shard_size=10, progress=False)
    with pytest.raises(_Killed):
        embed_corpus(FakeModel(), corpus, tmp_path / "emb", options)
    assert len(store.shard_paths(tmp_path / "emb")) == 1
    monkeypatch.setattr(store, "write_shard", real)
    (tmp_path / "emb" / ".shard-00001.npz.x1.tmp").write_bytes(b"half a shard")  # left by a kill -9
    model = FakeModel()
    report = embed_corpus(model, corpus, tmp_path / "emb", options)
    first_rows, first_skipped, _ = store.read_shard_index(store.shard_paths(tmp_path / "emb")[0])
    assert len(first_rows) + len(first_skipped) == 10
    assert (report.n_resumed, report.n_new, model.calls) == (10, 70, N_GOOD - len(first_rows))
    emb = load_embeddings(tmp_path / "emb")
    assert sorted(emb.meta["path"]) == sorted(_good(corpus)) and emb.vectors["Z.pitch_shift"].shape == (N_GOOD, 16)
    assert not list((tmp_path / "emb").glob("*.tmp"))


def _slow_embed_in_subprocess(corpus: Path, out: Path, delay: float, shards: int) -> subprocess.Popen:
    """Start `embed_corpus` with a slow FakeModel in another process; return once it has written
    `shards` shards (or ended, or 60 s passed)."""
    script = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
              "from test_embed_index import FakeModel\n"
              "from loev_core.embeddings.compute import EmbedOptions, embed_corpus\n"
              f"embed_corpus(FakeModel(delay={delay}), {str(corpus)!r}, {str(out)!r}, EmbedOptions(batch_size=2,"
              " workers=0, shard_size=4, progress=False))\n")
    proc = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 60
    while len(store.shard_paths(out)) < shards and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    return proc


def test_kill_9_mid_run_then_resume(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "emb"
    proc = _slow_embed_in_subprocess(corpus, out, delay=0.05, shards=2)
    try:
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    n_done = sum(len(r) + len(s) for r, s, _ in map(store.read_shard_index, store.shard_paths(out)))
    assert 0 < n_done < 80
    report = embed_corpus(FakeModel(), corpus, out, EmbedOptions(workers=0, progress=False))
    assert (report.n_resumed, report.n_new) == (n_done, 80 - n_done)
    assert (report.n_embedded, report.n_skipped, report.n_rows) == (N_GOOD, len(BAD), N_GOOD)


def test_a_second_run_into_the_same_folder_is_refused_or_waits(corpus: Path, tmp_path: Path) -> None:
    """Two writers would produce the same shard names: the second is refused with the first one's pid, or
    with wait_lock (the dashboard) waits, then finds everything done."""
    out = tmp_path / "emb"
    proc = _slow_embed_in_subprocess(corpus, out, delay=0.02, shards=1)
    try:
        assert proc.poll() is None, "the first run finished too early to test the lock"
        with pytest.raises(FolderBusyError, match=f"pid {proc.pid}"):
            embed_corpus(FakeModel(), corpus, out, EmbedOptions(workers=0, progress=False))
        model = FakeModel()
        report = embed_corpus(model, corpus, out, EmbedOptions(workers=0, progress=False, wait_lock=True))
        assert proc.wait(timeout=60) == 0
        # it waited for the first run to finish: nothing was left to embed
        assert (report.n_new, model.calls, report.n_embedded, report.n_skipped) == (0, 0, N_GOOD, len(BAD))
    finally:
        proc.kill()
        proc.wait()


def _clustered(n: int, d: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((20, d))
    x = centers[rng.integers(0, 20, n)] + 0.5 * rng.standard_normal((n, d))
    return x.astype(np.float32)


def test_exact_and_approximate_indexes_agree(tmp_path: Path) -> None:
    x, q = _clustered(3000, 32, 0), _clustered(50, 32, 1)
    meta = store.meta_frame([{"path": f"clip{i}.wav"} for i in range(len(x))])
    exact = build_index(Embeddings({"Z.pitch_shift": x}, meta), tmp_path / "flat")
    hnsw = build_index(Embeddings({"Z.pitch_shift": x}, meta), tmp_path / "hnsw", exact_threshold=1000)
    ivf = build_index(Embeddings({"Z.pitch_shift": x}, meta), tmp_path / "ivf", kind="ivf")
    assert [exact.info["subspaces"]["Z.pitch_shift"]["type"], hnsw.info["subspaces"]["Z.pitch_shift"]["type"]] \
        == ["flat", "hnsw"]
    s_exact, i_exact = load_index(tmp_path / "flat").search(q, "Z.pitch_shift", 10)
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    np.testing.assert_allclose(s_exact, np.sort(qn @ xn.T, axis=1)[:, ::-1][:, :10], atol=1e-5)
    for approx in (hnsw, ivf):
        _, ids = load_index(approx.dir).search(torch.from_numpy(q), "Z.pitch_shift", 10)
        recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, i_exact, strict=True)])
        assert recall >= 0.95, (approx.info["subspaces"], recall)


def test_self_is_top1_and_long_files_are_streamed(corpus: Path, tmp_path: Path) -> None:
    model = FakeModel()
    long_file = tmp_path / "long.flac"
    sf.write(long_file, np.concatenate([_tone(220, 1.5, 1), _tone(330, 2.0, 2)]), SR)
    clips = [Clip(str(p)) for p in sorted(corpus.glob("tone*"))[:20] + [long_file]]
    kw = {"long_seconds": 2.0, "stream_seconds": 1.0}
    report = embed_corpus(model, clips, tmp_path / "emb.npz", EmbedOptions(workers=1, progress=False, **kw))
    assert report.n_embedded == 21 and (tmp_path / "emb.npz").is_file()
    index = build_index(load_embeddings(tmp_path / "emb.npz"), tmp_path / "index")
    row = index.meta.index[index.meta["path"] == str(long_file)][0]
    assert index.meta.loc[row, "duration"] == pytest.approx(3.5)
    for path in (long_file, clips[7].path):
        for sub in model.subspaces:
            table = search_audio(index, model, path, sub, k=3)
            assert table.loc[0, "path"] == str(path) and table.loc[0, "score"] == pytest.approx(1.0, abs=1e-4)
    assert set(embed_file(model, long_file, **kw)) == set(model.subspaces)
    chunked = embed_corpus(model, [clips[-1]], tmp_path / "chunks",
                           EmbedOptions(chunk_seconds=1.0, progress=False, workers=0))
    meta = load_embeddings(tmp_path / "chunks").meta
    assert chunked.n_rows == 4 and list(meta["offset"]) == [0.0, 1.0, 2.0, 3.0]
    assert list(meta["duration"]) == [1.0, 1.0, 1.0, 0.5]  # a trailing half chunk is kept


def test_subspace_names_make_safe_files(tmp_path: Path) -> None:
    assert safe_filename(2, "Z.pitch_shift") == "02-Z.pitch_shift.faiss"
    assert "/" not in safe_filename(0, "../../etc/passwd") and not safe_filename(0, ".hidden").startswith(".")
    x = _clustered(50, 8, 0)
    meta = store.meta_frame([{"path": f"c{i}.wav", "labels": {"key": "C"}} for i in range(50)])
    index = build_index(Embeddings({"Z.pitch_shift": x, "../odd name": x}, meta), tmp_path / "ix")
    assert sorted(p.name for p in (tmp_path / "ix").glob("*.faiss")) == ["00-Z.pitch_shift.faiss",
                                                                       "01-_odd_name.faiss"]
    assert index.results(x[3], "../odd name", 1).loc[0, "id"] == 3
    assert index.meta.loc[0, "key"] == "C"
    spec = json.loads((tmp_path / "ix" / "index.json").read_text())
    spec["subspaces"]["Z.pitch_shift"]["file"] = "../../outside.faiss"
    (tmp_path / "ix" / "index.json").write_text(json.dumps(spec))
    with pytest.raises(ValueError, match="unsafe file"):
        Index(tmp_path / "ix")


def test_cli_embed_index_search_with_a_real_checkpoint(corpus: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from loev_core import ExperimentConfig, build_model, save_model
    from loev_core.cli import main

    ckpt = save_model(build_model(ExperimentConfig()), tmp_path / "ckpt")
    audio = tmp_path / "audio"
    audio.mkdir()
    for p in sorted(corpus.glob("tone*"))[:12] + [corpus / "corrupt.wav"]:
        (audio / p.name).write_bytes(p.read_bytes())
    keys = {str(p): f"K{i}" for i, p in enumerate(sorted(audio.iterdir()))}
    (audio / "manifest.csv").write_text("path,key\n" + "".join(f"{Path(p).name},{k}\n" for p, k in keys.items()))
    assert main(["embed", "--checkpoint", str(ckpt), "--audio", str(audio), "--out", str(tmp_path / "e.npz"),
                 "--quiet", "--workers", "1"]) == 0
    assert "skipped 1 bad file(s)" in capsys.readouterr().out
    emb = load_embeddings(tmp_path / "e.npz")
    assert len(emb.meta) == 12 and emb.vectors["Z.pitch_shift"].shape == (12, 128)
    assert dict(zip(emb.meta["path"], emb.meta["key"], strict=True)) == {p: k for p, k in keys.items() if "tone" in p}
    assert main(["index", "--checkpoint", str(ckpt), "--audio", str(audio), "--out", str(tmp_path / "ix"),
                 "--quiet", "--workers", "0", "--exact-threshold", "5"]) == 0
    assert Index(tmp_path / "ix").info["subspaces"]["Z.pitch_shift"]["type"] == "hnsw"
    capsys.readouterr()
    query = sorted(audio.glob("tone*"))[4]
    assert main(["search", "--index", str(tmp_path / "ix"), "--query", str(query), "--subspace", "Z.pitch_shift",
                 "-k", "3", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["results"][0]["path"] == str(query) and result["results"][0]["score"] == pytest.approx(1, abs=1e-4)
    assert main(["search", "--index", str(tmp_path / "ix"), "--query", str(query), "--subspace", "Z.pitch_shift",
                 "--checkpoint", str(ckpt)]) == 0
    assert f"1  1.0000  {query}" in capsys.readouterr().out
    assert main(["search", "--index", str(tmp_path / "ix"), "--query", str(audio / "corrupt.wav")]) == 2
    capsys.readouterr()
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "corrupt.wav").write_bytes((audio / "corrupt.wav").read_bytes())
    for folder, said in (("empty", "no audio files (wav, flac, ogg, mp3, ...) or manifest rows to index"),
                         ("bad", "none of its 1 file(s) could be decoded; the reasons are in")):
        assert main(["index", "--checkpoint", str(ckpt), "--audio", str(tmp_path / folder), "--out",
                     str(tmp_path / f"ix-{folder}"), "--quiet", "--workers", "0"]) == 2
        assert said in capsys.readouterr().err  # not "no embeddings here (no shard-*.npz files)"


def test_background_decoding_keeps_order_errors_and_stops_early() -> None:
    """The decoding threads used on small machines: every file's items in file order whatever the threads'
    timing, a decoder crash surfaces in the caller, and a consumer that stops early stops the threads."""
    import random
    import threading

    from loev_core.embeddings.decode import decoded_in_threads

    def items(f: int):  # files of 0-3 items, decoded at random speeds
        for j in range(f % 4):
            time.sleep(random.random() * 1e-3)
            yield (f, j)

    files = list(range(300))
    expected = [(f, j) for f in files for j in range(f % 4)]
    for threads, ahead in [(1, 64), (3, 2), (4, 1)]:
        assert list(decoded_in_threads(files, items, threads, ahead)) == expected

    def boom(f: int):
        if f == 7:
            raise RuntimeError("decoder died")
        yield f

    with pytest.raises(RuntimeError, match="decoder died"):
        list(decoded_in_threads(files, boom, 2))
    it = decoded_in_threads(list(range(10_000)), lambda f: iter([f]), 2, ahead=2)
    assert next(it) == 0
    it.close()
    assert not [t for t in threading.enumerate() if t.name == "loev-decode" and t.is_alive()]


def test_precision_is_resolved_recorded_and_never_mixed(corpus: Path, tmp_path: Path) -> None:
    """"auto" is float32 for a model whose embed takes no precision; bf16 is refused for it; a real model's
    bf16 rows are recorded as such and a resume at another precision is refused."""
    from loev_core import ExperimentConfig, build_model
    from loev_core.embeddings.compute import resolve_precision

    fake = FakeModel()
    assert resolve_precision(fake) == "fp32"
    with pytest.raises(ValueError, match="precision"):
        resolve_precision(fake, "bf16")
    clips = [Clip(str(p)) for p in sorted(corpus.glob("tone0*"))[:4]]
    report = embed_corpus(fake, clips, tmp_path / "fake", EmbedOptions(progress=False))
    assert json.loads((tmp_path / "fake" / "embed.json").read_text())["precision"] == "fp32"
    assert report.n_embedded == 4

    torch.manual_seed(0)
    model = build_model(ExperimentConfig()).eval()
    assert resolve_precision(model, "bf16") == "bf16" and resolve_precision(model, "fp32") == "fp32"
    out = tmp_path / "real"
    embed_corpus(model, clips[:2], out, EmbedOptions(progress=False, precision="bf16"))
    assert json.loads((out / "embed.json").read_text())["precision"] == "bf16"
    with pytest.raises(ValueError, match="precision"):
        embed_corpus(model, clips, out, EmbedOptions(progress=False, precision="fp32"))
    embed_corpus(model, clips, out, EmbedOptions(progress=False, precision="bf16"))
    vectors = load_embeddings(out).vectors["V"]
    fp32 = np.stack([embed_file(model, c.path, precision="fp32")["V"] for c in clips])
    cos = (vectors * fp32).sum(1) / np.linalg.norm(vectors, axis=1) / np.linalg.norm(fp32, axis=1)
    assert vectors.shape[0] == 4 and cos.min() > 0.999


