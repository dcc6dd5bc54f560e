"""Hostile checkpoints as a hypothesis strategy: mutations of a tiny valid LOEV checkpoint.

Every layer of the file is attacked: the safetensors header length (8 bytes, little-endian u64), the
header's JSON (dtypes, shapes, data offsets), the LOEV metadata riding in it (format version, config),
the tensors themselves (shapes, dtypes, NaN and infinite weights) and plain bytes (flips, truncation).
"""

from __future__ import annotations

import functools
import json
import struct
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from loev_core.bench.fuzz_inputs import Case, hostile_values, mutated_bytes

HEADER_LENGTHS = (0, 1, 7, 8, 2**31, 2**32, 2**63 - 1, 2**63, 2**64 - 1, 100 * 1024 * 1024 + 1)
DTYPES = ("F32", "F16", "BF16", "F64", "I64", "I32", "I8", "U8", "BOOL", "F8_E4M3", "C64", "X9", "", 5, None)
RAW_HEADERS = (b"[]", b"5", b"null", b'"x"', b"{", b"\xff\xfe{}", b"[" * 100_000, b"1" * 5000, b'{"a": NaN}',
               b'{"__metadata__": 5}', b'{"__metadata__": {"loev": 5}}', b'{"__metadata__": {"loev": "[]"}}',
               b'{"__metadata__": {"loev": "{"}}', b'{"__metadata__": {"loev": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}}')
SIZE_KEYS = ("model.width", "model.head_hidden", "model.head_out", "audio.n_mels", "audio.n_fft",
             "audio.win_length", "audio.sample_rate", "audio.hop_length")


@functools.cache
def checkpoint_seed() -> tuple[bytes, bytes]:
    """(model.safetensors, model.json) of a tiny untrained LOEV++ model (a few thousand weights)."""
    import torch

    from loev_core import ExperimentConfig, build_model, save_model
    from loev_core.config import AudioConfig, ModelConfig

    torch.manual_seed(0)
    cfg = ExperimentConfig(model=ModelConfig(kind="loevpp", width=4, head_hidden=8, head_out=4),
                           audio=AudioConfig(n_mels=16, n_fft=256, win_length=256, hop_length=256))
    with tempfile.TemporaryDirectory() as d:
        out = save_model(build_model(cfg), Path(d) / "m")
        return (out / "model.safetensors").read_bytes(), (out / "model.json").read_bytes()


def split(data: bytes) -> tuple[dict[str, Any], bytes]:
    """(header, tensor bytes) of a valid safetensors file."""
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + n]), data[8 + n:]


def pack(header: dict[str, Any] | bytes, body: bytes) -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + body


@st.composite
def _edit_entry(draw: st.DrawFn, header: dict[str, Any], body: bytes) -> str:
    name = draw(st.sampled_from(sorted(k for k in header if k != "__metadata__")))
    what = draw(st.sampled_from(("dtype", "shape", "offsets", "delete", "rename", "extra", "drop_field")))
    entry = header[name]
    if what == "dtype":
        entry["dtype"] = draw(st.sampled_from(DTYPES))
    elif what == "shape":
        entry["shape"] = draw(st.lists(st.integers(-2, 2**64), max_size=4) | st.sampled_from([[0], "x", None, [1.5]]))
    elif what == "offsets":
        edge = st.sampled_from([-1, 0, 4, len(body), len(body) + 1, 2**63, 2**64])
        entry["data_offsets"] = draw(st.lists(st.integers(-1, len(body) + 8) | edge, max_size=3)
                                     | st.sampled_from([None, "x", [5, 1], [0.0, 4.0]]))
    elif what == "delete":
        del header[name]
    elif what == "rename":
        header[name + ".x"] = header.pop(name)
    elif what == "extra":
        header["bogus"] = {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}
    else:
        entry.pop(draw(st.sampled_from(sorted(entry))))
    return f"{what} {name}"


