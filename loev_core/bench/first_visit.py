"""`loev bench dashboard --first-visit`: what a visitor of a fresh clone waits for, in headless Chromium.

A temporary folder gets a copy of `assets/` (models, demo corpus, evaluation results), an empty
dashboard cache and an empty numba cache. The preparation step (`loev dashboard --prepare`, which
`./run demo` runs before the server) is timed on its own, then `loev dashboard` is started on a free
port and one browser visits every page listed in the app's navigation: the landing page by URL
(browser connection included), the others by their sidebar link, then every page a second time
(warm). A page counts as drawn when its script run has finished (Streamlit's `script_finished`
message) and nothing on it is stale, spinning or loading, every Plotly chart is drawn and every
audio player has its source.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from loev_core.explore.session import ASSETS

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
ASSET_PARTS = ("checkpoints", "demo", "eval")  # what the dashboard reads; screenshots and bench JSON are not
TARGETS = {"landing_first_s": 5.0, "first_s": 3.0, "warm_s": 1.5}
DRAWN = """() => {
  const q = (s) => document.querySelectorAll(s);
  if (!document.querySelector('h1')) return false;
  if (q('[data-stale="true"], [data-testid=stSpinner], [data-testid=stSkeleton], [data-testid=stProgress]').length)
    return false;
  for (const c of q('[data-testid=stPlotlyChart]')) if (!c.querySelector('.main-svg')) return false;
  for (const a of q('audio')) if (!a.getAttribute('src')) return false;
  return true;
}"""
COUNTS = """() => ({plots: document.querySelectorAll('[data-testid=stPlotlyChart]').length,
  audio: document.querySelectorAll('audio').length,
  errors: [...document.querySelectorAll('[data-testid=stException], [data-testid=stAlertContentError]')]
    .map((e) => e.innerText.slice(0, 200))})"""


def fresh_copy(tmp: Path) -> dict[str, str]:
    """A fresh clone's view: copied assets, empty caches; returns the environment the CLI runs in."""
    for part in ASSET_PARTS:
        if (ASSETS / part).exists() and not (tmp / "assets" / part).exists():
            shutil.copytree(ASSETS / part, tmp / "assets" / part)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOEV_")}
    env.update({"LOEV_ASSETS": str(tmp / "assets"), "NUMBA_CACHE_DIR": str(tmp / "numba"), "MPLBACKEND": "Agg"})
    return env


def cli(tmp: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "loev_core.cli", "dashboard", "--cache-dir", str(tmp / "cache"), *args]


