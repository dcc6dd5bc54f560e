"""`generate_corpus`: plan in one process, render clips in parallel workers, write audio + manifest.csv.

The plan (and so the manifest) depends only on (n_clips, seed, role, clip_seconds); workers only turn
specs into audio, so the number of workers never changes the result.
"""

from __future__ import annotations

import csv
import functools
import json
import math
import multiprocessing as mp
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from tqdm import tqdm

from loev_core.corpus.arrange import arrange
from loev_core.corpus.music21_source import load_catalog
from loev_core.corpus.plan import ClipSpec, plan_corpus
from loev_core.corpus.render import AdditiveRenderer, FluidRenderer, SynthError, finish, make_renderer, resolve_synth

MANIFEST_COLUMNS = ("path", "split", "key", "tempo", "instrument", "piece", "drums", "duration", "source",
                    "program")
FORMATS = {"ogg": ("OGG", "VORBIS"), "flac": ("FLAC", "PCM_16"), "wav": ("WAV", "PCM_16")}
AUDIO_DIR = "audio"
SAMPLE_RATES = (8000, 96000)  # what FluidSynth renders, and a sane range for the additive synthesiser

_STATE: dict[str, Any] = {}


def _init_worker(synth: str, soundfont: str | None, sample_rate: int, out_dir: str, fmt: str) -> None:
    works = {w["id"]: w for w in load_catalog()}
    _STATE.update(renderer=make_renderer(synth, sample_rate, soundfont), works=works, sample_rate=sample_rate,
                  out_dir=Path(out_dir), fmt=fmt, args=(synth, soundfont, sample_rate, out_dir, fmt))


def _ensure_state(init_args: tuple[str, str | None, int, str, str]) -> None:
    """Set up this process's renderer on its first task, not in a Pool initializer: an initializer that raises
    makes the pool respawn workers forever, while a task that raises stops the pool with that error."""
    if _STATE.get("args") == init_args:
        return
    try:
        _init_worker(*init_args)
    except (ImportError, OSError, RuntimeError) as e:
        raise SynthError(f"the {init_args[0]} synthesiser could not start: {e}") from None


