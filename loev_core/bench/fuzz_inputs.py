"""Hostile inputs for the loaders as hypothesis strategies: config YAML, corpus manifests and audio files
(checkpoints: `fuzz_checkpoints`). Shared by tests/fuzz (fixed budget) and `loev bench fuzz` (time budget).

Each strategy gives a `Case`: files to write into an empty folder and the one the loader is handed. Most
cases start from a valid input (a bundled config, a well-formed manifest, a freshly encoded clip) and
mutate it, so they get past the first checks and reach the deeper code paths.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import yaml
from hypothesis import strategies as st

from loev_core.config import ExperimentConfig

ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "utf-16-le", "latin-1")
EXTREMES = (0, 1, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 2**63 - 1, 2**64 - 1)
CSV_FIELD_LIMIT = 131072  # csv.field_size_limit()'s default


@dataclass
class Case:
    """Files (name -> bytes) and symlinks (name -> target) to create in an empty folder; `target` is loaded."""

    files: dict[str, bytes]
    target: str
    note: str = ""
    links: dict[str, str] = field(default_factory=dict)

    def write(self, folder: Path) -> Path:
        for name, data in self.files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
        for name, to in self.links.items():
            os.symlink(to, folder / name)
        return folder / self.target

    def __repr__(self) -> str:  # hypothesis prints failing cases: sizes, not megabytes of bytes
        sizes = {k: len(v) for k, v in self.files.items()}
        return f"Case(target={self.target!r}, note={self.note!r}, sizes={sizes}, links={self.links})"


@st.composite
def mutated_bytes(draw: st.DrawFn, data: bytes, fields: tuple[int, ...] = ()) -> tuple[bytes, str]:
    """1-4 of: flip a byte, truncate, insert junk, duplicate a chunk, zero a run, overwrite an integer field
    (at one of `fields`, the format's header offsets, or anywhere) with an extreme value."""
    buf, notes = bytearray(data), []
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(("flip", "truncate", "insert", "duplicate", "zero", "field")))
        n = len(buf)
        pos = draw(st.integers(0, min(n, 64)) | st.integers(0, n))
        if op == "flip" and pos < n:
            buf[pos] ^= draw(st.integers(1, 255))
        elif op == "truncate":
            del buf[pos:]
        elif op == "insert":
            buf[pos:pos] = draw(st.binary(min_size=1, max_size=64) | st.sampled_from([b"\0" * 4096, b"\xff" * 4096]))
        elif op == "duplicate":
            src, length = draw(st.integers(0, n)), draw(st.integers(1, 4096))
            buf[pos:pos] = buf[src:src + length]
        elif op == "zero":
            length = draw(st.integers(1, 16))
            buf[pos:pos + length] = bytes(len(buf[pos:pos + length]))
        elif op == "field":
            at = draw(st.sampled_from(fields)) if fields and draw(st.booleans()) else pos
            width, order = draw(st.sampled_from((2, 4, 8))), draw(st.sampled_from(("little", "big")))
            value = draw(st.sampled_from(EXTREMES)) & ((1 << 8 * width) - 1)
            buf[at:at + width] = value.to_bytes(width, order)
            pos = at
        notes.append(f"{op}@{pos}")
    return bytes(buf), ",".join(notes)


def hostile_values() -> st.SearchStrategy[Any]:
    """Values of every YAML/JSON type, with NaN, infinities, huge and negative numbers among them."""
    scalars = (st.integers() | st.sampled_from([0, -1, 2**31, 2**63, 10**30]) | st.floats() | st.text(max_size=12)
               | st.booleans() | st.none())
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=6)


def encoded(text: str) -> st.SearchStrategy[tuple[bytes, str]]:
    return st.sampled_from(ENCODINGS).map(lambda enc: (text.encode(enc, errors="replace"), enc))


# ---- config YAML ------------------------------------------------------------------------------------------

@functools.cache
def config_seeds() -> tuple[str, ...]:
    """The default config as YAML, plus the bundled configs/*.yaml when running from a checkout."""
    texts = [yaml.safe_dump(ExperimentConfig().to_dict(), sort_keys=False)]
    folder = Path(__file__).resolve().parents[2] / "configs"
    return tuple(texts + [p.read_text() for p in sorted(folder.glob("*.yaml"))])


