"""Models page: choose checkpoints and the corpus; model cards, training curves, evaluation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from loev_core.checkpoint import CheckpointError, checkpoint_label, read_metadata
from loev_core.explore.long_tracks import clip_folder, options_from_env, source_folder
from loev_core.explore.paths import PathRefused, corpus_clips, is_index_folder, resolve_allowed
from loev_core.explore.runinfo import (
    evaluation_tables,
    find_evaluations,
    mixed_up_table,
    model_card,
    order_evaluations,
    read_results_folder,
    recordings_rule,
    results_caption,
    results_tables,
)
from loev_core.explore.uploads import UploadError, save_checkpoint_upload
from loev_dashboard import cached, plots, widgets
from loev_dashboard.state import active_models, add_model, corpus_source, model_paths, recall, remember, settings
from loev_dashboard.tables import BEST_NOTE, kv_table, shaded

widgets.intro("Models", """A **model** turns a few seconds of music into vectors. A plain contrastive model (SimCLR)
learns to ignore everything its training augmentations change, so it forgets key and tempo. **LOEV** adds one
extra head per augmentation that is *allowed* to notice it (pitch shift, time stretch), and **LOEV++** gives each
head its own encoder branch, so the vectors split into parts that keep key, keep tempo, or ignore both. Pick the
models and the music collection (corpus) to explore; the other pages use what you choose here.""")

CUSTOM = "Another folder or manifest"
REAL = "Real-music demo set"


def pick_corpus(named: dict[str, Path], current: str) -> str:
    """The corpus picker: the generated demo set, the real-music demo set (once built), or a path typed below."""
    now = next((n for n, p in named.items() if str(p) == str(Path(current).expanduser().resolve())), CUSTOM)
    # follow the corpus when it changed elsewhere (a bookmark, the path typed below), not on every run: picking
    # "another folder" must keep the text box open while the corpus is still the old one
    if st.session_state.get("w.corpus_pick") not in (*named, CUSTOM) or st.session_state.get("_corpus_seen") != current:
        st.session_state["w.corpus_pick"] = now
    st.session_state["_corpus_seen"] = current
    return st.radio("Music to explore", [*named, CUSTOM], key="w.corpus_pick",
                    help="The generated set has exact key, tempo and instrument labels; the real-music set holds "
                         "real recordings, with same-track retrieval instead of labels. For another corpus, "
                         "type its path below.")


def clips_of(path: Path) -> tuple[Path, str]:
    """A typed folder of full-length tracks becomes its clips in the cache, cut by the function and with the
    options `loev dashboard --corpus DIR` uses (a progress bar meanwhile; once per folder, then found at once);
    any other path is returned as it is. The cache is an allowed folder, so the clips pass the path check."""
    opts = options_from_env()
    if opts is None:
        return path, ""
    bar: list[Any] = []

    def step(done: int, total: int) -> None:
        if not bar:
            bar.append(st.progress(0.0))
        bar[0].progress(done / max(total, 1), text=f"Cutting the tracks of {path.name} into clips: {done} of {total}")

    try:
        found = clip_folder(path, settings().cache_dir, opts, progress=False, on_track=step)
    except OSError as e:
        raise PathRefused(f"Could not cut the tracks of {path} into clips: {e}") from None
    finally:
        if bar:
            bar[0].empty()
    if found is None:
        return path, ""
    tracks = len({r["track"] for r in found.report.rows})
    return found.corpus, f"{len(found.report.rows)} clips of {tracks} track(s) in {path.name}{found.skipped_note}. "


def pick_evaluation(found: list[dict[str, Any]], label: str) -> dict[str, Any]:
    """One of a checkpoint's evaluations (newest first; the bundled models have the demo set's and the real
    recordings'), chosen by the corpus it ran on when there are several."""
    found = order_evaluations(found, corpus_source())
    if len(found) == 1:
        return found[0]
    names = [f"{ev['results'].get('corpus', '?')} ({ev['file'].parent.name})" for ev in found]
    if len(names) <= 3:
        choice = st.radio("Evaluated on", names, horizontal=True, key=f"evaluation-{label}")
    else:  # a researcher's many runs: a list, not a wall of buttons
        choice = st.selectbox("Evaluated on", names, key=f"evaluation-{label}")
    return found[names.index(choice)] if choice in names else found[0]


