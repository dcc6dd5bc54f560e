"""Figures of an evaluation: equivariance curves and probe bar charts, as PNG (matplotlib) and as
interactive plotly figures (combined into one self-contained HTML page by `report`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from loev_core.evaluation.summary import DEGRADED_TOP1
from loev_core.evaluation.transforms import UNITS

TITLES = {"pitch_shift": "Pitch shift", "time_stretch": "Time stretch", "gain": "Gain"}
BAR_METRICS = (("key", "weighted_score", "key weighted score"), ("tempo", "acc1", "tempo acc1"),
               ("instrument", "accuracy", "instrument accuracy"), ("pitch_shift", "accuracy", "pitch-shift acc."))
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def _colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def curves_png(results: dict[str, Any], transform: str, path: Path) -> Path:
    """One panel per model, one line per subspace with its 95 % band (the paper's pitch-shift figure)."""
    models = [(n, m) for n, m in results["models"].items() if transform in m["curves"]]
    fig = Figure(figsize=(4.2 * max(len(models), 1), 3.6), layout="constrained")
    axes = fig.subplots(1, max(len(models), 1), sharey=True, squeeze=False)[0]
    for ax, (name, m) in zip(axes, models, strict=False):
        for i, (space, c) in enumerate(m["curves"][transform].items()):
            ax.plot(c["values"], c["mean"], marker="o", ms=3, color=_colour(i), label=space)
            ax.fill_between(c["values"], c["lo"], c["hi"], color=_colour(i), alpha=0.2, linewidth=0)
        ax.set_title(f"{name} ({m['kind']})")
        ax.set_xlabel(f"{TITLES.get(transform, transform)} ({UNITS.get(transform, '')})")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("cosine distance to the clean clip")
    fig.savefig(path, dpi=110)
    return path


def _bar_rows(results: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(f"{n}\n{s}", kinds) for n, m in results["models"].items() for s, kinds in m["probes"].items()]


def probes_png(results: dict[str, Any], path: Path) -> Path:
    """Grouped bars: per model/subspace, one bar per probe kind, one panel per task metric."""
    rows = _bar_rows(results)
    kinds = list(results["options"]["probes"])
    fig = Figure(figsize=(max(6.0, 0.55 * len(rows) + 2), 2.6 * len(BAR_METRICS)), layout="constrained")
    axes = fig.subplots(len(BAR_METRICS), 1, sharex=True, squeeze=False)[:, 0]
    width = 0.8 / max(len(kinds), 1)
    for ax, (task, metric, label) in zip(axes, BAR_METRICS, strict=True):
        for j, kind in enumerate(kinds):
            ys = [r.get(kind, {}).get(task, {}).get(metric, float("nan")) for _, r in rows]
            ax.bar([i + (j - (len(kinds) - 1) / 2) * width for i in range(len(rows))], ys, width,
                   color=_colour(j), label=kind)
        ax.set_ylabel(label)
        ax.set_ylim(0, 1)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8)
    axes[-1].set_xticks(range(len(rows)), [r for r, _ in rows], rotation=60, fontsize=7, ha="right")
    fig.savefig(path, dpi=110)
    return path


def curves_plotly(results: dict[str, Any], transform: str) -> Any:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    models = [(n, m) for n, m in results["models"].items() if transform in m["curves"]]
    fig = make_subplots(rows=1, cols=max(len(models), 1), shared_yaxes=True,
                        subplot_titles=[f"{n} ({m['kind']})" for n, m in models])
    for col, (name, m) in enumerate(models, start=1):
        for i, (space, c) in enumerate(m["curves"][transform].items()):
            group = f"{name}/{space}"
            fig.add_trace(go.Scatter(x=c["values"] + c["values"][::-1], y=c["hi"] + c["lo"][::-1], fill="toself",
                                     fillcolor=_colour(i), opacity=0.2, line={"width": 0}, hoverinfo="skip",
                                     legendgroup=group, showlegend=False), row=1, col=col)
            fig.add_trace(go.Scatter(x=c["values"], y=c["mean"], mode="lines+markers", name=group,
                                     legendgroup=group, line={"color": _colour(i)},
                                     customdata=list(zip(c["lo"], c["hi"], strict=True)),
                                     hovertemplate="%{x}: %{y:.4f} [%{customdata[0]:.4f}, %{customdata[1]:.4f}]"),
                          row=1, col=col)
        fig.update_xaxes(title_text=f"{TITLES.get(transform, transform)} ({UNITS.get(transform, '')})",
                         row=1, col=col)
    fig.update_yaxes(title_text="cosine distance", row=1, col=1)
    fig.update_layout(title=f"Equivariance: {TITLES.get(transform, transform)}", height=420)
    return fig


