"""Embedding explorer: two maps side by side (a subspace that ignores pitch beside one that keeps it), or
one map with a subspace picker; click to listen, lasso to export, trajectories."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from loev_core.explore.cache import CorpusData
from loev_core.explore.projection import METHODS, place_points
from loev_core.explore.retrieval import query_from_row, search
from loev_core.explore.tour import chance, teaching_pair
from loev_core.explore.transforms import TRAJECTORY_VALUES
from loev_dashboard import cached, plots, widgets
from loev_dashboard.state import recall, remember, synced

UNITS = {"pitch_shift": "semitones", "time_stretch": "rate"}
N_NEIGHBOURS = 5
VIEWS = ("Side by side", "Single map")
PAIR_COLUMNS = (1.0, 1.0, 0.62)
K_SHARE = 10

widgets.intro("Embedding explorer", """Each dot is one clip; clips the model finds similar sit close together. Keys
(on a labelled corpus) are coloured on the **circle of fifths** (neighbouring keys, and relative majors and minors,
get neighbouring hues; majors light, minors deep). **Click** a dot to hear it and its neighbours, **lasso** a group
to export it, or turn on the **trajectory** to watch the clip being pitch-shifted across the maps.""")

c0, c1, c2, c3 = st.columns([1.5, 2.3, 2.0, 1.5])  # the two button rows need their width
with c0:
    label = widgets.pick_model()
with widgets.guard():
    model = cached.get_model(label)
    data: CorpusData = cached.get_corpus(label)
with c1:
    view = synced(st.segmented_control, "View", VIEWS, "view", default=VIEWS[0], required=True)
with c2:
    method = synced(st.segmented_control, "Projection", METHODS, "method", default="UMAP", required=True)
with c3:
    color = widgets.pick_color(widgets.colour_labels(data))


MEASURED = {"key": ("share its key", "keys", "key"),
            "track": ("come from its own recording", "recordings", "recording")}


def what_to_see(data: CorpusData, left: str, right: str, color: str) -> str:
    """The one line above the two maps that says what to look for, from what the two subspaces measure: by key on
    a labelled corpus, by recording on real music (clips cut from whole tracks)."""
    if color not in MEASURED or color not in data.label_columns:
        hint = next((f" Colour by **{c}** to see what each one keeps." for c in MEASURED if c in data.label_columns),
                    "")
        return f"The same clips in `{left}` (left) and `{right}` (right).{hint}"
    verb, plural, noun = MEASURED[color]
    a, b = (cached.agreement(data, sub, color, K_SHARE) for sub in (left, right))
    c = chance(data, color)
    shares = f"of a clip's {K_SHARE} nearest neighbours, {a:.0%} on the left and {b:.0%} on the right {verb}; " \
             f"chance {c:.0%}"
    if b >= max(2 * a, a + 0.08, 2 * c):
        return f"**What to see:** {plural} gather on the right and mix on the left ({shares})."
    if a >= max(2 * b, b + 0.08, 2 * c):
        return f"**What to see:** {plural} gather on the left and mix on the right ({shares})."
    if max(a, b) < 2 * c:
        pitch = color == "key" and {left, right} == {"V", "Z.invariant"}
        why = ": SimCLR learned to ignore pitch shifts" if pitch else ""
        return f"**What to see:** neither map sorts the clips by {noun} ({shares}){why}."
    then = "; the trajectory shows the difference better" if color == "key" else ""
    how = "on both maps, a little more" if min(a, b) >= 2 * c else "only a little more"
    return f"**What to see:** {plural} gather {how} on the {'right' if b > a else 'left'} ({shares}){then}."


def on_pick(key: str) -> None:
    """A click on one point selects that clip (before the fragment reruns, so the star moves at once)."""
    picked = widgets.selected_rows(st.session_state.get(key))
    if len(picked) == 1:
        remember("clip", picked[0])
        st.session_state["_autoplay"] = True


def path_on_map(data: CorpusData, traj: dict, sub: str, rows: np.ndarray, coords: np.ndarray, clip: int,
                mid: int) -> np.ndarray:
    """A trajectory placed on one map, its untransformed step anchored on the clip's own dot."""
    xy = place_points(traj[sub], data.vectors(sub, rows), coords)
    at = np.flatnonzero(rows == clip)
    return xy + (coords[at[0]] - xy[mid]) if at.size else xy


def draw(fig: go.Figure, key: str) -> object:
    return st.plotly_chart(fig, key=key, on_select=lambda: on_pick(key), selection_mode=("points", "box", "lasso"),
                           config={"scrollZoom": True, "displaylogo": False})


def moves_chart(moves: dict, subs: list[str]) -> None:
    """How far the trajectory moved the clip in every subspace, the shown ones highlighted."""
    st.markdown("**How far the clip moves** (mean cosine distance along the path)")
    fig = go.Figure(go.Bar(x=list(moves.values()), y=list(moves), orientation="h",
                           marker_color=["#ff7f50" if s in subs else "#6c8ebf" for s in moves]))
    fig.update_layout(height=40 + 26 * len(moves), margin=dict(l=0, r=0, t=0, b=0))
    st.plotly_chart(fig, key="moves", config={"displayModeBar": False})


