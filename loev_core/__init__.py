"""LOEV Explorer: Leave-One-EquiVariant contrastive music representations.

Tiny public API: `load_model(path)` -> model; `model.embed(wave, sample_rate)` -> {subspace: Tensor}.
"""

from loev_core.audio import AudioError, load_audio
from loev_core.checkpoint import CheckpointError, checkpoint_id, load_model, save_model
from loev_core.config import ConfigError, ExperimentConfig, load_config
from loev_core.model import LOEVModel, build_model

__all__ = [
    "AudioError", "CheckpointError", "ConfigError", "ExperimentConfig", "LOEVModel", "build_model",
    "checkpoint_id", "load_audio", "load_config", "load_model", "save_model",
]

from loev_core.embed import embed_corpus, load_embeddings  # noqa: E402
from loev_core.index import build_index, load_index  # noqa: E402

__all__ += ["build_index", "embed_corpus", "load_embeddings", "load_index"]
