"""loev_core.corpus: labels, balance, split/role hygiene, reproducibility, decodable audio, the demo set."""

from __future__ import annotations

import collections
import csv
import json
from pathlib import Path

import numpy as np
import pytest

from loev_core.audio import load_audio
from loev_core.cli import main as loev_main
from loev_core.corpus.arrange import arrange
from loev_core.corpus.generate import generate_corpus
from loev_core.corpus.music21_source import load_catalog
from loev_core.corpus.plan import FAMILIES, plan_corpus
from loev_core.corpus.render import find_soundfont
from loev_core.corpus.theory import estimate_key, pitch_class_profile
from loev_core.keys import KEY_NAMES, key_name, parse_key

REQUIRED = {"path", "split", "key", "tempo", "instrument", "piece", "drums"}
DEMO = Path(__file__).resolve().parents[2] / "assets" / "demo"
SR = 16000


def read_rows(manifest: Path) -> list[dict[str, str]]:
    with manifest.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 clips rendered by the numpy fallback synthesiser (forced), in one process."""
    return generate_corpus(tmp_path_factory.mktemp("tiny"), 24, seed=5, role="demo", workers=1,
                           synth="additive", progress=False)


def test_manifest_columns_and_labels(tiny: Path) -> None:
    rows = read_rows(tiny)
    assert len(rows) == 24 and set(rows[0]) >= REQUIRED
    assert json.loads((tiny.parent / "corpus.json").read_text())["synth"] == "additive"
    for r in rows:
        assert r["key"] in KEY_NAMES and key_name(*parse_key(r["key"])) == r["key"]
        assert 60 <= int(r["tempo"]) <= 180
        assert r["instrument"] in FAMILIES and r["drums"] in ("yes", "no") and r["split"] in ("train", "test")
        assert not Path(r["path"]).is_absolute() and (tiny.parent / r["path"]).is_file()
    assert collections.Counter(r["key"] for r in rows) == {k: 1 for k in KEY_NAMES}  # 24 clips, 24 keys
    assert {r["split"] for r in rows} == {"train", "test"}


def test_audio_decodes_at_16k_with_the_labelled_duration(tiny: Path) -> None:
    for r in read_rows(tiny)[:8]:
        wave = load_audio(tiny.parent / r["path"], SR)
        assert abs(wave.numel() - round(float(r["duration"]) * SR)) <= 1
        assert 3.0 <= wave.numel() / SR <= 4.0


def test_same_seed_same_manifest_and_audio_with_any_worker_count(tiny: Path, tmp_path: Path) -> None:
    again = generate_corpus(tmp_path, 24, seed=5, role="demo", workers=2, synth="additive", progress=False)
    assert again.read_bytes() == tiny.read_bytes()
    for r in read_rows(tiny)[:3]:
        a, b = load_audio(tiny.parent / r["path"], SR), load_audio(tmp_path / r["path"], SR)
        assert (a - b).abs().max() < 1e-6
    other = plan_corpus(24, 6, "demo", load_catalog())
    assert [s.key for s in other] != [r["key"] for r in read_rows(tiny)]


def test_plan_balance_and_pieces_never_straddle_splits() -> None:
    specs = plan_corpus(720, 1, "demo", load_catalog())
    keys = collections.Counter(s.key for s in specs)
    assert len(keys) == 24 and max(keys.values()) - min(keys.values()) <= 1
    test_keys = collections.Counter(s.key for s in specs if s.split == "test")
    assert len(test_keys) == 24 and max(test_keys.values()) - min(test_keys.values()) <= 1
    splits: dict[str, set[str]] = collections.defaultdict(set)
    for s in specs:
        splits[s.piece].add(s.split)
    assert all(len(v) == 1 for v in splits.values())
    n_test = sum(s.split == "test" for s in specs)
    assert 0.15 <= n_test / len(specs) <= 0.25
    tempos = sorted(s.tempo for s in specs)
    assert tempos[0] <= 62 and tempos[-1] >= 178 and 110 <= tempos[len(tempos) // 2] <= 130
    assert {s.source for s in specs} == {"procedural", "chorale", "folk"}
    assert 0.2 <= sum(s.drums for s in specs) / len(specs) <= 0.5


def test_train_and_demo_roles_share_no_piece() -> None:
    catalog = load_catalog()
    demo = plan_corpus(720, 1, "demo", catalog)
    train = plan_corpus(3000, 7, "train", catalog)
    assert not {s.piece for s in demo} & {s.piece for s in train}
    family = {w["id"]: w["family"] for w in catalog}
    fam_demo = {family[s.work_id] for s in demo if s.work_id}
    fam_train = {family[s.work_id] for s in train if s.work_id}
    assert fam_demo and fam_train and not fam_demo & fam_train  # not even another harmonisation


def test_arrangements_establish_the_labelled_key() -> None:
    """The notes themselves (no audio) point to the label: a key-profile estimate agrees almost always."""
    works = {w["id"]: w for w in load_catalog()}
    specs = plan_corpus(240, 3, "train", list(works.values()))
    hits = 0
    for s in specs:
        events, programs = arrange(s, works.get(s.work_id) if s.work_id else None)
        assert set(programs) == {"melody", "harmony", "bass"}
        notes = [(e.start, e.dur, e.pitch) for e in events if e.part != "drums"]
        hits += key_name(*estimate_key(pitch_class_profile(notes), "albrecht")[:2]) == s.key
        assert any(e.part == "drums" for e in events) == s.drums
    assert hits / len(specs) >= 0.9


def test_auto_synth_and_cli(tmp_path: Path) -> None:
    """`loev corpus` end to end; auto uses FluidSynth only where it is installed, else the fallback."""
    rc = loev_main(["corpus", "--out", str(tmp_path), "--clips", "3", "--seed", "2", "--role", "train",
                    "--format", "flac", "--workers", "1"])
    assert rc == 0
    rows = read_rows(tmp_path / "manifest.csv")
    assert len(rows) == 3 and all(r["path"].endswith(".flac") for r in rows)
    try:
        import fluidsynth  # noqa: F401
        expected = "fluidsynth" if find_soundfont() else "additive"
    except ImportError:
        expected = "additive"
    assert json.loads((tmp_path / "corpus.json").read_text())["synth"] == expected
    assert load_audio(tmp_path / rows[0]["path"], SR).numel() > 3 * SR - 1


def test_committed_demo_set() -> None:
    manifest = DEMO / "manifest.csv"
    assert manifest.is_file(), "assets/demo/manifest.csv is missing"
    rows = read_rows(manifest)
    assert len(rows) >= 600 and set(rows[0]) >= REQUIRED
    sizes = [(DEMO / r["path"]).stat().st_size for r in rows]  # raises if a file is missing
    assert sum(sizes) + manifest.stat().st_size <= 30 * 1024 * 1024
    assert {r["key"] for r in rows} == set(KEY_NAMES)
    assert {r["split"] for r in rows} == {"train", "test"}
    splits: dict[str, set[str]] = collections.defaultdict(set)
    for r in rows:
        splits[r["piece"]].add(r["split"])
    assert all(len(v) == 1 for v in splits.values())
    train_pieces = {s.piece for s in plan_corpus(3000, 7, "train", load_catalog())}
    assert not train_pieces & {r["piece"] for r in rows}
    wave = load_audio(DEMO / rows[0]["path"], SR)
    assert 3.0 <= wave.numel() / SR <= 4.0


def test_demo_set_is_reproduced_by_its_command() -> None:
    """The committed clips are what `loev corpus ... --seed 1 --role demo` renders with FluidSynth (the
    synth recorded in corpus.json): a fresh install must render the same audio, not the fallback's."""
    info = json.loads((DEMO / "corpus.json").read_text())
    assert info["synth"] == "fluidsynth"
    pytest.importorskip("fluidsynth", reason="pyfluidsynth is a dependency; install the package")
    if find_soundfont() is None:
        pytest.skip("no General MIDI soundfont (apt-get install fluid-soundfont-gm; ./run does)")
    from loev_core.corpus.generate import clip_path, render_clip
    from loev_core.corpus.render import make_renderer

    renderer = make_renderer("fluidsynth", SR)
    specs = plan_corpus(info["n_clips"], info["seed"], info["role"], load_catalog(), tuple(info["clip_seconds"]))
    works = {w["id"]: w for w in load_catalog()}
    for spec in specs[:6]:
        mine = render_clip(spec, renderer, works, SR, info["seed"] * 1_000_003 + spec.index)
        committed = load_audio(DEMO / clip_path(spec, info["format"], info["n_clips"]), SR).numpy()
        assert mine.shape == committed.shape
        residual = float(np.sum((mine - committed) ** 2) / np.sum(committed ** 2))
        assert residual < 0.01, (spec.index, residual)  # within Vorbis coding error of the committed clip
