"""Cached access to models, corpora, projections and curves (the only place pages get data from).

Models, corpora, maps, curves and transformed clips live in the process-wide memory of
`loev_core.explore.memory` (one shared, read-only copy per server: a 100k index must not be copied
per session), which the warm-up thread fills before the first visitor comes; small results (query
vectors, decoded uploads) are `st.cache_data`. Every heavy result is also on disk, so a restart is warm.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pandas as pd
import streamlit as st
import torch

from loev_core.audio import AudioError
from loev_core.checkpoint import CheckpointError
from loev_core.explore import memory, warmup
from loev_core.explore.cache import CorpusData
from loev_core.explore.paths import PathRefused
from loev_core.explore.projection import MAX_POINTS
from loev_core.explore.retrieval import track_repeats
from loev_core.explore.runinfo import find_stages, read_stages
from loev_core.explore.session import ENV_WARM
from loev_core.explore.tour import TOUR_COPIES
from loev_core.explore.tour import agreement as _agreement_of
from loev_core.explore.tour import tour_clip as _tour_clip_of
from loev_core.explore.transforms import CURVE_CLIPS, clip_wave, embed_unit
from loev_core.explore.uploads import validate_audio_upload
from loev_dashboard.state import corpus_source, model_paths, settings

torch.set_num_threads(max(1, min(4, torch.get_num_threads())))
# one query at a time per session: FAISS's OpenMP threads only add waiting (tens of ms on a busy machine)
faiss.omp_set_num_threads(1)


def start_warmup() -> threading.Thread | None:
    """Load what is prepared into memory and compute the rest in the background, once per server process
    (`loev dashboard` has usually started it already; then this returns the same thread). Only when
    the server was started with warm-up on (not in tests)."""
    if os.environ.get(ENV_WARM) != "1":
        return None
    return warmup.start(settings(), libraries=False)  # pages may be importing now: no library warm-up


def model_id(label: str) -> str:
    """`checkpoint_id` of a known checkpoint (remembered per size + mtime, so editing the file is noticed)."""
    p = Path(model_paths()[label])
    f = p / "model.safetensors" if p.is_dir() else p
    if not f.is_file():
        raise CheckpointError(f"{p}: checkpoint not found (model {label!r})")
    return memory.checkpoint_id_of(p)


def get_model(label: str) -> Any:
    """The model behind a label (raises CheckpointError with a readable message)."""
    return memory.get_model(Path(model_paths()[label]), model_id(label))


def get_corpus(label: str) -> CorpusData:
    """Embeddings + index of the session's corpus for one model, with a progress bar the first time."""
    s = settings()
    path, ckpt, source = str(model_paths()[label]), model_id(label), corpus_source()
    holder = st.empty()

    def progress(fraction: float, text: str) -> None:
        holder.progress(min(max(fraction, 0.0), 1.0), text=text)

    def build() -> CorpusData:
        return memory.get_corpus(Path(path), ckpt, source, s.roots, s.cache_dir, progress)

    # one store per server process, shared with the warm-up thread (not `st.cache_resource`: the first
    # build draws a progress bar, and cached functions must not draw outside)
    store, key = memory.MEMORY.corpora, memory.corpus_key(Path(path), ckpt, source, s.cache_dir)
    # being embedded by the start-up warm-up or another session: say so while waiting for it
    waiting = st.spinner(f"Embedding the corpus with {label} (started earlier; once per model and corpus)...") \
        if store.busy(key) else contextlib.nullcontext()
    try:
        with waiting:
            data = build()
    finally:
        holder.empty()
    if data.skipped:
        first_path, reason = data.skipped[0]
        st.caption(f":material/warning: {len(data.skipped)} file(s) of the corpus could not be read and are left "
                   f"out (e.g. {Path(first_path).name}: {reason}).")
    return data


def corpus_summary(source: Path) -> tuple[int, tuple[str, ...]]:
    """Clip count and label names of a corpus folder or manifest (PathRefused when it cannot be read)."""
    return memory.corpus_summary(source, settings().roots)


def get_projection(data: CorpusData, subspace: str, method: str, max_points: int = MAX_POINTS) -> tuple:
    """(rows, coords) of a stored map; computed once (with a spinner) per model, corpus, subspace, method."""
    folder = settings().cache_dir / "projections"
    if memory.has_map(data, subspace, method, folder, max_points):
        return memory.get_map(data, subspace, method, folder, max_points)
    with st.spinner(f"Computing the {method} map of {subspace} (stored for next time)..."):
        return memory.get_map(data, subspace, method, folder, max_points)


