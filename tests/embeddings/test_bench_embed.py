"""`loev bench embed` runs end to end on a few clips and prints what the README and the issue ask of it."""

from __future__ import annotations

import json

import pytest

from loev_core.cli import main

FIELDS = ["realtime_factor", "cpu_ms_per_audio_second", "realtime_factor_if_cores_idle", "decode_only_realtime_factor",
          "model_only_realtime_factor", "model_mflop_per_audio_second", "model_gflops_achieved",
          "matmul_peak_gflops_fp32", "matmul_peak_gflops_bf16", "matmul_peak_gflops_fp32_model_threads",
          "model_fraction_of_peak", "precision", "format", "model"]


def test_bench_embed_measures_the_bundled_model_on_ogg_and_mp3(capsys: pytest.CaptureFixture[str]) -> None:
    import soundfile as sf

    fmt = "mixed" if "MP3" in sf.available_formats() else "ogg"
    args = ["bench", "embed", "--clips", "4", "--batch-size", "4", "--repeats", "1", "--peak-n", "256",
            "--format", fmt]
    assert main([*args, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    for key in FIELDS:
        assert key in result, key
    assert result["model"].endswith("demo-loevpp") and result["kind"] == "loevpp"
    assert result["encoder"] == "compact_rhythm" and result["file_sample_rate"] == 44100
    assert result["clips_embedded"] == 4 and result["clips_skipped"] == 0 and result["audio_seconds"] == 12.0
    assert result["format"] == ("ogg+mp3" if fmt == "mixed" else "ogg")
    assert result["realtime_factor"] > 0 and result["model_mflop_per_audio_second"] > 10
    assert 0 < result["model_fraction_of_peak"] < 2
    assert main([*args, "--checkpoint", "none", "--precision", "fp32"]) == 0  # the untrained model, as text
    text = capsys.readouterr().out
    assert "realtime_factor:" in text and "matmul_peak_gflops_bf16:" in text and "untrained loevpp" in text