def probes_plotly(results: dict[str, Any]) -> Any:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    rows = _bar_rows(results)
    labels = [r.replace("\n", " / ") for r, _ in rows]
    fig = make_subplots(rows=len(BAR_METRICS), cols=1, shared_xaxes=True,
                        subplot_titles=[b[2] for b in BAR_METRICS])
    for i, (task, metric, _) in enumerate(BAR_METRICS, start=1):
        for j, kind in enumerate(results["options"]["probes"]):
            ys = [r.get(kind, {}).get(task, {}).get(metric) for _, r in rows]
            fig.add_trace(go.Bar(x=labels, y=ys, name=kind, marker_color=_colour(j), legendgroup=kind,
                                 showlegend=i == 1), row=i, col=1)
    fig.update_layout(title="Probes on frozen embeddings (test split)", barmode="group",
                      height=260 * len(BAR_METRICS))
    return fig


RECORDING_METRICS = (("same_track_p1", "same-recording P@1", None),
                     ("degraded_top1", "degraded-copy top-1", DEGRADED_TOP1.threshold))  # the target, stated once


def _recording_rows(results: dict[str, Any], metric: str) -> tuple[list[str], list[str], list[float], list[float],
                                                                   list[float]]:
    """(labels "model / subspace", the model of each, values, distance down to the interval's low end, up to its
    high end)."""
    labels, models, ys, down, up = [], [], [], [], []
    for name, per in results["recordings"]["models"].items():
        for space, v in per.items():
            y = v.get(metric)
            y = float("nan") if y is None else float(y)
            lo, hi = v.get(f"{metric}_ci") or (None, None)
            labels.append(f"{name} / {space}")
            models.append(name)
            ys.append(y)
            down.append(0.0 if lo is None or y != y else max(0.0, y - lo))
            up.append(0.0 if hi is None or y != y else max(0.0, hi - y))
    return labels, models, ys, down, up


def _model_colours(results: dict[str, Any], models: list[str]) -> list[str]:
    """One colour per model, so a model's subspaces read as one group."""
    order = list(results["recordings"]["models"])
    return [_colour(order.index(m)) for m in models]


def recordings_png(results: dict[str, Any], path: Path) -> Path:
    """Same-recording P@1 and degraded-copy top-1 per model and subspace, with the 95 % interval over tracks
    as the error bar and the 0.95 bar of the degraded-copy target: which subspace keeps a recording's identity."""
    n = sum(len(per) for per in results["recordings"]["models"].values())
    fig = Figure(figsize=(max(6.0, 0.45 * n + 2), 5.6), layout="constrained")
    axes = fig.subplots(len(RECORDING_METRICS), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (metric, label, bar) in zip(axes, RECORDING_METRICS, strict=True):
        labels, models, ys, down, up = _recording_rows(results, metric)
        ax.bar(range(len(labels)), ys, 0.7, color=_model_colours(results, models), yerr=[down, up],
               ecolor="#444444", capsize=2)
        if bar is not None:
            ax.axhline(bar, color="#444444", linestyle="--", linewidth=1)
        ax.set_ylabel(label)
        ax.set_ylim(0, 1)
        ax.grid(axis="y", alpha=0.3)
    axes[-1].set_xticks(range(len(labels)), labels, rotation=60, fontsize=7, ha="right")
    fig.savefig(path, dpi=110)
    return path


def recordings_plotly(results: dict[str, Any]) -> Any:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=len(RECORDING_METRICS), cols=1, shared_xaxes=True,
                        subplot_titles=[label for _, label, _ in RECORDING_METRICS])
    for i, (metric, label, bar) in enumerate(RECORDING_METRICS, start=1):
        labels, models, ys, down, up = _recording_rows(results, metric)
        fig.add_trace(go.Bar(x=labels, y=ys, name=label, marker_color=_model_colours(results, models),
                             error_y=dict(type="data", symmetric=False, array=up, arrayminus=down)), row=i, col=1)
        if bar is not None:
            fig.add_hline(y=bar, line_dash="dash", line_width=1, row=i, col=1)
        fig.update_yaxes(range=[0, 1], row=i, col=1)
    fig.update_layout(title="Recordings: 95 % intervals over tracks", height=560, showlegend=False)
    return fig
