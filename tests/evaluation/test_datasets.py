"""`loev eval --dataset`: mirdata stand-ins end to end, the setup errors, and the manifest route.

The stand-ins (tests/evaluation/mirdata_standins.py) are written in mirdata's layouts with their own
index JSON; mirdata's own index folder is redirected to an empty temporary folder, so nothing on the
machine (a downloaded index) changes what these tests see, and nothing is downloaded.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from loev_core.cli import main
from loev_core.datasets.items import Item
from loev_core.datasets.mirdata_source import load_items, open_dataset
from loev_core.datasets.tasks import DATASETS, TASKS
from tests.evaluation.mirdata_standins import STANDINS, StandIn, write_audio
from tests.support import tiny_checkpoint

mirdata_core = pytest.importorskip("mirdata.core")
KS = (1, 3, 5, 10)


@pytest.fixture(autouse=True)
def no_downloaded_indexes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """mirdata looks for its downloaded indexes in an empty folder of this test."""
    folder = tmp_path / "mirdata-indexes"
    folder.mkdir()
    monkeypatch.setattr(mirdata_core.Index, "get_path", lambda self: str(folder / self.filename))
    return folder


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ckpt")
    return {k: tiny_checkpoint(root / k, k) for k in ("simclr", "loevpp")}


def run_eval(ckpt: list[Path], standin: StandIn, out: Path, *extra: str, index: bool = True) -> int:
    argv = ["eval", *[a for c in ckpt for a in ("--checkpoint", str(c))], "--dataset", standin.name,
            "--data-home", str(standin.data_home), "--out", str(out), "--quiet", "--threads", "1", *extra]
    return main(argv + (["--index", str(standin.index)] if index else []))


def check_results(out: Path, dataset: str, tasks: tuple[str, ...], models: dict[str, list[str]]) -> dict:
    """results.json's schema, metric names and ranges; the markdown and LaTeX tables hold every row."""
    results = json.loads((out / "results.json").read_text())
    assert results["dataset"] == dataset and list(results["tasks"]) == list(tasks)
    for task in tasks:
        assert set(results["tasks"][task]) == set(models)
        for model, spaces in models.items():
            assert list(results["tasks"][task][model]) == spaces
            for space in spaces:
                cell = results["tasks"][task][model][space]
                names = {*TASKS[task].metrics, *(f"p_at_{k}" for k in KS)}
                names |= {f"linear_{m}" for m in TASKS[task].metrics} | {f"{m}_std" for m in TASKS[task].metrics}
                names |= {f"p_at_{k}_{t}" for k in KS for t in ("pitch_shift", "time_stretch")}
                assert names <= set(cell), names - set(cell)
                for name, value in cell.items():
                    assert value is None or (isinstance(value, float) and 0.0 <= value <= 1.0), (name, value)
                assert all(cell[m] is not None for m in TASKS[task].metrics)
    md, tex = (out / "results.md").read_text(), (out / "results.tex").read_text()
    for model, spaces in models.items():
        for space in spaces:
            assert f"| {model} | {space} |" in md
            assert space.replace("_", "\\_") in tex
    assert "\\begin{tabular}" in tex and "\\toprule" in tex and "P@10" in md
    assert (out / "results.png").stat().st_size > 1000
    return results


def test_key_across_datasets_end_to_end(tmp_path: Path, ckpts: dict[str, Path]) -> None:
    """Train on beatport_key, test on every giantsteps_key track (the reference's key protocol)."""
    gs, bp = STANDINS["giantsteps_key"](tmp_path), STANDINS["beatport_key"](tmp_path)
    out = tmp_path / "out"
    assert run_eval([ckpts["simclr"]], gs, out, "--train-dataset", "beatport_key", "--train-index",
                    str(bp.index)) == 0
    results = check_results(out, "giantsteps_key", ("key",), {"simclr": ["V", "Z.invariant"]})
    assert results["train_dataset"] == "beatport_key"
    assert results["counts"]["test"] == 12  # every giantsteps track is a test track
    assert results["counts"]["train"] + results["counts"]["validation"] == 11  # the modulating track has no key
    assert "| model | subspace | key accuracy | key weighted |" in (out / "results.md").read_text()


