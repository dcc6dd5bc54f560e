"""Held-out validation tracks for choosing models on real music, never the test split.

`loev corpus real` splits tracks into train / test (and one package as `unseen`). Choosing models needs
a validation set the test split never informs: this moves about `--fraction` of each package's train
tracks (seeded hash order, like the builder's split) out of training and writes, next to the manifest,
    manifest-fit.csv        the training rows (the validation tracks marked `val`, so `split: train` skips them)
    manifest-val.csv        the validation tracks as `test`, the fit tracks as `train` (for `loev eval`)
The held-out package is the other validation set: `manifest-unseen.csv`, written by the builder.

    .venv/bin/python scripts/real_validation.py --corpus data/real-corpus
"""

from __future__ import annotations

import argparse
import csv
import hashlib
from collections import defaultdict
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default="data/real-corpus")
    ap.add_argument("--fraction", type=float, default=0.15)
    ap.add_argument("--seed", type=int, default=1, help="another seed than the builder's test split (0)")
    args = ap.parse_args()
    root = Path(args.corpus)
    with open(root / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    by_package: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        if r["split"] == "train":
            by_package[r["source"]].append(r["track"])
    val: set[str] = set()
    for tracks in by_package.values():
        order = sorted(tracks, key=lambda t: hashlib.sha256(f"{args.seed}/{t}".encode()).hexdigest())
        val.update(order[:max(1, round(args.fraction * len(tracks)))])
    fields = list(rows[0])
    fit = [r | {"split": "val"} if r["track"] in val else r for r in rows]
    evaluation = [r | {"split": "test" if r["track"] in val else "train"} for r in rows if r["split"] == "train"]
    for name, out in (("manifest-fit.csv", fit), ("manifest-val.csv", evaluation)):
        with open(root / name, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            w.writerows(out)
    n_fit = sum(r["split"] == "train" for r in fit)
    print(f"{root}: {n_fit} training tracks (manifest-fit.csv), {len(val)} validation tracks (manifest-val.csv)")


if __name__ == "__main__":
    main()
