"""Mistakes a user can make with `loev search/embed/index/export/dashboard`: one line saying what is wrong, exit
code 2, no traceback, and nothing already on disk damaged; and index rebuilds that never lose the old index."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from loev_core import ExperimentConfig, build_model, save_model
from loev_core.audio import Clip
from loev_core.checkpoint import checkpoint_id
from loev_core.cli import main
from loev_core.config import ModelConfig
from loev_core.embeddings.compute import EmbedOptions, embed_corpus
from loev_core.embeddings.index import Index, build_index, load_embeddings
from tests.embeddings.test_embed_index import SR, FakeModel, _Killed, _tone


def loev(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of one command; a usage error (argparse's exit) counts as its code."""
    try:
        rc = main(args)
    except SystemExit as e:
        rc = int(e.code or 0)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return rc, out, err


def refused(args: list[str], capsys: pytest.CaptureFixture[str], said: str) -> str:
    """Run a command that must be refused: exit 2, nothing on stdout, `said` on the last line of stderr."""
    rc, out, err = loev(args, capsys)
    last = err.strip().splitlines()[-1]
    assert (rc, out) == (2, ""), err
    assert last.startswith(f"loev {args[0]}: error: ") and said in last, err
    return last


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Six tones with a manifest (splits train/test), the same tones as a plain folder, a real tiny LOEV
    checkpoint and its index, and a SimCLR checkpoint (another model, without the variant subspaces)."""
    root = tmp_path_factory.mktemp("cli-errors")
    audio, plain = root / "audio", root / "plain"
    audio.mkdir()
    for i in range(6):
        sf.write(audio / f"tone{i}.wav", _tone(220 * 1.2 ** i, 1.0, i), SR)
    shutil.copytree(audio, plain)  # before the manifest: a plain folder of the same files
    splits = "".join(f"tone{i}.wav,{('train', 'test')[i % 2]}\n" for i in range(6))
    (audio / "manifest.csv").write_text("path,split\n" + splits)
    torch.manual_seed(0)
    ckpt = save_model(build_model(ExperimentConfig()), root / "loev")
    simclr = ExperimentConfig(model=ModelConfig(kind="simclr", variant_augs=()))
    other = save_model(build_model(simclr), root / "simclr")
    index = root / "ix"
    assert main(["index", "--checkpoint", str(ckpt), "--audio", str(audio), "--out", str(index), "--quiet",
                 "--workers", "0"]) == 0
    return {"root": root, "audio": audio, "plain": plain, "ckpt": ckpt, "other": other, "index": index}


def test_search_k_below_one_or_a_folder_as_query(setup: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    refused(["search", "--index", str(setup["index"]), "--query", str(setup["audio"])], capsys,
            f"{setup['audio']} is a folder: a query is one audio file")
    query = str(setup["audio"] / "tone1.wav")
    for k in ("0", "-3"):
        refused(["search", "--index", str(setup["index"]), "--query", query, "-k", k], capsys,
                f"argument -k: must be at least 1, got {k}")
    with pytest.raises(ValueError, match="k .* must be at least 1"):
        Index(setup["index"]).search(np.ones(128), "Z.invariant", 0)


def test_search_refuses_another_model_unless_any_model(setup: dict[str, Path], capsys: pytest.CaptureFixture[str],
                                                      caplog: pytest.LogCaptureFixture) -> None:
    index, other, query = str(setup["index"]), str(setup["other"]), str(setup["audio"] / "tone1.wav")
    base = ["search", "--index", index, "--query", query, "--checkpoint", other]
    last = refused(base, capsys, "scores across two models mean nothing")
    made_by = json.loads((setup["index"] / "index.json").read_text())["model_id"]
    assert made_by == checkpoint_id(setup["ckpt"]) and made_by in last and checkpoint_id(other) in last
    assert "--any-model" in last
    # with the override: a warning and results where the other model has the subspace, a clear refusal where not
    rc, out, _ = loev([*base, "--any-model", "-k", "2"], capsys)
    assert rc == 0 and "scores will not be meaningful" in caplog.text and out.startswith("2 nearest")
    refused([*base, "--any-model", "--subspace", "Z.pitch_shift"], capsys,
            "the query model has no subspace 'Z.pitch_shift' (it has V, Z.invariant)")
    # the index's own checkpoint, changed since the index was built, is refused too
    copy = setup["root"] / "ix-changed"
    shutil.copytree(setup["index"], copy)
    spec = json.loads((copy / "index.json").read_text())
    (copy / "index.json").write_text(json.dumps(spec | {"model_id": "0123456789abcdef"}))
    refused(["search", "--index", str(copy), "--query", query], capsys, "now holds model")
    rc, out, err = loev(["search", "--help"], capsys)
    assert rc == 0 and "--any-model" in out


def test_out_that_is_a_file_is_refused_first_and_left_alone(setup: dict[str, Path], tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """The checkpoint does not exist either: the --out error coming first shows it is checked before anything
    is loaded."""
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me")
    missing = str(tmp_path / "no-such-model")
    for args in (["embed", "--checkpoint", missing, "--audio", str(setup["audio"])],
                 ["index", "--checkpoint", missing, "--audio", str(setup["audio"])],
                 ["export", missing]):
        refused([*args, "--out", str(precious)], capsys, f"--out: {precious} is an existing file, not a folder")
        refused([*args, "--out", str(precious / "sub")], capsys, f"{precious} is a file")
    refused(["embed", "--checkpoint", missing, "--audio", str(setup["audio"]), "--out", str(tmp_path)], capsys,
            "no-such-model: checkpoint not found")  # a folder is a good --out: the missing checkpoint is said
    assert precious.read_text() == "keep me" and sorted(p.name for p in tmp_path.iterdir()) == ["precious.txt"]


def _unwritable_folder(tmp_path: Path) -> Path:
    """A folder this process cannot create files in (a read-only folder; as root, /sys), or skip."""
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    for folder in (ro, Path("/sys")):
        try:
            (folder / ".probe").touch()
            (folder / ".probe").unlink()
        except OSError:
            return folder
    pytest.skip("no folder here refuses writes")


def test_out_inside_a_read_only_folder(setup: dict[str, Path], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    ro = _unwritable_folder(tmp_path)
    for args in (["embed", "--checkpoint", str(setup["ckpt"]), "--audio", str(setup["audio"])],
                 ["index", "--checkpoint", str(setup["ckpt"]), "--audio", str(setup["audio"])],
                 ["export", str(setup["ckpt"])]):
        refused([*args, "--out", str(ro / "new" / "out")], capsys, f"--out: cannot write in {ro}")


def test_split_mistakes_are_named(setup: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["embed", "--checkpoint", str(setup["ckpt"]), "--quiet", "--workers", "0"]
    refused([*base, "--audio", str(setup["audio"]), "--split", "bogus", "--out", str(tmp_path / "a")], capsys,
            "no entry has split 'bogus'; the splits there are test, train")
    refused([*base, "--audio", str(setup["plain"]), "--split", "test", "--out", str(tmp_path / "b")], capsys,
            "has no split column")
    assert not list(tmp_path.iterdir())  # nothing was written
    rc, out, _ = loev([*base, "--audio", str(setup["audio"]), "--split", "test", "--out", str(tmp_path / "c")], capsys)
    assert rc == 0 and out.startswith("embedded 3 file(s)")


def test_counts_and_lengths_out_of_range_are_refused(setup: dict[str, Path], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    base = ["embed", "--checkpoint", str(setup["ckpt"]), "--audio", str(setup["audio"]), "--out", str(tmp_path / "e")]
    for flag, value, said in (("--batch-size", "0", "must be at least 1, got 0"),
                              ("--workers", "-1", "must be at least 0, got -1"),
                              *(("--chunk-seconds", v, "must be at least 0.5 seconds") for v in
                                ("0", "-2.5", "nan", "0.001", "0.49"))):
        last = refused([*base, flag, value], capsys, f"argument {flag}: {said}")
    assert last.endswith("(a shorter chunk is shorter than the model can hear a key or a tempo in), got 0.49")
    for bad in ({"batch_size": 0}, {"chunk_seconds": 0.01}, {"chunk_seconds": float("nan")}, {"workers": -1}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            EmbedOptions(**bad)
    assert not (tmp_path / "e").exists()


def _fake_embeddings(setup: dict[str, Path], out: Path) -> Path:
    """Embeddings of three files by the test stand-in model: other subspaces and fewer rows than the index."""
    files = sorted(setup["plain"].glob("*.wav"))[:3]
    embed_corpus(FakeModel(), [Clip(str(p)) for p in files], out, EmbedOptions(workers=0, progress=False))
    return out


def test_rebuild_leaves_nothing_of_the_old_index(setup: dict[str, Path], tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    ix = tmp_path / "ix"
    shutil.copytree(setup["index"], ix)
    assert (ix / "03-Z.time_stretch.faiss").is_file() and (ix / "embeddings").is_dir()
    emb = _fake_embeddings(setup, tmp_path / "emb")
    rc, out, _ = loev(["index", "--embeddings", str(emb), "--out", str(ix)], capsys)
    assert rc == 0 and out.startswith("indexed 3 item(s) x 3 subspace(s)")
    info = json.loads((ix / "index.json").read_text())
    named = {e["file"] for e in info["subspaces"].values()}
    assert sorted(p.name for p in ix.iterdir() if p.name != ".lock") == sorted(named | {"index.json", "meta.jsonl"})
    assert len((ix / "meta.jsonl").read_text().splitlines()) == info["count"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["emb", "ix"]  # no staging or old folder left


def test_rebuild_with_the_same_model_reuses_its_embeddings(setup: dict[str, Path], tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """The shard is carried over by a hard link (same inode), so nothing was embedded again."""
    ix = tmp_path / "ix"
    shutil.copytree(setup["index"], ix)
    shard = ix / "embeddings" / "shard-00000.npz"
    before = shard.stat().st_ino
    args = ["index", "--checkpoint", str(setup["ckpt"]), "--audio", str(setup["audio"]), "--out", str(ix),
            "--quiet", "--workers", "0"]
    assert loev(args, capsys)[0] == 0
    assert shard.stat().st_ino == before and len(Index(ix)) == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ix"]


def test_failure_mid_rebuild_keeps_the_old_index(setup: dict[str, Path], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    import loev_core.embeddings.index as index_module

    ix = tmp_path / "ix"
    shutil.copytree(setup["index"], ix)
    listing = {p.name: p.read_bytes() for p in ix.iterdir() if p.is_file()}
    real_make, made = index_module.make_index, []

    def dies_on_the_second_subspace(*args, **kwargs):
        made.append(1)
        if len(made) == 2:
            raise _Killed
        return real_make(*args, **kwargs)

    monkeypatch.setattr(index_module, "make_index", dies_on_the_second_subspace)
    with pytest.raises(_Killed):
        build_index(load_embeddings(_fake_embeddings(setup, tmp_path / "emb")), ix)
    assert {p.name: p.read_bytes() for p in ix.iterdir() if p.is_file()} == listing
    assert not (tmp_path / ".ix.building").exists()  # nothing to resume: no half-built folder is kept
    # interrupted while indexing what it embedded with another model: the old index still answers queries,
    # and the rerun resumes from the kept embeddings
    made.clear()
    args = ["index", "--checkpoint", str(setup["other"]), "--audio", str(setup["audio"]), "--out", str(ix),
            "--quiet", "--workers", "0"]
    with pytest.raises(_Killed):
        main(args)
    assert {p.name: p.read_bytes() for p in ix.iterdir() if p.is_file()} == listing
    assert list((tmp_path / ".ix.building" / "embeddings").glob("shard-*.npz"))
    query = str(setup["audio"] / "tone2.wav")
    rc, out, _ = loev(["search", "--index", str(ix), "--query", query, "--subspace", "Z.time_stretch", "-k", "1"],
                      capsys)
    assert rc == 0 and f"1  1.0000  {query}" in out
    monkeypatch.setattr(index_module, "make_index", real_make)
    assert loev(args, capsys)[0] == 0
    assert Index(ix).subspaces == ["V", "Z.invariant"] and Index(ix).info["model_id"] == checkpoint_id(setup["other"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["emb", "ix"]


def test_a_folder_with_other_files_is_never_replaced(setup: dict[str, Path],
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    refused(["index", "--checkpoint", str(setup["ckpt"]), "--audio", str(setup["audio"]), "--out",
             str(setup["audio"])], capsys, "is not an index folder (it holds manifest.csv, tone0.wav, tone1.wav and")
    assert len(list(setup["audio"].iterdir())) == 7


def test_export_of_an_exported_model_says_so(setup: dict[str, Path], tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    refused(["export", str(setup["ckpt"]), "--out", str(tmp_path / "x")], capsys,
            "is an exported model (model.safetensors + model.json), not a training run: it can be used as it is")
    assert not (tmp_path / "x").exists()


def test_export_keeps_the_training_curve_where_the_dashboard_finds_it(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from loev_core.explore.runinfo import find_stages, read_stages
    from loev_core.train.state import save_train_state

    run = tmp_path / "run"
    model = build_model(ExperimentConfig())
    (run / "checkpoints").mkdir(parents=True)
    save_train_state(run / "checkpoints" / "last.safetensors", model, torch.optim.Adam(model.parameters()), 2,
                     {"loss": 1.5}, {})
    curve = "step,lr,loss,loss.invariant,seconds\n1,0.001,2.0,2.5,0.1\n2,0.001,1.5,1.9,0.2\n"
    (run / "metrics.csv").write_text(curve)
    rc, out, _ = loev(["export", str(run), "--out", str(tmp_path / "mine")], capsys)
    assert rc == 0 and out.startswith("exported to")
    assert (tmp_path / "mine" / "metrics.csv").read_text() == curve
    assert find_stages(tmp_path / "mine") == [("mine", tmp_path / "mine" / "metrics.csv")]
    curves = read_stages(find_stages(tmp_path / "mine"))
    assert curves[curves["series"] == "loss"]["value"].tolist() == [2.0, 1.5]
    # exported inside its run (RUN/model): the run's own curve is found, no copy is made
    assert loev(["export", str(run), "--out", str(run / "model")], capsys)[0] == 0
    assert not (run / "model" / "metrics.csv").exists()
    assert find_stages(run / "model") == [("run", run / "metrics.csv")]


def test_dashboard_port_out_of_range_or_busy(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    from loev_core.cli import dashboard

    for port in ("0", "99999", "http"):
        rc, _, err = loev(["dashboard", "--port", port], capsys)
        assert rc == 2 and "loev dashboard: error: argument --port:" in err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]

        def must_not_start(_args: object) -> None:
            raise AssertionError("the dashboard went on past a busy port")

        monkeypatch.setattr(dashboard, "cut_long_tracks", must_not_start)
        rc, _, err = loev(["dashboard", "--port", str(port), "--no-warm"], capsys)
        assert rc == 2 and f"port {port} on 127.0.0.1 is not available" in err and "LOEV Explorer on" not in err
    assert dashboard.port_problem("127.0.0.1", port) is None  # free again
