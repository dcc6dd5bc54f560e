"""Tables the pages draw: scores with the best of each column highlighted, a model card's fact sheet, a light
HTML table with bars and a heat table of distances (the Retrieval page's, fast for several users at once)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
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
            else:  # text (a long recording name) may wrap; numbers and bars stay on one line
                cells.append(f"<td class='t'>{html.escape(str(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    st.html(f"""<style>
.loev-t {{border-collapse: collapse; width: 100%; font-size: .86rem;}}
.loev-t th {{text-align: left; font-weight: 600; opacity: .75; padding: 4px 8px; border-bottom: 1px solid #444;}}
.loev-t td {{padding: 3px 8px; border-bottom: 1px solid #2a2a2a; white-space: nowrap;}}
.loev-t td.t {{white-space: normal; overflow-wrap: anywhere; min-width: 4em;}}
.loev-t .b {{display: flex; align-items: center; gap: .4em; min-width: 6.5em;}}
.loev-t .b span {{width: 3.2em; font-variant-numeric: tabular-nums; opacity: .85;}}
.loev-t .b i {{display: block; height: .7em; min-width: 1px; background: #ff7f50; opacity: .75; border-radius: 2px;}}
</style><div style='overflow-x: auto'><table class='loev-t'><thead><tr>{head}</tr></thead>
<tbody>{''.join(body)}</tbody></table></div>""")


def heat_table(dist: Any, names: Sequence[str]) -> None:
    """Each neighbour's cosine distance to the query (`dist`: one row per neighbour, one column per subspace) as
    a light HTML heat table: the closer, the brighter the cell, so a pattern down the columns (close in
    `V.pitch_shift`, far in `V.time_stretch`) says what the neighbours share at a glance. Headers break at their
    dots and underscores, so seven subspaces fit a laptop window (as bar columns they ran off the side), and no
    chart library is loaded (the Retrieval page stays fast for several users at once)."""
    import html

    z = np.asarray(dist, dtype=float)
    top = max(float(z.max()) if z.size else 0.0, 1e-6)
    head = "".join(f"<th>{html.escape(str(c)).replace('.', '.<wbr>').replace('_', '_<wbr>')}</th>"
                   for c in dist.columns)
    rows = []
    for name, values in zip(names, z, strict=True):
        cells = "".join(f"<td style='background: rgba(255,127,80,{0.85 * (1 - min(v, top) / top):.2f})'>{v:.2f}</td>"
                        for v in values)
        rows.append(f"<tr><th>{html.escape(str(name))}</th>{cells}</tr>")
    st.html(f"""<style>
.loev-heat {{border-collapse: separate; border-spacing: 2px; font-size: .84rem;}}
.loev-heat th {{font-weight: 600; opacity: .75; padding: 2px 6px; text-align: left; vertical-align: bottom;}}
.loev-heat thead th {{max-width: 6.5em;}}
.loev-heat tbody th {{font-weight: 400; white-space: nowrap;}}
.loev-heat td {{padding: 3px 8px; text-align: center; font-variant-numeric: tabular-nums; border-radius: 2px;
  min-width: 3.2em;}}
</style><div style='overflow-x: auto'><table class='loev-heat'><thead><tr><th></th>{head}</tr></thead>
<tbody>{''.join(rows)}</tbody></table></div>""")
