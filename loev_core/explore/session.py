"""Dashboard settings, read from the environment that `loev dashboard` sets.

`loev dashboard` passes its options as `LOEV_DASHBOARD_*` variables so that a plain
`streamlit run dashboard/app.py` works too (it then uses the bundled models and demo corpus). From a
checkout the defaults are its `assets/` and `.cache/`; from an installed wheel, `./assets` if present
(or `$LOEV_ASSETS`) and the user's cache folder.
"""

from __future__ import annotations

import importlib.util
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from loev_core.checkpoint import checkpoint_label


def _checkout_root() -> Path | None:
    """The source checkout this package runs from (editable install or a clone), None for a wheel."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() and (root / "dashboard" / "app.py").is_file() else None


def _user_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "loev-explorer"


CHECKOUT = _checkout_root()
BASE_DIR = CHECKOUT or Path.cwd()  # typed relative paths, `runs/` and `assets/` are read from here
ASSETS = Path(os.environ.get("LOEV_ASSETS") or BASE_DIR / "assets").expanduser()
BUNDLED_CHECKPOINTS = ASSETS / "checkpoints"
BUNDLED_NAMES = ("demo-simclr", "demo-loev", "demo-loevpp")
DEMO_CORPUS = ASSETS / "demo"
CACHE_ROOT = CHECKOUT / ".cache" if CHECKOUT else _user_cache()
DASHBOARD_CACHE = CACHE_ROOT / "dashboard"  # embeddings, indexes, maps, curves, cut clips (unless --cache-dir)
# the real-music demo set (`loev corpus real-demo`, built by `loev dashboard --prepare`) and the .debs it is cut from
REAL_DEMO = Path(os.environ.get("LOEV_REAL_DEMO") or (CHECKOUT / "data" / "real-demo" if CHECKOUT
                                                      else _user_cache() / "real-demo")).expanduser()
DEB_CACHE = Path(os.environ.get("LOEV_DEB_CACHE") or (CHECKOUT / "data" / "deb-cache" if CHECKOUT
                                                      else _user_cache() / "debs")).expanduser()
ENV_CHECKPOINTS = "LOEV_DASHBOARD_CHECKPOINTS"
ENV_CORPUS = "LOEV_DASHBOARD_CORPUS"
ENV_ROOTS = "LOEV_DASHBOARD_ROOTS"
ENV_CACHE = "LOEV_DASHBOARD_CACHE"
ENV_REAL_DEMO = "LOEV_DASHBOARD_REAL_DEMO"
ENV_WARM = "LOEV_DASHBOARD_WARM"  # "1": the server warms up in the background (explore/warmup.py)
STREAMLIT_CONFIG = Path(__file__).with_name("streamlit.toml")  # also `.streamlit/config.toml` in a checkout


def streamlit_options() -> dict[str, object]:
    """The server's Streamlit settings as `section.key -> value` (theme, upload limit, loopback): `loev
    dashboard` passes them as flags, so they hold whatever folder it is started from."""
    config = tomllib.loads(STREAMLIT_CONFIG.read_text())
    return {f"{section}.{key}": value for section, values in config.items() for key, value in values.items()}


MAX_UPLOAD_MB = int(streamlit_options()["server.maxUploadSize"])


def numba_cache_dir() -> Path:
    """Where numba keeps compiled code (UMAP's): `$NUMBA_CACHE_DIR`, else beside the dashboard's cache."""
    return Path(os.environ.get("NUMBA_CACHE_DIR") or CACHE_ROOT / "numba")


def app_path() -> Path:
    """The Streamlit entry script of the installed `loev_dashboard` package."""
    spec = importlib.util.find_spec("loev_dashboard")
    if spec is None or spec.origin is None:
        raise RuntimeError("the dashboard package (loev_dashboard) is not installed: `pip install loev-explorer`")
    return Path(spec.origin).parent / "app.py"


def _split(value: str | None) -> list[Path]:
    return [Path(p).expanduser() for p in (value or "").split(os.pathsep) if p.strip()]


@dataclass(frozen=True)
class Settings:
    """Where models, corpus and caches live, and which folders a typed path may point into."""

    checkpoints: dict[str, Path] = field(default_factory=dict)  # label -> folder or .safetensors
    corpus: Path = DEMO_CORPUS
    roots: tuple[Path, ...] = ()
    cache_dir: Path = DASHBOARD_CACHE
    real_demo: Path = REAL_DEMO  # offered on the Models page once its manifest.csv exists

    def corpora(self) -> dict[str, Path]:
        """The corpora the Models page offers by name: the generated demo set, the real-music demo set when
        built, and the corpus the server was started on when it is neither."""
        named = {"Generated demo set (labelled)": DEMO_CORPUS.resolve()} if DEMO_CORPUS.exists() else {}
        if (self.real_demo / "manifest.csv").is_file():
            named["Real-music demo set"] = self.real_demo
        if self.corpus not in named.values():
            from loev_core.explore.long_tracks import corpus_name

            named[f"Started with: {corpus_name(self.corpus, self.cache_dir)}"] = self.corpus
        return named

    @property
    def upload_dir(self) -> Path:
        return self.cache_dir / "uploads"


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
    cache = Path(env.get(ENV_CACHE) or DASHBOARD_CACHE).expanduser().resolve()
    real_demo = Path(env.get(ENV_REAL_DEMO) or REAL_DEMO).expanduser().resolve()
    roots = [CHECKOUT or ASSETS, cache, corpus if corpus.is_dir() else corpus.parent, real_demo]
    roots += [p.resolve() if p.is_dir() else p.resolve().parent for p in given]
    roots += [p.resolve() for p in _split(env.get(ENV_ROOTS))]
    unique = tuple(dict.fromkeys(roots))
    return Settings(checkpoints, corpus, unique, cache, real_demo)
