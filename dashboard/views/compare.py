"""Compare: two models (or two subspaces) side by side on the same corpus, maps aligned."""

from __future__ import annotations

import numpy as np
import streamlit as st

from loev_core.evaluation.transforms import IDENTITY, UNITS
from loev_core.explore.projection import METHODS, procrustes_align
from loev_core.explore.retrieval import neighbour_table, precision_at_k, query_from_row, same_label, search
from loev_core.explore.tour import teaching_pair
from loev_core.explore.transforms import TRAJECTORY_VALUES
from loev_dashboard import cached, plots, widgets
from loev_dashboard.state import synced
from loev_dashboard.tables import bar_table

MODES = ("Two models", "Two subspaces")
K = 10

widgets.intro("Compare", """Put two models, or two subspaces of one model, side by side on the same music. The right map
is rotated, scaled and shifted (Procrustes alignment) to match the left one as closely as possible, so the same
clip sits in a comparable place: when the two look alike, both spaces organise the music the same way. Below,
the nearest neighbours of one clip in each space, and each space's equivariance curve (averaged over corpus clips),
show where they differ.""")

models = widgets.need_models()
mode = synced(st.segmented_control, "Compare", MODES, "cmp", default=MODES[0] if len(models) > 1 else MODES[1],
              required=True)
ca, cb = st.columns(2, gap="large")
with widgets.guard():
    with ca:
        a = widgets.pick_model("model", "Model A" if mode == MODES[0] else "Model")
        data_a = cached.get_corpus(a)
    if mode == MODES[0]:  # the same subspace of two models
        with cb:
            b = widgets.pick_model("model_b", "Model B", default=next((m for m in models if m != a), a))
            data_b = cached.get_corpus(b)
        if b == a:
            st.info("Model A and Model B are the same model: add or choose another one on the **Models** page.",
                    icon=":material/info:")
        sa, sb = st.columns(2, gap="large")  # subspaces on a row of their own, each under its model
        with sa:
            sub_a = widgets.pick_subspace(data_a.subspaces, "sub_a", "Subspace A", default=data_a.subspaces[0])
        with sb:
            sub_b = widgets.pick_subspace(data_b.subspaces, "sub_b", "Subspace B",
                                          default=sub_a if sub_a in data_b.subspaces else data_b.subspaces[0])
    else:  # two subspaces of one model: its own selections, opening on the pair that shows the method's effect
        b, data_b = a, data_a
        pair = teaching_pair(data_a.subspaces)
        sa, sb = st.columns(2, gap="large")
        with sa:
            sub_a = widgets.pick_subspace(data_a.subspaces, "sub_1", "Subspace A", default=pair[0])
        with sb:
            sub_b = widgets.pick_subspace(data_b.subspaces, "sub_2", "Subspace B",
                                          default=pair[1] if pair[1] != sub_a else pair[0])
c1, c2, c3 = st.columns(3)
with c1:
    method = synced(st.segmented_control, "Projection", METHODS, "method", default="UMAP", required=True)
with c2:
    color = widgets.pick_color(widgets.colour_labels(data_a))
with c3:
    clip = widgets.pick_clip(data_a, label="Highlight clip")

with widgets.guard("Projection failed: "):
    rows_a, xy_a = cached.get_projection(data_a, sub_a, method)
    rows_b, xy_b = cached.get_projection(data_b, sub_b, method)
key = lambda m: list(zip(m["path"], m["offset"], strict=True))  # noqa: E731 (same clip in two corpora)
pos_b = {k: i for i, k in enumerate(key(data_b.meta.iloc[rows_b]))}
keys_a = key(data_a.meta.iloc[rows_a])
pairs = [(i, pos_b[k]) for i, k in enumerate(keys_a) if k in pos_b]
if len(pairs) < 3:
    st.warning("The two corpora share fewer than 3 clips: nothing to align.", icon=":material/warning:")
    st.stop()
ia, ib = (np.array(x) for x in zip(*pairs, strict=True))
aligned, disparity = procrustes_align(xy_a[ia], xy_b[ib])
meta = data_a.meta.iloc[rows_a[ia]].reset_index(drop=True)
color_by = None if color == "(none)" else color
m1, m2 = st.columns(2)
m1.metric("Shape difference after alignment", f"{disparity:.2f}",
          help="Procrustes disparity: 0 = the same map up to rotation and scale, 1 = unrelated.")
la, lb = st.columns(2, gap="medium")
fig_a = plots.scatter_map(xy_a[ia], meta, color_by, data_a.label_columns, clip, 560, f"A · {a} · {sub_a}")
fig_b = plots.scatter_map(aligned, meta, color_by, data_a.label_columns, clip, 560, f"B · {b} · {sub_b} (aligned)")
for fig in (fig_a, fig_b):  # the legend under each map: beside one map only, it made the two maps unequal in width
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.01, x=0))


