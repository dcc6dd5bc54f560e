"""Strict loading of experiment configs: YAML or dict -> frozen `ExperimentConfig` (loev_core.config).

Unknown keys, wrong types and impossible values are refused with a `ConfigError` naming the key and
the file; the walk over the parsed YAML is bounded, so an alias bomb or deep nesting is refused before
anything recurses.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from loev_core.config import ConfigError, ExperimentConfig, _to_plain

# A config holds about a hundred values a few levels deep; YAML aliases can expand a small file to billions.
MAX_CONFIG_VALUES = 100_000
MAX_CONFIG_DEPTH = 32


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check `value` against the annotation `tp`; ints are accepted for floats, lists for tuples."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, key)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            try:
                return _coerce(value, arg, key)
            except ConfigError:
                continue
        raise ConfigError(f"{key}: {value!r} does not match {tp}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {type(value).__name__}")
        (inner, _) = typing.get_args(tp)
        return tuple(_coerce(v, inner, f"{key}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {type(value).__name__}")
        kt, vt = typing.get_args(tp)
        return {_coerce(k, kt, key): _coerce(v, vt, f"{key}.{k}") for k, v in value.items()}
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            raise ConfigError(f"{key}: integer too large for a float") from None
    if tp is type(None) and value is None:
        return None
    if isinstance(tp, type) and isinstance(value, tp) and not (tp is int and isinstance(value, bool)):
        return value
    raise ConfigError(f"{key}: expected {getattr(tp, '__name__', tp)}, got {type(value).__name__} {value!r}")


def _build(cls: type, data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix or 'config'}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names, key=str)  # YAML keys can be numbers, dates or null
    if unknown:
        where = f"{prefix}." if prefix else ""
        raise ConfigError(f"unknown config key {where}{unknown[0]} (known: {', '.join(sorted(names))})")
    kwargs = {k: _coerce(v, hints[k], f"{prefix}.{k}" if prefix else k) for k, v in data.items()}
    return cls(**kwargs)


def _check_values(data: Any, where: str = "") -> None:
    """Refuse alias bombs, absurd nesting and NaN or infinite numbers before anything walks `data` recursively.

    Iterative and bounded: a shared (aliased) node counts each time it is reached, so the walk stops after
    MAX_CONFIG_VALUES visits however far the aliases would expand."""
    stack, visits = [(data, 0, where)], 0
    while stack:
        node, depth, key = stack.pop()
        visits += 1
        if visits > MAX_CONFIG_VALUES:
            raise ConfigError(f"{where or 'config'}: more than {MAX_CONFIG_VALUES} values (YAML aliases expanding?)")
        if depth > MAX_CONFIG_DEPTH:
            raise ConfigError(f"{key}: nested deeper than {MAX_CONFIG_DEPTH} levels")
        if isinstance(node, float) and not math.isfinite(node):
            raise ConfigError(f"{key or 'config'}: {node} is not a finite number")
        if isinstance(node, dict):
            stack.extend((v, depth + 1, f"{key}.{k}" if key else str(k)) for k, v in node.items())
        elif isinstance(node, (list, tuple)):
            stack.extend((v, depth + 1, f"{key}[{i}]") for i, v in enumerate(node))


def config_from_dict(data: dict[str, Any]) -> ExperimentConfig:
    """Build and validate a config; unknown keys, wrong types and NaN or infinite numbers raise `ConfigError`
    naming the key."""
    _check_values(data)
    return _build(ExperimentConfig, data, "").validate()


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `section.key=value` overrides (value parsed as YAML) to a plain config dict."""
    out = _to_plain(data)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like section.key=value")
        key, raw = item.split("=", 1)
        try:
            value = "" if not raw.strip() else yaml.safe_load(raw)  # `--set train.split=` means the empty string
        except yaml.YAMLError as e:
            raise ConfigError(f"override {key}: cannot parse {raw!r}: {e}") from None
        node = out
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {key}: {p} is not a section")
        node[parts[-1]] = value
    return out


def _names(message: str, key: str) -> bool:
    """Does a ConfigError's message name `key` or one of its sections (`modle` of `modle.width`)?"""
    parts = key.split(".")
    return any(re.search(rf"(?<![\w.]){re.escape('.'.join(parts[:n]))}(?![\w])", message)
               for n in range(len(parts), 0, -1))


def load_config(path: str | Path, overrides: list[str] | None = None) -> ExperimentConfig:
    """Load a YAML experiment config (UTF-8, or UTF-16 with a BOM); an unreadable file, malformed YAML and
    bad keys or values raise `ConfigError` with the file name (and nothing else does)."""
    path = Path(path)
    try:
        raw = path.read_bytes()  # bytes: PyYAML picks UTF-8/UTF-16 from the BOM and refuses invalid UTF-8
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the config ({e.strerror or e})") from None
    try:
        data = yaml.safe_load(raw)
    except (yaml.YAMLError, ValueError) as e:  # ValueError: an integer of more than 4300 digits
        raise ConfigError(f"{path}: malformed YAML: {e}") from None
    except RecursionError:
        raise ConfigError(f"{path}: malformed YAML: nested too deeply") from None
    if data is None:  # an empty file: all defaults
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    if overrides:  # apply_overrides copies `data` recursively: bound it first (config_from_dict checks the rest)
        try:
            _check_values(data)
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None
        data = apply_overrides(data, overrides)
    try:
        return config_from_dict(data)
    except ConfigError as e:  # blame the --set that named the key, not the file that never had it
        named = [item.split("=", 1)[0].strip() for item in overrides or () if "=" in item]
        blamed = next((key for key in named if key and _names(str(e), key)), None)
        raise ConfigError(f"--set {blamed}: {e}" if blamed else f"{path}: {e}") from None
