"""Outputs that hold exactly the current source: a file changed since it was embedded is embedded again, rows of
files no longer in the source are dropped; an index is rebuilt by one process at a time; an `embeddings/` that is
not the index's own is never replaced."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import loev_core.embeddings.store as store
from loev_core import ExperimentConfig, build_model, save_model
from loev_core.audio import Clip
from loev_core.checkpoint import load_model
from loev_core.embeddings.compute import EmbedOptions, embed_corpus, embed_file
from loev_core.embeddings.index import Index, build_index, load_embeddings, search_audio
from loev_core.files import FolderBusyError
from tests.embeddings.test_cli_errors import loev, refused
from tests.embeddings.test_embed_index import SR, FakeModel, _tone

OPTIONS = EmbedOptions(workers=0, progress=False)


def _tones(folder: Path, n: int, first: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(first, first + n):
        sf.write(folder / f"tone{i}.wav", _tone(200 * 1.15 ** i, 1.0, i), SR)
    return sorted(folder.glob("*.wav"))


def _change(path: Path, freq: float) -> None:
    """New audio of the same length (so the same size): only the modification time tells the change."""
    size, mtime = path.stat().st_size, path.stat().st_mtime_ns
    sf.write(path, _tone(freq, 1.0, 99), SR)
    os.utime(path, ns=(mtime + 10**9, mtime + 10**9))
    assert path.stat().st_size == size


def test_rerun_embeds_changed_files_again_and_drops_removed_ones(tmp_path: Path) -> None:
    files = _tones(tmp_path / "audio", 6)
    out = tmp_path / "e.npz"
    first = embed_corpus(FakeModel(), tmp_path / "audio", out, OPTIONS)
    old = dict(zip(load_embeddings(out).meta["path"], load_embeddings(out).vectors["V"], strict=True))
    files[0].unlink()
    _change(files[1], 3000.0)
    _tones(tmp_path / "audio", 1, first=6)
    model = FakeModel()
    report = embed_corpus(model, tmp_path / "audio", out, OPTIONS)
    assert (first.n_rows, report.n_new, report.n_changed, report.n_resumed, report.n_dropped) == (6, 2, 1, 4, 1)
    assert model.calls == 2
    current = sorted(str(p) for p in (tmp_path / "audio").glob("*.wav"))
    for loaded in (load_embeddings(out), load_embeddings(tmp_path / "e.npz.parts")):
        paths = list(loaded.meta["path"])
        assert sorted(paths) == current and len(paths) == len(set(paths)) == report.n_rows == 6
        by_path = dict(zip(paths, loaded.vectors["V"], strict=True))
        np.testing.assert_allclose(by_path[str(files[1])], embed_file(FakeModel(), files[1])["V"],
                                   rtol=1e-4)  # batched vs alone: float sums differ with the thread count
        assert not np.allclose(by_path[str(files[1])], old[str(files[1])])
        np.testing.assert_array_equal(by_path[str(files[2])], old[str(files[2])])  # unchanged: not redone
    # a subset of the source: nothing embedded, only the subset is left
    subset = [Clip(str(p)) for p in files[2:4]]
    again = FakeModel()
    report = embed_corpus(again, subset, out, OPTIONS)
    assert (again.calls, report.n_resumed, report.n_dropped, report.n_rows) == (0, 2, 4, 2)
    assert sorted(load_embeddings(out).meta["path"]) == [c.path for c in subset]


def test_shards_without_stamps_are_trusted_by_path_and_the_latest_shard_wins(tmp_path: Path) -> None:
    files = _tones(tmp_path / "audio", 3)
    out = tmp_path / "emb"
    embed_corpus(FakeModel(), tmp_path / "audio", out, OPTIONS)
    (shard,) = store.shard_paths(out)
    rows, skipped, info = store.read_shard_index(shard)
    vectors = {k: list(v) for k, v in store.read_vectors(shard).items()}
    store.write_shard(shard, rows, vectors, skipped, info)  # as written before stamps were recorded
    assert store.read_shard_stamps(shard) is None
    _change(files[0], 2500.0)
    model = FakeModel()
    assert (embed_corpus(model, tmp_path / "audio", out, OPTIONS).n_resumed, model.calls) == (3, 0)
    # a later shard holding a path replaces that path's rows of earlier ones (an interrupted rerun)
    newer = {k: [np.full_like(v[0], 7.0)] for k, v in vectors.items()}
    store.write_shard(out / "shard-00001.npz", [rows[0]], newer, [], info)
    loaded = load_embeddings(out)
    assert list(loaded.meta["path"]) == [r["path"] for r in rows[1:]] + [rows[0]["path"]]
    assert (loaded.vectors["V"][-1] == 7.0).all() and len(loaded.meta) == 3


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    return save_model(build_model(ExperimentConfig()), tmp_path_factory.mktemp("ckpt") / "loev")


def test_index_and_embed_rebuilds_hold_the_current_audio_only(ckpt: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    files = _tones(tmp_path / "a", 5)
    ix = tmp_path / "ix"
    base = ["--checkpoint", str(ckpt), "--quiet", "--workers", "0"]
    assert loev(["index", *base, "--audio", str(tmp_path / "a"), "--out", str(ix)], capsys)[0] == 0
    files[0].unlink()
    _change(files[1], 2800.0)
    rc, out, _ = loev(["index", *base, "--audio", str(tmp_path / "a"), "--out", str(ix)], capsys)
    assert rc == 0 and "embedded 1 changed file(s) again" in out and "dropped 1 earlier row(s)" in out
    assert sorted(Index(ix).meta["path"]) == [str(p) for p in files[1:]]
    top = search_audio(Index(ix), load_model(ckpt), files[1], "V", k=1)  # its new audio, not the old embedding
    assert top.loc[0, "path"] == str(files[1]) and top.loc[0, "score"] == pytest.approx(1.0, abs=1e-4)
    subset = tmp_path / "b"
    subset.mkdir()
    for p in files[2:4]:
        shutil.copy2(p, subset / p.name)
    rc, out, _ = loev(["index", *base, "--audio", str(subset), "--out", str(ix)], capsys)
    assert rc == 0 and out.startswith("dropped 4 earlier row(s)") and "indexed 2 item(s)" in out
    assert sorted(Index(ix).meta["path"]) == sorted(str(p) for p in subset.iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "ix"]
    e = str(tmp_path / "e.npz")
    assert loev(["embed", *base, "--audio", str(tmp_path / "a"), "--out", e], capsys)[0] == 0
    rc, out, _ = loev(["embed", *base, "--audio", str(subset), "--out", e], capsys)
    assert rc == 0 and "2 decoded now, 0 done earlier" in out and "dropped 4 earlier row(s)" in out
    assert sorted(load_embeddings(e).meta["path"]) == sorted(str(p) for p in subset.iterdir())


def test_a_second_writer_of_an_index_is_refused_at_once(ckpt: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """While another process rebuilds IX (it holds the lock), `loev index --out IX` is refused before it loads a
    model, reuses or embeds anything; once that process is done, the same command works."""
    audio = _tones(tmp_path / "a", 2)[0].parent
    ix = tmp_path / "ix"
    args = ["index", "--checkpoint", str(ckpt), "--audio", str(audio), "--out", str(ix), "--quiet", "--workers", "0"]
    assert loev(args, capsys)[0] == 0
    before = {p.name: p.stat().st_ino for p in (ix / "embeddings").iterdir()}
    holder = ("import sys; from pathlib import Path; from loev_core.embeddings.folders import index_lock\n"
              f"with index_lock(Path({str(ix)!r})):\n    print('locked', flush=True); sys.stdin.read()\n")
    proc = subprocess.Popen([sys.executable, "-c", holder], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        refused(args, capsys, f"{ix} is being written by another loev process (pid {proc.pid})")
        refused([*args[:2], str(tmp_path / "missing"), *args[3:]], capsys, "being written by another loev process")
        emb = load_embeddings(ix / "embeddings")
        with pytest.raises(FolderBusyError, match=f"pid {proc.pid}"):
            build_index(emb, ix)
        assert {p.name: p.stat().st_ino for p in (ix / "embeddings").iterdir()} == before
        assert sorted(p.name for p in (tmp_path / ".ix.building").iterdir()) == [".lock"]  # the holder's only
    finally:
        proc.communicate("", timeout=30)
    assert proc.returncode == 0
    assert loev(args, capsys)[0] == 0 and len(Index(ix)) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "ix"]


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.name != ".lock"}


def test_embeddings_not_the_index_own_are_never_replaced(ckpt: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    audio = _tones(tmp_path / "a", 2)[0].parent
    base = ["index", "--checkpoint", str(ckpt), "--audio", str(audio), "--quiet", "--workers", "0", "--out"]
    mine = tmp_path / "mine"
    embed_corpus(FakeModel(), audio, mine / "embeddings", OPTIONS)  # `loev embed --out mine/embeddings`, another model
    listing = _files(mine / "embeddings")
    refused([*base, str(mine)], capsys, f"{mine} is not an index folder (it holds embeddings/ but no index.json)")
    # indexing those very embeddings keeps them (the index then names them as its own)
    assert loev(["index", "--embeddings", str(mine / "embeddings"), "--out", str(mine)], capsys)[0] == 0
    assert _files(mine / "embeddings") == listing
    # an index whose embeddings/ was replaced by another model's
    ix = tmp_path / "ix"
    assert loev([*base, str(ix)], capsys)[0] == 0
    shutil.rmtree(ix / "embeddings")
    embed_corpus(FakeModel(), audio, ix / "embeddings", OPTIONS)
    listing = _files(ix / "embeddings")
    refused([*base, str(ix)], capsys, f"{ix} is not an index folder (its embeddings/ was made with model_id")
    assert _files(ix / "embeddings") == listing
