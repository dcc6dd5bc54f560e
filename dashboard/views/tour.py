"""Guided tour: the LOEV paper's story in four steps on the live models; one figure, one sentence and one
sound per step, the step in the URL. A step whose model is not loaded says so and the tour goes on."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import streamlit as st

from loev_core.explore.cache import CorpusData
from loev_core.explore.retrieval import query_from_row
from loev_core.explore.tour import (
    SHIFT,
    STEPS,
    chance,
    copy_report,
    distance_at,
    forgetting_subspace,
    found_within,
    teaching_pair,
)
from loev_core.explore.transforms import curve_rows
from loev_dashboard import cached, plots, widgets
from loev_dashboard.state import remember, synced
from loev_dashboard.tour_parts import SHIFTS, keyed_map, moved_key, nearest, shifted, shifted_map, wheel

TITLES = {"throw-away": "1 · What a contrastive model throws away", "heads": "2 · LOEV: a head that may notice",
          "branches": "3 · LOEV++: branches that sort by key", "retrieval": "4 · Targeted retrieval"}
NAMES = {"simclr": "SimCLR", "loev": "LOEV", "loevpp": "LOEV++"}
CLOSE_RANK = 5  # the original among the first 5 answers to its shifted copy: the shift was ignored
ORDINALS = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth"}
K = 10
TOPS = (1, CLOSE_RANK, 10)  # steps 1 and 4 on unlabelled music: the original among the first 1, 5, 10 answers

widgets.intro("Tour", """Four steps through the idea behind LOEV, computed live on the models of this session: what a
plain contrastive model forgets, how LOEV keeps it in a head of its own, how LOEV++ splits the encoder so one part
sorts music by key, and what that buys when you search. Each step has one figure, one sentence and one sound.""")


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return ORDINALS.get(n, f"{n}{suffix}")


def go(step: str) -> None:
    st.session_state["w.step"] = step
    remember("step", step)


def kinds() -> dict[str, str]:
    """Kind (simclr, loev, loevpp) of every model of the session that loads; broken ones are left out."""
    out = {}
    for label in widgets.need_models():
        try:
            out[label] = cached.get_model(label).kind
        except widgets.EXPECTED:
            continue
    return out


def find(kind: str) -> str | None:
    """The session's first model of a kind (None when there is none: the step says so)."""
    return next((label for label, k in kinds().items() if k == kind), None)


def missing(kind: str, what: str) -> None:
    st.info(f"This step needs a {NAMES[kind]} model ({what}), and none is loaded in this session. The bundled one "
            f"is `demo-{kind}`: add it back on the **Models** page, or go on to the next step.",
            icon=":material/info:")


def clip_of(data: CorpusData) -> int:
    """The clip every step follows (the LOEV++ retrieval example when LOEV++ is loaded), as a row of `data`."""
    ref_label = find("loevpp")
    return cached.tour_clip(cached.get_corpus(ref_label) if ref_label is not None else None, data)


def throw_away() -> None:
    label = find("simclr")
    if label is None:
        return missing("simclr", "trained to ignore its augmentations")
    data = cached.get_corpus(label)
    clip, sub = clip_of(data), forgetting_subspace(data.subspaces)
    if "key" not in data.meta.columns:  # e.g. the real-music demo set: count over many clips, not one clip's map
        return thrown_away_by_shifting(label, data, sub, clip)
    traj = cached.get_trajectory(label, data, clip, "pitch_shift", SHIFTS)
    rep = copy_report(traj, SHIFTS, data, clip, sub, SHIFT)
    moved_to = moved_key(data, clip, rep["shift"]) or "another key"
    place = ordinal(rep["rank"])
    found = (f"comes back **{place}** of {rep['of']:,} clips" if rep["rank"] <= 100
             else "is not among the first 100 answers")
    verdict = "the key is thrown away" if rep["rank"] <= CLOSE_RANK else "this model still tells the two apart"
    st.markdown(f"SimCLR learns that a clip and its pitch-shifted copy are the same music: search its `{sub}` with "
                f"the copy {rep['shift']:+g} semitones up (now in **{moved_to}**) and the original {found}: "
                f"{verdict}.")
    fig = shifted_map(label, data, sub, clip, f"{label} · {sub} · yellow: the clip shifted -6…+6 semitones")
    left, right = st.columns([3, 1])
    left.plotly_chart(fig, key="fig-throw-away", config={"displaylogo": False})
    with right:
        wheel(data, clip)
    st.markdown(f"**Hear it:** {widgets.clip_title(data, clip)}")
    shifted(label, data, clip, (0.0, SHIFT))


