"""Cached access to models, corpora, projections and curves (the only place pages get data from).

Models and corpus indexes are `st.cache_resource` (one shared, read-only copy per server: a 100k
index must not be copied per session); small results (maps, curves, query vectors) are
`st.cache_data`. Every heavy result is also on disk (loev_core.explore), so a restart is warm.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st
import torch

from loev_core.checkpoint import CheckpointError, checkpoint_id, load_model
from loev_core.explore import warmup
from loev_core.explore.cache import CorpusData, CorpusStore, load_corpus
from loev_core.explore.projection import SEED, compute_projection, point_budget, sample_rows, stored_projection
from loev_core.explore.session import ENV_WARM
from loev_core.explore.transforms import (
    CURVE_CLIPS,
    cached_curves,
    clip_wave,
    embed_unit,
    trajectory,
    transformed,
)
from loev_core.explore.uploads import validate_audio_upload
from loev_dashboard.state import corpus_source, model_paths, settings

torch.set_num_threads(max(1, min(4, torch.get_num_threads())))


def start_warmup() -> threading.Thread | None:
    """Compile UMAP and embed the corpus with every model in the background, once per server process
    (`loev dashboard` has usually started it already; then this returns the same thread). Only when
    the server was started with warm-up on (not in tests)."""
    if os.environ.get(ENV_WARM) != "1":
        return None
    return warmup.start(settings(), warmup.STORE)


@st.cache_data(show_spinner=False, max_entries=256)
def _checkpoint_id(path: str, size: int, mtime_ns: int) -> str:
    return checkpoint_id(path)


def model_id(label: str) -> str:
    """`checkpoint_id` of a known checkpoint (cached on size + mtime, so editing the file is noticed)."""
    p = Path(model_paths()[label])
    f = p / "model.safetensors" if p.is_dir() else p
    if not f.is_file():
        raise CheckpointError(f"{p}: checkpoint not found (model {label!r})")
    st_ = f.stat()
    return _checkpoint_id(str(p), st_.st_size, st_.st_mtime_ns)


@st.cache_resource(show_spinner=False, max_entries=8)
def _load_model(path: str, ckpt_id: str) -> Any:
    return load_model(path)


def get_model(label: str) -> Any:
    """The model behind a label (raises CheckpointError with a readable message)."""
    return _load_model(str(model_paths()[label]), model_id(label))


def _corpus_store() -> CorpusStore:
    """One store per server process, shared with the warm-up thread (not `st.cache_resource` per
    corpus: the first build draws a progress bar, and cached functions must not draw outside)."""
    return warmup.STORE


def get_corpus(label: str) -> CorpusData:
    """Embeddings + index of the session's corpus for one model, with a progress bar the first time."""
    s = settings()
    path, ckpt, source = str(model_paths()[label]), model_id(label), corpus_source()
    holder = st.empty()

    def progress(fraction: float, text: str) -> None:
        holder.progress(min(max(fraction, 0.0), 1.0), text=text)

    def build() -> CorpusData:
        return load_corpus(_load_model(path, ckpt), Path(path), ckpt, source, s.roots, s.cache_dir, progress)

    store, key = _corpus_store(), warmup.corpus_key(Path(path), ckpt, source)
    try:
        if store.busy(key):  # being embedded by the start-up pre-build or another session: wait for it
            with st.spinner(f"Embedding the corpus with {label} (started earlier; once per model and corpus)..."):
                data = store.get(key, build)
        else:
            data = store.get(key, build)
    finally:
        holder.empty()
    if data.skipped:
        first_path, reason = data.skipped[0]
        st.caption(f":material/warning: {len(data.skipped)} file(s) of the corpus could not be read and are left "
                   f"out (e.g. {Path(first_path).name}: {reason}).")
    return data


@st.cache_data(show_spinner=False, max_entries=64)
def _projection(key: str, subspace: str, method: str, max_points: int, _data: CorpusData) -> tuple:
    def compute() -> tuple[np.ndarray, np.ndarray]:
        rows = sample_rows(len(_data), point_budget(method, max_points))
        return rows, compute_projection(_data.vectors(subspace, rows), method)

    folder = settings().cache_dir / "projections"
    return stored_projection(folder, (key, subspace, method, f"seed{SEED}", max_points), compute)


