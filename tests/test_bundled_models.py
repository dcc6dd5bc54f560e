"""The three bundled demo models: loadable through the public API, within the 20 MB budget, of the kinds and
subspaces the README describes, and the very models whose evaluation the README shows (results.json records
each checkpoint's content hash, and the README's table is rendered from it, not typed by hand)."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from loev_core import checkpoint_id, load_audio, load_model
from loev_core.audio import read_manifest
from loev_core.evaluation.markdown import README_END, README_START, REAL_END, REAL_START
from loev_core.evaluation.report import readme_block, real_readme_block

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINTS = ROOT / "assets" / "checkpoints"
EVAL = ROOT / "assets" / "eval"
VARIANT = ["pitch_shift", "time_stretch"]
EXPECTED = {
    "simclr": ["V", "Z.invariant"],
    "loev": ["V", "Z.invariant", "Z.pitch_shift", "Z.time_stretch"],
    "loevpp": ["V", "Z.invariant", "Z.pitch_shift", "Z.time_stretch", "V.invariant", "V.pitch_shift",
               "V.time_stretch"],
}


def check_training_record(meta: dict) -> None:
    """Both corpora (the generated role=train set, never the demo set; the real corpus's fit tracks, never its
    test or unseen ones), each with counts and a content hash, and every stage, the last on both."""
    generated, real = meta["data"]["corpora"]
    assert (generated["source"], generated["clips"]) == ("data/train-corpus", 3000)
    assert (real["source"], real["split"]) == ("data/real-corpus/manifest-fit.csv", "train")
    assert real["tracks"] == real["clips"] > 50 and real["seconds"] > 3600 and 0 < real["share"] < 1
    for corpus in (generated, real):
        assert len(corpus["sha256"]) == 64
    stages = meta["history"]
    assert stages[-1]["data"]["corpora"] == meta["data"]["corpora"] and stages[-1]["to_step"] == meta["steps"]
    assert all(s["to_step"] for s in stages) and len(stages) >= 2  # the generated-only stages come first


def _first_test_clip() -> str:
    return next(c.path for c in read_manifest(ROOT / "assets" / "demo" / "manifest.csv")
                if c.labels.get("split") == "test")


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_bundled_model_loads_embeds_and_fits_the_budget(kind: str) -> None:
    folder = CHECKPOINTS / f"demo-{kind}"
    assert sum(p.stat().st_size for p in folder.iterdir()) <= 20 * 1024 * 1024
    model = load_model(folder)
    assert model.subspaces == EXPECTED[kind]
    meta = json.loads((folder / "model.json").read_text())
    assert meta["model_kind"] == kind and meta["variant_augs"] == ([] if kind == "simclr" else VARIANT)
    check_training_record(meta)
    assert meta["sample_rate"] == 16000 and meta["frontend"]["n_mels"] == 96

    clip = _first_test_clip()
    wave = load_audio(clip, sample_rate=16000)
    emb = model.embed(wave, 16000)
    assert list(emb) == EXPECTED[kind]
    for name, vec in emb.items():
        assert vec.shape[0] == 1 and torch.isfinite(vec).all(), name  # one clip in, one row out
    assert emb["Z.invariant"].shape == (1, 128)
    # the same music at another sample rate lands on (nearly) the same point
    other = load_audio(clip, sample_rate=22050)
    emb2 = model.embed(other, 22050)
    cos = torch.nn.functional.cosine_similarity(emb["V"], emb2["V"])[0]
    assert cos > 0.9, float(cos)


def test_readme_shows_the_evaluation_of_the_bundled_models() -> None:
    results = json.loads((EVAL / "results.json").read_text())
    assert sorted(results["models"]) == [f"demo-{k}" for k in sorted(EXPECTED)]
    for name, res in results["models"].items():
        assert res["checkpoint_id"] == checkpoint_id(CHECKPOINTS / name), f"{name}: re-run loev eval (README)"
    readme = (ROOT / "README.md").read_text()
    block = readme[readme.index(README_START) + len(README_START):readme.index(README_END)]
    assert block.strip() == readme_block(results, "assets/eval/pitch_shift.png").strip()
    # every measured value in the targets table is a finite number the eval computed
    measured = [t["measured"] for t in results["summary"]]
    assert measured and np.isfinite(np.asarray(measured, dtype=float)).all()


def test_readme_shows_the_real_music_evaluation_of_the_bundled_models() -> None:
    """The README's real-music table is the one `loev eval` rendered from assets/eval/real/results.json, for
    these very checkpoints, on the real corpus's test tracks."""
    results = json.loads((EVAL / "real" / "results.json").read_text())
    assert sorted(results["models"]) == [f"demo-{k}" for k in sorted(EXPECTED)]
    for name, res in results["models"].items():
        assert res["checkpoint_id"] == checkpoint_id(CHECKPOINTS / name), f"{name}: re-run loev eval (README)"
    assert results["recordings"]["n_tracks"] >= 15 and results["recordings"]["min_clips_per_track"] >= 4
    readme = (ROOT / "README.md").read_text()
    block = readme[readme.index(REAL_START) + len(REAL_START):readme.index(REAL_END)]
    assert block.strip() == real_readme_block(results).strip()