def thrown_away_by_shifting(label: str, data: CorpusData, sub: str, clip: int) -> None:
    """Step 1 on a corpus without key labels: how often SimCLR returns the original when searched with its copy
    in another key, over many clips (a map's path can look long where the vectors barely move)."""
    ranks = cached.copy_ranks_of(label, data, (sub,))[sub]
    within = found_within(ranks, TOPS)
    verdict = ("the key is thrown away" if within[CLOSE_RANK] >= 0.5
               else "this model still tells many of them apart")
    st.markdown(f"SimCLR learns that a clip and its pitch-shifted copy are the same music. This corpus has no key "
                f"labels, so search its `{sub}` with {len(ranks)} of its clips, each moved {SHIFT:+g} semitones into "
                f"another key: the original comes back first for **{within[1]:.0%}** of them and among the first "
                f"{CLOSE_RANK} for **{within[CLOSE_RANK]:.0%}**: {verdict}.")
    st.plotly_chart(plots.found_figure({sub: within}, TOPS), key="fig-throw-away", config={"displayModeBar": False})
    st.markdown(f"**Hear it:** {widgets.clip_title(data, clip)}")
    shifted(label, data, clip, (0.0, SHIFT))


def heads() -> None:
    label, note = find("loev"), ""
    if label is None:
        label = find("loevpp")
        note = " (LOEV is not loaded; LOEV++ has the same two heads)" if label is not None else ""
    if label is None:
        return missing("loev", "with a pitch-shift head")
    data = cached.get_corpus(label)
    subs = [s for s in ("Z.invariant", "Z.pitch_shift") if s in data.subspaces]
    curves = cached.get_curves(label, data, "pitch_shift", SHIFTS)
    d = {s: distance_at(curves, s, SHIFT) for s in subs}
    moves, stays = d.get("Z.pitch_shift", float("nan")), d.get("Z.invariant", float("nan"))
    if moves >= max(1.5 * stays, stays + 0.05):
        st.markdown(f"Shift the pitch of a clip and measure how far its vector moves{note}: `Z.pitch_shift` moves "
                    f"further the bigger the shift (**{moves:.2f}** at ±{SHIFT:g} semitones) while `Z.invariant` "
                    f"barely moves (**{stays:.2f}**): one head keeps what the other is trained to throw away.")
    else:
        st.markdown(f"Shift the pitch of a clip and measure how far its vector moves{note}: here `Z.pitch_shift` "
                    f"(**{moves:.2f}** at ±{SHIFT:g} semitones) and `Z.invariant` (**{stays:.2f}**) move about as "
                    "much: this model has not learned to keep pitch in one head and drop it in the other.")
    fig = plots.curves_figure({label: curves}, subs, "pitch shift (semitones)", height=380)
    fig.update_layout(title=dict(text=f"{label}: its two heads under pitch shift", font=dict(size=14)))
    st.plotly_chart(fig, key="fig-heads", config={"displaylogo": False})
    st.caption("Mean cosine distance between each clip and its shifted copy, over a fixed sample of corpus clips "
               f"(band: 95 % interval). Listen to one clip shifted down and up: "
               f"{widgets.clip_title(data, clip_of(data))}")
    shifted(label, data, clip_of(data), (-SHIFT, 0.0, SHIFT))


def loevpp_view() -> tuple[str, CorpusData, str, str, int] | None:
    """LOEV++'s label and corpus, its (ignoring, keeping) branch pair and the tour's clip; None (and a note)
    without one."""
    label = find("loevpp")
    if label is None:
        missing("loevpp", "with encoder branches")
        return None
    data = cached.get_corpus(label)
    ignore, keep = teaching_pair(data.subspaces)
    return label, data, ignore, keep, clip_of(data)


