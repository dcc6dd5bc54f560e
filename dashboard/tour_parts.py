"""The tour's building blocks: maps coloured by key (with a clip's path through every pitch shift), the key
wheel, players for shifted copies, and nearest-neighbour lists. The steps themselves are in views/tour.py."""

from __future__ import annotations

import numpy as np
import streamlit as st

from loev_core.explore.cache import CorpusData
from loev_core.explore.projection import METHODS, place_points
from loev_core.explore.retrieval import neighbour_table, search
from loev_core.explore.transforms import TRAJECTORY_VALUES
from loev_core.keys import transpose_key
from loev_dashboard import cached, plots, widgets
from loev_dashboard.state import recall

SHIFTS = tuple(TRAJECTORY_VALUES["pitch_shift"])


def key_of(data: CorpusData, row: int) -> str:
    return str(data.meta.iloc[row]["key"]) if "key" in data.meta.columns else "its key"


def moved_key(data: CorpusData, row: int, semitones: float) -> str:
    """The clip's key after a shift ('' when the corpus has no key, or a label that is not one)."""
    try:
        return transpose_key(key_of(data, row), semitones)
    except ValueError:
        return ""


def keyed_map(data: CorpusData, sub: str, clip: int, title: str, height: int = 430) -> object:
    rows, coords = cached.get_projection(data, sub, method())
    color = "key" if "key" in data.label_columns else None
    return plots.scatter_map(coords, data.meta.iloc[rows].reset_index(drop=True), color, data.label_columns,
                             highlight=clip, height=height, title=title, legend=color is None)


def shifted_map(label: str, data: CorpusData, sub: str, clip: int, title: str, height: int = 430) -> object:
    """`keyed_map` with the clip's trajectory through every pitch shift drawn on it."""
    fig = keyed_map(data, sub, clip, title, height)
    traj = cached.get_trajectory(label, data, clip, "pitch_shift", SHIFTS)
    rows, coords = cached.get_projection(data, sub, method())
    xy = place_points(traj[sub], data.vectors(sub, rows), coords)
    at = np.flatnonzero(rows == clip)
    if at.size:  # the unshifted step on the clip's own dot, as in the explorer
        xy = xy + (coords[at[0]] - xy[SHIFTS.index(0.0)])
    plots.add_trajectory(fig, xy, SHIFTS, "semitones")
    return fig


def method() -> str:
    chosen = recall("method", "UMAP")
    return chosen if chosen in METHODS else "UMAP"


def wheel(data: CorpusData, clip: int) -> None:
    if "key" in data.meta.columns:
        st.plotly_chart(plots.key_wheel(data.meta["key"].astype(str).value_counts().to_dict(), [key_of(data, clip)],
                                        size=190), key="wheel", config={"displayModeBar": False})
        st.caption("Key colours: the circle of fifths, majors outside, relative minors inside.")


def shifted(label: str, data: CorpusData, clip: int, amounts: tuple[float, ...], stacked: bool = False) -> None:
    """Players for the clip at each shift (0 = the original): side by side, or one under the other (`stacked`, in
    a narrow column, where side by side squeezes each player to its play button)."""
    sr = cached.get_model(label).sample_rate
    versions = cached.get_versions(data, clip, sr, "pitch_shift", amounts)
    credit = widgets.clip_credit(data, clip)
    if credit:  # copies of a credited recording: credited like its player
        st.caption(credit)
    with widgets.player_grid(f"shifted-{'-'.join(f'{a:g}' for a in amounts)}"):
        cols = [st.container() for _ in amounts] if stacked else st.columns(len(amounts), gap="small")
        for col, amount, wave in zip(cols, amounts, versions, strict=True):
            with col:
                k = moved_key(data, clip, amount)
                st.caption(f"**{'original' if amount == 0 else f'{amount:+g} semitones'}** {k}")
                widgets.play_wave(wave, sr)


def nearest(data: CorpusData, query: dict, subs: tuple[str, ...], exclude: int | None = None,
            heading: str = "Nearest in", original: int | None = None) -> None:
    """The 3 nearest clips to `query` in each subspace, side by side, with players; `original` (the clip a
    transformed query was made from) is marked where it comes back."""
    for col, sub in zip(st.columns(len(subs)), subs, strict=True):
        with col:
            st.markdown(f"**{heading} `{sub}`**")
            hits = neighbour_table(data, search(data, query, [sub], 3, exclude=exclude), widgets.shown_labels(data))
            for _, h in hits.iterrows():
                mark = " · **the original**" if original is not None and int(h["row"]) == original else ""
                st.caption(f"{int(h['rank'])}. {widgets.clip_title(data, int(h['row']))}{mark}")
                widgets.play_row(data, int(h["row"]), slot=f"tn-{sub}")