@st.composite
def _edit_metadata(draw: st.DrawFn, header: dict[str, Any]) -> str:
    meta = json.loads(header["__metadata__"]["loev"])
    what = draw(st.sampled_from(("version", "size", "config", "kind", "drop_config", "not_a_mapping")))
    if what == "version":
        meta["format_version"] = draw(hostile_values() | st.sampled_from([0, 1, 2, -1, "1", 1.0, True]))
    elif what == "size":
        section, key = draw(st.sampled_from(SIZE_KEYS)).split(".")
        meta["config"][section][key] = draw(st.sampled_from([0, 1, 3, 10**4, 10**6, 2**31, 10**12]))
        what = f"size {section}.{key}={meta['config'][section][key]}"
    elif what == "config":
        section = draw(st.sampled_from(sorted(meta["config"])))
        meta["config"][section][draw(st.sampled_from([*meta["config"][section], "bogus"]))] = draw(hostile_values())
    elif what == "kind":
        meta["kind"] = draw(st.sampled_from(["train_state", 5, None]))
    elif what == "drop_config":
        del meta["config"]
    else:
        meta = draw(hostile_values())
    header["__metadata__"]["loev"] = json.dumps(meta)
    return f"metadata {what}"


@st.composite
def _retensor(draw: st.DrawFn, data: bytes) -> tuple[bytes, str]:
    """Re-save the weights with one tensor reshaped, retyped, dropped, added or filled with NaN/inf."""
    import torch
    from safetensors.torch import load, save

    tensors, meta = load(data), split(data)[0]["__metadata__"]
    name = draw(st.sampled_from(sorted(tensors)))
    t = tensors[name]
    what = draw(st.sampled_from(("shape", "dtype", "drop", "extra", "nan", "inf", "huge")))
    if what == "shape":
        tensors[name] = draw(st.sampled_from([t.flatten(), t.unsqueeze(0), t.flatten()[:-1], torch.zeros(2, 2)]))
    elif what == "dtype":
        dtype = draw(st.sampled_from([torch.float16, torch.bfloat16, torch.float64, torch.int64, torch.int8,
                                      torch.bool, torch.uint8]))
        tensors[name] = t.to(dtype)
    elif what == "drop":
        del tensors[name]
    elif what == "extra":
        tensors["bogus.weight"] = torch.zeros(3)
    elif t.is_floating_point() and t.numel():
        value = {"nan": float("nan"), "inf": float("inf"), "huge": 1e300}[what]
        t = t.double() if what == "huge" else t.clone()  # 1e300 is finite only as float64
        t.view(-1)[draw(st.integers(0, t.numel() - 1))] = value
        tensors[name] = t
    return save(tensors, metadata=meta), f"tensors {what} {name}"


@st.composite
def checkpoint_file(draw: st.DrawFn) -> tuple[bytes, str]:
    data = checkpoint_seed()[0]
    header, body = split(data)
    how = draw(st.sampled_from(("length", "raw_header", "entry", "metadata", "tensors", "bytes")))
    if how == "length":
        n = draw(st.sampled_from(HEADER_LENGTHS) | st.integers(0, 2**64 - 1))
        return struct.pack("<Q", n) + data[8:], f"header length {n}"
    if how == "raw_header":
        raw = draw(st.sampled_from(RAW_HEADERS) | st.binary(max_size=64))
        return pack(raw, body), f"raw header {raw[:20]!r}"
    if how == "entry":
        note = draw(_edit_entry(header, body))
        return pack(header, body), note
    if how == "metadata":
        note = draw(_edit_metadata(header))
        return pack(header, body), note
    if how == "tensors":
        return draw(_retensor(data))
    mutated, note = draw(mutated_bytes(data, tuple(range(8))))
    return mutated, f"bytes {note}"


@st.composite
def checkpoint_cases(draw: st.DrawFn) -> Case:
    """A mutated checkpoint, as a folder (model.safetensors + model.json) or a single .safetensors file."""
    data, note = draw(checkpoint_file())
    if draw(st.booleans()):
        return Case({"ckpt.safetensors": data}, "ckpt.safetensors", note)
    side, side_note = draw(mutated_bytes(checkpoint_seed()[1])) if draw(st.booleans()) else (checkpoint_seed()[1], "")
    return Case({"model-dir/model.safetensors": data, "model-dir/model.json": side}, "model-dir",
                f"{note}; model.json {side_note or 'ok'}")