def branches() -> None:
    view = loevpp_view()
    if view is None:
        return
    label, data, ignore, keep, clip = view
    if "key" not in data.meta.columns:  # e.g. the real-music demo set: follow one clip through every key instead
        return branches_by_shifting(label, data, ignore, keep, clip)
    share = {s: cached.agreement(data, s, "key", K) for s in (ignore, keep)}
    shares = (f"**{share[keep]:.0%}** against **{share[ignore]:.0%}** of a clip's {K} nearest neighbours share its "
              f"key (chance {chance(data, 'key'):.0%})")
    if share[keep] >= max(2 * share[ignore], share[ignore] + 0.08):
        st.markdown(f"LOEV++ gives each head its own encoder branch: in `{keep}` (right) clips gather by key, "
                    f"neighbouring keys of the circle of fifths side by side, while `{ignore}` (left) mixes every "
                    f"key: {shares}.")
    else:
        st.markdown(f"LOEV++ gives each head its own encoder branch, but in this model `{keep}` (right) sorts clips "
                    f"by key hardly more than `{ignore}` (left): {shares}.")
    branch_maps(data, clip, keyed_map(data, ignore, clip, f"{ignore} · ignores pitch"),
                keyed_map(data, keep, clip, f"{keep} · keeps pitch"))


def branches_by_shifting(label: str, data: CorpusData, ignore: str, keep: str, clip: int) -> None:
    """Step 3 on a corpus without key labels: shift clips through the keys and measure how far each branch moves
    (a distance curve, which says it exactly; a map's distances are not the embedding's)."""
    curves = cached.get_curves(label, data, "pitch_shift", SHIFTS)
    moves, stays = distance_at(curves, keep, SHIFT), distance_at(curves, ignore, SHIFT)
    verdict = (f"`{keep}` follows the key, `{ignore}` drops it" if moves >= max(1.5 * stays, stays + 0.05)
               else "in this model both branches move about as much")
    n = len(curve_rows(data))  # the clips get_curves averages over
    st.markdown(f"LOEV++ gives each head its own encoder branch. This corpus has no key labels to colour clips by, "
                f"so move its clips through every key (-6…+6 semitones) and measure how far each moves: "
                f"±{SHIFT:g} semitones move a clip **{moves:.2f}** in `{keep}` and **{stays:.2f}** in `{ignore}` "
                f"(cosine distance, mean over {n} clips): {verdict}. The labelled generated set (**Models** page) "
                "shows clips gathering by key.")
    fig, side = st.columns([2, 0.7], gap="medium")
    fig.plotly_chart(plots.curves_figure({label: curves}, [ignore, keep], "semitones", height=380),
                     key="fig-branches-curves", config={"displaylogo": False})
    with side:
        st.markdown(f"**Hear it:** {widgets.clip_title(data, clip)}")
        shifted(label, data, clip, (0.0, SHIFT), stacked=True)


def branch_maps(data: CorpusData, clip: int, left: object, right: object) -> None:
    """Step 3's two branch maps side by side, and the followed clip (key wheel, player) beside them."""
    a, b, c = st.columns([1, 1, 0.7], gap="small")
    a.plotly_chart(left, key="fig-branches-a", config={"displaylogo": False})
    b.plotly_chart(right, key="fig-branches-b", config={"displaylogo": False})
    with c:
        wheel(data, clip)
        st.markdown(f"**The star:** {widgets.clip_title(data, clip)}")
        widgets.play_row(data, clip, slot="t")


def retrieval() -> None:
    view = loevpp_view()
    if view is None:
        return
    label, data, ignore, keep, clip = view
    if "key" not in data.meta.columns:
        return retrieval_by_shifting(label, data, ignore, keep, clip)
    sound = next((c for c in ("instrument", "piece") if c in data.label_columns), None)
    labels = [c for c in ("key", sound) if c]
    table = pd.DataFrame({f"same {lab}": [cached.agreement(data, s, lab, K) for s in (keep, ignore)]
                          for lab in labels}, index=[keep, ignore])
    r = data.meta.iloc[clip]
    split = sound is None or table.iloc[1, 1] > table.iloc[0, 1]
    if table.iloc[0, 0] >= max(2 * table.iloc[1, 0], table.iloc[1, 0] + 0.08) and split:
        (k_keep, *s_keep), (k_ignore, *s_ignore) = table.loc[keep], table.loc[ignore]
        other = (f", while `{ignore}` favours the same {sound} (**{s_ignore[0]:.0%}** against **{s_keep[0]:.0%}**)"
                 if sound else "")
        st.markdown(f"Search with one query in two branches: `{keep}` favours music in the query's key "
                    f"(**{r.get('key', '?')}** here; **{k_keep:.0%}** of a clip's {K} nearest share its key, against "
                    f"**{k_ignore:.0%}** in `{ignore}`){other}.")
    else:
        st.markdown(f"Search with one query in two branches and compare what the neighbours share: in this model "
                    f"`{keep}` and `{ignore}` find much the same kind of neighbours.")
    left, right = st.columns([1, 1.4], gap="large")
    with left:
        st.markdown(f"**Query:** {widgets.clip_title(data, clip)}")
        widgets.play_row(data, clip, slot="t")
        fig = plots.scores_figure(table, height=300).update_layout(yaxis_title=f"share of {K} nearest")
        st.plotly_chart(fig, key="fig-retrieval", config={"displayModeBar": False})
        st.caption(f"Share of the {K} nearest neighbours with the query's label, over a fixed sample of corpus clips "
                   f"(chance: key {chance(data, 'key'):.0%}" + (f", {sound} {chance(data, sound):.0%}" if sound else "")
                   + ").")
    with right:
        nearest(data, query_from_row(data, clip), (keep, ignore), exclude=clip)