def alias_bomb(levels: int) -> str:
    """The YAML "billion laughs": 9 ** levels leaves from a few hundred bytes of aliases."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + f"\naugment:\n  base:\n    gain: {{p: 0.5, x: *a{levels}}}\n"


HOSTILE_YAML = st.one_of(
    st.integers(2, 12).map(alias_bomb),
    st.sampled_from([10, 500, 5000, 100000]).map(lambda d: "audio: " + "[" * d + "]" * d),
    st.sampled_from([10, 500, 5000, 100000]).map(lambda d: "{a: " * d + "1" + "}" * d),
    st.sampled_from([20, 400, 4301, 20000]).map(lambda d: f"audio:\n  n_mels: {'9' * d}\n"),
    st.sampled_from(["", "~", "42", "- 1\n- 2\n", "'text'", "---\na: 1\n---\nb: 2\n", "audio: 1e400\n",
                     "audio: {clip_seconds: .inf}\n", "loss: {temperature: .nan}\n", "audio: {n_mels: 96}\0\n",
                     "!!python/object/apply:os.system ['true']\n", "audio: !!binary aGVsbG8=\n",
                     "2001-01-01: 1\naudio: {}\n", "1: 2\nmodel: {}\n", "? [a, b]\n: c\n", "model: {kind: !!set {a}}\n",
                     "audio: &a {n_mels: 32}\nmodel: {<<: *a}\n", "x" * 1_000_000, "train: {steps: 1.5}\n",
                     "augment: {variant: {pitch_shift: {p: .nan}}}\n", "loss: {weights: {invariant: .inf}}\n"]),
    st.binary(max_size=256).map(lambda b: b.decode("latin-1")),
)


@st.composite
def edited_config(draw: st.DrawFn) -> tuple[str, str]:
    """A bundled config with 1-3 keys set to hostile values, deleted, added or whole sections replaced."""
    data, notes = yaml.safe_load(draw(st.sampled_from(config_seeds()))), []
    values = hostile_values()
    for _ in range(draw(st.integers(1, 3))):
        section = draw(st.sampled_from([*data, "bogus"]))
        node, op = data.get(section), draw(st.sampled_from(("set", "delete", "add", "section")))
        if op == "section" or not isinstance(node, dict):
            data[section] = draw(values)
        else:
            key = draw(st.sampled_from([*node, "bogus"]))
            if op == "delete":
                node.pop(key, None)
            elif op == "add":
                node[draw(st.text(max_size=8) | st.integers() | st.none())] = draw(values)
            else:
                node[key] = draw(values)
            section = f"{section}.{key}"
        notes.append(f"{op} {section}")
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True), ",".join(notes)


@st.composite
def config_cases(draw: st.DrawFn) -> Case:
    """Edited bundled configs, byte-mutated ones, random documents and known-hostile YAML."""
    how = draw(st.sampled_from(("edit", "bytes", "hostile", "random")))
    if how == "edit":
        text, note = draw(edited_config())
    elif how == "bytes":
        data, note = draw(mutated_bytes(draw(st.sampled_from(config_seeds())).encode()))
        return Case({"config.yaml": data}, "config.yaml", f"bytes {note}")
    elif how == "hostile":
        text, note = draw(HOSTILE_YAML), "hostile"
    else:
        text, note = yaml.safe_dump(draw(st.dictionaries(st.sampled_from(["audio", "model", "train", "loss", "x"]),
                                                         hostile_values(), max_size=4))), "random"
    data, enc = draw(encoded(text))
    return Case({"config.yaml": data}, "config.yaml", f"{how} {note} ({enc})")


# ---- manifests --------------------------------------------------------------------------------------------

MANIFEST_PATHS = st.sampled_from([
    "audio/a.wav", "a.wav", "./b.flac", "sub/../c.ogg", "../outside.wav", "../../etc/passwd", "/etc/passwd",
    "~/x.wav", "a/../../x.wav", "", " ", "a\0b.wav", "C:\\x.wav", "escape/passwd", "a" * 300 + ".wav",
    "/".join(["d"] * 2000), "\ufeffa.wav", "caf\u00e9.wav",
]) | st.text(max_size=30)
LABEL_VALUES = (st.text(max_size=20) | st.integers() | st.floats() | st.none() | st.booleans()
                | st.sampled_from([10, CSV_FIELD_LIMIT + 1, 300_000]).map(lambda n: "x" * n))


@st.composite
def manifest_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    keys = st.sampled_from(["key", "tempo", "split", "instrument", "path"]) | st.text(max_size=10)
    rows = []
    for _ in range(draw(st.integers(0, 5))):
        row = {"path": draw(MANIFEST_PATHS)} if draw(st.integers(0, 9)) else {}
        row.update(draw(st.dictionaries(keys, LABEL_VALUES, max_size=3)))
        rows.append(row)
    return rows


def _csv_text(rows: list[dict[str, Any]]) -> str:
    columns = list(dict.fromkeys(k for r in rows for k in r)) or ["path"]
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, restval="")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


JSONL_JUNK = st.sampled_from(["5", "[]", "null", '"path"', "{", '{"path": 5}', '{"path": null}', '{"path": ["a"]}',
                              '{"path": {"x": 1}}', '{"path": "a.wav", "split": NaN}', "[" * 100_000, "1" * 5000,
                              '{"path": "a.wav", "path": "../x.wav"}', "\0"])


@st.composite
def manifest_cases(draw: st.DrawFn) -> Case:
    """CSV or JSONL manifests with hostile paths and labels, junk lines, odd encodings and byte mutations;
    sometimes beside a symlink `escape` that points out of the folder."""
    fmt = draw(st.sampled_from(("csv", "jsonl")))
    rows = draw(manifest_rows())
    if fmt == "csv":
        text = _csv_text(rows)
    else:
        lines = [json.dumps(r, ensure_ascii=draw(st.booleans())) for r in rows]
        lines += draw(st.lists(JSONL_JUNK, max_size=2))
        text = "\n".join(draw(st.permutations(lines))) + "\n"
    data, enc = draw(encoded(text))
    note = f"{fmt} {len(rows)} rows ({enc})"
    if draw(st.integers(0, 3)) == 0:
        data, more = draw(mutated_bytes(data))
        note += f" bytes {more}"
    name = draw(st.sampled_from([f"manifest.{fmt}", f"list.{fmt.upper()}", "manifest.csv", "m.jsonl"]))
    links = {"escape": draw(st.sampled_from(["/etc", "..", "/"]))} if draw(st.booleans()) else {}
    return Case({name: data}, name, note, links)


# ---- audio ------------------------------------------------------------------------------------------------

# extension -> (libsndfile format, subtypes); float wav can carry NaN and infinities once mutated
AUDIO_FORMATS = {"wav": ("WAV", ("PCM_16", "FLOAT")), "flac": ("FLAC", ("PCM_16", "PCM_24")),
                 "ogg": ("OGG", ("VORBIS",)), "mp3": ("MP3", ("MPEG_LAYER_III",))}
# Offsets of header fields worth overwriting: RIFF/fmt/data sizes, channels, rate, block align, bits (wav);
# STREAMINFO block sizes, rate/channels/bits and total samples (flac); Ogg page and Vorbis id fields (ogg).
AUDIO_FIELDS = {"wav": (4, 16, 20, 22, 24, 28, 32, 34, 40), "flac": (8, 10, 12, 15, 18, 20, 21, 22),
                "ogg": (6, 14, 18, 22, 26, 39, 40, 44), "mp3": (0, 1, 2, 3)}


@functools.cache
def mp3_writable() -> bool:
    """libsndfile >= 1.1 encodes MP3 (LAME); older builds only decode it, or not at all."""
    return "MP3" in sf.available_formats() and "MPEG_LAYER_III" in sf.available_subtypes("MP3")


@functools.cache
def audio_seed(ext: str, channels: int, sample_rate: int, subtype: str | None = None) -> bytes:
    """A valid 0.4 s clip (a tone plus a little noise) encoded as `ext` (default: its first subtype)."""
    t = np.arange(int(0.4 * sample_rate)) / sample_rate
    y = 0.3 * np.sin(2 * np.pi * 440.0 * t) + 0.01 * np.random.default_rng(0).standard_normal(t.size)
    y = np.stack([y] * channels, axis=1).astype(np.float32)
    buf = io.BytesIO()
    fmt, subtypes = AUDIO_FORMATS[ext]
    sf.write(buf, y, sample_rate, format=fmt, subtype=subtype or subtypes[0])
    return buf.getvalue()


@st.composite
def audio_cases(draw: st.DrawFn) -> Case:
    """A valid wav/flac/ogg/mp3 clip with 1-4 byte mutations, sometimes under another format's extension."""
    formats = [e for e in AUDIO_FORMATS if e != "mp3" or mp3_writable()]
    ext, channels = draw(st.sampled_from(formats)), draw(st.sampled_from((1, 2)))
    rate, subtype = draw(st.sampled_from((8000, 16000, 44100))), draw(st.sampled_from(AUDIO_FORMATS[ext][1]))
    data, note = draw(mutated_bytes(audio_seed(ext, channels, rate, subtype), AUDIO_FIELDS[ext]))
    name = f"clip.{draw(st.sampled_from(formats)) if draw(st.integers(0, 7)) == 0 else ext}"
    return Case({name: data}, name, f"{ext} {subtype} {channels}ch {rate} Hz: {note}")
