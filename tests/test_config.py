"""Configs load strictly: unknown keys, wrong types and impossible values name the key."""

from pathlib import Path

import pytest

from loev_core.config import ConfigError, ExperimentConfig
from loev_core.config_parse import apply_overrides, config_from_dict, load_config

CONFIGS = sorted(Path(__file__).resolve().parent.parent.joinpath("configs").glob("*.yaml"))


def test_defaults_validate() -> None:
    cfg = ExperimentConfig().validate()
    assert cfg.model.heads == ("invariant", "pitch_shift", "time_stretch")
    assert cfg.audio.clip_samples == 48000


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_load(path: Path) -> None:
    assert isinstance(load_config(path), ExperimentConfig)


def test_round_trip() -> None:
    cfg = config_from_dict({"model": {"kind": "loevpp"}, "train": {"steps": 5}})
    assert config_from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("data, needle", [
    ({"modle": {}}, "modle"),
    ({"model": {"knd": "loev"}}, "model.knd"),
    ({"train": {"steps": "many"}}, "train.steps"),
    ({"train": {"lr": True}}, "train.lr"),
    ({"model": {"variant_augs": "pitch_shift"}}, "model.variant_augs"),
    ({"loss": {"temperature": -0.1}}, "loss.temperature"),
    ({"model": {"kind": "loevpp", "variant_augs": []}}, "model.variant_augs"),
    ({"model": {"kind": "transformer"}}, "model.kind"),
    ({"augment": {"crop": "middle"}}, "augment.crop"),
    ({"model": {"variant_augs": ["reverb"]}}, "augment.variant"),
])
def test_bad_configs_name_the_key(data: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle.replace(".", r"\.")):
        config_from_dict(data)


def test_malformed_yaml_names_file(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text("model: {kind: loev\ntrain: [")
    with pytest.raises(ConfigError, match="bad.yaml.*malformed YAML"):
        load_config(p)


def test_overrides(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("model:\n  kind: simclr\n")
    cfg = load_config(p, ["train.steps=7", "loss.temperature=0.2", "model.variant_augs=[pitch_shift]"])
    assert (cfg.train.steps, cfg.loss.temperature, cfg.model.variant_augs) == (7, 0.2, ("pitch_shift",))
    with pytest.raises(ConfigError, match="key=value"):
        apply_overrides({}, ["nonsense"])


def test_a_bad_override_is_blamed_on_the_set_not_the_file(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("model:\n  kind: simclr\n")
    with pytest.raises(ConfigError, match=r"^--set train\.bogus: unknown config key train\.bogus"):
        load_config(p, ["train.bogus=3"])
    with pytest.raises(ConfigError, match=r"^--set train\.steps: .*expected int"):
        load_config(p, ["train.steps=abc"])
    with pytest.raises(ConfigError, match=r"^--set modle\.width: unknown config key modle"):  # a misspelt section
        load_config(p, ["modle.width=3"])
    assert load_config(p, ["train.split="]).train.split == ""  # nothing after '=': the empty string
    p.write_text("model:\n  kind: simclr\n  bogus: 1\n")
    with pytest.raises(ConfigError, match=f"^{p}: unknown config key model.bogus"):
        load_config(p, ["train.steps=7"])
