"""Embedding explorer: a 2-D map of one subspace; click to listen, lasso to export, trajectories."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from loev_core.explore.cache import CorpusData
from loev_core.explore.projection import METHODS, place_points
from loev_core.explore.retrieval import query_from_row, search
from loev_core.explore.transforms import TRAJECTORY_VALUES
from loev_dashboard import cached, plots, widgets
from loev_dashboard.state import recall, remember, synced

UNITS = {"pitch_shift": "semitones", "time_stretch": "rate"}
N_NEIGHBOURS = 5

widgets.intro("Embedding explorer", """Each dot is one clip, placed so that clips the model finds similar sit close
together. Switch the **subspace** to see what each part of the model pays attention to: colour by *key* and
compare `Z.pitch_shift` (trained to notice transposition, so it may group keys) with `Z.invariant` (trained
to ignore it). The trajectory shows the difference most directly. **Click** a dot to hear it and see its
nearest neighbours, **lasso** a group to list and export it, and switch on the **trajectory** to watch one
clip being pitch-shifted across the map.""")

c0, c1, c2, c3 = st.columns([2, 2, 2, 2])
with c0:
    label = widgets.pick_model()
with widgets.guard():
    model = cached.get_model(label)
    data: CorpusData = cached.get_corpus(label)
with c1:
    subspace = widgets.pick_subspace(data.subspaces)
with c2:
    method = synced(st.segmented_control, "Projection", METHODS, "method", default="UMAP", required=True)
with c3:
    color = widgets.pick_color(data.label_columns)
with widgets.guard("Projection failed: "):
    rows, coords = cached.get_projection(data, subspace, method)
meta = data.meta.iloc[rows].reset_index(drop=True)
if len(rows) < len(data):
    st.caption(f"Showing a fixed sample of {len(rows):,} of {len(data):,} clips; search uses all of them.")


def on_pick() -> None:
    """A click on one point selects that clip (before the fragment reruns, so the star moves at once)."""
    picked = widgets.selected_rows(st.session_state.get("map"))
    if len(picked) == 1:
        remember("clip", picked[0])
        st.session_state["_autoplay"] = True


@st.fragment
def map_and_panel(label: str, data: CorpusData, subspace: str, rows: np.ndarray, coords: np.ndarray,
                  meta: pd.DataFrame, color: str) -> None:
    """The map and everything a click changes: rerun alone when a point is picked."""
    raw = recall("clip")
    clip = int(raw) if raw is not None and str(raw).isdigit() and int(raw) < len(data) else None
    left, right = st.columns([3, 1.35], gap="medium")
    with left:
        t1, t2 = st.columns([1, 2])
        show_traj = t1.toggle("Augmentation trajectory", key="traj", disabled=clip is None,
                              help="Pitch-shift (or time-stretch) the selected clip step by step and draw its path.")
        transform = t2.radio("Transform", list(UNITS), horizontal=True, key="traj_tf", label_visibility="collapsed",
                             format_func=lambda t: t.replace("_", " "), disabled=not show_traj)
        fig = plots.scatter_map(coords, meta, None if color == "(none)" else color, data.label_columns,
                                   highlight=clip, height=620)
        moves = None
        if show_traj and clip is not None:
            values = TRAJECTORY_VALUES[transform]
            with widgets.guard("Trajectory failed: "):
                traj = cached.get_trajectory(label, data, clip, transform, tuple(values))
            xy = place_points(traj[subspace], data.vectors(subspace, rows), coords)
            mid = values.index(0.0 if transform == "pitch_shift" else 1.0)
            at = np.flatnonzero(rows == clip)
            if at.size:  # anchor the untransformed step on the clip itself; the rest keeps its offsets
                xy = xy + (coords[at[0]] - xy[mid])
            plots.add_trajectory(fig, xy, values, UNITS[transform])
            moves = {s: float(np.mean(1.0 - v @ v[mid])) for s, v in traj.items()}
        event = st.plotly_chart(fig, key="map", on_select=on_pick, selection_mode=("points", "box", "lasso"),
                                config={"scrollZoom": True, "displaylogo": False})
    with right:
        if clip is None:
            st.info("Click a point to listen to it and see its neighbours.", icon=":material/touch_app:")
        else:
            st.markdown(widgets.clip_title(data, clip))
            widgets.play_row(data, clip, autoplay=st.session_state.pop("_autoplay", False))
            st.markdown(f"**Nearest in `{subspace}`**")
            hits = search(data, query_from_row(data, clip), [subspace], N_NEIGHBOURS, exclude=clip)
            for _, h in hits.iterrows():
                st.caption(f"{int(h['rank'])}. {widgets.clip_title(data, int(h['row']))} · sim {h['score']:.2f}")
                widgets.play_row(data, int(h["row"]))
            if moves:
                st.markdown("**How far the clip moves** (mean cosine distance along the path)")
                fig_m = go.Figure(go.Bar(x=list(moves.values()), y=list(moves), orientation="h",
                                         marker_color=["#ff7f50" if s == subspace else "#6c8ebf" for s in moves]))
                fig_m.update_layout(height=40 + 26 * len(moves), margin=dict(l=0, r=0, t=0, b=0))
                st.plotly_chart(fig_m, key="moves", config={"displayModeBar": False})
    picked = widgets.selected_rows(event)
    if len(picked) > 1:
        table = data.meta.set_index("row").loc[picked].drop(columns=["labels"], errors="ignore")
        st.markdown(f"**{len(picked)} selected clips**")
        st.dataframe(table, height=min(400, 36 * (len(table) + 1)))
        st.download_button("Export the selection as CSV", table.to_csv().encode(), "selection.csv", "text/csv",
                           icon=":material/download:")
    else:
        st.caption("Tip: drag with the lasso or box tool to select a group and export it as CSV.")


map_and_panel(label, data, subspace, rows, coords, meta, color)
