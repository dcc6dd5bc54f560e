"""The tiny public API and the command line's entry points."""

import subprocess
import sys

import pytest
import torch

import loev_core
from loev_core.cli import COMMANDS, main


def test_lazy_exports_resolve() -> None:
    for name in loev_core.__all__:
        assert callable(getattr(loev_core, name)) or isinstance(getattr(loev_core, name), type)


def test_import_is_light() -> None:
    code = "import sys, loev_core; print('faiss' in sys.modules, 'pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_help_lists_every_command(capsys) -> None:
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    assert all(name in text for name in COMMANDS)
    assert main(["no-such-command"]) == 2


def test_every_command_module_has_arguments() -> None:
    import argparse
    import importlib

    for name, (module, _) in COMMANDS.items():
        mod = importlib.import_module(module)
        parser = argparse.ArgumentParser(prog=f"loev {name}")
        mod.add_arguments(parser)
        assert callable(mod.run)


def test_load_model_embed_round_trip(tmp_path) -> None:
    model = loev_core.build_model(loev_core.ExperimentConfig())
    path = loev_core.save_model(model, tmp_path / "m")
    loaded = loev_core.load_model(path)
    out = loaded.embed(torch.randn(16000 * 4) * 0.1, 16000)
    assert set(out) == set(loaded.subspaces) and out["V"].ndim == 2


@pytest.mark.parametrize(("option", "message"), [
    ("--seconds=0", "--seconds must be a finite number of seconds > 0, got 0"),
    ("--seconds=-1", "--seconds must be a finite number of seconds > 0, got -1"),
    ("--seconds=nan", "--seconds must be a finite number of seconds > 0, got nan"),
    ("--seconds=inf", "--seconds must be a finite number of seconds > 0, got inf"),
    ("--case-timeout=-1", "--case-timeout must be a finite number of seconds >= 0 (0: no limit), got -1"),
    ("--classes=yaml", "unknown fuzz classes yaml; known: "),
])
def test_bench_fuzz_refuses_bad_budgets_in_one_line(option: str, message: str, tmp_path, capsys) -> None:
    pytest.importorskip("hypothesis")
    assert main(["bench", "fuzz", option, "--out", str(tmp_path / "f")]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"loev bench fuzz: error: {message}") and captured.err.count("\n") == 1
    assert captured.out == "" and not (tmp_path / "f").exists()
