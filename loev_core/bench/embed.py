"""`loev bench embed`: real-time factor of `embed_corpus` with the bundled LOEV++ model, and where it goes.

Generates short synthetic melodies (`loev_core.bench.synthetic`) as ogg and mp3 files at a typical
consumer sample rate, so decoding and resampling (44.1 -> 16 kHz) are paid as in a real collection, then
times the whole pipeline: decoding threads (or processes), batched inference, shard writing and the final
merge. Beside it, on the same files and in the same run: decoding alone, the model alone (waves already in
memory, at the thread count `embed_corpus` gives it and at torch's default), the model's FLOPs per second of
audio (counted with torch's FlopCounterMode on one batch of the path `embed` runs) and the GFLOP/s that
achieves at the model's thread count, next to a matmul peak (fp32 and bf16, 2048^3) measured in the same run
at that thread count and at torch's default. Wall times on a shared
machine are noisy: each timing is the median of `--repeats` runs, and the CPU time the pipeline used per second
of audio is reported too, with the real-time factor it would reach if every core were free for it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import soundfile as sf
import torch

from loev_core.bench.synthetic import write_clips
from loev_core.config import ENCODERS, MODEL_KINDS

BUNDLED = Path(__file__).resolve().parents[2] / "assets" / "checkpoints" / "demo-loevpp"
FORMATS = ("mixed", "ogg", "mp3", "flac", "wav")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clips", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each clip")
    parser.add_argument("--file-sr", type=int, default=44100, help="sample rate of the generated files")
    parser.add_argument("--format", choices=FORMATS, default="mixed", help="mixed: half ogg, half mp3")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=None, help="decoding processes (default: embed's)")
    parser.add_argument("--threads", type=int, default=None, help="model threads (default: embed's)")
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                        help="embed_corpus's precision (auto: bf16 where the CPU has it natively)")
    parser.add_argument("--checkpoint", default=str(BUNDLED),
                        help="model to measure (default: the bundled LOEV++); 'none': an untrained one")
    parser.add_argument("--kind", choices=MODEL_KINDS, default="loevpp", help="untrained model's kind")
    parser.add_argument("--encoder", choices=ENCODERS, default="compact_rhythm", help="untrained model's encoder")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each measurement (median)")
    parser.add_argument("--peak-n", type=int, default=2048, help="size of the matmuls timed for the peak")


def _model(args: argparse.Namespace) -> tuple[Any, str]:
    from dataclasses import replace

    from loev_core import load_model
    from loev_core.config import ExperimentConfig
    from loev_core.model import build_model

    path = Path(args.checkpoint).resolve()
    if args.checkpoint != "none" and path.exists():
        shown = path.relative_to(BUNDLED.parents[2]) if path.is_relative_to(BUNDLED.parents[2]) else path
        return load_model(path).eval(), str(shown)
    torch.manual_seed(0)
    cfg = ExperimentConfig()
    cfg = replace(cfg, model=replace(cfg.model, kind=args.kind, encoder=args.encoder))
    return build_model(cfg).eval(), f"untrained {args.kind}/{args.encoder}"


def matmul_peak(dtype: torch.dtype, n: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of the best of `repeats` n x n x n matmuls (the machine's peak as torch reaches it)."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e9


def model_flops(model: Any, waves: torch.Tensor, precision: str) -> float:
    """FLOPs (multiply-adds count 2) of `model.embed` on `waves`, as FlopCounterMode counts them."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        model.embed(waves, model.sample_rate, precision=precision)
    return float(counter.get_total_flops())


