"""A validation manifest of pieces the bundled models never saw, not even unlabelled.

The demo configs pre-train on every row of `data/train-corpus` (`train.split: "*"`), so the usual
validation subset (`val-manifest.csv`, held-out pieces of that corpus) was seen during self-supervised
training and flatters whichever model fits its training clips best. This writes a fresh role=train corpus
with another seed and keeps only its procedurally composed pieces, whose ids carry the seed and so
cannot be in the training corpus (its music21 works come from the same pool and are dropped). Still
never the demo set: role=train shares nothing with it.

    .venv/bin/python scripts/unseen_validation.py            # data/val-fresh/unseen-manifest.csv
    .venv/bin/loev eval --checkpoint ... --corpus data/val-fresh/unseen-manifest.csv --probes linear
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="data/val-fresh")
    ap.add_argument("--clips", type=int, default=900)
    ap.add_argument("--seed", type=int, default=11, help="any seed but the training corpus' (7)")
    ap.add_argument("--train-corpus", default="data/train-corpus")
    args = ap.parse_args()
    out, train = ROOT / args.out, ROOT / args.train_corpus
    if not (out / "manifest.csv").is_file():
        subprocess.run([sys.executable, "-m", "loev_core.cli", "corpus", "--out", str(out), "--clips",
                        str(args.clips), "--seed", str(args.seed), "--role", "train"], check=True, cwd=ROOT)
    with open(out / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    with open(train / "manifest.csv", newline="") as f:
        seen = {r["piece"] for r in csv.DictReader(f)}
    keep = [r for r in rows if r["source"] == "procedural" and r["piece"] not in seen]
    if not keep:
        raise SystemExit("no unseen pieces: was the same seed as the training corpus used?")
    with open(out / "unseen-manifest.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(keep)
    split = {s: sum(r["split"] == s for r in keep) for s in ("train", "test")}
    print(f"{out / 'unseen-manifest.csv'}: {len(keep)} of {len(rows)} clips, {split['train']} train / "
          f"{split['test']} test, pieces never in {train}")


if __name__ == "__main__":
    main()