def on_pick(key: str) -> None:
    """Clicking a clip on either map highlights it on both and makes it the query below."""
    picked = widgets.selected_rows(st.session_state.get(key))
    if len(picked) == 1:
        st.session_state["w.clip"] = picked[0]


la.plotly_chart(fig_a, key="map_a", on_select=lambda: on_pick("map_a"), selection_mode="points")
lb.plotly_chart(fig_b, key="map_b", on_select=lambda: on_pick("map_b"), selection_mode="points")
st.caption("Click a clip on either map to highlight it on both and list its neighbours below.")

st.subheader("Nearest neighbours of the highlighted clip")
st.markdown(widgets.clip_title(data_a, clip))
widgets.play_row(data_a, clip)
# a label to score the neighbours by; on real music the recording (repeats of the clip skipped, as on Retrieval)
pk_label = next((c for c in ("key", "tempo", "instrument", "track") if c in data_a.label_columns), None)
tables = []
with widgets.guard("Search failed: "):
    b_row = pos_b.get(keys_a[int(np.flatnonzero(rows_a == clip)[0])]) if clip in rows_a else None
    for data, sub, row in ((data_a, sub_a, clip), (data_b, sub_b, rows_b[b_row] if b_row is not None else clip)):
        skip = [int(row), *(cached.get_repeats(data, int(row)) if pk_label == "track" else ())]
        hits = search(data, query_from_row(data, int(row)), [sub], K, exclude=skip)
        tables.append(neighbour_table(data, hits, widgets.shown_labels(data)))
shared = len(set(tables[0]["name"]) & set(tables[1]["name"]))
m2.metric(f"Shared neighbours of this clip (top {K})", f"{shared} / {K}")
ra, rb = st.columns(2, gap="medium")
for side, col, t, data, (name, sub) in (("a", ra, tables[0], data_a, (a, sub_a)),
                                        ("b", rb, tables[1], data_b, (b, sub_b))):
    with col:
        target = data_a.meta.iloc[clip][pk_label] if pk_label else None
        hit_labels = data.meta[pk_label].iloc[t["row"].to_numpy()] if pk_label in data.meta.columns else None
        score = f"same-track P@{K}" if pk_label == "track" else f"P@{K} ({pk_label})"
        extra = (f" · {score} **{precision_at_k(hit_labels, target, pk_label):.2f}**"
                 if hit_labels is not None else "")
        st.markdown(f"**{name} · `{sub}`**{extra}")
        # the label scored above, and whether each neighbour shares it: a half-width table has no room for more
        shown = t[["rank", "name", "score", *([pk_label] if pk_label in t.columns and pk_label != "track" else [])]]
        if hit_labels is not None and target is not None:
            shown = shown.assign(**{f"same {pk_label}": same_label(hit_labels, target, pk_label).tolist()})
        bar_table(shown.rename(columns={"rank": "#", "score": "similarity"}), [], 1.0)
        if len(t):  # one player per list: hear A's and B's answers to the same clip one after the other
            names = {int(r): f"{int(k)}. {n}" for r, k, n in zip(t["row"], t["rank"], t["name"], strict=True)}
            heard = st.selectbox("Listen to", list(names), key=f"cmp_listen_{side}", format_func=names.get)
            widgets.play_row(data, int(heard), slot=f"cmp_{side}")

st.subheader("Equivariance curves")
transform = synced(st.segmented_control, "Transform", list(IDENTITY), "transform", default="pitch_shift",
                   required=True, format_func=lambda t: t.replace("_", " "))
values = tuple(TRAJECTORY_VALUES[transform])
with widgets.guard("Curves failed: "):
    ca_ = cached.get_curves(a, data_a, transform, values)
    cb_ = cached.get_curves(b, data_b, transform, values)
if mode == MODES[0]:
    curves = {f"A {a}": {sub_a: ca_[sub_a]}, f"B {b}": {sub_b: cb_[sub_b]}}
else:
    curves = {a: {sub_a: ca_[sub_a], sub_b: cb_[sub_b]}}
st.plotly_chart(plots.curves_figure(curves, list(dict.fromkeys([sub_a, sub_b])), UNITS[transform], 380,
                                    colour_by="model" if mode == MODES[0] else "subspace"), key="cmp_curves")
st.caption("Mean cosine distance between a clip and its transformed copy over a fixed sample of corpus clips (the "
           "Equivariance page sets how many), not the highlighted clip alone; band: 95 % interval over the clips.")