def get_projection(data: CorpusData, subspace: str, method: str, max_points: int = 20_000) -> tuple:
    """(rows, coords) of a stored map; computed once (with a spinner) per model, corpus, subspace, method."""
    with st.spinner(f"Computing the {method} map of {subspace} (stored for next time)..."):
        return _projection(data.key, subspace, method, max_points, data)


@st.cache_data(show_spinner=False, max_entries=32)
def _curves(label: str, ckpt_id: str, data_key: str, transform: str, values: tuple, n_clips: int,
            _data: CorpusData) -> dict:
    s = settings()
    return cached_curves(get_model(label), ckpt_id, _data, transform, values, s.roots, s.cache_dir / "curves",
                         n_clips=n_clips)


def get_curves(label: str, data: CorpusData, transform: str, values: tuple, n_clips: int = CURVE_CLIPS) -> dict:
    with st.spinner(f"Measuring {label} on {transform} over {n_clips} clips (stored for next time)..."):
        return _curves(label, model_id(label), data.key, transform, tuple(values), int(n_clips), data)


@st.cache_data(show_spinner=False, max_entries=64)
def _wave(data_key: str, row: int, sample_rate: int, _data: CorpusData) -> np.ndarray:
    return clip_wave(_data, row, sample_rate, settings().roots).numpy()


def get_wave(data: CorpusData, row: int, sample_rate: int) -> torch.Tensor:
    return torch.from_numpy(_wave(data.key, int(row), int(sample_rate), data))


@st.cache_data(show_spinner=False, max_entries=64)
def _versions(data_key: str, row: int, sr: int, transform: str, values: tuple, _data: CorpusData) -> np.ndarray:
    return transformed(get_wave(_data, row, sr), sr, transform, list(values)).numpy()


def get_versions(data: CorpusData, row: int, sr: int, transform: str, values: tuple) -> np.ndarray:
    """[len(values), T] transformed copies of a corpus clip, to listen to."""
    return _versions(data.key, int(row), int(sr), transform, tuple(values), data)


@st.cache_data(show_spinner=False, max_entries=64)
def _trajectory(label: str, ckpt_id: str, data_key: str, row: int, transform: str, values: tuple,
                _data: CorpusData) -> dict[str, np.ndarray]:
    model = get_model(label)
    return trajectory(model, get_wave(_data, row, model.sample_rate), model.sample_rate, transform, list(values))


def get_trajectory(label: str, data: CorpusData, row: int, transform: str, values: tuple) -> dict[str, np.ndarray]:
    return _trajectory(label, model_id(label), data.key, int(row), transform, tuple(values), data)


@st.cache_data(show_spinner=False, max_entries=32)
def _upload_wave(digest: str, name: str, sample_rate: int, _data: bytes) -> np.ndarray:
    return validate_audio_upload(name, _data, sample_rate, settings_upload_mb()).numpy()


def settings_upload_mb() -> float:
    return float(st.get_option("server.maxUploadSize"))


def decode_upload(name: str, data: bytes, sample_rate: int) -> torch.Tensor:
    """Validated, decoded upload (raises UploadError with a message for the page)."""
    digest = hashlib.sha256(data).hexdigest()
    return torch.from_numpy(_upload_wave(digest, name, int(sample_rate), data))


@st.cache_data(show_spinner=False, max_entries=64)
def _embed_query(label: str, ckpt_id: str, digest: str, _wave: np.ndarray) -> dict[str, np.ndarray]:
    model = get_model(label)
    return {k: v[0] for k, v in embed_unit(model, torch.from_numpy(_wave), model.sample_rate).items()}


def embed_query(label: str, wave: torch.Tensor) -> dict[str, np.ndarray]:
    """Unit query vectors per subspace for a mono wave at the model's rate (cached by content)."""
    arr = np.ascontiguousarray(wave.numpy(), dtype=np.float32)
    return _embed_query(label, model_id(label), hashlib.sha256(arr.tobytes()).hexdigest(), arr)
