"""Selections that survive page changes and live in the URL, so a view can be shared or bookmarked.

Streamlit forgets a widget's value when a page without that widget runs, and clears the query
string when the page changes. Each selection therefore has a canonical copy in `st.session_state`
(`_sel.<name>`) that seeds its widget, and is mirrored into `st.query_params` on every run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import streamlit as st

from loev_core.explore.session import Settings, load_settings


@st.cache_resource
def settings() -> Settings:
    """Read once per server process: the CLI sets the environment before Streamlit starts."""
    return load_settings()


def _canon(name: str) -> str:
    return f"_sel.{name}"


def remember(name: str, value: Any, url: bool = True) -> None:
    """Store a selection (and put it in the URL unless it is a list or None)."""
    st.session_state[_canon(name)] = value
    if not url:
        return
    if value is None or value == []:
        st.query_params.pop(name, None)
    elif isinstance(value, (list, tuple)):
        st.query_params[name] = ",".join(map(str, value))
    else:
        st.query_params[name] = str(value)


def keep_in_url(name: str) -> None:
    """A selection every page uses (the corpus, the models) is made on the Models page, but Streamlit clears the
    query string on each page change: copy it from the URL into the session (a bookmark), and back into the URL,
    so every page's URL still says which corpus and models it shows."""
    if name in st.query_params:
        st.session_state[_canon(name)] = st.query_params[name]
    elif st.session_state.get(_canon(name)) is not None:
        remember(name, st.session_state[_canon(name)])


def recall(name: str, default: Any = None) -> Any:
    """A selection: from the URL first (a bookmark), else this session, else `default`."""
    if name in st.query_params:
        return st.query_params[name]
    return st.session_state.get(_canon(name), default)


def synced(widget: Callable[..., Any], label: str, options: Sequence[Any], name: str, default: Any = None,
           cast: Callable[[str], Any] = str, **kwargs: Any) -> Any:
    """A selectbox/radio-like widget whose value is seeded from URL/session and written back to both."""
    options = list(options)
    if not options:
        return None
    key = f"w.{name}"
    if key not in st.session_state or st.session_state[key] not in options:
        wanted = recall(name, default)
        if isinstance(wanted, str) and not isinstance(options[0], str):
            try:
                wanted = cast(wanted)
            except (TypeError, ValueError):
                wanted = None
        st.session_state[key] = wanted if wanted in options else (default if default in options else options[0])
    else:
        # Claim the value again: a widget with this key drawn elsewhere (another page, another column after a
        # layout change) has another widget id, and Streamlit would otherwise start it at its default (None).
        st.session_state[key] = st.session_state[key]
    value = widget(label, options, key=key, **kwargs)
    remember(name, value)
    return value


def seeded_slider(key: str, name: str, default: float, cast: type, low: float, high: float) -> None:
    """A slider's first value in this session from the URL (a bookmark), clamped to its range: `synced` for
    widgets with a range instead of options (write the value back with `remember`)."""
    if key in st.session_state:
        return
    try:
        value = cast(recall(name, default))
    except (TypeError, ValueError):
        value = default
    st.session_state[key] = cast(min(max(value, low), high))


def model_paths() -> dict[str, Path]:
    """Every checkpoint known to this session: the CLI's/bundled ones plus those added on the Models page."""
    reg = st.session_state.setdefault("_models", dict(settings().checkpoints))
    return reg


def add_model(label: str, path: Path) -> tuple[str, str]:
    """Register a checkpoint and select it; returns (label, "new" | "selected" | "already"): new to this session,
    known but removed from the selection (selected again), or already selected."""
    reg = model_paths()
    for known, p in reg.items():
        if Path(p) == Path(path):
            if known in active_models():
                return known, "already"
            remember("models", [*active_models(), known])
            st.session_state["_models_changed"] = True
            return known, "selected"
    base, n = label, 2
    while label in reg:
        label, n = f"{base}-{n}", n + 1
    reg[label] = path
    remember("models", [*active_models(), label])
    st.session_state["_models_changed"] = True
    return label, "new"


def active_models() -> list[str]:
    """Models chosen on the Models page (all known ones until the user picks)."""
    known = model_paths()
    raw = recall("models")
    names = raw.split(",") if isinstance(raw, str) else list(raw or [])
    names = [n for n in names if n in known]
    return names or list(known)


def corpus_source() -> str:
    return str(recall("corpus", str(settings().corpus)))


def corpus_title() -> str:
    """The corpus's name for the sidebar: a folder of tracks by its own name, not its clips' cache folder."""
    from loev_core.explore.long_tracks import corpus_name

    return corpus_name(corpus_source(), settings().cache_dir)
