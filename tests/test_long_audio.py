"""A 2-hour recording is streamed in chunks with bounded memory, never decoded whole."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from loev_core.audio import AudioError, load_audio

pytestmark = pytest.mark.slow
HOURS = 2.0
NATIVE_SR = 8000

PROBE = r"""
import json, resource, sys
from loev_core.audio import stream_audio
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
n, seconds = 0, 0.0
for offset, wave in stream_audio(sys.argv[1], 16000, chunk_seconds=60.0):
    n += 1
    seconds += wave.numel() / 16000
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"chunks": n, "seconds": seconds, "extra_mb": (peak - base) / 1024}))
"""


@pytest.fixture(scope="module")
def two_hour_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("long") / "two_hours.flac"
    t = np.arange(60 * NATIVE_SR) / NATIVE_SR
    minute = (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    with sf.SoundFile(path, "w", NATIVE_SR, 1, format="FLAC", subtype="PCM_16") as f:
        for _ in range(int(HOURS * 60)):  # written a minute at a time: the writer stays small too
            f.write(minute)
    return path


def test_two_hour_file_streams_with_bounded_memory(two_hour_file: Path) -> None:
    with pytest.raises(AudioError, match="stream_audio"):
        load_audio(two_hour_file, 16000)  # whole-file decoding is refused, with the way out named
    out = subprocess.run([sys.executable, "-c", PROBE, str(two_hour_file)], capture_output=True, text=True,
                         check=True, timeout=600)
    stats = json.loads(out.stdout.strip().splitlines()[-1])
    assert stats["chunks"] == 120 and stats["seconds"] == pytest.approx(HOURS * 3600)
    whole_file_mb = HOURS * 3600 * 16000 * 4 / 2**20  # ~440 MB as float32 at 16 kHz
    assert stats["extra_mb"] < whole_file_mb / 4, stats
