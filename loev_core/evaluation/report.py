"""Write an evaluation's results: JSON, markdown tables, PNG plots, one interactive HTML page, and
optionally the README block between `<!-- eval:start -->` and `<!-- eval:end -->` (for a corpus of
recordings, between `<!-- real:start -->` and `<!-- real:end -->`), so the numbers in the README always
come from a run of `loev eval`, never from hand-typing."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from loev_core.evaluation.markdown import REAL_END, REAL_START, jsonable, update_readme
from loev_core.evaluation.markdown import fmt as _f
from loev_core.evaluation.markdown import table as _table
from loev_core.evaluation.plots import (
    curves_plotly,
    curves_png,
    probes_plotly,
    probes_png,
    recordings_plotly,
    recordings_png,
)
from loev_core.evaluation.report_recordings import recordings_section
from loev_core.evaluation.seen import trained_on_note
from loev_core.evaluation.summary import distance_at
from loev_core.files import atomic_write_text

PROBE_COLUMNS = (("key", "accuracy", "key acc"), ("key", "weighted_score", "key wscore"),
                 ("tempo", "acc1", "tempo acc1"), ("tempo", "acc2", "tempo acc2"),
                 ("instrument", "accuracy", "instr. acc"), ("pitch_shift", "accuracy", "shift acc"),
                 ("pitch_shift", "mae", "shift MAE (st)"))
QUERIES = (("clean", "clean queries"), ("pitch_shift", "pitch-shifted queries (key transposed)"),
           ("time_stretch", "time-stretched queries (tempo x rate)"))


def targets_table(results: dict[str, Any]) -> str:
    rows = [[r["target"], r["model"], _f(r["measured"]), _f(r["reference"]),
             {True: "**pass**", False: "**FAIL**", None: "n/a"}[r["passed"]], r["detail"]]
            for r in results.get("summary", [])]
    return _table(["target", "model", "measured", "SimCLR", "result", "detail"], rows) if rows else "(no targets)"


def probes_table(results: dict[str, Any]) -> str:
    """One row per model and subspace; only the tasks the corpus has labels for (a folder of recordings:
    the pitch-shift probe alone)."""
    kinds = list(results["options"]["probes"])
    probes = [by_kind for m in results["models"].values() for by_kind in m["probes"].values()]
    columns = [c for c in PROBE_COLUMNS if any(c[0] in by_kind.get(k, {}) for by_kind in probes for k in kinds)]
    rows = []
    for name, m in results["models"].items():
        for space, by_kind in m["probes"].items():
            cells = [" / ".join(_f(by_kind.get(k, {}).get(t, {}).get(metric)) for k in kinds)
                     for t, metric, _ in columns]
            rows.append([name, space, *cells])
    return _table(["model", "subspace", *[c[2] for c in columns]], rows)


def retrieval_tasks(results: dict[str, Any], query: str) -> list[str]:
    """Label tasks scored for `query` by any model and subspace (none without labels)."""
    return [t for t in ("key", "tempo", "instrument")
            if any(t in r.get(query, {}) for m in results["models"].values() for r in m["retrieval"].values())]


def retrieval_table(results: dict[str, Any], query: str) -> str:
    ks = results["options"]["ks"]
    tasks = retrieval_tasks(results, query)
    rows = [[name, space, *[_f(r.get(query, {}).get(t, {}).get(f"P@{k}")) for t in tasks for k in ks]]
            for name, m in results["models"].items() for space, r in m["retrieval"].items()]
    return _table(["model", "subspace", *[f"{t} P@{k}" for t in tasks for k in ks]], rows)


def curve_points(results: dict[str, Any]) -> list[tuple[str, float, str]]:
    """Which curve points the tables show: pitch +-2/4/6, and the ends of the other ranges."""
    opts = results["options"]["curve_values"]
    shifts = {abs(v) for v in opts.get("pitch_shift", [])}
    pts = [("pitch_shift", v, f"pitch ±{v:g} st") for v in (2.0, 4.0, 6.0) if v in shifts]
    for t, unit in (("time_stretch", "x"), ("gain", " dB")):
        for v in sorted({min(opts.get(t, [0])), max(opts.get(t, [0]))} & set(opts.get(t, []))):
            pts.append((t, v, f"{t.replace('_', ' ')} {v:g}{unit}"))
    return pts


def curves_table(results: dict[str, Any]) -> str:
    """Curve points per model and subspace, and the distance between two different clips there (the
    scale to read them on: a copy as far as another clip has lost what the transform changed)."""
    pts = curve_points(results)
    rows = []
    for name, m in results["models"].items():
        for space in m["subspaces"]:
            cells = []
            for t, v, _ in pts:
                c = m["curves"].get(t, {}).get(space)
                cells.append(_f(distance_at(c, v) if t == "pitch_shift" and c else
                                c["mean"][c["values"].index(v)] if c else None, 4))
            between = next((c[space].get("between") for c in m["curves"].values() if space in c), None)
            rows.append([name, space, *cells, _f(between, 4), rise_text(m["curves"].get("pitch_shift", {}).get(space))])
    return _table(["model", "subspace", *[p[2] for p in pts], "between clips", "pitch rise [95%]"], rows)


def rise_text(curve: dict[str, Any] | None, key: str = "rise") -> str:
    """A curve statistic with its interval over clips, e.g. "0.97 [0.93, 0.99]": the Spearman of the distance
    against |shift| ("rise"), or the +-1 over +-4 distance ("near_far")."""
    def finite(k: str) -> bool:
        return isinstance((curve or {}).get(k), (int, float)) and math.isfinite(curve[k])

    if not finite(key):  # absent (older results), undefined, or NaN read back from JSON as null
        return "–"
    if not (finite(f"{key}_lo") and finite(f"{key}_hi")):  # one clip: nothing to resample
        return f"{curve[key]:.2f} [–]"
    return f"{curve[key]:.2f} [{curve[f'{key}_lo']:.2f}, {curve[f'{key}_hi']:.2f}]"


def moves_without_grading(curve: dict[str, Any] | None, moved: float = 0.1, graded: float = 0.5) -> bool:
    """A curve that clearly moves (mean distance above `moved` somewhere) but does not rise with the size of the
    change (Spearman under `graded`): the subspace notices the transform without measuring it, e.g. a distance
    that peaks at small stretches and falls back at large ones. Worth saying next to the figure."""
    if not curve or not isinstance(curve.get("rise"), (int, float)) or not math.isfinite(curve["rise"]):
        return False
    return max(curve.get("mean") or [0.0]) > moved and curve["rise"] < graded


def _curve_clips(results: dict[str, Any]) -> str:
    every = results.get("curve_rows", "test split") != "test split"
    note = trained_on_note(results)
    return f"clips (no split column: every clip is scored{'; ' + note if note else ''})" if every else "test clips"


def _seen_warning(results: dict[str, Any]) -> list[str]:
    """With a split column, a model that trained on the test rows is named at the top (without one, the curve
    note says it)."""
    every = results.get("curve_rows", "test split") != "test split"
    return [] if every or not results.get("seen") else [f"Warning: {trained_on_note(results)}.", ""]


def _sampled(results: dict[str, Any]) -> str:
    listed = results.get("n_listed") or {}
    if not any(listed.get(s, 0) > results[f"n_{s}"] for s in ("train", "test")):
        return ""
    if "skipped" not in results:  # results written before the skipped files were recorded
        return f" (of {listed['train']} / {listed['test']} listed: a seeded sample, or unreadable files skipped)"
    n = len(results["skipped"])
    sampled = sum(listed.get(s, 0) for s in ("train", "test")) - results["n_train"] - results["n_test"] > n
    why = "; ".join([*(["a seeded sample"] if sampled else []), *([f"{n} left out, listed below"] if n else [])])
    return f" (of {listed['train']} / {listed['test']} listed: {why})"


def skipped_lines(results: dict[str, Any], shown: int = 10) -> list[str]:
    """The files left out and why (unreadable, silent, too short), so a user can mend or remove them."""
    skipped = results.get("skipped") or []
    if not skipped:
        return []
    more = f"; and {len(skipped) - shown} more" if len(skipped) > shown else ""
    return [f"Left out ({len(skipped)}): " + "; ".join(f"`{s}`" for s in skipped[:shown]) + more + ".", ""]


def _labels_note(results: dict[str, Any]) -> str:
    labelled = results.get("labelled")
    if labelled is None:
        return "labels from the manifest"
    have = [t for t, ok in labelled.items() if ok]
    if have:
        return f"labels: {', '.join(have)}"
    return "no labels: the pitch-shift probe, the curves" + (" and the recordings" if results.get("recordings") else "")


FEW_TEST_CLIPS = 20  # below this, a probe's test score moves by 5 points or more per clip


def _few_test_clips(results: dict[str, Any]) -> list[str]:
    """A warning above the probe table when the test split is too small for its scores to mean much."""
    n = results["n_test"]
    if n >= FEW_TEST_CLIPS:
        return []
    return [f"Only {n} test clip{'s' if n != 1 else ''}: each is worth {100 / n:.0f} points of these scores, so "
            "read them as a rough guide (more files, or a larger --test-fraction, give more).", ""]


def markdown_report(results: dict[str, Any]) -> str:
    kinds = " / ".join(results["options"]["probes"])
    parts = [
        "# LOEV evaluation", "",
        f"Corpus `{results['corpus']}`: {results['n_train']} train / {results['n_test']} test clips{_sampled(results)} "
        f"({results.get('split', 'split from the manifest')}; {_labels_note(results)}). "
        f"Probes fit on train, scored on test; pitch-shift probe on {results['n_shift_clips']} clips "
        f"(input: {results['options']['shift_input']}); curves on {results['n_curve_clips']} {_curve_clips(results)}; "
        f"{results['n_query_clips']} transformed queries per transform; {results['seconds']} s.", "",
        *skipped_lines(results), *_seen_warning(results),
        "## Targets", "", targets_table(results), "",
        f"## Probes on frozen embeddings (test split; cells: {kinds})", "", *_few_test_clips(results),
        probes_table(results), "",
        "## Retrieval P@k (cosine k-NN in the clean test split, query clip excluded)", "",
    ]
    scored = [(q, title) for q, title in QUERIES if retrieval_tasks(results, q)]
    for q, title in scored:
        parts += [f"### {title}", "", retrieval_table(results, q), ""]
    if not scored:
        parts += ["(none: the corpus has no key, tempo or instrument labels to score neighbours by)", ""]
    if results.get("recordings"):
        parts += recordings_section(results)
    parts += ["## Equivariance: mean cosine distance to the clean clip", "",
              "\"between clips\": the mean distance between two different clean clips in that subspace, the "
              "scale to read the others on. \"pitch rise\": Spearman of the pitch-shift distance against |shift| "
              "and its 95 % bootstrap interval over the curve's clips.", "", curves_table(results), ""]
    return "\n".join(parts)


def readme_block(results: dict[str, Any], image: str) -> str:
    """Compact README section: the targets and the pitch-shift figure (the probe, retrieval and curve tables
    are in results.md next to the figure)."""
    return "\n".join([
        f"Generated by `loev eval` on `{results['corpus']}` ({results['n_train']} train / {results['n_test']} test "
        "clips); the probe, retrieval and curve tables, JSON and plots are written next to the figure.", "",
        targets_table(results), "", f"![pitch-shift equivariance]({image})",
    ])


def real_readme_block(results: dict[str, Any]) -> str:
    """README section for a corpus of recordings: its targets; the per-subspace tables stay in results.md."""
    rec = results["recordings"]
    return "\n".join([
        f"Generated by `loev eval` on `{results['corpus']}`: {rec['n_tracks']} test tracks never used in training, "
        f"{rec['n_clips']} clips of {rec['window_seconds']:g} s; every subspace's scores are in `results.md` next "
        "to `results.json`.", "", targets_table(results)])


def write_report(results: dict[str, Any], out_dir: Path, readme: str | Path | None = None) -> dict[str, str]:
    """results.json, results.md, <transform>.png, probes.png (recordings.png on tracks) and report.html."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {t: curves_png(results, t, out_dir / f"{t}.png")
             for t in results["options"]["curve_values"]}
    files["probes"] = probes_png(results, out_dir / "probes.png")
    figs = [curves_plotly(results, t) for t in results["options"]["curve_values"]] + [probes_plotly(results)]
    if results.get("recordings"):
        files["recordings"] = recordings_png(results, out_dir / "recordings.png")
        figs.append(recordings_plotly(results))
    body = "\n".join(f.to_html(full_html=False, include_plotlyjs=(i == 0)) for i, f in enumerate(figs))
    files["html"] = out_dir / "report.html"
    atomic_write_text(files["html"], "<!doctype html><html><head><meta charset='utf-8'><title>LOEV evaluation"
                      f"</title></head><body>{body}</body></html>")
    files["markdown"] = out_dir / "results.md"
    atomic_write_text(files["markdown"], markdown_report(results))
    files["json"] = out_dir / "results.json"
    results["files"] = {k: str(v) for k, v in files.items()}
    atomic_write_text(files["json"], json.dumps(jsonable(results), indent=1))
    if readme is not None and results.get("recordings"):
        update_readme(readme, real_readme_block(results), (REAL_START, REAL_END))
    elif readme is not None:
        figure = Path(files.get("pitch_shift", files["probes"])).resolve()
        image = Path(os.path.relpath(figure, Path(readme).resolve().parent))
        update_readme(readme, readme_block(results, image.as_posix()))
    return results["files"]