def _median_time(fn: Any, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _with_threads(n: int | None, fn: Any) -> Any:
    previous = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        return fn()
    finally:
        torch.set_num_threads(previous)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from loev_core.embeddings.compute import EmbedOptions, embed_corpus, model_threads, resolve_precision
    from loev_core.embeddings.decode import decode_file, decode_threads, decoded_in_threads, default_workers

    model, source = _model(args)
    precision = resolve_precision(model, args.precision)
    workers = default_workers() if args.workers is None else args.workers
    threads = args.threads if args.threads is not None else model_threads(workers)
    formats = ("ogg", "mp3") if args.format == "mixed" else (args.format,)
    if "mp3" in formats and "MP3" not in sf.available_formats():
        raise SystemExit(f"libsndfile {sf.__libsndfile_version__} cannot write mp3 (needs >= 1.1); use --format ogg")
    sr, repeats = model.sample_rate, max(1, args.repeats)
    cores = os.cpu_count() or 1
    audio_s = args.clips * args.seconds
    with tempfile.TemporaryDirectory(prefix="loev-bench-embed-") as tmp:
        root = Path(tmp)
        paths = write_clips(root / "audio", args.clips, args.seconds, args.file_sr, formats)
        write_clips(root / "warm", 8, args.seconds, args.file_sr, formats, seed=1)
        options = EmbedOptions(batch_size=args.batch_size, workers=workers, threads=args.threads, progress=False,
                               precision=precision, resume=False)
        embed_corpus(model, root / "warm", root / "warm-out", options)  # first-call costs out of the timing
        reports, cpu = [], []
        for _ in range(repeats):
            t0 = os.times()
            reports.append(embed_corpus(model, root / "audio", root / "out", options))
            t1 = os.times()
            cpu.append(sum(t1[:4]) - sum(t0[:4]))  # user + system, this process and its decoding processes
        wall = statistics.median(r.wall_seconds for r in reports)
        cpu_per_audio_s = statistics.median(cpu) / audio_s
        report = reports[0]

        todo = [(i, str(p)) for i, p in enumerate(paths)]
        items: list = []

        def decode_all() -> None:
            items[:] = decoded_in_threads(todo, lambda f: decode_file(f[0], f[1], sr, None, 600.0, 60.0),
                                          decode_threads())

        decode_s = _median_time(decode_all, repeats)
    waves = torch.stack([w for _, _, w, _, err, _ in items if err is None])
    bs = args.batch_size

    def run_model(precision: str) -> None:
        for i in range(0, len(waves), bs):
            model.embed(waves[i:i + bs], sr, precision=precision)

    run_model(precision)  # warm-up: builds the inference plan
    model_s = _with_threads(threads, lambda: _median_time(lambda: run_model(precision), repeats))
    model_default_s = _median_time(lambda: run_model(precision), repeats)
    other = "bf16" if precision == "fp32" else "fp32"
    run_model(other)
    model_other_s = _with_threads(threads, lambda: _median_time(lambda: run_model(other), repeats))
    flops = model_flops(model, waves[:bs], precision) / (min(bs, len(waves)) * args.seconds)
    n = args.peak_n
    peak32, peak16 = matmul_peak(torch.float32, n), matmul_peak(torch.bfloat16, n)
    n_threads = threads or torch.get_num_threads()
    peak32_t, peak16_t = _with_threads(n_threads, lambda: (matmul_peak(torch.float32, n),
                                                           matmul_peak(torch.bfloat16, n)))
    model_rtf = audio_s / model_s
    model_default_rtf = audio_s / model_default_s
    gflops = flops * model_rtf / 1e9  # at the model's threads in embed_corpus, against the peak at as many
    peak = peak16_t if precision == "bf16" else peak32_t
    return {
        "realtime_factor": round(audio_s / wall, 1),
        "goal": 600.0,
        "realtime_factor_runs": [round(r.realtime_factor, 1) for r in reports],
        "cpu_ms_per_audio_second": round(cpu_per_audio_s * 1e3, 3),
        "realtime_factor_if_cores_idle": round(cores / cpu_per_audio_s, 1),
        "decode_only_realtime_factor": round(audio_s / decode_s, 1),
        "model_only_realtime_factor": round(model_rtf, 1),
        f"model_only_realtime_factor_{other}": round(audio_s / model_other_s, 1),
        "model_only_realtime_factor_default_threads": round(model_default_rtf, 1),
        "model_mflop_per_audio_second": round(flops / 1e6, 1),
        "model_gflops_achieved": round(gflops, 1),
        "matmul_peak_gflops_fp32_model_threads": round(peak32_t, 1),
        "matmul_peak_gflops_bf16_model_threads": round(peak16_t, 1),
        "model_fraction_of_peak": round(gflops / peak, 3),
        "matmul_peak_gflops_fp32": round(peak32, 1),
        "matmul_peak_gflops_bf16": round(peak16, 1),
        "audio_seconds": round(report.audio_seconds, 1),
        "clips_embedded": report.n_embedded,
        "clips_skipped": report.n_skipped,
        "model": source, "kind": model.kind, "encoder": model.config.model.encoder,
        "precision": precision, "clip_seconds": args.seconds, "file_sample_rate": args.file_sr,
        "format": "+".join(formats), "batch_size": bs, "workers": workers,
        "decode_threads": decode_threads() if workers == 0 else 0,
        "model_threads": n_threads, "default_threads": torch.get_num_threads(),
        "n_parameters": sum(p.numel() for p in model.parameters()),
    }
