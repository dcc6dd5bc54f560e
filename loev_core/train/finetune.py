"""Fine-tuning: start from an exported checkpoint (`train.init`) and train only some parameters
(`train.trainable` prefixes), with frozen parts left exactly as they were."""

from __future__ import annotations

import torch

from loev_core.checkpoint import load_model
from loev_core.config import ConfigError, ExperimentConfig
from loev_core.model import LOEVModel, build_model


def init_weights(model: LOEVModel, path: str) -> None:
    """Fine-tuning: copy the weights of an exported checkpoint (loaded safely, never unpickled) into a model
    of the same architecture; a different one is refused with the names that do not match."""
    source = load_model(path).state_dict()
    missing, extra = set(model.state_dict()) - set(source), set(source) - set(model.state_dict())
    if missing or extra:
        raise ConfigError(f"train.init {path}: another architecture (missing {sorted(missing)[:3]}, "
                          f"unexpected {sorted(extra)[:3]}); the run's model config must match the checkpoint's")
    model.load_state_dict(source)


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    """Is parameter/module `name` inside one of `prefixes` (whole dotted parts: heads.pitch is not
    heads.pitch_shift)?"""
    return any(name == p or name.startswith(p.rstrip(".") + ".") for p in prefixes)


def trainable_parameters(model: LOEVModel, prefixes: tuple[str, ...]) -> list[torch.nn.Parameter]:
    """Parameters the optimizer updates: all, or those whose names start with one of `prefixes` (the rest
    get requires_grad=False). A prefix that matches nothing is an error, not a silently frozen model."""
    if not prefixes:
        return list(model.parameters())
    for prefix in prefixes:
        if not any(_under(n, (prefix,)) for n, _ in model.named_parameters()):
            names = sorted({".".join(n.split(".")[:2]) for n, _ in model.named_parameters()})
            raise ConfigError(f"train.trainable: {prefix!r} matches no parameter (e.g. {', '.join(names)})")
    for name, p in model.named_parameters():
        p.requires_grad_(_under(name, prefixes))
    return [p for p in model.parameters() if p.requires_grad]


def check_fine_tuning(cfg: ExperimentConfig) -> None:
    """Fail before any process starts when train.init or train.trainable cannot apply (ConfigError or
    CheckpointError with the reason)."""
    model = build_model(cfg)
    if cfg.train.init:
        init_weights(model, cfg.train.init)
    trainable_parameters(model, cfg.train.trainable)


def freeze_norm_statistics(model: torch.nn.Module, prefixes: tuple[str, ...]) -> None:
    """Frozen parts stay frozen in train mode too: batch norms outside the trainable prefixes keep their
    running statistics (eval mode), so a head-only fine-tune leaves the encoder exactly as it was."""
    if not prefixes:
        return
    for name, m in model.named_modules():
        if isinstance(m, torch.nn.modules.batchnorm._NormBase) and not _under(name, prefixes):
            m.eval()
