"""One markdown row per model with the real-music targets, from `loev eval` results on track corpora.

Used for the validation tables of docs/real-music.md and docs/experiments.md (the ablation of the encoder's
pathways, the choice of the fine-tunes): each column is one target row of `results.json`'s summary.

    .venv/bin/python scripts/real_table.py runs/abl-val/results.json runs/abl-unseen/results.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

COLUMNS = (  # (header, start of the summary row's target text)
    ("pitch ratio (>= 3)", "Z.pitch_shift / Z.invariant"),
    ("pitch Spearman (>= 0.9)", "Z.pitch_shift distance rises"),
    ("stretch ratio (>= 2)", "Z.time_stretch / Z.invariant"),
    ("same-rec. P@1 Z.invariant (>= 0.6)", "same-recording P@1 in Z.invariant >= 0.6"),
    ("same-rec. P@1 best", "same-recording P@1, best"),
    ("degraded top-1 best (>= 0.95)", "degraded-copy top-1"),
)


def rows(path: Path) -> list[list[str]]:
    results = json.loads(path.read_text())
    set_name = path.parent.name.rsplit("-", 1)[-1]  # runs/NAME-val -> val
    out = []
    for model in results["models"]:
        cells = [model, set_name]
        for _, prefix in COLUMNS:
            row = next((r for r in results["summary"] if r["model"] == model and r["target"].startswith(prefix)),
                       None)
            if row is None or row["measured"] is None:
                cells.append("–")
            else:
                mark = {True: "", False: " ✗", None: ""}[row["passed"]]
                cells.append(f"{row['measured']:.3f}{mark}")
        out.append(cells)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="+", type=Path, help="results.json files of `loev eval` on track corpora")
    args = ap.parse_args()
    header = ["model", "set", *[h for h, _ in COLUMNS]]
    print("| " + " | ".join(header) + " |")
    print("| " + " | ".join("---" for _ in header) + " |")
    for path in args.results:
        for cells in rows(path):
            print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
