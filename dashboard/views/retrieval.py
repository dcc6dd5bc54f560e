"""Retrieval: find the clips nearest to a query in a chosen subspace, and see why they are neighbours."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st
import torch

from loev_core.config import TIME_STRETCH_RANGE
from loev_core.evaluation.transforms import moved_labels
from loev_core.explore.cache import CorpusData
from loev_core.explore.retrieval import (
    PRESET_LABEL,
    breakdown,
    neighbour_table,
    precision_at_k,
    presets_for,
    query_from_row,
    same_label,
    search,
)
from loev_core.explore.transforms import transformed
from loev_core.explore.uploads import AUDIO_UPLOAD_TYPES, MAX_QUERY_SECONDS, UploadError
from loev_dashboard import cached, widgets
from loev_dashboard.state import remember, seeded_slider, synced
from loev_dashboard.tables import bar_table, heat_table

SOURCES = ("Corpus clip", "Upload a file", "Record")


def heard(wave: torch.Tensor, sr: int, clip_seconds: float, player: bool = True) -> None:
    """The uploaded (or recorded: `player=False`, its widget plays it) query as the model gets it: a player, and
    how it is embedded (a long file is not cut to one clip: its windows are averaged, as `loev embed` does)."""
    if player:
        widgets.play_wave(wave.numpy(), sr)
    seconds = wave.numel() / sr
    windows = math.ceil(seconds / clip_seconds)
    how = (f"the mean of its {windows} windows of {clip_seconds:g} s" if windows > 1
           else f"one window of {clip_seconds:g} s" + (" (looped to fill it)" if seconds < clip_seconds else ""))
    cut = f", its first {MAX_QUERY_SECONDS / 60:g} min" if seconds >= MAX_QUERY_SECONDS - 0.5 else ""
    st.caption(f"{seconds:.1f} s{cut}, embedded as {how}.")


widgets.intro("Retrieval", """Give the model a piece of music (a clip of the corpus, your own file, or a recording) and
it returns the most similar clips. *Similar* depends on the **subspace**: search `V.pitch_shift` (or the preset
**same key**) to find music in the same key whatever the tempo, `V.time_stretch` (**same tempo**) for the same
speed, `Z.invariant` for the same material regardless of key and tempo. Move the sliders to transpose or speed up
your query and hear it; the table of results explains each neighbour by its distance in every subspace.""")

q_col, t_col = st.columns([1, 1], gap="large")
with q_col:
    label = widgets.pick_model()
    with widgets.guard():
        model = cached.get_model(label)
        data: CorpusData = cached.get_corpus(label)
    sr = model.sample_rate
    source = synced(st.segmented_control, "Query", SOURCES, "source", default=SOURCES[0], required=True)
    wave, row, labels = None, None, {}
    with widgets.guard():
        if source == SOURCES[0]:
            row = widgets.pick_clip(data, label="Query clip")
            labels = {c: data.meta.iloc[row][c] for c in data.label_columns}
            st.markdown(widgets.clip_title(data, row))
            widgets.play_row(data, row, slot="q")
        elif source == SOURCES[1]:
            up = st.file_uploader("Audio file (wav, flac, ogg, mp3)", type=list(AUDIO_UPLOAD_TYPES), key="q-upload")
            if up is not None:
                try:
                    wave = cached.decode_upload(up.name, up.getvalue(), sr)
                    heard(wave, sr, model.clip_seconds)
                except UploadError as e:
                    st.error(str(e), icon=":material/block:")
        else:
            rec = st.audio_input("Record a query", sample_rate=sr, key="q-record")
            if rec is not None:
                try:
                    wave = cached.decode_upload("recording.wav", rec.getvalue(), sr)
                    heard(wave, sr, model.clip_seconds, player=False)
                except UploadError as e:
                    st.error(str(e), icon=":material/block:")
with t_col:  # in the URL like every selection, so a bookmark keeps the transformed query
    seeded_slider("q-pitch", "pitch", 0, int, -6, 6)
    seeded_slider("q-rate", "rate", 1.0, float, *TIME_STRETCH_RANGE)
    pitch = st.slider("Transpose the query (semitones)", -6, 6, key="q-pitch")
    rate = st.slider("Tempo of the query (× speed)", *TIME_STRETCH_RANGE, step=0.05, key="q-rate")  # trained range
    remember("pitch", pitch if pitch else None)
    remember("rate", rate if rate != 1.0 else None)

if row is None and wave is None:
    st.info("Choose a query: upload a file or record one.", icon=":material/library_music:")
    st.stop()
with widgets.guard("Could not prepare the query: "):
    moved = pitch != 0 or rate != 1.0
    if moved:
        base = cached.get_wave(data, row, sr) if wave is None else wave
        if pitch:
            base = transformed(base, sr, "pitch_shift", [float(pitch)])[0]
        if rate != 1.0:
            base = transformed(base, sr, "time_stretch", [float(rate)])[0]
        wave = base
        labels = moved_labels("time_stretch", moved_labels("pitch_shift", labels, pitch), rate) if labels else {}
    query = cached.embed_query(label, wave) if wave is not None and (moved or row is None) \
        else query_from_row(data, row)
if moved:
    with t_col:
        now = ", ".join(f"{c} {v:.0f}" if isinstance(v, float) else f"{c} {v}" for c, v in labels.items()
                        if c in ("key", "tempo") and not pd.isna(v))  # what "same key" / "same tempo" now count
        st.caption(f"Transformed query ({pitch:+d} semitones, ×{rate:g} speed){': now ' + now if now else ''}")
        widgets.play_wave(wave.numpy(), sr)


def _score_by_the_preset_label(label_columns: list[str]) -> None:
    """A newly picked preset scores P@k by its own label ("same tempo" by tempo)."""
    label = PRESET_LABEL.get(st.session_state["w.mode"], "key")
    if label in label_columns:
        st.session_state["w.pk_label"] = label


def same_track_metric(box: object, data: CorpusData, query: dict, subspaces: list[str], k: int, row: int | None,
                      hits: object = None) -> None:
    """Same-track P@k: the share of the query clip's k nearest other clips cut from its own recording (a corpus
    with a `track` column: the real-music demo set, a folder of full tracks), scored as the label P@k is.
    Clips that repeat the query's audio (a loop coming back) are skipped, as `loev eval` skips them: finding
    one is not recognising the recording from another part of it."""
    if row is None:
        box.metric(f"Same-track P@{k}", "n/a", help="An upload or a recording belongs to no track of the corpus.")
        return
    target = data.meta["track"].iloc[int(row)]
    twins = cached.get_repeats(data, row)
    if int((data.meta["track"] == target).sum()) - 1 - len(twins) <= 0:
        box.metric(f"Same-track P@{k}", "n/a", help=f"The query's recording ({target}) holds no other clip"
                   f"{' that is not a repeat of it' if twins else ''}.")
        return
    if hits is None or twins:  # a transformed query may find its own clip first: leave it out, and its repeats
        hits = search(data, query, subspaces, k, exclude=[int(row), *twins])
    tracks = data.meta["track"].iloc[hits["row"].to_numpy()]
    skipped = (f" {len(twins)} clip(s) of it repeat the query's audio and are skipped, as in `loev eval`."
               if twins else "")
    box.metric(f"Same-track P@{len(tracks)}", f"{precision_at_k(tracks, target, 'track'):.2f}",
               help=f"Share of the {len(tracks)} nearest other clips cut from the query's own recording "
                    f"({target}).{skipped}")


@st.fragment
def results(model_label: str, data: CorpusData, query: dict, row: int | None, labels: dict, moved: bool
            ) -> None:
    """Search settings and results: changing a preset, k or the label reruns only this part."""
    st.divider()
    presets = presets_for(data.subspaces)
    scored = widgets.score_labels(data)  # none (a folder of tracks): no label P@k, same-track P@k only
    # the presets on a row of their own: beside the other controls their last options were cut off
    mode = synced(st.segmented_control, "Search by", ["subspace", *presets], "mode", default="subspace",
                  required=True, help="Presets combine LOEV++ branches: the score is the mean similarity "
                  "over them.", on_change=_score_by_the_preset_label, args=(scored,))
    c1, c2, c3 = st.columns([3, 2, 3], gap="large")
    with c1:
        if mode == "subspace":
            subspaces = [widgets.pick_subspace(data.subspaces, default=presets.get("same key", [data.subspaces[0]])[0])]
        else:
            subspaces = presets[mode]
            st.caption(f"Searching {' + '.join(f'`{s}`' for s in subspaces)}")
    with c2:
        k = synced(st.select_slider, "Neighbours (k)", [5, 10, 20, 50], "k", default=10, cast=int)
    pk_label = None
    if scored:
        with c3:
            pk_label = synced(st.selectbox, "P@k counts a hit when this label matches", scored, "pk_label",
                              default=PRESET_LABEL.get(mode, "key"))
    with widgets.guard("Search failed: "):
        hits = search(data, query, subspaces, int(k), exclude=None if moved else row)
        table = neighbour_table(data, hits, widgets.shown_labels(data))
        dist = breakdown(data, query, hits["row"].tolist())
    by_track = "track" in data.meta.columns
    boxes = st.columns(2 + by_track + (pk_label is not None))
    if by_track:
        same_track_metric(boxes[-3], data, query, subspaces, int(k), row, hits if not moved else None)
    m2, m3 = boxes[-2:]
    target = labels.get(pk_label) if labels and pk_label else None
    hit_labels = data.meta[pk_label].iloc[hits["row"].to_numpy()] if pk_label in data.meta.columns else None
    if pk_label is not None and target is not None and hit_labels is not None:
        boxes[0].metric(f"P@{len(table)} for {pk_label}", f"{precision_at_k(hit_labels, target, pk_label):.2f}",
                        help=f"Share of neighbours whose {pk_label} is the query's ({target}).")
    elif pk_label is not None:  # without a label column the same-track box (a corpus of tracks) is the score
        boxes[0].metric(f"P@{len(table)}", "n/a",
                        help="The query has no label to compare with (uploads and recordings).")
    m2.metric("Best similarity", f"{float(hits['score'].max()):.3f}" if len(hits) else "n/a")
    m3.metric("Corpus searched", f"{len(data):,} clips")

    shown = table.drop(columns=["row"]).rename(columns={"score": "similarity"})
    if moved and row is not None and int(row) in hits["row"].tolist():  # a transformed query may find its own clip
        at = hits["row"].tolist().index(int(row))
        shown.loc[at, "name"] = f"{shown.loc[at, 'name']} (the query's own clip, untransformed)"
    if target is not None and hit_labels is not None:
        shown.insert(3, f"same {pk_label}", same_label(hit_labels, target, pk_label).tolist())
    bar_table(shown.rename(columns={"rank": "#"}), [], 1.0)
    st.markdown("**Why is this a neighbour?** Its cosine distance to the query in every subspace: a bright cell "
                "means close in that subspace (0 = same direction). A clip close in `V.pitch_shift` but far in "
                "`V.time_stretch` shares the key, not the tempo.")
    heat_table(dist, [f"{r}. {n}" for r, n in zip(table["rank"], table["name"], strict=True)])
    shown = shown.join(dist.reset_index(drop=True))
    context = {"query": data.meta.iloc[int(row)]["name"] if row is not None else "upload or recording",
               "model": model_label, "searched": " + ".join(subspaces)}
    csv = shown.assign(**context)[[*context, *shown.columns]].to_csv(index=False).encode()
    st.download_button("Download the results (CSV)", csv, f"neighbours-{model_label}-{'+'.join(subspaces)}.csv",
                       "text/csv", icon=":material/download:")

    st.markdown("**Listen to the neighbours**")
    per_row = 3
    with widgets.player_grid("neighbours"):
        for start in range(0, len(table), per_row):
            cols = st.columns(per_row, gap="small")  # three 16rem players fit a 1280 px window
            for col, (_, h) in zip(cols, table.iloc[start:start + per_row].iterrows(), strict=False):
                with col:
                    st.caption(f"{int(h['rank'])}. {widgets.clip_title(data, int(h['row']))} · similarity "
                               f"{h['score']:.3f}")
                    widgets.play_row(data, int(h["row"]), slot="n")


results(label, data, query, row, labels, moved)