left, right = st.columns([3, 2], gap="large")
with left:
    st.subheader("Checkpoints")
    known = model_paths()
    if not known:
        st.warning("The bundled demo models are missing (assets/checkpoints/demo-simclr, demo-loev, demo-loevpp). "
                   "Add a checkpoint by path or upload one below, or start `loev dashboard --checkpoint PATH`.",
                   icon=":material/warning:")
    if st.session_state.pop("_models_changed", False):
        st.session_state["w.models"] = active_models()
    flash = st.session_state.pop("_flash", None)
    if flash:
        st.success(flash, icon=":material/check_circle:")
    chosen = st.multiselect("Models in this session", list(known), default=active_models(), key="w.models",
                            help="Every page offers these models.")
    remember("models", chosen)
    with st.form("add-path", border=False):
        c1, c2 = st.columns([4, 1], vertical_alignment="bottom")
        typed = c1.text_input("Add a checkpoint by path", placeholder="runs/my-run/model or file.safetensors",
                              help="Folders allowed: " + ", ".join(str(r) for r in settings().roots))
        if c2.form_submit_button("Add") and typed.strip():
            try:
                path = resolve_allowed(typed, settings().roots, "checkpoint path")
                read_metadata(path)
                label, status = add_model(checkpoint_label(path), path)
                st.session_state["_flash"] = {"new": f"Added **{label}**.", "selected": f"**{label}** is back in "
                                              "this session."}.get(status, f"**{label}** is already in this session.")
                st.rerun()
            except (PathRefused, CheckpointError) as e:
                st.error(str(e), icon=":material/block:")
    upload = st.file_uploader("…or upload a checkpoint (.safetensors)", type=["safetensors"], key="ckpt-upload")
    if upload is not None:
        try:
            folder = save_checkpoint_upload(upload.name, upload.getvalue(), settings().upload_dir,
                                            cached.settings_upload_mb())
            label, status = add_model(f"upload-{upload.name.removesuffix('.safetensors')}", folder)
            if status != "already":
                st.session_state["_flash"] = f"Uploaded checkpoint available as **{label}**."
                st.rerun()
        except UploadError as e:
            st.error(str(e), icon=":material/block:")

with right:
    st.subheader("Corpus")
    current = corpus_source()
    named = settings().corpora()
    pick = pick_corpus(named, current)
    if pick != CUSTOM and str(named[pick]) != current:
        remember("corpus", str(named[pick]))
        current = str(named[pick])
    with st.form("corpus", border=False):  # a custom path: any folder, manifest or index inside the allowed folders
        c1, c2 = st.columns([4, 1], vertical_alignment="bottom")
        # a folder of long tracks is used through its clips in the cache: the box keeps showing the folder typed
        typed_for = st.session_state.setdefault("_typed_for", {})
        shown = typed_for.get(current) or str(source_folder(current, settings().cache_dir) or current)
        typed = c1.text_input("Audio folder, manifest.csv, or an index built by `loev index`", value=shown)
        if c2.form_submit_button("Use") and typed.strip() not in (current, shown):
            try:
                path, cut = clips_of(resolve_allowed(typed, settings().roots, "corpus"))
                if not is_index_folder(path):
                    corpus_clips(path, settings().roots)
                remember("corpus", str(path))
                current = str(path)
                if cut:
                    typed_for[current] = typed.strip()
                st.success(f"{cut}Corpus changed; pages will embed it on first use.")
            except PathRefused as e:
                st.error(str(e), icon=":material/block:")
    if REAL not in named:
        st.caption("The real-music demo set is not built: `loev corpus real-demo` (or `./run demo`) cuts it from "
                   "Debian's free game-music packages.")
    try:
        src = resolve_allowed(current, settings().roots, "corpus")
        if is_index_folder(src):
            st.info(f"Prebuilt index `{src.name}`: search uses every item; maps use a sample.")
        else:
            n_clips, labels = cached.corpus_summary(src)
            st.metric("Clips", f"{n_clips:,}")
            if src == settings().real_demo:
                st.caption("Real recordings (5 s clips) from tracks the bundled models never trained on: the test "
                           "split of the real corpus and the held-out package singularity-music.")
            if labels:
                st.caption("Labels: " + ", ".join(labels))
            else:
                st.warning("This corpus has no labels (no manifest.csv): colouring and P@k will not be available.",
                           icon=":material/label_off:")
    except PathRefused as e:
        st.error(str(e), icon=":material/error:")

