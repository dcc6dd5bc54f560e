"""Paper-style output of the reference protocol: results.json, markdown and LaTeX tables laid out like
the paper's (rows: model and subspace; columns: tasks and their metrics) and one bar chart.

Each table is one family of numbers: the headline probe (mean ± spread over seeds), every other probe,
retrieval P@k with clean queries, and with each kind of transformed query. The best value of each
column is bold.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from loev_core.datasets.tasks import task_of
from loev_core.evaluation.markdown import jsonable
from loev_core.files import atomic_write_text

QUERY_WORDS = {"pitch_shift": "pitch-shifted queries, key transposed", "time_stretch": "time-stretched queries, "
               "tempo scaled"}
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def _rows(results: dict[str, Any]) -> list[tuple[str, str]]:
    """(model, subspace) pairs in checkpoint and subspace order."""
    seen: dict[tuple[str, str], None] = {}
    for per_model in results["tasks"].values():
        for model, per_space in per_model.items():
            for space in per_space:
                seen[(model, space)] = None
    return list(seen)


def sections(results: dict[str, Any]) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """[(title, [(task, column label, metric key)])]: the tables to print, only with columns that exist."""
    proto = results.get("protocol", {})
    head, ks = proto.get("headline_probe", "mlp"), proto.get("ks", [1, 3, 5, 10])
    tasks = list(results["tasks"])
    out = [(f"Probe: {'MLP-512' if head == 'mlp' else head} (mean ± sd over {len(proto.get('seeds', []))} seeds)",
            [(t, m, m) for t in tasks for m in task_of(t).metrics])]
    for kind in proto.get("probes", []):
        if kind != head:
            out.append((f"Probe: {kind} (mean ± sd)",
                        [(t, m, f"{kind}_{m}") for t in tasks for m in task_of(t).metrics]))
    out.append(("Retrieval P@k, clean queries", [(t, f"P@{k}", f"p_at_{k}") for t in tasks for k in ks]))
    for tr in proto.get("query_transforms", []):
        out.append((f"Retrieval P@k, {QUERY_WORDS.get(tr, tr)}", [(t, f"P@{k}", f"p_at_{k}_{tr}") for t in tasks
                                                                   for k in ks]))
    return out


def _value(results: dict[str, Any], task: str, model: str, space: str, key: str) -> tuple[float, float | None]:
    cell = results["tasks"].get(task, {}).get(model, {}).get(space, {})
    v, sd = cell.get(key), cell.get(f"{key}_std")
    return (float("nan") if v is None else float(v)), (None if sd is None else float(sd))


def _best(results: dict[str, Any], rows: list[tuple[str, str]], task: str, key: str) -> float:
    vals = [_value(results, task, m, s, key)[0] for m, s in rows]
    finite = [v for v in vals if math.isfinite(v)]
    return max(finite) if finite else float("nan")


def _cell(v: float, sd: float | None) -> str:
    if not math.isfinite(v):
        return "–"
    return f"{v:.3f}" + (f" ± {sd:.3f}" if sd is not None and math.isfinite(sd) else "")


def markdown_tables(results: dict[str, Any]) -> str:
    """The tables in markdown, with a short header saying what was run."""
    rows = _rows(results)
    parts = [f"# {results['dataset']}: reference protocol", "", _about(results), ""]
    for title, cols in sections(results):
        header = ["model", "subspace", *(f"{t} {label}" for t, label, _ in cols)]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for m, s in rows:
            cells = []
            for t, _, key in cols:
                v, sd = _value(results, t, m, s, key)
                text = _cell(v, sd)
                cells.append(f"**{text}**" if math.isfinite(v) and v == _best(results, rows, t, key) else text)
            lines.append("| " + " | ".join([m, s, *cells]) + " |")
        parts += [f"## {title}", "", *lines, ""]
    return "\n".join(parts)


def _about(results: dict[str, Any]) -> str:
    c, sk = results.get("counts", {}), results.get("skipped", {})
    train = f"trained on {results['train_dataset']}; " if results.get("train_dataset") else ""
    text = (f"{train}{c.get('train', 0)} train / {c.get('validation', 0)} validation / {c.get('test', 0)} test tracks "
            f"({results.get('split', '')}); {results.get('protocol', {}).get('chunks', '?')} chunks per track at most; "
            f"skipped {sk.get('missing', 0)} missing and {sk.get('unreadable', 0)} unreadable audio files.")
    notes = results.get("notes") or []
    return text + ("" if not notes else " Notes: " + "; ".join(notes) + ".")


def _tex(text: str) -> str:
    return "".join("\\" + ch if ch in "_&%#$" else ch for ch in str(text))


def latex_tables(results: dict[str, Any]) -> str:
    """The same tables as LaTeX (booktabs), one `table` each, task names spanning their metric columns."""
    rows = _rows(results)
    out = [f"% {_tex(results['dataset'])}: reference protocol, generated by loev eval (needs \\usepackage{{booktabs}})"]
    for title, cols in sections(results):
        groups: list[tuple[str, int]] = []
        for t, _, _ in cols:
            groups = groups[:-1] + [(t, groups[-1][1] + 1)] if groups and groups[-1][0] == t else groups + [(t, 1)]
        spans, start = [], 3
        for _, n in groups:
            spans.append(f"\\cmidrule(lr){{{start}-{start + n - 1}}}")
            start += n
        body = []
        last_model = None
        for m, s in rows:
            if last_model is not None and m != last_model:
                body.append("\\midrule")
            cells = []
            for t, _, key in cols:
                v, sd = _value(results, t, m, s, key)
                text = _cell(v, sd).replace("±", "$\\pm$").replace("–", "--")
                cells.append(f"\\textbf{{{text}}}" if math.isfinite(v) and v == _best(results, rows, t, key) else text)
            body.append(" & ".join([_tex(m) if m != last_model else "", _tex(s), *cells]) + " \\\\")
            last_model = m
        out += ["\\begin{table}[t]", "\\centering", "\\small",
                f"\\caption{{{_tex(results['dataset'])}: {_tex(title)}}}",
                f"\\begin{{tabular}}{{ll{'c' * len(cols)}}}", "\\toprule",
                " & & " + " & ".join(f"\\multicolumn{{{n}}}{{c}}{{{_tex(t)}}}" for t, n in groups) + " \\\\",
                " ".join(spans), "Model & Subspace & " + " & ".join(_tex(label) for _, label, _ in cols) + " \\\\",
                "\\midrule", *body, "\\bottomrule", "\\end{tabular}", "\\end{table}", ""]
    return "\n".join(out)


def results_frame(results: dict[str, Any]) -> pd.DataFrame:
    """Headline numbers as one wide table: index "model / subspace", columns "task metric" (for the
    dashboard); probe metrics and clean-query P@k."""
    rows = _rows(results)
    cols = [c for title, cs in sections(results)[:1] for c in cs]
    cols += [c for title, cs in sections(results) if title.endswith("clean queries") for c in cs]
    data = {f"{t} {label}": [_value(results, t, m, s, key)[0] for m, s in rows] for t, label, key in cols}
    return pd.DataFrame(data, index=[f"{m} / {s}" for m, s in rows])


def scores_png(results: dict[str, Any], path: Path) -> Path:
    """One panel per task headline metric; one bar per model and subspace (with the seed spread)."""
    rows = _rows(results)
    panels = [(t, m) for t in results["tasks"] for m in task_of(t).metrics]
    fig = Figure(figsize=(max(6.0, 0.5 * len(rows) + 2), 2.4 * max(len(panels), 1)), layout="constrained")
    axes = fig.subplots(max(len(panels), 1), 1, sharex=True, squeeze=False)[:, 0]
    models = list(dict.fromkeys(m for m, _ in rows))
    for ax, (task, metric) in zip(axes, panels, strict=False):
        vals = [_value(results, task, m, s, metric) for m, s in rows]
        ax.bar(range(len(rows)), [v for v, _ in vals], yerr=[sd or 0.0 for _, sd in vals],
               color=[PALETTE[models.index(m) % len(PALETTE)] for m, _ in rows])
        ax.set_ylabel(f"{task}\n{metric}")
        ax.set_ylim(0, 1)
        ax.grid(axis="y", alpha=0.3)
    axes[-1].set_xticks(range(len(rows)), [f"{m} / {s}" for m, s in rows], rotation=60, fontsize=7, ha="right")
    fig.suptitle(f"{results['dataset']}: probe scores on frozen embeddings")
    fig.savefig(path, dpi=110)
    return path


def write_tables(results: dict[str, Any], out_dir: Path) -> dict[str, str]:
    """results.json, results.md, results.tex and results.png in `out_dir`; returns {kind: path}."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {"markdown": out_dir / "results.md", "latex": out_dir / "results.tex", "plot": out_dir / "results.png",
             "json": out_dir / "results.json"}
    atomic_write_text(files["markdown"], markdown_tables(results))
    atomic_write_text(files["latex"], latex_tables(results))
    scores_png(results, files["plot"])
    results["files"] = {k: str(v) for k, v in files.items()}
    atomic_write_text(files["json"], json.dumps(jsonable(results), indent=1))
    return results["files"]
