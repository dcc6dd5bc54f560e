"""Track embeddings for the reference protocol: each full-length track is cut into training-length
chunks, up to `max_chunks` of them spread evenly over the track (the reference averages up to 64), and
their embeddings are averaged. Missing or unreadable files are skipped and counted, never fatal."""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from loev_core.audio import AudioError, load_audio
from loev_core.embeddings.waves import centre_crop

log = logging.getLogger(__name__)
DEFAULT_CHUNKS = 64


@dataclass(frozen=True)
class Skipped:
    """Tracks left out: files not found, and files that could not be decoded (with the reason)."""

    missing: tuple[str, ...] = ()
    unreadable: tuple[tuple[str, str], ...] = ()

    @property
    def total(self) -> int:
        return len(self.missing) + len(self.unreadable)

    def summary(self, examples: int = 5) -> dict[str, Any]:
        return {"missing": len(self.missing), "unreadable": len(self.unreadable),
                "examples": [*self.missing[:examples], *(f"{p}: {r}" for p, r in self.unreadable[:examples])]}


@dataclass(frozen=True)
class TrackEmbeddings:
    """Embeddings of the tracks that could be read: `kept` are their positions in the input list."""

    kept: tuple[int, ...]
    emb: dict[str, dict[str, np.ndarray]]  # model -> subspace -> [len(kept), D]
    centres: dict[int, torch.Tensor] = field(default_factory=dict)  # input position -> centre excerpt
    skipped: Skipped = Skipped()


def chunk_starts(length: int, window: int, max_chunks: int) -> list[int]:
    """Start samples of up to `max_chunks` windows spread evenly over `length` samples (first at 0, last
    ending at the end); as many as fit without overlap when that is fewer."""
    if length <= window:
        return [0]
    n = min(max(1, int(max_chunks)), -(-length // window))
    return sorted({int(round(s)) for s in np.linspace(0, length - window, n)})


def track_chunks(wave: torch.Tensor, window: int, max_chunks: int) -> torch.Tensor:
    """[C, window] chunks of a 1-D wave ([1, T] when the wave is shorter: the model loops it)."""
    if wave.shape[-1] <= window:
        return wave.unsqueeze(0)
    return torch.stack([wave[s:s + window] for s in chunk_starts(wave.shape[-1], window, max_chunks)])


def embed_track(model: Any, wave: torch.Tensor, sample_rate: int, max_chunks: int,
                batch_size: int = 32) -> dict[str, np.ndarray]:
    """{subspace: [D]}: the mean embedding of the track's chunks."""
    window = int(round(model.clip_seconds * sample_rate))
    emb = model.embed(track_chunks(wave, window, max_chunks), sample_rate, batch_size=batch_size)
    return {k: v.mean(dim=0).numpy() for k, v in emb.items()}


def embed_tracks(models: Mapping[str, Any], paths: Sequence[str], sample_rate: int,
                 max_chunks: int = DEFAULT_CHUNKS, keep_centre: Collection[int] = (), centre_samples: int = 0,
                 batch_size: int = 32, progress: bool = True, desc: str = "embed tracks") -> TrackEmbeddings:
    """Decode each track once, embed it with every model; keep the centre `centre_samples` of the tracks
    in `keep_centre` (for transformed queries)."""
    kept: list[int] = []
    rows: dict[str, dict[str, list[np.ndarray]]] = {n: {} for n in models}
    centres: dict[int, torch.Tensor] = {}
    missing: list[str] = []
    bad: list[tuple[str, str]] = []
    wanted = set(keep_centre)
    for i, path in enumerate(tqdm(paths, desc=desc, unit="track", disable=not progress)):
        if not Path(path).is_file():
            missing.append(str(path))
            continue
        try:
            wave = load_audio(path, sample_rate)
        except AudioError as e:
            bad.append((str(path), e.reason))
            continue
        for name, model in models.items():
            for space, v in embed_track(model, wave, sample_rate, max_chunks, batch_size).items():
                rows[name].setdefault(space, []).append(v)
        kept.append(i)
        if i in wanted:
            centres[i] = centre_crop(wave, centre_samples).clone()
    skipped = Skipped(tuple(missing), tuple(bad))
    if skipped.total:
        log.warning("skipped %d track(s): %d missing, %d unreadable (e.g. %s)", skipped.total, len(missing),
                    len(bad), (missing or [p for p, _ in bad])[0])
    emb = {n: {s: np.stack(v).astype(np.float32) for s, v in per.items()} for n, per in rows.items()}
    return TrackEmbeddings(tuple(kept), emb, centres, skipped)