def retrieval_by_shifting(label: str, data: CorpusData, ignore: str, keep: str, clip: int) -> None:
    """Step 4 on a corpus without key labels: search with clips moved into another key, in both branches, and
    count how often each returns the original (many clips, so one clip's luck does not make the lesson)."""
    ranks = cached.copy_ranks_of(label, data, (ignore, keep))
    within = {s: found_within(ranks[s], TOPS) for s in (ignore, keep)}
    top = TOPS[1]
    a, b = within[ignore][top], within[keep][top]
    lesson = (f"`{ignore}` finds the same music whatever the key; `{keep}` looks for music in the new key"
              if a >= b + 0.2 else "in this model the branches answer alike")
    st.markdown(f"This corpus has no key labels to count, so search with {len(ranks[keep])} of its clips, each moved "
                f"{SHIFT:+g} semitones, into another key: `{ignore}` "
                f"returns the original among its first {top} answers for **{a:.0%}** of them, `{keep}` for "
                f"**{b:.0%}**: {lesson}. Below, one of them to listen to.")
    st.plotly_chart(plots.found_figure(within, TOPS), key="fig-copy-ranks", config={"displayModeBar": False})
    traj = cached.get_trajectory(label, data, clip, "pitch_shift", SHIFTS)
    left, right = st.columns([1, 1.4], gap="large")
    with left:
        st.markdown(f"**Query:** {widgets.clip_title(data, clip)}")
        shifted(label, data, clip, (0.0, SHIFT), stacked=True)
    with right:
        at = SHIFTS.index(SHIFT)
        came = {s: copy_report(traj, SHIFTS, data, clip, s, SHIFT)["rank"] for s in (keep, ignore)}
        st.caption(f"Searched with the query moved {SHIFT:+g} semitones. This clip's original comes back "
                   + " and ".join(f"{ordinal(r) if r <= 100 else 'after the 100th'} in `{s}`" for s, r in came.items())
                   + ".")
        nearest(data, {s: np.asarray(traj[s])[at] for s in (keep, ignore)}, (keep, ignore),
                heading=f"Nearest to the {SHIFT:+g} copy in", original=clip)


RENDER: dict[str, Callable[[], None]] = {"throw-away": throw_away, "heads": heads, "branches": branches,
                                         "retrieval": retrieval}
step = synced(st.segmented_control, "Step", STEPS, "step", default=STEPS[0], required=True,
              format_func=lambda s: TITLES[s], label_visibility="collapsed")
content, nav = st.container(), st.container()
with nav:  # drawn before the step, so a step that stops on a problem still leaves the way on
    st.divider()
    i = STEPS.index(step)
    with st.container(horizontal=True):  # buttons as wide as their labels, in any window
        st.button("Previous", icon=":material/arrow_back:", disabled=i == 0, on_click=go,
                  args=(STEPS[max(i - 1, 0)],))
        st.button("Next", icon=":material/arrow_forward:", disabled=i == len(STEPS) - 1, type="primary", on_click=go,
                  args=(STEPS[min(i + 1, len(STEPS) - 1)],))
with content:
    st.subheader(TITLES[step])
    with widgets.guard(), st.spinner("Preparing this step (the first time only)..."):
        RENDER[step]()
