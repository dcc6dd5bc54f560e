"""Plotly figures of the dashboard. WebGL (Scattergl) for maps so 20,000 points stay interactive."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative

PALETTE = qualitative.Plotly + qualitative.D3[3:] + qualitative.Set2
MAX_LEGEND_CATEGORIES = 24
HOVER_COLUMNS = 4


def _layout(fig: go.Figure, height: int = 560, legend: bool = True) -> go.Figure:
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=30, b=10), showlegend=legend,
                      legend=dict(itemsizing="constant", font=dict(size=11)), hoverlabel=dict(font_size=12),
                      uirevision="keep")
    fig.update_xaxes(showticklabels=False, title=None, zeroline=False, showgrid=False)
    fig.update_yaxes(showticklabels=False, title=None, zeroline=False, showgrid=False)
    return fig


def _hover(meta: pd.DataFrame, labels: Sequence[str]) -> tuple[np.ndarray, str]:
    cols = ["row", "name", *labels[:HOVER_COLUMNS]]
    custom = meta[cols].astype(object).to_numpy()
    shown = labels[:HOVER_COLUMNS]
    lines = ["<b>%{customdata[1]}</b>"] + [f"{c}: %{{customdata[{i + 2}]}}" for i, c in enumerate(shown)]
    return custom, "<br>".join(lines) + "<extra></extra>"


def scatter_map(coords: np.ndarray, meta: pd.DataFrame, color_by: str | None, labels: Sequence[str],
                highlight: int | None = None, height: int = 560, title: str | None = None) -> go.Figure:
    """A map of `meta`'s rows at `coords`; categories become legend entries (click to hide).

    `customdata[0]` of every point is its corpus row, which is how selections are mapped back.
    """
    fig = go.Figure()
    custom, template = _hover(meta, list(labels))
    size = 7 if len(meta) < 2000 else 4 if len(meta) < 10000 else 3
    values = meta[color_by] if color_by in meta.columns else None
    if values is None:
        fig.add_trace(go.Scattergl(x=coords[:, 0], y=coords[:, 1], mode="markers", customdata=custom,
                                   hovertemplate=template, marker=dict(size=size, color=PALETTE[0]), name="clips"))
    elif pd.api.types.is_numeric_dtype(values) and values.nunique() > MAX_LEGEND_CATEGORIES // 2:
        fig.add_trace(go.Scattergl(x=coords[:, 0], y=coords[:, 1], mode="markers", customdata=custom,
                                   hovertemplate=template, name=color_by, showlegend=False,
                                   marker=dict(size=size, color=values, colorscale="Viridis", showscale=True,
                                               colorbar=dict(title=color_by, thickness=12))))
    else:
        text = values.astype(str)
        cats = sorted(text.unique(), key=_natural)
        many = len(cats) > MAX_LEGEND_CATEGORIES
        for i, cat in enumerate(cats):
            m = (text == cat).to_numpy()
            fig.add_trace(go.Scattergl(x=coords[m, 0], y=coords[m, 1], mode="markers", customdata=custom[m],
                                       hovertemplate=template, name=cat, showlegend=not many,
                                       marker=dict(size=size, color=PALETTE[i % len(PALETTE)])))
    if highlight is not None:
        where = np.flatnonzero(meta["row"].to_numpy() == highlight)
        if where.size:
            j = int(where[0])
            fig.add_trace(go.Scatter(x=[coords[j, 0]], y=[coords[j, 1]], mode="markers", name="selected clip",
                                     customdata=custom[j:j + 1], hovertemplate=template,
                                     marker=dict(size=18, symbol="star", color="#ffffff",
                                                 line=dict(color="#ff7f50", width=2))))
    if title:
        fig.update_layout(title=dict(text=title, font=dict(size=14), x=0.01))
    return _layout(fig, height)


def add_trajectory(fig: go.Figure, xy: np.ndarray, values: Sequence[float], unit: str) -> go.Figure:
    """Overlay a transformed clip's path: one marker per amount, joined in order, ends labelled."""
    text = [f"{v:+g}" if unit != "rate" else f"x{v:g}" for v in values]
    ends = (0, len(values) // 2, len(values) - 1)
    fig.add_trace(go.Scatter(x=xy[:, 0], y=xy[:, 1], mode="lines+markers+text", name=f"trajectory ({unit})",
                             text=[t if i in ends else "" for i, t in enumerate(text)],
                             textposition="top center", hovertext=[f"{t} {unit}" for t in text], hoverinfo="text",
                             line=dict(color="#ffd166", width=3),
                             marker=dict(size=9, color=list(range(len(values))), colorscale="Plasma",
                                         line=dict(color="#111", width=1))))
    return fig


def curves_figure(curves: Mapping[str, Mapping[str, Mapping[str, list]]], subspaces: Sequence[str],
                  unit: str, height: int = 460) -> go.Figure:
    """Mean cosine distance with its 95 % band, colour per subspace, dash per model."""
    fig = go.Figure()
    dashes = ["solid", "dash", "dot", "dashdot"]
    colours = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(subspaces)}
    for m_i, (model, per_sub) in enumerate(curves.items()):
        for s in subspaces:
            if s not in per_sub:
                continue
            c = per_sub[s]
            x, lo, hi = list(c["values"]), list(c["lo"]), list(c["hi"])
            name = f"{model} · {s}" if len(curves) > 1 else s
            fig.add_trace(go.Scatter(x=x + x[::-1], y=hi + lo[::-1], fill="toself", fillcolor=colours[s],
                                     opacity=0.08 if len(curves) * len(subspaces) > 4 else 0.15, line=dict(width=0),
                                     hoverinfo="skip", showlegend=False,
                                     legendgroup=name))
            fig.add_trace(go.Scatter(x=x, y=c["mean"], mode="lines+markers", name=name, legendgroup=name,
                                     line=dict(color=colours[s], dash=dashes[m_i % len(dashes)], width=2)))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=30, b=10), xaxis_title=unit,
                      yaxis_title="cosine distance to the original", legend=dict(font=dict(size=11)),
                      hovermode="x unified")
    return fig