def get_curves(label: str, data: CorpusData, transform: str, values: tuple, n_clips: int = CURVE_CLIPS) -> dict:
    s, path, ckpt = settings(), Path(model_paths()[label]), model_id(label)
    folder = s.cache_dir / "curves"
    if memory.has_curves(ckpt, data, transform, values, folder, n_clips):
        return memory.get_curves(path, ckpt, data, transform, values, s.roots, folder, int(n_clips))
    with st.spinner(f"Measuring {label} on {transform} over {n_clips} clips (stored for next time)..."):
        return memory.get_curves(path, ckpt, data, transform, values, s.roots, folder, int(n_clips))


@st.cache_data(show_spinner=False, max_entries=64)
def _wave(data_key: str, row: int, sample_rate: int, _data: CorpusData) -> np.ndarray:
    return clip_wave(_data, row, sample_rate, settings().roots).numpy()


def get_wave(data: CorpusData, row: int, sample_rate: int) -> torch.Tensor:
    return torch.from_numpy(_wave(data.key, int(row), int(sample_rate), data))


def get_versions(data: CorpusData, row: int, sr: int, transform: str, values: tuple) -> np.ndarray:
    """[len(values), T] transformed copies of a corpus clip, to listen to."""
    return memory.get_versions(data, int(row), int(sr), transform, tuple(values), settings().roots)


def get_trajectory(label: str, data: CorpusData, row: int, transform: str, values: tuple) -> dict[str, np.ndarray]:
    return memory.get_trajectory(Path(model_paths()[label]), model_id(label), data, int(row), transform,
                                  tuple(values), settings().roots)


@st.cache_data(show_spinner=False, max_entries=256)
def _repeats(data_key: str, row: int, _data: CorpusData) -> tuple[int, ...]:
    return tuple(track_repeats(_data, row, settings().roots))


def get_repeats(data: CorpusData, row: int) -> tuple[int, ...]:
    """Rows of the query's track that repeat its audio (same-track P@k skips them); none if it cannot be read."""
    try:
        return _repeats(data.key, int(row), data)
    except (AudioError, PathRefused):
        return ()


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


@st.cache_data(show_spinner=False, max_entries=64)
def _agreement(data_key: str, subspace: str, label: str, k: int, _data: CorpusData) -> float:
    return _agreement_of(_data, subspace, label, k)


def agreement(data: CorpusData, subspace: str, label: str, k: int) -> float:
    """`loev_core.explore.tour.agreement` (share of neighbours with the same label), once per corpus and subspace."""
    return _agreement(data.key, subspace, label, int(k), data)


@st.cache_data(show_spinner=False, max_entries=32)
def _tour_clip(ref_key: str, data_key: str, _ref: CorpusData | None, _data: CorpusData) -> int:
    return _tour_clip_of(_ref, _data)


def tour_clip(ref: CorpusData | None, data: CorpusData) -> int:
    """`loev_core.explore.tour.tour_clip` (the clip the tour follows), once per pair of corpora."""
    return _tour_clip(ref.key if ref is not None else "", data.key, ref, data)


def copy_ranks_of(label: str, data: CorpusData, subspaces: tuple[str, ...]) -> dict[str, np.ndarray]:
    """`loev_core.explore.tour.copy_ranks` on the curves' fixed sample of clips, once per model and corpus for
    every session (`loev dashboard --prepare` computes the tour's first step ahead)."""
    return memory.get_copy_ranks(Path(model_paths()[label]), model_id(label), data, TOUR_COPIES, tuple(subspaces),
                                 settings().roots)


@st.cache_data(show_spinner=False, max_entries=32)
def _stages(files: tuple[tuple[str, str, float], ...]) -> pd.DataFrame:
    return read_stages([(name, Path(f)) for name, f, _ in files])


def training_curves(path: str | Path) -> pd.DataFrame:
    """`runinfo.read_stages` of a checkpoint's curve files, read once per change of any file (the Models page
    runs on every click; the bundled models hold 5-9 files each). Empty without curves."""
    files = tuple((name, str(f), f.stat().st_mtime) for name, f in find_stages(path))
    return _stages(files) if files else pd.DataFrame()
