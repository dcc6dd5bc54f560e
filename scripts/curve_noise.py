"""How much the pitch-shift curve targets move with the clips the curves are averaged over.

The Spearman target is computed from 13 means (|shift| has ties at +-k), so with few clips a few noisy
ones can reorder neighbouring points; this says how many clips (`loev eval --curve-clips`) make a
pass or fail a property of the model rather than of the sample (results: docs/experiments.md). This
study computes every test clip's distance once, then redraws many random subsets of each size and
prints the spread of the Spearman and of the distance ratio (`summary.RATIO_AT`).
Run it on the validation subset, never to choose anything on the demo test split:

    .venv/bin/python scripts/curve_noise.py --checkpoint assets/checkpoints/demo-loevpp \
        --corpus data/train-corpus/val-manifest.csv --sizes 32 64 144
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from loev_core.audio import resolve_corpus
from loev_core.checkpoint import load_model
from loev_core.embeddings.waves import centre_crop, stack_common, transform_span
from loev_core.evaluation.equivariance import DEFAULT_VALUES, amount, spearman_rows, transform_distances
from loev_core.evaluation.inputs import load_split
from loev_core.evaluation.splits import assign_splits
from loev_core.evaluation.summary import PITCH_RATIO, PITCH_RISE, RATIO_AT


def targets(dist: dict[str, np.ndarray], values: list[float], draws: np.ndarray) -> np.ndarray:
    """[len(draws), 2]: Spearman of Z.pitch_shift's mean curve against |shift| and the ratio at +-RATIO_AT,
    each row averaged over the clips of one draw ([D, m] column indices), as `summary.check_targets` does."""
    zp = dist["Z.pitch_shift"][:, draws].mean(axis=2).T  # [D, V]
    zi = dist["Z.invariant"][:, draws].mean(axis=2).T
    at = [i for i, v in enumerate(values) if abs(v) == RATIO_AT]
    rho = spearman_rows(amount("pitch_shift", values), zp)
    return np.stack([rho, zp[:, at].mean(axis=1) / zi[:, at].mean(axis=1)], axis=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 144])
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(2)

    model = load_model(args.checkpoint)
    sr = model.sample_rate
    window = int(round(model.clip_seconds * sr))
    clips, _ = assign_splits(resolve_corpus(args.corpus), 0.2, args.seed)
    test = load_split([c for c in clips if c.labels.get("split") == "test"], sr, "test", True, 30.0)
    waves = stack_common([centre_crop(w, transform_span(window, sr)) for w in test.waves])
    values = DEFAULT_VALUES["pitch_shift"]
    dist, _ = transform_distances({"m": model}, waves, sr, "pitch_shift", values, window=window)
    dist = dist["m"]
    n = waves.shape[0]
    rho, ratio = targets(dist, values, np.arange(n)[None])[0]
    print(f"{args.checkpoint} on {args.corpus}: all {n} test clips: Spearman {rho:.3f}, ratio {ratio:.2f}")
    rng = np.random.default_rng(args.seed)
    print(f"clips  Spearman p5 / median / p95  P(>= {PITCH_RISE.threshold:.1f})   ratio p5 / median / p95  "
          f"P(>= {PITCH_RATIO.threshold:g})")
    for m in args.sizes:
        draws = (np.arange(n)[None] if m >= n else
                 np.stack([rng.choice(n, size=m, replace=False) for _ in range(args.draws)]))
        got = targets(dist, values, draws)
        r5, r50, r95 = np.percentile(got[:, 0], [5, 50, 95])
        q5, q50, q95 = np.percentile(got[:, 1], [5, 50, 95])
        print(f"{min(m, n):5d}  {r5:.3f} / {r50:.3f} / {r95:.3f}   {np.mean(got[:, 0] >= PITCH_RISE.threshold):.2f}"
              f"        {q5:.2f} / {q50:.2f} / {q95:.2f}      {np.mean(got[:, 1] >= PITCH_RATIO.threshold):.2f}")


if __name__ == "__main__":
    main()
