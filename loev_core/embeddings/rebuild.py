"""Embeddings for an index (re)build, computed from audio into the build's staging folder.

They are written where the rebuild is assembled (`loev_core.embeddings.folders.staging_dir`), so an interrupted
build resumes them, seeded with the current index's own embeddings when the same model made them the same way,
so a rebuild embeds only new and changed files and drops the rows of files no longer in the audio. The
staging folder's lock is taken before anything is reused or embedded.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from loev_core.embeddings.folders import check_index_folder, index_lock, reuse_embeddings, staging_dir
from loev_core.embeddings.store import Embeddings, load_embeddings

if TYPE_CHECKING:
    from loev_core.embeddings.compute import EmbedOptions, EmbedReport


def embed_for_index(checkpoint: str | Path, audio: str | Path, out_dir: str | Path,
                    options: EmbedOptions | None = None) -> Embeddings:
    """Embed `audio` with `checkpoint` for `build_index(.., out_dir)`, whose index.json then also records where
    the embeddings are and the number of bad files (see the module docstring)."""
    return embed_for_index_report(checkpoint, audio, out_dir, options)[0]


def embed_for_index_report(checkpoint: str | Path, audio: str | Path, out_dir: str | Path,
                           options: EmbedOptions | None = None) -> tuple[Embeddings, EmbedReport]:
    """`embed_for_index`, with `embed_corpus`'s report (what was embedded again, what was dropped)."""
    from loev_core.checkpoint import load_model, model_id
    from loev_core.embeddings.compute import EmbedOptions, embed_corpus, resolve_precision

    real = check_index_folder(Path(out_dir))  # before the model is loaded or anything is embedded
    with index_lock(real):  # before anything is reused: a second writer must not touch the first one's folder
        model = load_model(checkpoint)
        options = replace(options or EmbedOptions(), checkpoint=str(Path(checkpoint).resolve()))
        folder = staging_dir(real) / "embeddings"
        same = {"model_id": model_id(model), "chunk_seconds": options.chunk_seconds,
                "subspaces": list(model.subspaces), "precision": resolve_precision(model, options.precision)}
        if options.resume:
            reuse_embeddings(real / "embeddings", folder, same)
        report = embed_corpus(model, audio, folder, options)
        if report.n_clips == 0:
            raise FileNotFoundError(f"{audio}: no audio files (wav, flac, ogg, mp3, ...) or manifest rows to index")
        if report.n_embedded == 0:
            raise ValueError(f"{audio}: none of its {report.n_clips} file(s) could be decoded; the reasons are in "
                             f"{report.skipped_csv or folder}")
        loaded = load_embeddings(folder)
    provenance = replace(loaded.provenance, embeddings="embeddings", n_skipped=report.n_skipped)
    return replace(loaded, provenance=provenance), report
