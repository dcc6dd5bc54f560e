"""Render assets/bench/*.json into the README block between <!-- bench:start --> and <!-- bench:end -->."""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

HEADLINES = {
    "augment": [("speedup", "batched augmentation vs per-clip pipeline (x, goal >= 5)")],
    "train": [("loev_over_simclr", "LOEV / SimCLR step time (goal <= 1.1)"),
              ("loevpp_over_simclr", "LOEV++ / SimCLR step time (goal <= 1.5)"),
              ("data_fraction_of_loev_step", "decode + augment share of a LOEV step, serial upper bound (goal < 0.3)")],
    "embed": [("realtime_factor", "`loev embed` real-time factor, bundled LOEV++, 44.1 kHz ogg + mp3 (goal >= 600)"),
              ("realtime_factor_if_cores_idle", "the same from its CPU time, every core free for it"),
              ("model_only_realtime_factor", "model alone, waves in memory (x real time)"),
              ("model_fraction_of_peak", "model GFLOP/s / matmul peak at the same precision and threads")],
    "search": [("exact_100k_p50_ms", "exact index, 100k items, p50 ms/query (goal <= 20)"),
               ("approx_1m_p50_ms", "HNSW, 1M items, p50 ms/query (goal <= 2)"),
               ("approx_1m_recall_at_10", "HNSW, 1M items, recall@10 (goal >= 0.95)")],
}


def render(folder: Path) -> str:
    rows = ["| benchmark | measure | value |", "| --- | --- | --- |"]
    for name, items in HEADLINES.items():
        path = folder / f"{name}.json"
        if not path.exists():
            continue
        data = json.loads(path.read_text())
        for key, label in items:
            if key in data:
                rows.append(f"| `loev bench {name}` | {label} | {data[key]} |")
    dash = folder / "dashboard.json"
    if dash.exists():
        data = json.loads(dash.read_text())
        for key, value in data.items():
            if isinstance(value, (int, float)) and "umap" in key:
                rows.append(f"| `loev bench dashboard` | {key} | {value} |")
    visit = folder / "first_visit.json"
    if visit.exists():
        data = json.loads(visit.read_text())
        rows.append(f"| `loev bench dashboard --first-visit` | `--prepare` from empty caches / again (s) | "
                    f"{data['prepare_s']} / {data['prepare_again_s']} |")
        for page, times in data["pages"].items():
            rows.append(f"| `loev bench dashboard --first-visit` | {page}: first / warm visit in Chromium (s, goal "
                        f"{'5' if page == 'models' else '3'} / 1.5) | {times['first_s']} / {times['warm_s']} |")
    crowd = folder / "concurrent.json"
    if crowd.exists():
        data = json.loads(crowd.read_text())
        label = (f"{data['sessions']} users at once, {data['items']:,}-item index, retrieval page "
                 f"(s, goal < {data['target_s']:g})")
        rows.append(f"| `loev bench dashboard --concurrent` | {label}: slowest page load / slowest search | "
                    f"{max(data['page_loads_s'])} / {max(data['retrievals_s'])} |")
    note = (f"\nMeasured on a shared 2-core CPU ({platform.machine()}); absolute times are noisy there, ratios "
            "come from one run. Full JSON in `assets/bench/`; rerun with `scripts/run_benchmarks.sh`.")
    return "\n".join(rows) + "\n" + note


def main(readme: str) -> None:
    path = Path(readme)
    text = path.read_text()
    start, end = "<!-- bench:start -->", "<!-- bench:end -->"
    if start not in text or end not in text:
        sys.exit(f"{readme}: benchmark markers missing")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    path.write_text(f"{head}{start}\n{render(Path('assets/bench'))}\n{end}{tail}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "README.md")
