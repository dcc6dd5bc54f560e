"""Shared widgets: page intro, error guard, pickers bound to the URL, audio players, selections.

Widgets return plain values; pages call loev_core for everything else.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

from loev_core.audio import AudioError
from loev_core.checkpoint import CheckpointError
from loev_core.config import ConfigError
from loev_core.explore.cache import CorpusData
from loev_core.explore.paths import PathRefused, check_clip_path
from loev_core.explore.uploads import UploadError
from loev_dashboard.state import active_models, recall, settings, synced

log = logging.getLogger("loev.dashboard")
EXPECTED = (CheckpointError, PathRefused, UploadError, AudioError, ConfigError, FileNotFoundError)
PREFERRED = ("key", "tempo", "instrument", "piece")
# manifest columns that describe one file (its place in a track, its format) or its licence: bookkeeping
_BOOKKEEPING = {"licence", "license", "copyright", "original", "sample_rate", "channels", "label_duration", "start",
                "source_file", "track_split"}
# ... never worth showing as a label; the player shows the credits (author, licence, source) under itself
NOT_SHOWN = _BOOKKEEPING | {"split", "author", "source"}
# ... no label to score or colour by (a map may still be coloured by source or author). `track` is scored by the
# Retrieval page's same-track P@k, so the label P@k leaves it out; it may colour a map.
PER_CLIP = _BOOKKEEPING | {"offset", "duration"}
MIME = {".ogg": "audio/ogg", ".opus": "audio/ogg", ".wav": "audio/wav", ".flac": "audio/flac",
        ".mp3": "audio/mpeg", ".m4a": "audio/mp4", ".aiff": "audio/aiff", ".aif": "audio/aiff"}

# Pause every other <audio> when one starts: `play` does not bubble, so listen in the capture phase.
ONE_PLAYER_JS = """
<script>
if (!window.__loevOnePlayer) {
  window.__loevOnePlayer = true;
  document.addEventListener("play", (e) => {
    document.querySelectorAll("audio").forEach((a) => { if (a !== e.target && !a.paused) a.pause(); });
  }, true);
}
</script>
"""


def one_player() -> None:
    """Only one audio player plays at a time (on every page)."""
    st.html(ONE_PLAYER_JS, unsafe_allow_javascript=True)


def intro(title: str, text: str) -> None:
    """Page title plus the short plain-language explanation used for teaching."""
    st.title(title)
    with st.container(key="intro"):
        st.markdown(text)


@contextlib.contextmanager
def guard(what: str = "") -> Iterator[None]:
    """Turn any problem into a message on the page (never a traceback) and stop this run."""
    try:
        yield
    except EXPECTED as e:
        st.error(f"{what}{e}" if what else str(e), icon=":material/error:")
        st.stop()
    except (ValueError, KeyError, OSError, RuntimeError) as e:
        log.exception("dashboard problem")
        st.error(f"{what}{type(e).__name__}: {e}", icon=":material/error:")
        st.stop()


def need_models() -> list[str]:
    """The session's models, or a clear message when there are none."""
    models = active_models()
    if not models:
        st.warning("No model available: the bundled models (assets/checkpoints/demo-simclr, demo-loev, "
                   "demo-loevpp) are missing. Start `loev dashboard --checkpoint PATH`, or add or upload a "
                   "checkpoint on the **Models** page.", icon=":material/warning:")
        st.stop()
    return models


def pick_model(name: str = "model", label: str = "Model", options: Sequence[str] | None = None,
               default: str | None = None) -> str:
    opts = list(options or need_models())
    prefer = default or next((m for m in opts if "loevpp" in m), opts[0])
    return synced(st.selectbox, label, opts, name, default=prefer)


def pick_subspace(subspaces: Sequence[str], name: str = "subspace", label: str = "Subspace",
                  default: str | None = None) -> str:
    help_ = ("V: the encoder output. Z.invariant: ignores every augmentation. Z.<aug>: keeps what that "
             "augmentation changes. V.<aug> (LOEV++): the encoder branch of that head.")
    return synced(st.selectbox, label, subspaces, name, default=default or subspaces[0], help=help_)


def colour_labels(data: CorpusData) -> list[str]:
    """Columns a map may be coloured by: labels and groups (key, source, track), not a clip's start or length."""
    return [c for c in data.label_columns if c not in PER_CLIP]


def score_labels(data: CorpusData) -> list[str]:
    """Columns the label P@k may count as a match: as `colour_labels`, less `track` (same-track P@k scores it,
    and on a real corpus it came first, so the label box showed the same number twice) and the credits (`source`,
    the collection a recording came from, and `author`: a match there is mostly the same track again), and the
    split, which says how a clip was used, not what it sounds like."""
    return [c for c in colour_labels(data) if c != "track" and c not in NOT_SHOWN]


def pick_color(labels: Sequence[str], name: str = "color") -> str:
    opts = ["(none)", *labels]
    default = next((c for c in ("key", "instrument", "tempo", "source", "track") if c in labels), opts[0])
    return synced(st.selectbox, "Colour by", opts, name, default=default)


def shown_labels(data: CorpusData, n: int = 3) -> list[str]:
    """The few labels worth printing next to a clip: musical ones first; bookkeeping (split) and credits
    (author, licence: under the player) never."""
    cols = [c for c in data.label_columns if c not in NOT_SHOWN]
    return sorted(cols, key=lambda c: (PREFERRED.index(c) if c in PREFERRED else len(PREFERRED), cols.index(c)))[:n]


