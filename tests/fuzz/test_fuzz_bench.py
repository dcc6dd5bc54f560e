"""`loev bench fuzz`: counts cases per class, and saves every failing case with its error for reproduction."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from loev_core.bench import fuzz


def test_bench_counts_cases_and_saves_failures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(path: Path) -> str:
        if b"model" in path.read_bytes():
            raise fuzz.FuzzFailure("stand-in loader bug")
        return "ok"

    monkeypatch.setitem(fuzz.CLASSES, "config", (fuzz.CLASSES["config"][0], broken))
    parser = argparse.ArgumentParser()
    fuzz.add_arguments(parser)
    args = parser.parse_args(["--seconds", "3", "--classes", "config", "--out", str(tmp_path / "fails")])
    result = fuzz.measure(args)
    assert result["config_cases"] == result["config_loaded"] + result["config_failures"] > 0
    assert result["config_failures"] > 0 and result["config_failure_kinds"] == {
        "FuzzFailure: stand-in loader bug": result["config_failures"]}
    saved = json.loads((tmp_path / "fails" / "config" / "0000" / "case.json").read_text())
    assert saved["target"] == "config.yaml" and saved["error"] == "FuzzFailure: stand-in loader bug"
    assert b"model" in (tmp_path / "fails" / "config" / "0000" / "config.yaml").read_bytes()
    with pytest.raises(SystemExit, match="unknown fuzz classes"):
        fuzz.measure(parser.parse_args(["--classes", "yaml"]))


def test_bench_tries_at_least_one_case_per_class(tmp_path: Path) -> None:
    """A budget that ends before hypothesis draws its first case (a slow machine) still reports one case."""
    parser = argparse.ArgumentParser()
    fuzz.add_arguments(parser)
    result = fuzz.measure(parser.parse_args(["--seconds", "0", "--classes", "config", "--out", str(tmp_path)]))
    assert result["config_cases"] >= 1
