"""`generate_corpus`: plan in one process, render clips in parallel workers, write audio + manifest.csv.

The plan (and so the manifest) depends only on (n_clips, seed, role, clip_seconds); workers only turn
specs into audio, so the number of workers never changes the result.
"""

from __future__ import annotations

import csv
import json
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
from loev_core.corpus.render import AdditiveRenderer, FluidRenderer, finish, make_renderer

MANIFEST_COLUMNS = ("path", "split", "key", "tempo", "instrument", "piece", "drums", "duration", "source",
                    "program")
FORMATS = {"ogg": ("OGG", "VORBIS"), "flac": ("FLAC", "PCM_16"), "wav": ("WAV", "PCM_16")}
AUDIO_DIR = "audio"

_STATE: dict[str, Any] = {}


def _init_worker(synth: str, soundfont: str | None, sample_rate: int, out_dir: str, fmt: str) -> None:
    works = {w["id"]: w for w in load_catalog()}
    _STATE.update(renderer=make_renderer(synth, sample_rate, soundfont), works=works, sample_rate=sample_rate,
                  out_dir=Path(out_dir), fmt=fmt)


def clip_path(spec: ClipSpec, fmt: str, n_clips: int) -> str:
    return f"{AUDIO_DIR}/c{spec.index:0{max(5, len(str(n_clips - 1)))}d}.{fmt}"


def render_clip(spec: ClipSpec, renderer: FluidRenderer | AdditiveRenderer, works: dict[str, Any],
                sample_rate: int, seed: int) -> np.ndarray:
    """Audio of one clip, finished (exact length, normalised)."""
    events, programs = arrange(spec, works.get(spec.work_id) if spec.work_id else None)
    wave = renderer.render(events, programs, spec.tempo, spec.duration, seed=seed, family=spec.family)
    return finish(wave, sample_rate, spec.duration)


def _task(job: tuple[ClipSpec, str, int]) -> str:
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
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {sorted(FORMATS)}, got {fmt!r}")
    if not 0 < clip_seconds[0] <= clip_seconds[1]:
        raise ValueError(f"bad clip_seconds {clip_seconds}")
    t0 = time.perf_counter()
    out = Path(out_dir)
    (out / AUDIO_DIR).mkdir(parents=True, exist_ok=True)
    for old in (out / AUDIO_DIR).glob("c*.*"):  # stale clips of an earlier, larger run
        if old.suffix.lstrip(".") in FORMATS:
            old.unlink()
    specs = plan_corpus(n_clips, seed, role, load_catalog(), clip_seconds)
    jobs = [(s, clip_path(s, fmt, n_clips), int(seed) * 1_000_003 + s.index) for s in specs]
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    init_args = (synth, soundfont, sample_rate, str(out), fmt)
    bar = tqdm(total=len(jobs), desc=f"corpus {role} seed={seed}", unit="clip", disable=not progress)
    used: set[str] = set()
    if workers == 1:
        _init_worker(*init_args)
        for job in jobs:
            used.add(_task(job))
            bar.update()
    else:
        with mp.get_context("spawn").Pool(workers, _init_worker, init_args) as pool:
            for name in pool.imap_unordered(_task, jobs, chunksize=4):
                used.add(name)
                bar.update()
    bar.close()
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