def check_settings(out: Path, n_clips: int, clip_seconds: tuple[float, float], sample_rate: int, fmt: str,
                   workers: int | None) -> None:
    """Raise ValueError, naming the command line option, before anything is written or deleted."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {sorted(FORMATS)}, got {fmt!r}")
    if n_clips < 1:
        raise ValueError(f"--clips must be at least 1, got {n_clips}")
    lo, hi = clip_seconds
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo <= hi):
        raise ValueError(f"clip length needs --seconds MIN MAX with 0 < MIN <= MAX, got {lo:g} {hi:g}")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) \
            or not SAMPLE_RATES[0] <= sample_rate <= SAMPLE_RATES[1]:
        raise ValueError(f"--sample-rate must be an integer from {SAMPLE_RATES[0]} to {SAMPLE_RATES[1]} Hz, "
                         f"got {sample_rate}")
    if workers is not None and workers < 1:
        raise ValueError(f"--workers must be at least 1 (leave it out to use every core), got {workers}")
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a folder")
    if (out / AUDIO_DIR).exists() and not (out / AUDIO_DIR).is_dir():
        raise ValueError(f"--out {out} holds a file named {AUDIO_DIR}, where the clips would go")


def clip_path(spec: ClipSpec, fmt: str, n_clips: int) -> str:
    return f"{AUDIO_DIR}/c{spec.index:0{max(5, len(str(n_clips - 1)))}d}.{fmt}"


def render_clip(spec: ClipSpec, renderer: FluidRenderer | AdditiveRenderer, works: dict[str, Any],
                sample_rate: int, seed: int) -> np.ndarray:
    """Audio of one clip, finished (exact length, normalised)."""
    events, programs = arrange(spec, works.get(spec.work_id) if spec.work_id else None)
    wave = renderer.render(events, programs, spec.tempo, spec.duration, seed=seed, family=spec.family)
    return finish(wave, sample_rate, spec.duration)


def _task(job: tuple[ClipSpec, str, int], init_args: tuple[str, str | None, int, str, str]) -> str:
    _ensure_state(init_args)
    spec, rel, seed = job
    st = _STATE
    y = render_clip(spec, st["renderer"], st["works"], st["sample_rate"], seed)
    fmt, subtype = FORMATS[st["fmt"]]
    sf.write(str(st["out_dir"] / rel), y, st["sample_rate"], format=fmt, subtype=subtype)
    return str(st["renderer"].name)


def manifest_row(spec: ClipSpec, rel: str) -> dict[str, Any]:
    return {"path": rel, "split": spec.split, "key": spec.key, "tempo": spec.tempo, "instrument": spec.family,
            "piece": spec.piece, "drums": "yes" if spec.drums else "no", "duration": f"{spec.duration:.2f}",
            "source": spec.source, "program": dict(spec.programs)["melody"]}


def generate_corpus(out_dir: str | Path, n_clips: int, seed: int, role: str = "demo",
                    clip_seconds: tuple[float, float] = (3.0, 4.0), sample_rate: int = 16000, fmt: str = "ogg",
                    workers: int | None = None, synth: str = "auto", soundfont: str | None = None,
                    progress: bool = True) -> Path:
    """Write `n_clips` labelled clips under `out_dir/audio/` and return the path of `out_dir/manifest.csv`.

    `synth` is auto (FluidSynth when available, else the additive fallback), fluidsynth or additive.
    Bad settings raise ValueError, an unusable synthesiser or soundfont SynthError (a ValueError), before
    anything under `out_dir` is touched.
    """
    t0 = time.perf_counter()
    out = Path(out_dir)
    check_settings(out, n_clips, clip_seconds, sample_rate, fmt, workers)
    synth, soundfont = resolve_synth(synth, soundfont)
    specs = plan_corpus(n_clips, seed, role, load_catalog(), clip_seconds)
    jobs = [(s, clip_path(s, fmt, n_clips), int(seed) * 1_000_003 + s.index) for s in specs]
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    init_args = (synth, soundfont, sample_rate, str(out), fmt)
    task = functools.partial(_task, init_args=init_args)
    if workers == 1:
        _ensure_state(init_args)  # a soundfont FluidSynth cannot load fails here, before the folder is touched
    made = [d for d in (out, out / AUDIO_DIR) if not d.exists()]
    (out / AUDIO_DIR).mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    try:
        with tqdm(total=len(jobs), desc=f"corpus {role} seed={seed}", unit="clip", disable=not progress) as bar:
            if workers == 1:
                for job in jobs:
                    used.add(task(job))
                    bar.update()
            else:
                with mp.get_context("spawn").Pool(workers) as pool:
                    for name in pool.imap_unordered(task, jobs, chunksize=4):
                        used.add(name)
                        bar.update()
    except SynthError:  # the workers could not start: leave no empty folders behind
        for d in reversed(made):
            if d.is_dir() and not any(d.iterdir()):
                d.rmdir()
        raise
    fresh = {out / rel for _, rel, _ in jobs}
    for old in (out / AUDIO_DIR).glob("c*.*"):  # stale clips of an earlier, larger run (or another format)
        if old.suffix.lstrip(".") in FORMATS and old not in fresh:
            old.unlink()
    manifest = out / "manifest.csv"
    with manifest.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=MANIFEST_COLUMNS)
        writer.writeheader()
        for spec, rel, _ in jobs:
            writer.writerow(manifest_row(spec, rel))
    info = {"n_clips": n_clips, "seed": seed, "role": role, "clip_seconds": list(clip_seconds),
            "sample_rate": sample_rate, "format": fmt, "synth": "+".join(sorted(used)),
            "command": f"loev corpus --out {out} --clips {n_clips} --seed {seed} --role {role} --format {fmt}"}
    (out / "corpus.json").write_text(json.dumps(info, indent=2) + "\n")
    if progress:
        print(f"wrote {len(jobs)} clips ({info['synth']}) to {out} in {time.perf_counter() - t0:.1f} s")
    return manifest
