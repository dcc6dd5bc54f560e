"""Plotly figures of the dashboard. WebGL (Scattergl) for maps so 20,000 points stay interactive.

Keys are coloured on the circle of fifths (`loev_core.keys.key_colour`) everywhere a map is coloured by
key, with `key_wheel` as their legend; numeric labels (tempo) get a continuous scale with a colour bar."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative

from loev_core.keys import KEYS_BY_FIFTHS, fifths_position, key_colour, normalize_key

PALETTE = qualitative.Plotly + qualitative.D3[3:] + qualitative.Set2
MAX_LEGEND_CATEGORIES = 24
HOVER_COLUMNS = 4
UNKNOWN_KEY = "#7f7f7f"  # clips whose key label is missing or not a key
NUMERIC_SCALE = "Viridis"


def _canonical_key(value: object) -> str | None:
    try:
        return normalize_key(str(value))
    except ValueError:
        return None


def is_key_column(name: str | None, values: pd.Series | None) -> bool:
    """A label to colour on the circle of fifths: named like a key, and mostly parseable as one."""
    if not name or values is None or "key" not in name.lower() or not len(values):
        return False
    return values.astype(str).map(_canonical_key).notna().mean() >= 0.5


def is_numeric_column(values: pd.Series | None) -> bool:
    """A label drawn on a continuous colour scale (tempo, any number with more than two values)."""
    return values is not None and pd.api.types.is_numeric_dtype(values) and values.nunique() > 2


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


COLOUR_UNITS = {"tempo": "tempo (BPM)", "duration": "duration (s)", "start": "start (s)"}


def scatter_map(coords: np.ndarray, meta: pd.DataFrame, color_by: str | None, labels: Sequence[str],
                highlight: int | None = None, height: int = 560, title: str | None = None,
                legend: bool = True) -> go.Figure:
    """A map of `meta`'s rows at `coords`; categories become legend entries (click to hide), keys are
    coloured on the circle of fifths (legend in its order), numbers on a colour scale. `legend=False`
    hides the legend and colour bar (for a map drawn beside another, or beside `key_wheel`).

    `customdata[0]` of every point is its corpus row, which is how selections are mapped back.
    """
    fig = go.Figure()
    custom, template = _hover(meta, list(labels))
    size = 7 if len(meta) < 2000 else 4 if len(meta) < 10000 else 3
    values = meta[color_by] if color_by in meta.columns else None
    if values is None:
        fig.add_trace(go.Scattergl(x=coords[:, 0], y=coords[:, 1], mode="markers", customdata=custom,
                                   hovertemplate=template, marker=dict(size=size, color=PALETTE[0]), name="clips"))
    elif is_key_column(color_by, values):
        _key_traces(fig, coords, values, custom, template, size)
    elif is_numeric_column(values):
        fig.add_trace(go.Scattergl(x=coords[:, 0], y=coords[:, 1], mode="markers", customdata=custom,
                                   hovertemplate=template, name=color_by, showlegend=False,
                                   marker=dict(size=size, color=values, colorscale=NUMERIC_SCALE, showscale=legend,
                                               colorbar=dict(title=COLOUR_UNITS.get(color_by, color_by),
                                                             thickness=12))))
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
    _layout(fig, height, legend)
    if title:
        fig.update_layout(title=dict(text=title, font=dict(size=14), x=0.01))
    else:  # no title to make room for: the map starts right under what is above it
        fig.update_layout(margin=dict(t=12))
    return fig


def _key_traces(fig: go.Figure, coords: np.ndarray, values: pd.Series, custom: np.ndarray, template: str,
                size: int) -> None:
    """One trace per key in circle-of-fifths order (majors, then minors), other labels grey."""
    canon = values.astype(str).map(_canonical_key)
    for key in KEYS_BY_FIFTHS:
        m = (canon == key).to_numpy()
        if m.any():
            fig.add_trace(go.Scattergl(x=coords[m, 0], y=coords[m, 1], mode="markers", customdata=custom[m],
                                       hovertemplate=template, name=key, legendgroup=key,
                                       marker=dict(size=size, color=key_colour(key))))
    rest = canon.isna().to_numpy()
    if rest.any():
        fig.add_trace(go.Scattergl(x=coords[rest, 0], y=coords[rest, 1], mode="markers", customdata=custom[rest],
                                   hovertemplate=template, name="other / unknown",
                                   marker=dict(size=size, color=UNKNOWN_KEY, opacity=0.6)))


def key_wheel(counts: Mapping[str, int] | None = None, marked: Sequence[str] = (), size: int = 230) -> go.Figure:
    """The key colours as a circle of fifths: majors round the outside, their relative minors inside.

    `counts` (key -> clips) goes into the hover text and fades keys without clips; `marked` keys get a
    white ring (the selected clip's key, or a query's)."""
    counts = {normalize_key(k): int(n) for k, n in (counts or {}).items() if _canonical_key(k)}
    marked = {k for k in (_canonical_key(m) for m in marked) if k}
    fig = go.Figure()
    for mode, base, depth, r_text, font in (("major", 0.6, 0.4, 0.8, "#111"), ("minor", 0.2, 0.38, 0.4, "#fff")):
        keys = [k for k in KEYS_BY_FIFTHS if k.endswith(mode)]
        theta = [30.0 * fifths_position(k) for k in keys]
        short = [k.split()[0] if mode == "major" else k.split()[0].lower() for k in keys]
        hover = [f"{k}" + (f" · {counts.get(k, 0)} clips" if counts else "") for k in keys]
        fig.add_trace(go.Barpolar(
            r=[depth] * 12, base=[base] * 12, theta=theta, width=[29.0] * 12, hovertext=hover, hoverinfo="text",
            marker=dict(color=[key_colour(k) for k in keys],
                        opacity=[1.0 if not counts or counts.get(k) else 0.25 for k in keys],
                        line=dict(color=["#ffffff" if k in marked else "rgba(0,0,0,0)" for k in keys],
                                  width=[3 if k in marked else 0 for k in keys])),
            name=mode, showlegend=False))
        fig.add_trace(go.Scatterpolar(r=[r_text] * 12, theta=theta, mode="text", text=short, hoverinfo="skip",
                                      textfont=dict(color=font, size=11 if mode == "major" else 10),
                                      showlegend=False))
    fig.update_layout(height=size, width=size, margin=dict(l=4, r=4, t=4, b=4), paper_bgcolor="rgba(0,0,0,0)",
                      polar=dict(bgcolor="rgba(0,0,0,0)", radialaxis=dict(visible=False, range=[0, 1]),
                                 angularaxis=dict(visible=False, rotation=90, direction="clockwise")),
                      bargap=0)
    return fig


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


CURVE_MIN_TOP = 0.1  # cosine distance: under this a transformed copy has barely moved


def curves_figure(curves: Mapping[str, Mapping[str, Mapping[str, list]]], subspaces: Sequence[str],
                  unit: str, height: int = 460, colour_by: str = "subspace") -> go.Figure:
    """Mean cosine distance with its 95 % band, colour per subspace and dash per model (or, `colour_by="model"`,
    colour per model: the same subspace of two models must not share a colour)."""
    fig = go.Figure()
    dashes = ["solid", "dash", "dot", "dashdot"]
    colours = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(subspaces)}
    for m_i, (model, per_sub) in enumerate(curves.items()):
        for s in subspaces:
            if s not in per_sub:
                continue
            if colour_by == "model":
                colours[s] = PALETTE[m_i % len(PALETTE)]
            c = per_sub[s]
            x, lo, hi = list(c["values"]), list(c["lo"]), list(c["hi"])
            name = f"{model} · {s}" if len(curves) > 1 else s
            fig.add_trace(go.Scatter(x=x + x[::-1], y=hi + lo[::-1], fill="toself", fillcolor=colours[s],
                                     opacity=0.08 if len(curves) * len(subspaces) > 4 else 0.15, line=dict(width=0),
                                     hoverinfo="skip", showlegend=False,
                                     legendgroup=name))
            fig.add_trace(go.Scatter(x=x, y=c["mean"], mode="lines+markers", name=name, legendgroup=name,
                                     line=dict(color=colours[s], dash=dashes[m_i % len(dashes)], width=2)))
    # from 0, and at least to 0.1: curves that barely move (gain) must look flat, not steep on a 0-0.008 axis
    tops = [max(c["hi"]) for per_sub in curves.values() for s, c in per_sub.items() if s in subspaces and c["hi"]]
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=30, b=10), xaxis_title=unit,
                      yaxis_title="cosine distance to the original", legend=dict(font=dict(size=11)),
                      hovermode="x unified", yaxis_range=[0, max([CURVE_MIN_TOP, *(1.08 * t for t in tops)])])
    return fig


CURVE_POINTS = 500  # points per training-curve series on the Models page (a checkpoint's stages hold up to ~1,200)


def metrics_figure(long: pd.DataFrame) -> go.Figure:
    """Training curves: every loss term against the step (learning rate on its own axis); with a `stage` column
    (`runinfo.read_stages`), a dotted line and the stage's name where each stage starts."""
    fig = go.Figure()
    if "stage" in long.columns and long["stage"].nunique() > 1:
        for name, start in long.groupby("stage", sort=False)["step"].min().iloc[1:].items():
            fig.add_vline(x=float(start), line=dict(color="gray", width=1, dash="dot"), annotation_text=str(name),
                          annotation_textangle=-90, annotation_position="top left",
                          annotation_font=dict(size=10, color="gray"))
    for i, (series, g) in enumerate(long.groupby("series", sort=False)):
        g = g.iloc[::-(-len(g) // CURVE_POINTS)]  # every n-th logged step: a screen-wide line, not 1,200 points
        fig.add_trace(go.Scatter(x=g["step"], y=g["value"], name=series, mode="lines",
                                 yaxis="y2" if series == "lr" else "y",
                                 line=dict(color=PALETTE[i % len(PALETTE)], dash="dot" if series == "lr" else "solid")))
    fig.update_layout(height=340, margin=dict(l=10, r=10, t=40, b=10), xaxis_title="step", yaxis_title="loss",
                      yaxis2=dict(title="learning rate", overlaying="y", side="right", showgrid=False,
                                  rangemode="nonnegative"),
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0, font=dict(size=11)))
    return fig


def _natural(s: str) -> tuple:
    try:
        return (0, float(s), s)
    except ValueError:
        return (1, 0.0, s)


def interval_columns(table: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """Score column -> its (low, high) interval columns, where the table has them: the recordings tables name
    them "<short> low" / "<short> high" after "<short> ..." (e.g. "degraded top-1", "degraded low")."""
    out = {}
    for col in table.columns:
        short = str(col).split(" ")[0]
        low, high = f"{short} low", f"{short} high"
        if col not in (low, high) and low in table.columns and high in table.columns:
            out[str(col)] = (low, high)
    return out


def scores_figure(table: pd.DataFrame, height: int = 380) -> go.Figure:
    """Grouped bars of a results table: one group per row (model / subspace), one bar per column; a score with
    an interval is one bar with its low-high as an error bar, not three bars. Errors (lower is better, another
    scale: the pitch-shift probe's MAE in semitones) stay in the table."""
    from loev_core.explore.runinfo import score_columns

    fig = go.Figure()
    intervals = interval_columns(table)
    scores, _ = score_columns(table.columns)
    table = table[[c for c in table.columns if str(c) in scores or c in {b for p in intervals.values() for b in p}]]
    for i, col in enumerate(c for c in table.columns if str(c) in scores):
        err = {}
        if col in intervals:
            low, high = (table[c].astype(float) for c in intervals[col])
            y = table[col].astype(float)
            err = {"error_y": dict(type="data", symmetric=False, array=(high - y).tolist(),
                                   arrayminus=(y - low).tolist(), color="#cccccc", thickness=1.5)}
        fig.add_trace(go.Bar(x=[str(r) for r in table.index], y=table[col].tolist(), name=str(col),
                             marker_color=PALETTE[i % len(PALETTE)], **err))
    unit = bool(((table.fillna(0) >= 0) & (table.fillna(0) <= 1)).all().all())  # scores in [0, 1]: a fixed axis
    fig.update_layout(barmode="group", height=height, margin=dict(l=10, r=10, t=30, b=10), yaxis_title="score",
                      yaxis_range=[0, 1] if unit else None, legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0,
                                                      font=dict(size=11)))
    return fig


def found_figure(within: Mapping[str, Mapping[int, float]], tops: Sequence[int], height: int = 260) -> go.Figure:
    """How often a search found the original, per subspace (`{subspace: {k: share}}`): grouped bars over "first
    k answers", on a fixed 0-100 % axis."""
    fig = go.Figure([go.Bar(x=[f"first {k}" for k in tops], y=[shares[k] for k in tops], name=sub,
                            marker_color=PALETTE[i % len(PALETTE)]) for i, (sub, shares) in enumerate(within.items())])
    fig.update_layout(barmode="group", height=height, margin=dict(l=10, r=10, t=10, b=10), yaxis_range=[0, 1],
                      yaxis_title="original found", yaxis_tickformat=".0%",
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0))
    return fig
