"""`loev corpus` refuses bad settings in one line with exit status 2, before touching --out; a soundfont
FluidSynth cannot load stops the run (in one process or a worker pool) instead of hanging or a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from loev_core.cli import main as loev_main
from loev_core.corpus.generate import generate_corpus
from loev_core.corpus.render import SynthError, check_soundfont, resolve_synth

# A RIFF/sfbk header (passes the parent's cheap check) with no SoundFont behind it: only a real load fails.
FAKE_SF2 = b"RIFF\x10\x00\x00\x00sfbk" + b"garbage" * 4


def has_fluidsynth() -> bool:
    try:
        import fluidsynth  # noqa: F401
    except (ImportError, OSError):
        return False
    return True


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(("args", "message"), [
    (["--seconds", "5", "1"], "--seconds MIN MAX with 0 < MIN <= MAX, got 5 1"),
    (["--seconds", "0", "0"], "--seconds MIN MAX with 0 < MIN <= MAX"),
    (["--seconds", "-1", "2"], "--seconds MIN MAX with 0 < MIN <= MAX"),
    (["--seconds", "1", "inf"], "--seconds MIN MAX with 0 < MIN <= MAX"),
    (["--sample-rate", "0"], "--sample-rate must be an integer from 8000 to 96000 Hz, got 0"),
    (["--sample-rate", "100"], "--sample-rate must be an integer from 8000 to 96000 Hz, got 100"),
    (["--workers", "-1"], "--workers must be at least 1"),
    (["--clips", "0"], "--clips must be at least 1"),
    (["--synth", "fluidsynth", "--soundfont", "/nonexistent/x.sf2"], "soundfont /nonexistent/x.sf2 does not exist"),
])
def test_bad_settings_are_one_line_and_leave_out_alone(args: list[str], message: str, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "corpus"
    out.mkdir()
    (out / "manifest.csv").write_text("earlier run\n")
    before = snapshot(out)
    argv = ["corpus", "--out", str(out), "--clips", "2", "--synth", "additive", *args]
    assert loev_main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("loev corpus: error: ") and message in err and err.count("\n") == 1
    assert snapshot(out) == before and not (out / "audio").exists()


def test_out_that_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "afile"
    target.write_text("keep me")
    assert loev_main(["corpus", "--out", str(target), "--clips", "2", "--synth", "additive"]) == 2
    assert f"--out {target} is a file, not a folder" in capsys.readouterr().err
    assert target.read_text() == "keep me"


def test_soundfont_checks(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a soundfont at all")
    with pytest.raises(SynthError, match="is not a SoundFont"):
        check_soundfont(str(text))
    with pytest.raises(SynthError, match="is not a file"):
        check_soundfont(str(tmp_path))
    with pytest.raises(SynthError, match="does not exist"):
        resolve_synth("auto", str(tmp_path / "missing.sf2"))  # a named soundfont is never silently ignored
    assert resolve_synth("additive", str(tmp_path / "missing.sf2")) == ("additive", None)
    if os.geteuid() != 0:  # root reads anything
        (tmp_path / "locked.sf2").write_bytes(FAKE_SF2)
        (tmp_path / "locked.sf2").chmod(0)
        with pytest.raises(SynthError, match="cannot read soundfont"):
            check_soundfont(str(tmp_path / "locked.sf2"))


@pytest.mark.skipif(not has_fluidsynth(), reason="needs pyfluidsynth")
def test_unloadable_soundfont_in_one_process(tmp_path: Path) -> None:
    sf2 = tmp_path / "broken.sf2"
    sf2.write_bytes(FAKE_SF2)
    with pytest.raises(SynthError, match="could not start: FluidSynth cannot load"):
        generate_corpus(tmp_path / "c", 2, seed=0, workers=1, synth="fluidsynth", soundfont=str(sf2), progress=False)
    assert not (tmp_path / "c").exists()


@pytest.mark.skipif(not has_fluidsynth(), reason="needs pyfluidsynth")
def test_unloadable_soundfont_stops_the_worker_pool(tmp_path: Path) -> None:
    """Was an endless respawn of pool workers whose initializer raised; now the first task's error ends it."""
    sf2 = tmp_path / "broken.sf2"
    sf2.write_bytes(FAKE_SF2)
    cmd = [sys.executable, "-m", "loev_core.cli", "corpus", "--out", str(tmp_path / "c"), "--clips", "2",
           "--workers", "2", "--synth", "fluidsynth", "--soundfont", str(sf2)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 2
    assert f"loev corpus: error: the fluidsynth synthesiser could not start: FluidSynth cannot load {sf2}" \
        in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "c").exists()
