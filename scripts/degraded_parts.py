"""Which part of the degraded-copy query hurts, and what the misses are (validation corpora only).

Scores degraded-copy top-1 per subspace with each part of `Degradation` alone, all three, and noise added
before the low-pass (the base chain's old order), then splits the misses of the full query into "another clip
of the same track" and "another track". docs/experiments.md, "Real music: noise last and graded pitch branches".

    .venv/bin/python scripts/degraded_parts.py data/real-corpus/manifest-val.csv assets/checkpoints/demo-simclr
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from loev_core import load_model
from loev_core.audio import resolve_corpus
from loev_core.embeddings.waves import embed_waves
from loev_core.evaluation.retrieval import cosine_knn
from loev_core.evaluation.track_retrieval import Degradation, cut_tracks, degraded_top1

SR, WINDOW, PER_TRACK = 16000, 48000, 8  # what `loev eval` uses on the real corpus (3 s clips, 8 per track)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("corpus", help="a track manifest (its test rows are cut into clips)")
    p.add_argument("checkpoints", nargs="+")
    args = p.parse_args()
    torch.set_num_threads(1)
    clips = [c for c in resolve_corpus(args.corpus) if c.labels.get("split") == "test"]
    tc = cut_tracks(clips, SR, WINDOW, PER_TRACK)
    if tc is None:
        raise SystemExit(f"{args.corpus}: no test row names a track")
    parts = {"full": Degradation(), "gain only": Degradation(lowpass_hz=1e9, snr_db=200.0),
             "low-pass only": Degradation(gain_db=0.0, snr_db=200.0),
             "noise only": Degradation(gain_db=0.0, lowpass_hz=1e9)}
    queries = {k: d.apply(tc.waves, SR, seed=0) for k, d in parts.items()}
    noisy = Degradation(lowpass_hz=1e9).apply(tc.waves, SR, seed=0)
    queries["noise, then low-pass"] = Degradation(gain_db=0.0, snr_db=200.0).apply(noisy, SR, seed=0)
    own = np.arange(len(tc.tracks))
    for path in args.checkpoints:
        model = load_model(path)
        clean = embed_waves(model, list(tc.waves), SR, 64, "clean", False)
        for name, waves in queries.items():
            moved = embed_waves(model, list(waves), SR, 64, name, False)
            print(f"{path}  {name:22s}", "  ".join(f"{s} {degraded_top1(clean[s], moved[s]):.3f}" for s in clean))
            if name == "full":
                for s in clean:
                    j = cosine_knn(clean[s], moved[s], 1)[:, 0]
                    miss = j != own
                    same = int(np.sum(miss & (tc.tracks[j] == tc.tracks)))
                    print(f"    {s}: {int(miss.sum())} misses, {same} of them another clip of the same track")


if __name__ == "__main__":
    main()