st.divider()
if not chosen:
    st.info("Choose at least one model above.")
for label in chosen:
    path = model_paths()[label]
    with st.container(border=True):
        st.subheader(label)
        try:
            card = model_card(path)
        except CheckpointError as e:
            st.error(str(e), icon=":material/error:")
            continue
        cols = st.columns([2, 3], gap="large")
        with cols[0]:
            kv_table(card)
            st.caption(f"`{path}`")
        with cols[1]:
            curves = cached.training_curves(path)
            if not curves.empty:
                n = curves["stage"].nunique()
                st.markdown("**Training curves**" + (f", {n} curve files one after the other" if n > 1 else ""))
                st.plotly_chart(plots.metrics_figure(curves), key=f"metrics-{label}")
                st.caption("The learning rate jumps where a run, or a warm restart within one, begins; the loss "
                           "jumps where a run changes what it trains (views per clip, heads, data), so its level "
                           "is comparable within a run. A curve file can hold several of the card's training "
                           "stages (a run resumed), and the bundled models' files are named after "
                           "`scripts/make_demo_models.sh`'s stages, the card after the run folders they were "
                           "trained in. The card's final loss is the last run's.")
            else:
                st.caption("No training curves: the run folder (metrics.csv) is not next to this checkpoint.")
            try:
                found = find_evaluations(path, cached.model_id(label))
            except OSError:
                found = []
            if found:
                ev = pick_evaluation(found, label)
                st.markdown(f"**Evaluation** by `loev eval` on `{ev['results'].get('corpus', '?')}` "
                            f"({ev['file'].parent.name}); {BEST_NOTE}")
                recordings = ((ev["results"].get("recordings") or {}).get("models") or {}).get(ev["name"])
                tables = evaluation_tables(ev["model"], recordings)
                if recordings:
                    st.caption(f"recordings: {recordings_rule(ev['results'].get('recordings') or {})}; low-high "
                               "is the 95% interval when whole tracks are resampled.")
                confused = mixed_up_table(recordings)
                names = list(tables) + (["mixed up"] if confused is not None else [])
                tabs = st.tabs(names)
                for tab, table in zip(tabs, tables.values(), strict=False):
                    with tab:
                        st.dataframe(shaded(table), height=38 + 35 * len(table))
                if confused is not None:
                    with tabs[-1]:
                        st.caption("The recordings whose clips most often find a clip of another recording first, "
                                   "in this model's best same-recording subspace: listen to those pairs first.")
                        st.dataframe(confused, hide_index=True)
            else:
                st.caption("No evaluation yet: run `loev eval --checkpoint ... --out DIR` to see scores here.")

st.divider()
st.subheader("Evaluation results")
st.session_state.setdefault("w.results", recall("results", ""))
with st.form("results-folder", border=False):
    c1, c2 = st.columns([4, 1], vertical_alignment="bottom")
    typed = c1.text_input("Results folder", key="w.results",
                          placeholder="the --out folder of `loev eval` (its results.json)",
                          help="Any folder `loev eval` wrote, e.g. a `--dataset gtzan_genre` run. Folders allowed: "
                               + ", ".join(str(r) for r in settings().roots))
    if c2.form_submit_button("Show") and typed.strip():
        remember("results", typed.strip())
shown = recall("results")
if shown:
    try:
        results = read_results_folder(resolve_allowed(shown, settings().roots, "results folder"))
        tables = results_tables(results)
        st.caption(results_caption(results))
        if not tables:
            st.info("This results file holds no scores.")
        for title, table in tables.items():
            st.markdown(f"**{title}**; {BEST_NOTE}")
            st.dataframe(shaded(table), height=38 + 35 * len(table))
            st.plotly_chart(plots.scores_figure(table), key=f"results-{title}")
        for name, per in ((results.get("recordings") or {}).get("models") or {}).items():
            confused = mixed_up_table(per)
            if confused is not None:
                st.markdown(f"**{name}: recordings most often mixed up**, in its best same-recording subspace")
                st.dataframe(confused, hide_index=True)
    except (PathRefused, ValueError) as e:
        st.error(str(e), icon=":material/block:")
else:
    st.caption("Type the folder a `loev eval --out DIR` run wrote (e.g. `--dataset gtzan_genre`) to see its scores.")