def metrics_figure(long: pd.DataFrame) -> go.Figure:
    """Training curves: every loss term against the step (learning rate on its own axis)."""
    fig = go.Figure()
    for i, (series, g) in enumerate(long.groupby("series", sort=False)):
        fig.add_trace(go.Scatter(x=g["step"], y=g["value"], name=series, mode="lines",
                                 yaxis="y2" if series == "lr" else "y",
                                 line=dict(color=PALETTE[i % len(PALETTE)], dash="dot" if series == "lr" else "solid")))
    fig.update_layout(height=340, margin=dict(l=10, r=10, t=40, b=10), xaxis_title="step", yaxis_title="loss",
                      yaxis2=dict(title="learning rate", overlaying="y", side="right", showgrid=False),
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0, font=dict(size=11)))
    return fig


def _natural(s: str) -> tuple:
    try:
        return (0, float(s), s)
    except ValueError:
        return (1, 0.0, s)


def scores_figure(table: pd.DataFrame, height: int = 380) -> go.Figure:
    """Grouped bars of a results table: one group per row (model / subspace), one bar per column."""
    fig = go.Figure()
    for i, col in enumerate(table.columns):
        fig.add_trace(go.Bar(x=[str(r) for r in table.index], y=table[col].tolist(), name=str(col),
                             marker_color=PALETTE[i % len(PALETTE)]))
    unit = bool(((table.fillna(0) >= 0) & (table.fillna(0) <= 1)).all().all())  # scores in [0, 1]: a fixed axis
    fig.update_layout(barmode="group", height=height, margin=dict(l=10, r=10, t=30, b=10), yaxis_title="score",
                      yaxis_range=[0, 1] if unit else None, legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0,
                                                      font=dict(size=11)))
    return fig
