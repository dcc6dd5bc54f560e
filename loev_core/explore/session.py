"""Dashboard settings, read from the environment that `loev dashboard` sets.

`loev dashboard` passes its options as `LOEV_DASHBOARD_*` variables so that a plain
`streamlit run dashboard/app.py` works too (it then uses the bundled models and demo corpus).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
BUNDLED_CHECKPOINTS = REPO_ROOT / "assets" / "checkpoints"
BUNDLED_NAMES = ("demo-simclr", "demo-loev", "demo-loevpp")
DEMO_CORPUS = REPO_ROOT / "assets" / "demo"
ENV_CHECKPOINTS = "LOEV_DASHBOARD_CHECKPOINTS"
ENV_CORPUS = "LOEV_DASHBOARD_CORPUS"
ENV_ROOTS = "LOEV_DASHBOARD_ROOTS"
ENV_CACHE = "LOEV_DASHBOARD_CACHE"
MAX_UPLOAD_MB = 50  # same as server.maxUploadSize in .streamlit/config.toml


def _split(value: str | None) -> list[Path]:
    return [Path(p).expanduser() for p in (value or "").split(os.pathsep) if p.strip()]


@dataclass(frozen=True)
class Settings:
    """Where models, corpus and caches live, and which folders a typed path may point into."""

    checkpoints: dict[str, Path] = field(default_factory=dict)  # label -> folder or .safetensors
    corpus: Path = DEMO_CORPUS
    roots: tuple[Path, ...] = ()
    cache_dir: Path = REPO_ROOT / ".cache" / "dashboard"

    @property
    def upload_dir(self) -> Path:
        return self.cache_dir / "uploads"


def checkpoint_label(path: Path) -> str:
    """Short, URL-friendly name: the checkpoint's folder (or file stem; the run's name for a
    training checkpoint RUN/checkpoints/last.safetensors)."""
    p = Path(path)
    if p.name == "model.safetensors":
        return p.parent.name
    if p.suffix == ".safetensors":
        return p.parent.parent.name if p.parent.name == "checkpoints" else p.stem
    return p.name


def bundled_checkpoints() -> dict[str, Path]:
    """The demo models shipped in assets/checkpoints (only those actually present)."""
    found = {n: BUNDLED_CHECKPOINTS / n for n in BUNDLED_NAMES if (BUNDLED_CHECKPOINTS / n).exists()}
    if BUNDLED_CHECKPOINTS.is_dir():
        for p in sorted(BUNDLED_CHECKPOINTS.iterdir()):
            if (p / "model.safetensors").is_file():
                found.setdefault(p.name, p)
    return found


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Settings from `LOEV_DASHBOARD_*` (CLI) or the bundled defaults."""
    env = os.environ if environ is None else environ
    given = _split(env.get(ENV_CHECKPOINTS))
    checkpoints: dict[str, Path] = {}
    for p in given or list(bundled_checkpoints().values()):
        label, n = checkpoint_label(p), 2
        base = label
        while label in checkpoints:
            label, n = f"{base}-{n}", n + 1
        checkpoints[label] = p.resolve()
    corpus = Path(env.get(ENV_CORPUS) or DEMO_CORPUS).expanduser().resolve()
    cache = Path(env.get(ENV_CACHE) or REPO_ROOT / ".cache" / "dashboard").expanduser().resolve()
    roots = [REPO_ROOT, cache, corpus if corpus.is_dir() else corpus.parent]
    roots += [p.resolve() if p.is_dir() else p.resolve().parent for p in given]
    roots += [p.resolve() for p in _split(env.get(ENV_ROOTS))]
    unique = tuple(dict.fromkeys(roots))
    return Settings(checkpoints, corpus, unique, cache)
