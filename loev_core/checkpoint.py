"""Checkpoints that never execute code: weights in safetensors, config and metadata as JSON.

The JSON rides in the safetensors header, so one file is self-contained (the dashboard accepts it
as an upload); `export` also writes a readable `model.json` beside it. Writes are atomic (temp file,
fsync, rename) so a crash or a full disk leaves the previous checkpoint intact.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from loev_core.config import FORMAT_VERSION, ConfigError, ExperimentConfig
from loev_core.config_parse import config_from_dict
from loev_core.files import atomic_path, atomic_write_text
from loev_core.model import LOEVModel, build_model
from loev_core.model.encoders import ENCODER_BUILDERS
from loev_core.model.heads import projection_head

MODEL_FILE = "model.safetensors"
META_KEY = "loev"
MAX_HEADER = 100 * 1024 * 1024


class CheckpointError(RuntimeError):
    """A checkpoint cannot be loaded; the message names the file and the problem."""


def package_version() -> str:
    try:
        from importlib.metadata import version

        return version("loev-explorer")
    except Exception:
        return "0+unknown"


def atomic_save(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, Any]) -> None:
    """Write a safetensors file atomically; on any failure the old file at `path` is untouched."""
    with atomic_path(path) as tmp:
        flat = {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}
        save_file(flat, str(tmp), metadata={META_KEY: json.dumps(metadata)})


def _resolve(path: str | Path) -> Path:
    """The weights file of a checkpoint file, an exported model's folder, or a finished run folder (its
    `model/`); a run without its final model yet is named as such."""
    p = Path(path)
    if p.is_dir() and not (p / MODEL_FILE).is_file() and (p / "model" / MODEL_FILE).is_file():
        p = p / "model"  # `loev train` writes the finished model there
    if p.is_dir():
        state = p / "checkpoints" / "last.safetensors"
        if state.is_file():
            raise CheckpointError(f"{path}: a training run without its final model yet: resume it (`loev train "
                                  f"--resume {path}`), or use its last state, {state}")
        p = p / MODEL_FILE
    if not p.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    return p


def _valid_entry(entry: Any) -> bool:
    """A safetensors tensor entry: a dtype name, a shape of sizes and [begin, end] byte offsets."""
    def sizes(xs: Any) -> bool:
        return isinstance(xs, list) and all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in xs)

    if not isinstance(entry, dict) or not isinstance(entry.get("dtype"), str):
        return False
    offsets = entry.get("data_offsets")
    return sizes(entry.get("shape")) and sizes(offsets) and len(offsets) == 2 and offsets[0] <= offsets[1]


def read_metadata(path: str | Path) -> dict[str, Any]:
    """Validate the container and return its JSON metadata without loading any weights.

    Raises CheckpointError naming the file (and nothing else) for anything that is not a LOEV checkpoint
    this package can read: a header length past the end, a header that is not a JSON mapping of
    well-formed tensor entries, tensors past the end of the file, missing or corrupt LOEV metadata."""
    p = _resolve(path)
    size = p.stat().st_size
    with p.open("rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise CheckpointError(f"{p}: truncated (only {size} bytes)")
        (n,) = struct.unpack("<Q", head)
        header = None
        if n <= min(size - 8, MAX_HEADER):
            try:
                header = json.loads(f.read(n))
            except (ValueError, RecursionError):  # not UTF-8 JSON, nested too deeply, a number too long
                header = None
    if header is None:
        if head[:1] == b"\x80" or head[:2] == b"PK":  # pickle protocol 2+, or torch.save's zip
            raise CheckpointError(f"{p}: looks like a pickle / torch.save file; refusing to unpickle it "
                                  "(LOEV checkpoints are safetensors)")
        raise CheckpointError(f"{p}: not a safetensors checkpoint, or truncated (header size {n}, file {size})")
    if not isinstance(header, dict):
        raise CheckpointError(f"{p}: not a safetensors checkpoint (header is not a mapping)")
    entries = {k: v for k, v in header.items() if k != "__metadata__"}
    bad = next((k for k, v in entries.items() if not _valid_entry(v)), None)
    if bad is not None:
        raise CheckpointError(f"{p}: not a safetensors checkpoint (malformed header entry {bad[:80]!r})")
    ends = [v["data_offsets"][1] for v in entries.values()]
    if ends and 8 + n + max(ends) > size:
        raise CheckpointError(f"{p}: truncated (expected {8 + n + max(ends)} bytes, found {size})")
    extra = header.get("__metadata__")
    raw = extra.get(META_KEY) if isinstance(extra, dict) else None
    if raw is None:
        raise CheckpointError(f"{p}: a safetensors file, but not a LOEV checkpoint (no '{META_KEY}' metadata)")
    try:
        meta = json.loads(raw) if isinstance(raw, str) else None
    except (ValueError, RecursionError):
        meta = None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{p}: corrupt LOEV metadata")
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CheckpointError(f"{p}: metadata has no format_version (or not a positive integer)")
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{p}: format version {version} is newer than this loev-explorer "
                              f"({FORMAT_VERSION}); upgrade the package to read it")
    return meta


def read_tensors(path: str | Path, prefix: str = "") -> dict[str, torch.Tensor]:
    p = _resolve(path)
    try:
        with safe_open(str(p), framework="pt") as f:
            return {k[len(prefix):]: f.get_tensor(k) for k in f.keys() if k.startswith(prefix)}
    except Exception as e:
        raise CheckpointError(f"{p}: cannot read tensors ({type(e).__name__}: {e})") from None


def model_metadata(model: LOEVModel, **extra: Any) -> dict[str, Any]:
    cfg = model.config
    return {
        "format_version": FORMAT_VERSION,
        "model_kind": cfg.model.kind,
        "subspaces": model.subspaces,
        "variant_augs": list(model.variant_augs),
        "frontend": {k: v for k, v in cfg.to_dict()["audio"].items()},
        "sample_rate": model.sample_rate,
        "clip_seconds": model.clip_seconds,
        "config": cfg.to_dict(),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "package_version": package_version(),
        "n_parameters": sum(p.numel() for p in model.parameters()),
        **extra,
    }


def save_model(model: LOEVModel, path: str | Path, **extra: Any) -> Path:
    """Write the inference checkpoint: `path` is a folder holding model.safetensors and model.json."""
    out = Path(path)
    meta = model_metadata(model, **extra)
    atomic_save(model.state_dict(), out / MODEL_FILE, meta)
    atomic_write_text(out / "model.json", json.dumps(meta, indent=2))
    return out


def declared_size(cfg: ExperimentConfig) -> int:
    """Values (weights and buffers) of the model `cfg` describes, counted without allocating them: the
    encoder and heads are built on the meta device, the log-mel front end's two buffers are counted
    (torchaudio cannot build them on meta). Mirrors LOEVModel.__init__; tests/fuzz checks they agree."""
    m, a = cfg.model, cfg.audio
    with torch.device("meta"):
        parts = ENCODER_BUILDERS[m.encoder](m, a)
        modules = [parts.trunk, *(parts.make_branch() for _ in (m.heads if m.kind == "loevpp" else ("shared",)))]
        modules += [projection_head(parts.out_dim, m.head_hidden, m.head_out) for _ in m.heads]
    frontend = (a.n_fft // 2 + 1) * a.n_mels + a.win_length  # mel filterbank + window
    return frontend + sum(t.numel() for mod in modules for t in mod.state_dict().values())


def model_from_state(meta: dict[str, Any], state: dict[str, torch.Tensor], where: str) -> LOEVModel:
    """Build the model the metadata's config describes and load `state` into it, strictly.

    The config is checked against the weights before anything is allocated: a forged config must not make
    the loader build a model of terabytes. NaN or infinite weights are refused: they would silently give
    NaN embeddings."""
    try:
        cfg = config_from_dict(meta["config"])
    except (ConfigError, KeyError, TypeError) as e:
        raise CheckpointError(f"{where}: invalid config in checkpoint: {e}") from None
    held = sum(t.numel() for t in state.values())
    try:
        declared = declared_size(cfg) if len(cfg.model.heads) <= len(state) else None
    except Exception:  # sizes past what torch can describe (storage size overflow)
        declared = None
    if declared != held:
        raise CheckpointError(f"{where}: weights do not match the config (it describes a model of "
                              f"{declared or 'more'} values, the file holds {held})")
    try:
        model = build_model(cfg)
    except Exception as e:
        raise CheckpointError(f"{where}: cannot build the model its config describes ({type(e).__name__})") from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).splitlines()[0:3]
        raise CheckpointError(f"{where}: weights do not match the config ({' '.join(first)})") from None
    bad = [k for k, t in model.state_dict().items() if t.is_floating_point() and not torch.isfinite(t).all()]
    if bad:
        raise CheckpointError(f"{where}: NaN or infinite weights in {', '.join(bad[:3])}")
    return model


def read_model_state(path: str | Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(metadata, the model's weights) of a checkpoint; a training state's "model." prefix is removed."""
    meta = read_metadata(path)
    return meta, read_tensors(path, "model." if meta.get("kind") == "train_state" else "")