def clip_title(data: CorpusData, row: int, labels: Sequence[str] | None = None) -> str:
    r = data.meta.iloc[int(row)]
    parts = [f"{c}: {r[c]}" for c in (labels or shown_labels(data)) if c in r and str(r[c]) not in ("nan", "")]
    with contextlib.suppress(TypeError, ValueError):  # a clip cut from a recording: where in it
        if "track" in r and float(r.get("start")) >= 0:
            parts.append(f"at {_clock(float(r['start']))}")
    return f"**{r['name']}**" + (f" · {' · '.join(parts)}" if parts else "")


def _cell(value: Any) -> str:
    """A metadata cell as text; '' for missing ones (None, NaN, empty)."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return str(value).strip()


def clip_credit(data: CorpusData, row: int) -> str:
    """"by AUTHOR · licence LICENCE · from SOURCE" from the manifest's author, licence and source columns (real
    recordings must be credited); '' without an author or a licence (the generated set's `source` is how a clip
    was made, e.g. "procedural", not a credit)."""
    r = data.meta.iloc[int(row)]
    author = _cell(r.get("author"))
    licence = _cell(r.get("licence")) or _cell(r.get("license"))
    if not (author or licence):
        return ""
    source = _cell(r.get("source"))
    parts = (f"by {author}" if author else "", f"licence {licence}" if licence else "",
             f"from {source}" if source else "")
    return " · ".join(p for p in parts if p)


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


def play_original(data: CorpusData, row: int, slot: str = "") -> None:
    """For a clip cut from a longer track (`source_file`, `start` columns): a button that plays the whole
    track from the clip's position. Only on demand: a player reads its whole file into the server's memory."""
    r = data.meta.iloc[int(row)]
    original = _cell(r.get("source_file"))
    if not original:
        return
    start = float(r.get("start") or 0.0)
    mark = (data.key, slot, int(row))
    if st.button(f"Whole track from {_clock(start)}", key=f"whole.{slot}.{row}", icon=":material/queue_music:",
                 type="tertiary"):
        st.session_state["_whole"] = mark
    if st.session_state.get("_whole") != mark:
        return
    try:
        path = check_clip_path(original, settings().roots)
    except PathRefused as e:
        st.caption(f"Cannot play the original: {e}")
        return
    st.audio(str(path), format=MIME.get(path.suffix.lower(), "audio/wav"), start_time=int(start), autoplay=True)


def play_row(data: CorpusData, row: int, autoplay: bool = False, slot: str = "") -> None:
    """Player for a corpus clip (its original file, served as-is), with its author, licence and source when the
    manifest gives them, and the whole track on demand for a clip cut from one; a message if it cannot be played.
    `slot` tells apart two players of the same clip on one page."""
    r = data.meta.iloc[int(row)]
    credit = clip_credit(data, row)
    try:
        path = check_clip_path(r["path"], settings().roots)
    except PathRefused as e:
        st.caption(f"Cannot play: {e}" + (f" ({credit})" if credit else ""))
        return
    offset = float(r.get("offset") or 0.0)
    end = offset + float(r["duration"]) if offset and float(r.get("duration") or 0) else None
    st.audio(str(path), format=MIME.get(Path(path).suffix.lower(), "audio/wav"), start_time=offset,
             end_time=end, autoplay=autoplay)
    if credit:
        st.caption(credit)
    play_original(data, row, slot)


def player_grid(name: str) -> Any:
    """A container for rows of players (`name` unique on the page): a player the window's width pushes onto a
    row of its own keeps the others' width (app.py's CSS) instead of stretching across the page."""
    return st.container(key=f"players-{name}")


def play_wave(wave: Any, sample_rate: int) -> None:
    arr = np.asarray(wave, dtype=np.float32)
    peak = float(np.abs(arr).max()) if arr.size else 0.0
    st.audio(arr / peak * 0.9 if peak > 1.0 else arr, sample_rate=int(sample_rate))


def selected_rows(event: Any) -> list[int]:
    """Corpus rows of the points picked in a map (click, box or lasso), in pick order, no repeats."""
    try:
        points = event["selection"]["points"]
    except (KeyError, TypeError):
        return []
    rows: list[int] = []
    for p in points:
        cd = p.get("customdata")
        if isinstance(cd, (list, tuple)) and cd:
            cd = cd[0]
        if cd is not None:
            with contextlib.suppress(TypeError, ValueError):
                rows.append(int(cd))
    return list(dict.fromkeys(rows))


def clip_options(data: CorpusData, limit: int = 5000) -> list[int]:
    """Rows offered in clip pickers (the first `limit` for huge corpora; the map reaches the rest)."""
    return list(range(min(len(data), limit)))


def pick_clip(data: CorpusData, name: str = "clip", label: str = "Clip") -> int:
    opts = clip_options(data)
    for raw in (st.session_state.get(f"w.{name}"), recall(name)):  # a clip picked on a map may lie past the list
        with contextlib.suppress(TypeError, ValueError):
            if 0 <= int(raw) < len(data) and int(raw) not in opts:
                opts.append(int(raw))
    names = data.meta["name"].tolist()
    return synced(st.selectbox, label, opts, name, default=0, cast=int, format_func=lambda r: names[r])
