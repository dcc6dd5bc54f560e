"""Tables the pages draw: scores with the best of each column highlighted, a model card's fact sheet, a light
HTML table with bars (the Retrieval page's, fast for several users at once) and a heat table of distances."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st

BEST_NOTE = "the best value of each column is highlighted (the highest score, the lowest error)"


def shaded(table: Any) -> Any:
    """Scores with 3 decimals, the best of each column in the accent colour (readable on dark): the highest
    score, the lowest error (`score_columns`); interval bounds are not scores and stay plain."""
    from loev_core.explore.runinfo import score_columns

    scores, errors = score_columns(table.columns)
    props = "color: #ff7f50; font-weight: 700"
    try:
        return (table.style.format("{:.3f}").highlight_max(axis=0, subset=scores, props=props)
                .highlight_min(axis=0, subset=errors, props=props))
    except Exception:  # pandas Styler needs jinja2; plain numbers are fine too
        return table.round(3)


def kv_table(rows: dict[str, Any]) -> None:
    """A plain two-column fact sheet (model card) that wraps long values instead of cutting them."""
    import html

    body = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows.items())
    st.html(f"""<style>
.loev-kv {{border-collapse: collapse; width: 100%; font-size: .9rem;}}
.loev-kv th {{text-align: left; font-weight: 500; opacity: .7; padding: 4px 12px 4px 0; width: 9.5em;
  vertical-align: top; border-bottom: 1px solid #2a2a2a;}}
.loev-kv td {{padding: 4px 0; border-bottom: 1px solid #2a2a2a; overflow-wrap: anywhere;}}
</style><table class='loev-kv'>{body}</table>""")


def bar_table(df: Any, bars: Sequence[str], top: float, highlight: str | None = None) -> None:
    """A light HTML table whose `bars` columns are drawn as bars (no heavy grid or chart bundle).

    The retrieval page must render fast for several users at once; a table of divs costs nothing.
    """
    import html

    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = []
    for _, r in df.iterrows():
        cells = []
        for c in df.columns:
            v = r[c]
            if c in bars:
                w = 0.0 if top <= 0 else max(0.0, min(1.0, float(v) / top))
                cells.append(f"<td><div class='b'><span>{float(v):.3f}</span>"
                             f"<i style='width:calc((100% - 3.6em) * {w:.3f})'></i></div></td>")
            elif isinstance(v, bool) or c == highlight:
                cells.append(f"<td>{'✔' if v is True else '·' if v is False else html.escape(str(v))}</td>")
            elif isinstance(v, float):
                cells.append(f"<td>{v:.3f}</td>")
            else:
                cells.append(f"<td>{html.escape(str(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    st.html(f"""<style>
.loev-t {{border-collapse: collapse; width: 100%; font-size: .86rem;}}
.loev-t th {{text-align: left; font-weight: 600; opacity: .75; padding: 4px 8px; border-bottom: 1px solid #444;}}
.loev-t td {{padding: 3px 8px; border-bottom: 1px solid #2a2a2a; white-space: nowrap;}}
.loev-t .b {{display: flex; align-items: center; gap: .4em; min-width: 6.5em;}}
.loev-t .b span {{width: 3.2em; font-variant-numeric: tabular-nums; opacity: .85;}}
.loev-t .b i {{display: block; height: .7em; min-width: 1px; background: #ff7f50; opacity: .75; border-radius: 2px;}}
</style><div style='overflow-x: auto'><table class='loev-t'><thead><tr>{head}</tr></thead>
<tbody>{''.join(body)}</tbody></table></div>""")


def distance_heatmap(dist: Any, names: Sequence[str]) -> go.Figure:
    """Each neighbour's cosine distance to the query (`dist`: one row per neighbour, one column per subspace) as a
    heat table: a pattern down the columns (close in `V.pitch_shift`, far in `V.time_stretch`) says what the
    neighbours share at a glance, and seven subspaces fit any window (as table columns they ran off the side)."""
    z = np.asarray(dist, dtype=float)
    fig = go.Figure(go.Heatmap(
        z=z, x=[str(c) for c in dist.columns], y=list(names), zmin=0.0, zmax=max(float(z.max()) if z.size else 0, 1e-6),
        colorscale=[[0.0, "#ff7f50"], [1.0, "#262730"]], text=z, texttemplate="%{text:.2f}", xgap=2, ygap=2,
        hovertemplate="%{y}<br>%{x}: cosine distance %{z:.3f}<extra></extra>",
        colorbar=dict(title=dict(text="distance", side="right"), thickness=10)))
    fig.update_yaxes(autorange="reversed", automargin=True)
    fig.update_xaxes(side="top", automargin=True)
    fig.update_layout(height=60 + 26 * len(names), margin=dict(l=0, r=0, t=30, b=0))
    return fig