def timed_run(cmd: list[str], env: dict[str, str], cwd: Path, log: Path) -> float:
    """Seconds a command takes; raises with its log's tail when it fails."""
    t0 = time.perf_counter()
    with log.open("w") as f:
        done = subprocess.run(cmd, env=env, cwd=cwd, stdout=f, stderr=subprocess.STDOUT, timeout=3600)
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd[2:])} failed:\n{log.read_text()[-3000:]}")
    return round(time.perf_counter() - t0, 2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop(proc: subprocess.Popen, timeout: float = 15.0) -> None:
    """Terminate a server process, killing it if it does not exit within `timeout`."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 300.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"the dashboard exited with code {proc.returncode}")
        time.sleep(0.1)
    raise TimeoutError(f"the dashboard was not healthy after {timeout:.0f} s")


@contextlib.contextmanager
def serving(cmd: list[str], env: dict[str, str], cwd: Path, log: Path, timeout: float = 300.0) -> Iterator[str]:
    """`cmd` (a `loev dashboard` command line, less `--port`) serving on a free loopback port; yields its URL
    once healthy and stops it after. Its output is appended to `log`, which a failed start points at."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("a") as out:
        proc = subprocess.Popen([*cmd, "--port", str(port)], env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        try:
            try:
                wait_healthy(url, proc, timeout)
            except (RuntimeError, TimeoutError) as e:
                raise RuntimeError(f"the dashboard did not start: {e} (see {log})") from None
            yield url
        finally:
            stop(proc, timeout=20)


class RunProbe:
    """Times Streamlit script runs seen by one browser page: the `script_finished` messages on its socket."""

    def __init__(self, page) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        self.finished: list[float] = []
        self.msg = ForwardMsg

        def on_frame(payload: bytes | str) -> None:
            if isinstance(payload, bytes):
                m = self.msg()
                try:
                    m.ParseFromString(payload)
                except Exception:  # noqa: BLE001 (not every frame is a ForwardMsg)
                    return
                if m.WhichOneof("type") == "script_finished" and m.script_finished == m.FINISHED_SUCCESSFULLY:
                    self.finished.append(time.perf_counter())

        page.on("websocket", lambda ws: ws.on("framereceived", on_frame))
        self.page = page

    def timed(self, action: Callable[[], object], timeout: float = 600.0) -> float:
        """Seconds from `action` (a navigation) until the page it leads to is drawn."""
        t0 = time.perf_counter()
        action()
        deadline = t0 + timeout
        while time.perf_counter() < deadline:
            if any(t > t0 for t in self.finished) and self.page.evaluate(DRAWN):
                return round(time.perf_counter() - t0, 2)
            self.page.wait_for_timeout(25)
        raise TimeoutError(f"{self.page.url} was not drawn within {timeout:.0f} s")


def nav_links(page) -> list[tuple[str, str]]:
    """(name, title) of every page in the app's navigation, in its order: the name is the page's URL path
    (the default page, served at /, is named after its title)."""
    from urllib.parse import urlparse

    links = page.locator("[data-testid=stSidebarNavLink]")
    out = []
    for i in range(links.count()):
        title = links.nth(i).inner_text().strip().splitlines()[-1].strip()  # the text after the icon's name
        path = urlparse(links.nth(i).get_attribute("href") or "").path.strip("/")
        out.append((path or title.lower().replace(" ", "-"), title))
    return out


def visit_every_page(url: str) -> dict:
    """First and warm visit of every page, as one visitor; plus a second visitor's landing page."""
    from playwright.sync_api import sync_playwright

    result: dict = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1200})
        probe = RunProbe(page)
        landing = probe.timed(lambda: page.goto(url))
        links = nav_links(page)
        for visit in ("first", "warm"):
            for i, (name, title) in enumerate(links):
                if visit == "first" and i == 0:
                    seconds = landing  # the landing page is the first link's page
                else:
                    link = page.locator("[data-testid=stSidebarNavLink]").nth(i)
                    seconds = probe.timed(link.click)
                entry = result.setdefault(name, {"title": title})
                entry[f"{visit}_s"] = seconds
                entry.update({f"{visit}_{k}": v for k, v in page.evaluate(COUNTS).items() if k != "errors" or v})
        other = browser.new_page(viewport={"width": 1440, "height": 1200})
        result["second_visitor_landing_s"] = RunProbe(other).timed(lambda: other.goto(url))
        browser.close()
    return result


def verdict(pages: dict) -> dict:
    """Each page's times against the issue's targets (landing 5 s, others 3 s first; 1.5 s warm)."""
    landing = next(iter(pages))
    slow = [f"{p} first {v['first_s']} s" for i, (p, v) in enumerate(pages.items())
            if v["first_s"] > (TARGETS["landing_first_s"] if i == 0 else TARGETS["first_s"])]
    slow += [f"{p} warm {v['warm_s']} s" for p, v in pages.items() if v["warm_s"] > TARGETS["warm_s"]]
    return {"targets": {**TARGETS, "landing": landing}, "slower_than_target": slow, "pass": not slow}


def machine() -> dict:
    """How busy the machine is (the times are only comparable at similar load)."""
    return {"cpus": os.cpu_count(), "load_average_1m": round(os.getloadavg()[0], 2)}


def measure_first_visit(prepare: bool = True, keep: Path | None = None) -> dict:
    """The whole measurement in a temporary folder; in `keep` when given, kept for its logs (and reused by a
    later run there, which then measures a prepared, not a fresh, copy)."""
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is needed (apt-get install chromium)")
    tmp_ctx = None
    if keep is None:
        import tempfile

        tmp_ctx = tempfile.TemporaryDirectory(prefix="loev-first-visit-")
        tmp = Path(tmp_ctx.name)
    else:
        tmp = keep
        tmp.mkdir(parents=True, exist_ok=True)
    try:
        env = fresh_copy(tmp)
        result: dict = {"prepared": prepare, "machine_before": machine()}
        if prepare:
            result["prepare_s"] = timed_run(cli(tmp, "--prepare"), env, tmp, tmp / "prepare.log")
            result["prepare_again_s"] = timed_run(cli(tmp, "--prepare"), env, tmp, tmp / "prepare-again.log")
        t0 = time.perf_counter()
        with serving(cli(tmp), env, tmp, tmp / "server.log") as url:
            result["server_ready_s"] = round(time.perf_counter() - t0, 2)
            pages = visit_every_page(url)
        second = pages.pop("second_visitor_landing_s")
        result["pages"] = pages
        result["second_visitor_landing_s"] = second
        result["machine_after"] = machine()
        result.update(verdict(pages))
        return result
    finally:
        if tmp_ctx is not None:
            tmp_ctx.cleanup()
