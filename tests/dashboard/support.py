"""Helpers for the dashboard tests: the app environment for AppTest, a running server.

The fixtures they work on (`dash_env`: tiny untrained checkpoints and a corpus) are in tests/conftest.py.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from loev_core.bench.first_visit import serving
from loev_core.explore.session import ENV_CACHE, ENV_CHECKPOINTS, ENV_CORPUS, ENV_ROOTS, app_path

APP = app_path()


@contextlib.contextmanager
def app_environment(env: dict[str, str]) -> Iterator[None]:
    """Set the app's environment for AppTest (same process) and forget cached settings/data."""
    import streamlit as st

    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    st.cache_resource.clear()
    st.cache_data.clear()
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        st.cache_resource.clear()
        st.cache_data.clear()


def cli_args(env: dict[str, str]) -> list[str]:
    """`loev dashboard` options equivalent to an app environment (how a user starts it)."""
    args = [a for c in env[ENV_CHECKPOINTS].split(os.pathsep) for a in ("--checkpoint", c)]
    args += ["--corpus", env[ENV_CORPUS], "--cache-dir", env[ENV_CACHE]]
    return args + [a for r in env.get(ENV_ROOTS, "").split(os.pathsep) if r for a in ("--allow", r)]


def running_app(env: dict[str, str], timeout: float = 120.0) -> contextlib.AbstractContextManager[str]:
    """The dashboard started by `loev dashboard` on a free loopback port; yields its URL, stops it after."""
    cmd = [sys.executable, "-m", "loev_core.cli", "dashboard", *cli_args(env), "--no-warm"]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LOEV_DASHBOARD_")}
    folder = Path(env[ENV_CACHE]).parent
    return serving(cmd, clean, folder, folder / "server.log", timeout)


BUSY = ("[data-testid=stStatusWidget], [data-testid=stSpinner], [data-testid=stSkeleton], [data-testid=stProgress], "
        ".stPlotlyChart:empty")


def settle(page, timeout: float = 120.0, quiet: float = 1.2) -> None:
    """Wait until Streamlit has finished the run and drawn it: nothing busy for `quiet` seconds."""
    page.wait_for_selector("h1", timeout=timeout * 1000)  # the first run (imports, model load) shows nothing
    deadline, calm_since = time.time() + timeout, None
    while time.time() < deadline:
        if page.locator(BUSY).count():
            calm_since = None
        elif calm_since is None:
            calm_since = time.time()
        elif time.time() - calm_since >= quiet:
            return
        time.sleep(0.2)
    raise TimeoutError("the app kept running")


def no_problem(page) -> None:
    assert page.locator("[data-testid=stException]").count() == 0, page.inner_text("[data-testid=stException]")
    errors = page.locator("[data-testid=stAlertContentError]").all_inner_texts()
    assert not errors, errors
