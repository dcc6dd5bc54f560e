"""Fuzzing the manifest readers (`read_manifest`, `resolve_corpus`, the dashboard's `corpus_clips`): CSV and
JSONL with odd encodings, huge fields, NUL bytes, junk lines and paths escaping the folder give clips inside
the folder or a ManifestError naming the manifest (PathRefused, in the dashboard), nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import example, given

from loev_core.audio import ManifestError, read_manifest, resolve_corpus
from loev_core.bench.fuzz import Tally, ci_budget, run_case
from loev_core.bench.fuzz_inputs import Case, manifest_cases
from loev_core.explore.paths import PathRefused, corpus_clips

TALLY = Tally()
FUZZ_CLASS = "manifest"  # tests/fuzz/conftest.py prints TALLY under this name


def manifest(name: str, data: bytes, note: str, links: dict[str, str] | None = None) -> Case:
    return Case({name: data}, name, note, links or {})


@pytest.mark.timeout(120)
@ci_budget(400)
@given(case=manifest_cases())
@example(case=manifest("manifest.csv", b"path\n" + b"x" * 200_000 + b"\n", "field over the csv limit"))
@example(case=manifest("manifest.jsonl", "{\"path\": \"a.wav\"}\n".encode("utf-16"), "UTF-16 JSONL"))
@example(case=manifest("manifest.csv", b"path\na\0b.wav\n", "NUL in a path"))
@example(case=manifest("m.jsonl", b"5\n[]\n", "rows that are not objects"))
@example(case=manifest("m.jsonl", b"[" * 100_000, "deep JSON"))
@example(case=manifest("manifest.csv", b"path\nescape/passwd\n", "symlink out", {"escape": "/etc"}))
@example(case=manifest("manifest.csv", "path\ncaf\u00e9.wav\n".encode("latin-1"), "latin-1"))
def test_manifests_list_clips_inside_or_name_the_file(case: Case) -> None:
    TALLY.outcomes[run_case("manifest", case)] += 1


def test_bom_and_utf16_manifests_are_read(tmp_path: Path) -> None:
    for enc in ("utf-8-sig", "utf-16"):
        (tmp_path / "m.csv").write_bytes("path,key\na.wav,C major\n".encode(enc))
        clips = read_manifest(tmp_path / "m.csv")
        assert [Path(c.path).name for c in clips] == ["a.wav"] and clips[0].labels == {"key": "C major"}


@pytest.mark.parametrize(("name", "data", "needle"), [
    ("m.csv", "path\ncaf\xe9.wav\n".encode("latin-1"), "not UTF-8"),
    ("m.csv", b"path\n" + b"x" * 200_000 + b"\n", "CSV near line 2: field larger than field limit"),
    ("m.csv", b"path\na\0b.wav\n", "NUL byte"),
    ("m.jsonl", b'{"path": "a.wav"}\n5\n', "row 2 is not a mapping"),
    ("m.jsonl", b'{"path": ["a.wav"]}\n', "'path' must be a string"),
    ("m.jsonl", b'{"path": "a.wav"}\n{\n', "line 2 is not valid JSON"),
    ("m.jsonl", b"[" * 100_000 + b"\n", "line 1 is not valid JSON"),
])
def test_malformed_manifests_raise_manifest_error(tmp_path: Path, name: str, data: bytes, needle: str) -> None:
    (tmp_path / name).write_bytes(data)
    with pytest.raises(ManifestError, match=f"{name}: .*{needle}"):
        read_manifest(tmp_path / name)


def test_symlinks_out_of_the_folder_are_refused_and_the_dashboard_says_so(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "escape").symlink_to(tmp_path)
    (tmp_path / "secret.wav").write_bytes(b"RIFF")
    (corpus / "manifest.csv").write_text("path\nescape/secret.wav\n")
    with pytest.raises(ManifestError, match="points outside"):
        resolve_corpus(corpus)
    assert Path(read_manifest(corpus / "manifest.csv", allow_outside=True)[0].path) == tmp_path / "secret.wav"
    with pytest.raises(PathRefused, match="Refused corpus .*: its entry .*secret.wav' is outside the allowed folders"):
        corpus_clips(corpus, [corpus])  # the dashboard serves what a corpus lists: only inside its allowed folders
