"""Equivariance: how far each subspace moves when a clip is transformed; hear every step."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from loev_core.evaluation.report import moves_without_grading, rise_text
from loev_core.evaluation.transforms import IDENTITY, UNITS
from loev_core.explore.transforms import CURVE_CLIP_CHOICES, CURVE_CLIPS, TRAJECTORY_VALUES
from loev_dashboard import cached, plots, widgets
from loev_dashboard.state import remember, synced

BY_SUBSPACE = {"_index": st.column_config.TextColumn("subspace")}


def per_model(curves: dict[str, dict], subs: list[str], cell: Callable[[dict], Any]) -> pd.DataFrame:
    """One value per subspace (row) and model (column): numbers with 3 decimals, "–" where a model has no such
    subspace (SimCLR has no branches), never "None"."""
    table = pd.DataFrame({label: {s: cell(c[s]) for s in subs if s in c} for label, c in curves.items()})
    return table.map(lambda v: "–" if v is None or (isinstance(v, float) and v != v)
                     else f"{v:.3f}" if isinstance(v, (int, float)) else str(v))


widgets.intro("Equivariance", """Take a clip, change it by a known amount (shift its pitch by a few semitones, play it
faster, make it louder) and measure how far its vector moves: 0 means "the model did not notice". An
**invariant** subspace stays flat near 0 whatever you do; an **equivariant** one moves more the bigger the change,
so it still knows the key or the tempo. The band is the 95 % interval over clips of the corpus. This is the
figure of the LOEV paper, computed live on your models. Below, listen to what each step sounds like.""")

models = widgets.need_models()
c1, c2 = st.columns([3, 2])
with c1:
    chosen = st.multiselect("Models", models, default=[m for m in (st.session_state.get("_sel.eq_models") or models)
                                                      if m in models][:3] or models[:1], key="w.eq_models")
    remember("eq_models", chosen, url=False)
with c2:
    transform = synced(st.segmented_control, "Transform", list(IDENTITY), "transform", default="pitch_shift",
                       required=True, format_func=lambda t: t.replace("_", " "))
    n_clips = synced(st.select_slider, "Clips averaged", CURVE_CLIP_CHOICES, "eq_clips", default=CURVE_CLIPS,
                     cast=int, help="More clips give a steadier curve (a small sample can reorder neighbouring "
                                    "points) but take longer the first time; each setting is stored. `loev eval` "
                                    "uses up to 256.")
if not chosen:
    st.info("Choose at least one model.")
    st.stop()
values = tuple(TRAJECTORY_VALUES[transform])
curves = {}
with widgets.guard():
    for label in chosen:
        data = cached.get_corpus(label)
        curves[label] = cached.get_curves(label, data, transform, values, n_clips)
all_subs = list(dict.fromkeys(s for c in curves.values() for s in c))
default_subs = [s for s in all_subs if s.startswith("Z.")] or all_subs
subs = st.multiselect("Subspaces", all_subs, default=default_subs, key="w.eq_subs",
                      help="Z.* are the heads the losses act on; V and V.* are the encoder outputs.")
st.plotly_chart(plots.curves_figure(curves, subs, UNITS[transform]), key="curves")
st.caption(f"Mean over a fixed sample of up to {n_clips} corpus clips (test split when there is one); solid, "
           "dashed and dotted lines are the first, second and third model.")
ungraded = [f"`{s}` ({label})" for label, c in curves.items() for s in subs if moves_without_grading(c.get(s))]
if ungraded:
    one = len(ungraded) == 1
    st.caption(f"{', '.join(ungraded)} move{'s' if one else ''} but do{'es' if one else ''} not rise steadily with "
               "the size of the change (Spearman under 0.5, table below): such a subspace "
               "notices the transform without measuring how much, e.g. its distance peaks at small amounts and "
               "falls back at large ones.")
with st.expander("For scale: how far apart two *different* clips are in each subspace"):
    st.caption("A transformed copy this far from its clip has lost what the transform changed; 0.1 means "
               "little in a subspace where clips sit 0.9 apart.")
    st.dataframe(per_model(curves, subs, lambda c: c.get("between")), column_config=BY_SUBSPACE)
with st.expander("Does the distance rise steadily with the size of the change?"):
    st.caption("Spearman correlation between the mean distance and the size of the change (1: every bigger "
               "change moves the clip further), with its 95 % interval over the clips averaged. A wide interval "
               "means the sample decides the answer: average more clips.")
    st.dataframe(per_model(curves, subs, rise_text), column_config=BY_SUBSPACE)
    if transform == "pitch_shift":
        st.caption("A small shift should move it less than a big one: the distance at ±1 semitone over the distance "
                   "at ±4, with its 95 % interval. Near 1, the subspace jumps at the first semitone and then "
                   "barely grades the size (a step); well under 1, it grades it (a ramp). It describes the "
                   "curve's shape only: read it for the subspaces that move.")
        st.dataframe(per_model(curves, subs, lambda c: rise_text(c, "near_far")), column_config=BY_SUBSPACE)



@st.fragment
def listen(label: str, transform: str, values: tuple) -> None:
    """Hear one clip at every step of the transform; picking another clip reruns only this part."""
    st.subheader("Listen to each step")
    with widgets.guard():
        data = cached.get_corpus(label)
        clip = widgets.pick_clip(data)
        sr = cached.get_model(label).sample_rate
        step = [v for i, v in enumerate(values) if i % 2 == 0 or v == IDENTITY[transform]]
        versions = cached.get_versions(data, clip, sr, transform, tuple(step))
    st.markdown(widgets.clip_title(data, clip))
    credit = widgets.clip_credit(data, clip)
    if credit:  # the transformed copies below are this recording too: credited like its player
        st.caption(credit)
    per_row = 4
    with widgets.player_grid("steps"):
        for start in range(0, len(step), per_row):
            cols = st.columns(per_row, gap="small")
            for col, (v, wave) in zip(cols, list(zip(step, versions, strict=True))[start:start + per_row],
                                      strict=False):
                with col:
                    tag = ("original" if v == IDENTITY[transform] else f"×{v:g} speed" if transform == "time_stretch"
                           else f"{v:+g} {UNITS[transform]}")
                    st.caption(f"**{tag}**")
                    widgets.play_wave(wave, sr)


listen(chosen[0], transform, values)
