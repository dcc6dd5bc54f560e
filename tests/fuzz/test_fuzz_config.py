"""Fuzzing `load_config`: bundled configs mutated, random and known-hostile YAML (alias bombs, deep nesting,
huge numbers, NaN, odd encodings) give an ExperimentConfig or a ConfigError naming the file, nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import example, given

from loev_core.bench.fuzz import Tally, ci_budget, run_case
from loev_core.bench.fuzz_inputs import Case, alias_bomb, config_cases
from loev_core.config import ConfigError
from loev_core.config_parse import load_config

TALLY = Tally()
FUZZ_CLASS = "config"  # tests/fuzz/conftest.py prints TALLY under this name


def yaml_file(text: str | bytes, note: str) -> Case:
    return Case({"config.yaml": text if isinstance(text, bytes) else text.encode()}, "config.yaml", note)


@pytest.mark.timeout(120)
@ci_budget(150)
@given(case=config_cases())
@example(case=yaml_file(alias_bomb(9), "alias bomb: 9**10 values"))
@example(case=yaml_file("audio: " + "[" * 100_000 + "]" * 100_000, "deep nesting"))
@example(case=yaml_file(f"audio:\n  n_mels: {'9' * 5000}\n", "5000-digit integer"))
@example(case=yaml_file("audio:\n  clip_seconds: 1e400\n", "float overflow"))
@example(case=yaml_file("model:\n  width: 8\n".encode("utf-16"), "UTF-16 with BOM"))
@example(case=yaml_file("model:\n  kind: loev\u00e9\n".encode("latin-1"), "latin-1"))
@example(case=yaml_file("2001-01-01: 1\n1: 2\n", "date and number keys"))
def test_config_files_load_or_name_the_file(case: Case) -> None:
    TALLY.outcomes[run_case("config", case)] += 1


@pytest.mark.parametrize(("text", "needle"), [
    ("audio:\n  clip_seconds: .inf\n", "audio.clip_seconds: inf is not a finite"),
    ("augment:\n  variant:\n    pitch_shift: {p: 0.5, low: .nan}\n", "augment.variant.pitch_shift.low: nan"),
    ("loss:\n  temperature: 1" + "0" * 400 + "\n", "loss.temperature: integer too large"),
    (alias_bomb(6), "more than 100000 values"),
    ("a: " + "[" * 50 + "]" * 50, "nested deeper than 32"),
    ("[]\n", "top level must be a mapping"),
    ("1: x\nnull: y\n", "unknown config key 1"),
])
def test_hostile_values_are_refused_naming_file_and_key(tmp_path: Path, text: str, needle: str) -> None:
    p = tmp_path / "hostile.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=f"hostile.yaml: .*{needle}"):
        load_config(p)


def test_encodings(tmp_path: Path) -> None:
    """UTF-8 with or without a BOM and UTF-16 with a BOM are read; other bytes are a ConfigError, and so is a
    folder given as the config."""
    for enc in ("utf-8", "utf-8-sig", "utf-16"):
        (tmp_path / "c.yaml").write_bytes("model:\n  width: 8  # é\n".encode(enc))
        assert load_config(tmp_path / "c.yaml").model.width == 8
    (tmp_path / "c.yaml").write_bytes("model:\n  kind: loev\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="c.yaml: malformed YAML"):
        load_config(tmp_path / "c.yaml")
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path)
