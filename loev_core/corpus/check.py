"""Sanity check that a corpus's labels are audible, with signal processing only (no learning):

    python -m loev_core.corpus.check assets/demo --clips 100

Key: Krumhansl-Schmuckler templates on the clip's mean CQT chroma (exact, tonic and mir_eval weighted
score). Tempo: librosa's beat tracker against the label (acc1: within 4 %, acc2: also at x2, x1/2, x3,
x1/3). Both estimators are crude; they bound from below how much of each label a model can hear.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np

from loev_core.audio import load_audio, resolve_corpus
from loev_core.corpus.theory import estimate_key
from loev_core.keys import KEY_NAMES, key_name


def estimate_clip_key(wave: np.ndarray, sample_rate: int) -> str:
    import librosa

    chroma = librosa.feature.chroma_cqt(y=wave, sr=sample_rate, hop_length=512)
    tonic, mode, _ = estimate_key(chroma.mean(axis=1))
    return key_name(tonic, mode)


def estimate_clip_tempo(wave: np.ndarray, sample_rate: int) -> float:
    import librosa

    tempo, _ = librosa.beat.beat_track(y=wave, sr=sample_rate, start_bpm=110.0)
    return float(np.atleast_1d(tempo)[0])


def check_corpus(source: str | Path, n_clips: int = 100, sample_rate: int = 16000, seed: int = 0
                 ) -> dict[str, float]:
    """Accuracy of the two estimators over `n_clips` clips drawn at random (seeded) from the corpus."""
    import mir_eval

    clips = resolve_corpus(source, allow_outside=True)
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(clips), size=min(n_clips, len(clips)), replace=False)
    exact = tonic = weighted = acc1 = acc2 = 0.0
    for i in pick:
        clip = clips[int(i)]
        wave = load_audio(clip.path, sample_rate).numpy()
        est = estimate_clip_key(wave, sample_rate)
        ref = clip.labels["key"]
        exact += est == ref
        tonic += est.split()[0] == ref.split()[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            weighted += mir_eval.key.weighted_score(ref, est)
        bpm, ref_bpm = estimate_clip_tempo(wave, sample_rate), float(clip.labels["tempo"])
        acc1 += abs(bpm - ref_bpm) <= 0.04 * ref_bpm
        acc2 += any(abs(bpm - f * ref_bpm) <= 0.04 * f * ref_bpm for f in (1, 2, 0.5, 3, 1 / 3))
    n = float(len(pick))
    return {"clips": n, "key_exact": exact / n, "key_tonic": tonic / n, "key_weighted": weighted / n,
            "tempo_acc1": acc1 / n, "tempo_acc2": acc2 / n, "chance_key": 1 / len(KEY_NAMES)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", help="corpus folder or manifest")
    parser.add_argument("--clips", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for name, value in check_corpus(args.corpus, args.clips, seed=args.seed).items():
        print(f"{name:>13}: {value:.3f}" if name != "clips" else f"{name:>13}: {int(value)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