def panel(data: CorpusData, clip: int | None, subs: list[str], per_row: int) -> None:
    """The selected clip: its player and its neighbours' in one of the shown subspaces, `per_row` players to a
    row (beside one map: one; under two maps: three, so no player is squeezed until its seek bar goes)."""
    if clip is None:
        st.info("Click a point to listen to it and see its neighbours.", icon=":material/touch_app:")
        return
    top = st.columns(per_row, gap="small") if per_row > 1 else [st.container()]
    with top[0]:
        st.markdown(widgets.clip_title(data, clip))
        widgets.play_row(data, clip, autoplay=st.session_state.pop("_autoplay", False), slot="sel")
    sub = subs[0]
    if len(subs) > 1 and subs[0] != subs[1]:
        with top[-1]:
            sub = st.segmented_control("Neighbours from", subs, default=subs[0], key="w.nb_side") or subs[0]
    st.markdown(f"**Nearest in `{sub}`**")
    hits = list(search(data, query_from_row(data, clip), [sub], N_NEIGHBOURS, exclude=clip).iterrows())
    with widgets.player_grid("neighbours"):
        for start in range(0, len(hits), per_row):
            cols = st.columns(per_row, gap="small") if per_row > 1 else [st.container()]
            for col, (_, h) in zip(cols, hits[start:start + per_row], strict=False):
                with col:
                    st.caption(f"{int(h['rank'])}. {widgets.clip_title(data, int(h['row']))} · sim {h['score']:.2f}")
                    widgets.play_row(data, int(h["row"]), slot="nb")


@st.fragment
def map_and_panel(label: str, data: CorpusData, side_by_side: bool, method: str, color: str) -> None:
    """Subspace pickers, the map(s) and everything a click changes: rerun alone when a point is picked."""
    pair = teaching_pair(data.subspaces)
    pickers = st.columns(PAIR_COLUMNS if side_by_side else (3, 1.5), gap="small" if side_by_side else "medium")
    with pickers[0]:
        # the maps keep their own choice: the shared one is the Retrieval page's search subspace, often a branch
        subs = [widgets.pick_subspace(data.subspaces, "left" if side_by_side else "single", default=pair[0])]
    if side_by_side:
        with pickers[1]:
            subs.append(widgets.pick_subspace(data.subspaces, "beside", "Beside it",
                                              default=pair[1] if pair[1] != subs[0] else pair[0]))
    with widgets.guard("Projection failed: "):
        maps = [(s, *cached.get_projection(data, s, method)) for s in subs]
    rows = maps[0][1]
    meta = data.meta.iloc[rows].reset_index(drop=True)
    if len(rows) < len(data):
        st.caption(f"Showing a fixed sample of {len(rows):,} of {len(data):,} clips; search uses all of them.")
    raw = recall("clip")
    clip = int(raw) if raw is not None and str(raw).isdigit() and int(raw) < len(data) else None
    color_by = None if color == "(none)" else color
    keyed = plots.is_key_column(color_by, meta[color_by] if color_by in meta.columns else None)
    if side_by_side:
        st.markdown(what_to_see(data, subs[0], subs[1], color))
    cols = st.columns(PAIR_COLUMNS if side_by_side else (3, 1.5), gap="small" if side_by_side else "medium")
    with cols[-1]:
        if keyed:
            counts = meta[color_by].astype(str).value_counts().to_dict()
            mark = [str(data.meta.iloc[clip][color_by])] if clip is not None else []
            st.plotly_chart(plots.key_wheel(counts, mark, size=190), key="wheel", config={"displayModeBar": False})
        show_traj = st.toggle("Augmentation trajectory", key="traj", disabled=clip is None,
                              help="Pitch-shift (or time-stretch) the selected clip step by step and draw its path.")
        transform = st.radio("Transform", list(UNITS), horizontal=True, key="traj_tf", label_visibility="collapsed",
                             format_func=lambda t: t.replace("_", " "), disabled=not show_traj)
    figs = [plots.scatter_map(xy, data.meta.iloc[r].reset_index(drop=True) if i else meta, color_by,
                              data.label_columns, highlight=clip, height=400 if side_by_side else 620,
                              legend=not keyed and (not side_by_side or i == 1),
                              title=f"{sub} ({'left' if i == 0 else 'right'})" if side_by_side else None)
            for i, (sub, r, xy) in enumerate(maps)]
    moves = None
    if show_traj and clip is not None:
        values = TRAJECTORY_VALUES[transform]
        with widgets.guard("Trajectory failed: "):
            traj = cached.get_trajectory(label, data, clip, transform, tuple(values))
        mid = values.index(0.0 if transform == "pitch_shift" else 1.0)
        for fig, (sub, r, xy) in zip(figs, maps, strict=True):
            plots.add_trajectory(fig, path_on_map(data, traj, sub, r, xy, clip, mid), values, UNITS[transform])
        moves = {s: float(np.mean(1.0 - v @ v[mid])) for s, v in traj.items()}
    events = []
    for i, fig in enumerate(figs):
        with cols[i]:
            events.append(draw(fig, "map" if i == 0 else "map_b"))
    with cols[-1]:
        if moves:
            moves_chart(moves, subs)
        if not side_by_side:
            panel(data, clip, subs, per_row=1)
    if side_by_side:
        panel(data, clip, subs, per_row=3)
    picked = next((p for p in map(widgets.selected_rows, events) if len(p) > 1), [])
    if picked:
        table = data.meta.set_index("row").loc[picked].drop(columns=["labels"], errors="ignore")
        st.markdown(f"**{len(picked)} selected clips**")
        st.dataframe(table, height=min(400, 36 * (len(table) + 1)))
        st.download_button("Export the selection as CSV", table.to_csv().encode(), "selection.csv", "text/csv",
                           icon=":material/download:")
    else:
        st.caption("Tip: drag with the lasso or box tool to select a group and export it as CSV.")


map_and_panel(label, data, view == VIEWS[0], method, color)
