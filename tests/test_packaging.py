"""Packaging: the explicit package list in pyproject.toml covers every folder of code, the wheel carries the
package data, the checkout's Streamlit settings match the packaged ones, and no module edits sys.path.
(tests/dashboard/test_wheel.py runs `loev dashboard` from the installed wheel.)"""

from __future__ import annotations

import importlib
import pkgutil
import re
import tomllib
import zipfile
from pathlib import Path

import loev_core
from loev_core.cli.bench import BENCHES
from loev_core.explore.session import STREAMLIT_CONFIG, streamlit_options

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]
# the source folders that install as packages: package name prefix -> folder in the checkout
ROOTS = {"loev_core": REPO / "loev_core", "loev_dashboard": REPO / "dashboard"}
DATA = ["loev_core/corpus/*.json.gz", "loev_core/explore/streamlit.toml"]


def source_packages() -> dict[str, Path]:
    """Every folder holding Python code under loev_core/ and dashboard/, by the package name it installs as."""
    found = {}
    for name, root in ROOTS.items():
        for py in root.rglob("*.py"):
            if "__pycache__" in py.parts:
                continue
            rel = py.parent.relative_to(root)
            found[".".join([name, *rel.parts])] = py.parent
    return found


def package_folder(package: str) -> Path:
    """Where setuptools looks for `package`, by the package-dir mapping (longest mapped prefix wins)."""
    mapping = SETUPTOOLS.get("package-dir", {})
    parts = package.split(".")
    for i in range(len(parts), -1, -1):
        prefix = ".".join(parts[:i])
        if prefix in mapping:
            return (REPO / mapping[prefix]).joinpath(*parts[i:]).resolve()
    return REPO.joinpath(*parts)


def test_every_code_folder_is_a_listed_package() -> None:
    listed = set(SETUPTOOLS["packages"])
    found = source_packages()
    no_init = sorted(str(f.relative_to(REPO)) for f in found.values() if not (f / "__init__.py").is_file())
    assert not no_init, f"folders with modules but no __init__.py (they would be left out of the wheel): {no_init}"
    missing = sorted(set(found) - listed)
    assert not missing, f"add these to [tool.setuptools] packages in pyproject.toml: {missing}"
    stale = sorted(p for p in listed if not (package_folder(p) / "__init__.py").is_file())
    assert not stale, f"listed packages with no folder: {stale}"
    assert {package_folder(p) for p in found} == {f.resolve() for f in found.values()}


def test_the_wheel_holds_every_module_and_the_package_data(built_wheel: Path) -> None:
    with zipfile.ZipFile(built_wheel) as whl:
        names = set(whl.namelist())
    expected = set()
    for package, folder in source_packages().items():
        prefix = package.replace(".", "/")
        expected |= {f"{prefix}/{py.name}" for py in folder.glob("*.py")}
    missing = sorted(expected - names)
    assert not missing, f"modules missing from {built_wheel.name}: {missing}"
    for pattern in DATA:
        files = sorted(REPO.glob(pattern))
        assert files, f"no {pattern} in the checkout"
        absent = [str(f.relative_to(REPO)) for f in files if str(f.relative_to(REPO)) not in names]
        assert not absent, f"package data missing from the wheel: {absent}"
    assert "loev_dashboard/app.py" in names and not any(n.startswith(("dashboard/", "tests/")) for n in names)
    entry = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    with zipfile.ZipFile(built_wheel) as whl:
        assert "loev = loev_core.cli:main" in whl.read(entry).decode()


def test_checkout_streamlit_config_matches_the_packaged_one() -> None:
    """`streamlit run dashboard/app.py` in a checkout reads .streamlit/config.toml; `loev dashboard` passes
    loev_core/explore/streamlit.toml as flags: both must give the same settings."""
    checkout = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    packaged = tomllib.loads(STREAMLIT_CONFIG.read_text())
    assert checkout == packaged
    assert streamlit_options()["server.address"] == "127.0.0.1"


SYS_PATH = re.compile(r"\bsys\.path\b|\bsite\.addsitedir\b|\bPYTHONPATH\b")


def test_no_module_edits_sys_path() -> None:
    """Imports resolve through the installed packages (editable or wheel), never through path hacks."""
    offenders = [f"{py.relative_to(REPO)}:{n}: {line.strip()}"
                 for root in ROOTS.values() for py in sorted(root.rglob("*.py"))
                 for n, line in enumerate(py.read_text().splitlines(), 1) if SYS_PATH.search(line)]
    assert not offenders, "\n".join(offenders)


def test_every_core_module_imports() -> None:
    """Every module of loev_core imports (no import left dangling by a move); each `loev bench NAME` module has
    the two functions the command calls. (The dashboard's modules draw when imported: AppTest runs them.)"""
    names = [m.name for m in pkgutil.walk_packages(loev_core.__path__, "loev_core.") if not m.name.endswith("__main__")]
    assert len(names) > 20
    for name in names:
        importlib.import_module(name)
    for bench in BENCHES:
        module = importlib.import_module(f"loev_core.bench.{bench}")
        assert callable(module.add_arguments) and callable(module.measure), bench