def load_model(path: str | Path, device: str | torch.device = "cpu") -> LOEVModel:
    """Load a LOEV checkpoint (folder or .safetensors file) in eval mode. Never unpickles.

    Any file that cannot be used (see `read_metadata` and `model_from_state`) raises CheckpointError naming it."""
    meta, state = read_model_state(path)
    model = model_from_state(meta, state, str(path))
    model.metadata = meta
    return model.to(device).eval()


def weights_id(state: Mapping[str, torch.Tensor], frontend: Mapping[str, Any] | None = None) -> str:
    """Hash of a model's weights (by name, with dtype and shape) and its audio front-end settings (the
    hop and clip lengths shape embeddings too but are not weights): what makes two models compute the same."""
    h = hashlib.sha256(json.dumps(dict(frontend or {}), sort_keys=True).encode())
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(f"{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def model_id(model: Any) -> str:
    """Which model this is: `weights_id` of an in-memory model (equal to `checkpoint_id` of the file it
    was loaded from). Embedding shards and indexes record it so two models are never mixed and a query
    embedded by another model is noticed. Objects without weights (test stand-ins) hash their type."""
    if not hasattr(model, "state_dict"):
        return hashlib.sha256(f"{type(model).__qualname__}:{list(model.subspaces)}".encode()).hexdigest()[:16]
    config = getattr(model, "config", None)
    return weights_id(model.state_dict(), config.to_dict()["audio"] if config is not None else None)


def checkpoint_id(path: str | Path) -> str:
    """`model_id` of the model a checkpoint holds, read without building it: the cache key for embeddings,
    projections and indexes. A re-export, an upload or a training state of the same weights shares it."""
    meta, state = read_model_state(path)
    frontend = meta.get("frontend") or (meta.get("config") or {}).get("audio")
    return weights_id(state, frontend)


def checkpoint_label(path: str | Path) -> str:
    """Short, URL-friendly name of a checkpoint path: its folder (or file stem; the run's name for a
    training checkpoint RUN/checkpoints/last.safetensors); "model" when the path has no name."""
    p = Path(path)
    if p.name == MODEL_FILE:
        name = p.parent.name
    elif p.suffix == ".safetensors":
        name = p.parent.parent.name if p.parent.name == "checkpoints" else p.stem
    else:
        name = p.stem if p.is_file() else p.name
    return name or "model"