def test_gtzan_with_mirdatas_index_and_a_missing_file(tmp_path: Path, ckpts: dict[str, Path],
                                                     no_downloaded_indexes: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """No --index: the index mirdata downloaded is used; a missing audio file is skipped and counted."""
    gz = STANDINS["gtzan_genre"](tmp_path)
    (no_downloaded_indexes / "gtzan_genre_index_1.0.json").write_bytes(gz.index.read_bytes())
    gz.audio["rock.00002"].unlink()
    out = tmp_path / "out"
    assert run_eval(list(ckpts.values()), gz, out, index=False) == 0
    spaces = {"simclr": ["V", "Z.invariant"], "loevpp": ["V", "Z.invariant", "Z.pitch_shift", "Z.time_stretch",
                                                         "V.invariant", "V.pitch_shift", "V.time_stretch"]}
    results = check_results(out, "gtzan_genre", ("genre", "tempo"), spaces)
    assert results["skipped"]["missing"] == 1 and "rock.00002.wav" in results["skipped"]["examples"][0]
    assert sum(results["counts"][s] for s in ("train", "validation", "test")) == 14
    assert "skipped 1 missing" in (out / "results.md").read_text()
    assert "skipped 1 missing" in capsys.readouterr().err
    assert results["protocol"]["seeds"] == [0, 1, 2] and results["protocol"]["chunks"] == 64


def test_mtg_jamendo_tags_on_the_official_split(tmp_path: Path, ckpts: dict[str, Path]) -> None:
    mtg = STANDINS["mtg_jamendo_autotagging_moodtheme"](tmp_path)
    out = tmp_path / "out"
    assert run_eval([ckpts["simclr"]], mtg, out, "--seeds", "2", "--chunks", "4") == 0
    results = check_results(out, mtg.name, ("tags",), {"simclr": ["V", "Z.invariant"]})
    assert results["counts"] | {"listed": 0} == {"listed": 0, "train": 9, "validation": 2, "test": 4, "queries": 4}
    assert results["split"].startswith("official") and results["protocol"]["seeds"] == [0, 1]
    assert "tags roc_auc" in (out / "results.md").read_text()


def test_missing_index_says_how_to_get_it(tmp_path: Path, ckpts: dict[str, Path],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    gz = STANDINS["gtzan_genre"](tmp_path, per_genre=1)
    assert run_eval([ckpts["simclr"]], gz, tmp_path / "out", index=False) == 2
    err = capsys.readouterr().err
    assert "index" in err and "download(['index'])" in err and "--index FILE" in err
    assert run_eval([ckpts["simclr"]], gz, tmp_path / "out", "--index", str(tmp_path / "nope.json"),
                    index=False) == 2
    assert "no such file" in capsys.readouterr().err


def test_wrong_data_home_is_a_clear_error(tmp_path: Path, ckpts: dict[str, Path],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    gz = STANDINS["gtzan_genre"](tmp_path, per_genre=1)
    argv = ["eval", "--checkpoint", str(ckpts["simclr"]), "--dataset", "gtzan_genre", "--index", str(gz.index),
            "--out", str(tmp_path / "out")]
    assert main([*argv, "--data-home", str(tmp_path / "no-such-folder")]) == 2
    assert "no such folder" in capsys.readouterr().err
    (tmp_path / "elsewhere").mkdir()
    assert main([*argv, "--data-home", str(tmp_path / "elsewhere")]) == 2
    err = capsys.readouterr().err
    assert "none of the 3 audio files" in err and "--data-home" in err
    assert main([*argv[:-2], "--out", str(tmp_path / "out")]) == 2  # no --data-home at all
    assert "needs --data-home" in capsys.readouterr().err


def test_unknown_dataset_lists_the_known_ones(tmp_path: Path, ckpts: dict[str, Path],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--checkpoint", str(ckpts["simclr"]), "--dataset", "gtzan", "--data-home", str(tmp_path),
                 "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "unknown dataset 'gtzan'" in err and all(name in err for name in DATASETS)


def test_without_mirdata_says_what_to_install(tmp_path: Path, ckpts: dict[str, Path],
                                              monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(__import__("sys").modules, "mirdata", None)  # `import mirdata` raises ImportError
    assert main(["eval", "--checkpoint", str(ckpts["simclr"]), "--dataset", "gtzan_genre", "--data-home",
                 str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "pip install 'loev-explorer[datasets]'" in capsys.readouterr().err


def test_corpus_and_dataset_are_exclusive(tmp_path: Path, ckpts: dict[str, Path]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["eval", "--checkpoint", str(ckpts["simclr"]), "--out", str(tmp_path)])
    assert e.value.code == 2
    with pytest.raises(SystemExit):
        main(["eval", "--checkpoint", str(ckpts["simclr"]), "--corpus", str(tmp_path), "--dataset", "gtzan_genre",
              "--out", str(tmp_path)])


@pytest.mark.parametrize("name", list(STANDINS))
def test_every_loader_reads_its_standin(tmp_path: Path, name: str) -> None:
    """Each loader we use, on its stand-in: mirdata validates it (real md5s), every track gets the
    dataset's labels, official splits come through."""
    standin = STANDINS[name](tmp_path)
    missing, invalid = open_dataset(name, standin.data_home, standin.index).validate(verbose=False)
    assert not any(missing.get("tracks", {}).values()) and not any(invalid.get("tracks", {}).values())
    items = load_items(name, standin.data_home, standin.index)
    assert len(items) == len(standin.track_ids) and all(Path(i.path).is_file() for i in items)
    for task in DATASETS[name].tasks:
        labelled = [i for i in items if task in i.labels]
        assert len(labelled) >= len(items) - 1, (task, len(labelled))  # beatport: one track modulates
    if DATASETS[name].split == "official":
        assert {i.split for i in items} == {"train", "validation", "test"}
    if name == "gtzan_genre":
        assert {i.labels["genre"] for i in items} == {"blues", "hip-hop", "rock"}
        assert items[0].labels["tempo"] == 80.0
    if name == "mtg_jamendo_autotagging_moodtheme":
        assert items[0].labels["tags"] == ("energetic", "happy") and items[0].group == "artist_000000"
    if name == "good_sounds":
        assert items[0].labels == {"instrument": "flute", "pitch_class": "C"} and items[0].group == items[1].group


def test_manifest_with_tags_runs_the_reference_protocol(tmp_path: Path, ckpts: dict[str, Path]) -> None:
    """A dataset mirdata lacks: a manifest with a ';'-separated tags column and a genre column."""
    rows = []
    for k in range(12):
        rel = f"audio/{k:02d}.wav"
        write_audio(tmp_path / rel, k % 12, 90 + 5 * k, seconds=3.0, seed=k)
        rows.append({"path": rel, "tags": ["rock;guitar", "piano;slow", "rock;fast"][k % 3],
                     "genre": ["rock", "jazz"][k % 2], "artist": f"a{k % 4}"})
    with (tmp_path / "manifest.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    out = tmp_path / "out"
    assert main(["eval", "--checkpoint", str(ckpts["simclr"]), "--corpus", str(tmp_path / "manifest.csv"),
                 "--protocol", "reference", "--out", str(out), "--quiet", "--threads", "1", "--seeds", "1"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert list(results["tasks"]) == ["genre", "tags"]
    assert math.isfinite(results["tasks"]["tags"]["simclr"]["V"]["roc_auc"])
    assert results["split"].startswith("seeded grouped split")


def test_reference_options_need_the_reference_protocol(tmp_path: Path, ckpts: dict[str, Path],
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--checkpoint", str(ckpts["simclr"]), "--corpus", str(tmp_path), "--split-file",
                 "x.json", "--out", str(tmp_path / "out")]) == 2
    assert "reference protocol" in capsys.readouterr().err


def test_items_are_frozen() -> None:
    item = Item("a", "a.wav", {"key": "C major"})
    with pytest.raises(AttributeError):
        item.split = "train"  # type: ignore[misc]


def test_training_on_the_test_dataset_is_refused(tmp_path: Path, ckpts: dict[str, Path],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    gz = STANDINS["gtzan_genre"](tmp_path, per_genre=1)
    assert run_eval([ckpts["simclr"]], gz, tmp_path / "out", "--train-dataset", "gtzan_genre") == 2
    assert "is the --dataset itself" in capsys.readouterr().err
