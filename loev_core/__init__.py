"""LOEV Explorer: Leave-One-EquiVariant contrastive music representations.

Tiny public API: `load_model(path)` -> model; `model.embed(wave, sample_rate)` -> {subspace: Tensor}.
Corpus-level helpers (`embed_corpus`, `build_index`, ...) are imported on first use so that
`import loev_core` stays light (no FAISS or pandas until needed).
"""

from importlib import import_module
from typing import Any

from loev_core.audio import AudioError, load_audio
from loev_core.checkpoint import CheckpointError, checkpoint_id, load_model, save_model
from loev_core.config import ConfigError, ExperimentConfig
from loev_core.config_parse import load_config
from loev_core.model import LOEVModel, build_model

_LAZY = {
    "embed_corpus": "loev_core.embeddings.compute",
    "EmbedOptions": "loev_core.embeddings.compute",
    "load_embeddings": "loev_core.embeddings.store",
    "Embeddings": "loev_core.embeddings.store",
    "build_index": "loev_core.embeddings.index",
    "embed_for_index": "loev_core.embeddings.index",
    "load_index": "loev_core.embeddings.index",
    "evaluate": "loev_core.evaluation.run",
    "generate_corpus": "loev_core.corpus.generate",
}

__all__ = [
    "AudioError", "CheckpointError", "ConfigError", "ExperimentConfig", "LOEVModel", "build_model",
    "checkpoint_id", "load_audio", "load_config", "load_model", "save_model", *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'loev_core' has no attribute {name!r}")
