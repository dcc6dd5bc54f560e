"""Label-free scores for corpora whose manifest names each row's `track` (every real corpus has it):

- same-recording retrieval: each test track is cut into non-overlapping clips of the scoring window spread
  over the whole file; is a clip's nearest other clip (cosine, itself and its repeats excluded) from the same
  track? (P@1)
- degraded-copy retrieval: each clip degraded (gain -6 dB, 3 kHz low-pass, white noise at 20 dB SNR)
  queries the clean clips; is its nearest clean clip its own source or a repeat of it? (top-1, per subspace)
- time-stretch distances at rates 0.8 and 1.25 (the stretch-ratio target), on the curves' machinery.

A repeat is another clip of the track whose waveform holds the same audio (`repeats`: loops, repeated
sections). Both rules without repeats are kept beside them in results.json (`same_track_p1_with_repeats`,
`degraded_top1_own_clip`).

Without a `track` column, each test file of RECORDING_SECONDS or more is a recording of its own (a folder
of full-length tracks needs no manifest); corpora of shorter clips get none of this, so their results stay
as they were.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from tqdm.auto import tqdm

from loev_core.audio import AudioError, Clip, audio_info, load_audio
from loev_core.augment.dsp import butterworth_gain
from loev_core.embeddings.waves import centre_crop, embed_waves, stack_common
from loev_core.evaluation.equivariance import transform_distances
from loev_core.evaluation.inputs import Split
from loev_core.evaluation.repeats import repeated_count, repeats
from loev_core.evaluation.retrieval import cosine_knn, cosine_nearest

if TYPE_CHECKING:
    from loev_core.evaluation.run import EvalOptions

TRACK = "track"
STRETCH_RATES = (0.8, 1.25)
RECORDING_SECONDS = 30.0  # without a track column, files this long are recordings (shorter: clips, jingles)
MAX_TRACKS = 500  # a seeded sample of bigger collections: 500 x 8 windows of 3 s, clean and degraded, is ~1.5 GB


@dataclasses.dataclass(frozen=True)
class Degradation:
    """A cheap-playback copy: quieter, duller, noisier (the issue's degraded-copy query)."""

    gain_db: float = -6.0
    lowpass_hz: float = 3000.0
    snr_db: float = 20.0
    order: int = 8  # Butterworth order of the (zero-phase) low-pass

    def apply(self, waves: torch.Tensor, sample_rate: int, seed: int = 0) -> torch.Tensor:
        """Degraded copies of `waves` [N, T] (noise seeded, so a run is reproducible)."""
        x = waves.double() * 10 ** (self.gain_db / 20)
        freqs = torch.fft.rfftfreq(x.shape[-1], 1 / sample_rate, dtype=torch.float64)
        gain = butterworth_gain(freqs, torch.tensor([[self.lowpass_hz]], dtype=torch.float64), self.order, False)
        x = torch.fft.irfft(torch.fft.rfft(x) * gain, n=x.shape[-1])
        power = x.pow(2).mean(dim=-1, keepdim=True).clamp_min(1e-20)
        noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        return (x + noise * (power / 10 ** (self.snr_db / 10)).sqrt()).to(waves.dtype)


@dataclasses.dataclass(frozen=True)
class TrackClips:
    """Non-overlapping windows cut from the test rows that name a track, and the track of each."""

    waves: torch.Tensor  # [M, window]
    tracks: np.ndarray  # [M] track names
    rows: np.ndarray  # [M] the test row each window comes from
    from_files: bool = False  # no track column: each long file is its own track, named by its path
    n_listed: int = 0  # tracks before sampling down to `max_tracks`

    @property
    def per_track(self) -> Counter:
        return Counter(self.tracks.tolist())


def clip_starts(length: int, window: int, n: int) -> list[int]:
    """Starts of up to `n` windows (as many as fit), each centred in one of n equal parts of `length` samples:
    they never overlap and stay clear of the very start and end (silence, fades)."""
    n = min(int(n), length // window)
    return [int((k + 0.5) * length / n - window / 2) for k in range(n)] if n >= 1 else []


Row = tuple[int, Clip, str, float | None]  # (row, clip, track, seconds when already read)
Nearest = tuple[np.ndarray, np.ndarray]  # (asked clips, the nearest other clip of each)


def named_tracks(clips: Sequence[Clip]) -> list[Row]:
    """The rows with a track label."""
    return [(i, c, str(c.labels[TRACK]), None) for i, c in enumerate(clips) if c.labels.get(TRACK) not in (None, "")]


def file_tracks(clips: Sequence[Clip], min_seconds: float = RECORDING_SECONDS,
                progress: bool = False) -> list[Row]:
    """The files of at least `min_seconds`, each named by its path below the files' common folder (as the
    dashboard names the tracks of a folder), with the length read; unreadable files are left out."""
    long = []
    for i, c in enumerate(tqdm(clips, desc="find recordings", unit="file", disable=not progress, leave=False)):
        try:
            seconds = audio_info(c.path)[1]
        except AudioError:
            continue
        if seconds >= min_seconds:
            long.append((i, c, seconds))
    if not long:
        return []
    paths = [Path(c.path).absolute() for _, c, _ in long]  # a manifest may mix relative and absolute paths
    root = Path(os.path.commonpath([str(p.parent) for p in paths]))
    return [(i, c, p.relative_to(root).as_posix(), sec) for (i, c, sec), p in zip(long, paths, strict=True)]


def sample_tracks(named: list[Row], max_tracks: int | None, seed: int) -> list[Row]:
    """The rows of at most `max_tracks` tracks, a seeded sample that depends only on the track names."""
    names = sorted({row[2] for row in named})
    if max_tracks is None or len(names) <= max_tracks:
        return named
    keep = set(np.random.default_rng([seed, 29]).choice(names, size=max_tracks, replace=False).tolist())
    return [row for row in named if row[2] in keep]


def cut_tracks(clips: Sequence[Clip], sample_rate: int, window: int, per_track: int, progress: bool = False,
               max_tracks: int | None = MAX_TRACKS, seed: int = 0) -> TrackClips | None:
    """`per_track` windows read from each whole file with a track label (not just its evaluation excerpt;
    rows of one track pool their windows); silent or unreadable windows are left out. When no row names a
    track, the files of RECORDING_SECONDS or more are the tracks (`file_tracks`). At most `max_tracks` tracks
    (`sample_tracks`), since every window is held in memory twice. None when there are none."""
    waves, tracks, rows = [], [], []
    named = named_tracks(clips)
    from_files = not named
    if from_files:
        named = file_tracks(clips, progress=progress)
    n_listed = len({row[2] for row in named})
    named = sample_tracks(named, max_tracks, seed)
    for i, clip, track, seconds in tqdm(named, desc="cut tracks", unit="track", disable=not progress, leave=False):
        try:
            length = int((audio_info(clip.path)[1] if seconds is None else seconds) * sample_rate)
        except AudioError:
            continue
        for s in clip_starts(length, window, per_track):
            try:
                wave = load_audio(clip.path, sample_rate, offset=s / sample_rate, duration=window / sample_rate)
            except AudioError:
                continue
            waves.append(torch.nn.functional.pad(wave, (0, max(0, window - wave.numel())))[:window])
            tracks.append(track)
            rows.append(i)
    if not waves:
        return None
    return TrackClips(torch.stack(waves), np.asarray(tracks, dtype=object), np.asarray(rows), from_files, n_listed)


def nearest_other(emb: np.ndarray, tracks: np.ndarray, twins: Sequence[np.ndarray] | None = None) -> Nearest:
    """(asked clips, the nearest other clip of each). With `twins` (`repeats.repeats`), a clip's repeats are
    not "other" clips: they are skipped, and a clip is asked only when its track has a clip that does not
    repeat it. Clips not asked stay in the database; nothing is asked with fewer than two tracks (every
    neighbour would be a hit)."""
    counts = Counter(tracks.tolist())
    twins = twins if twins is not None else [np.zeros(0, dtype=np.int64)] * len(tracks)
    queries = np.array([i for i, t in enumerate(tracks) if counts[t] - 1 - len(twins[i]) > 0], dtype=np.int64)
    if not len(queries) or len(counts) < 2:
        return queries[:0], queries[:0]
    return queries, cosine_nearest(emb, emb[queries], [np.append(twins[i], i) for i in queries])


def same_track_hits(emb: np.ndarray, tracks: np.ndarray,
                    nearest: Nearest | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per asked clip (`nearest_other`, computed unless given): is its nearest other clip from the same track?
    With the asked clips' tracks."""
    queries, nn = nearest if nearest is not None else nearest_other(emb, tracks)
    return tracks[nn] == tracks[queries], tracks[queries]


def confused_pairs(emb: np.ndarray, tracks: np.ndarray, top: int = 5,
                   nearest: Nearest | None = None) -> list[list[Any]]:
    """The recordings a subspace mixes up most: [track, the other track its clips' nearest neighbour came from,
    how many clips], most clips first (ties by name), at most `top` of them. What a listener would check first."""
    queries, nn = nearest if nearest is not None else nearest_other(emb, tracks)
    wrong = Counter((str(tracks[q]), str(tracks[n])) for q, n in zip(queries, nn, strict=True)
                    if tracks[q] != tracks[n])
    return [[a, b, k] for (a, b), k in sorted(wrong.items(), key=lambda kv: (-kv[1], kv[0]))[:top]]


def hit_rate(hits: np.ndarray) -> float:
    return float(hits.mean()) if len(hits) else float("nan")


def same_track_p1(emb: np.ndarray, tracks: np.ndarray) -> float:
    """Share of clips whose nearest other clip is from the same track (NaN when no track has two clips)."""
    return hit_rate(same_track_hits(emb, tracks)[0])


def degraded_hits(clean: np.ndarray, degraded: np.ndarray, twins: Sequence[np.ndarray] | None = None) -> np.ndarray:
    """Per degraded copy: is its nearest clean clip its own source, or (with `twins`) a clip that repeats it?"""
    return copy_hits(cosine_knn(clean, degraded, 1)[:, 0], twins)


def copy_hits(found: np.ndarray, twins: Sequence[np.ndarray] | None = None) -> np.ndarray:
    """Per degraded copy i whose nearest clean clip is `found[i]`: is that clip i, or (with `twins`) a repeat of
    it? One search serves both rules."""
    own = found == np.arange(len(found))
    if twins is None:
        return own
    return own | np.array([j in twins[i] for i, j in enumerate(found)], dtype=bool)


def degraded_top1(clean: np.ndarray, degraded: np.ndarray) -> float:
    """Share of degraded copies whose nearest clean clip is their own source."""
    return hit_rate(degraded_hits(clean, degraded))


def track_interval(hits: np.ndarray, tracks: np.ndarray, n_boot: int = 2000, seed: int = 0) -> list[float]:
    """95 % percentile-bootstrap interval of a hit rate (or of the mean of paired differences of hits),
    resampling whole tracks: clips of one recording are not independent, so resampling clips would give too
    narrow an interval. [nan, nan] without hits to resample."""
    if not len(hits):
        return [float("nan"), float("nan")]
    names, which = np.unique(tracks.astype(str), return_inverse=True)
    sums = np.bincount(which, weights=hits.astype(np.float64), minlength=len(names))
    counts = np.bincount(which, minlength=len(names)).astype(np.float64)
    draws = np.random.default_rng([seed, 23]).integers(0, len(names), size=(n_boot, len(names)))
    rates = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)
    lo, hi = np.percentile(rates, [2.5, 97.5])
    return [float(lo), float(hi)]


def stretch_distances(models: Mapping[str, Any], test: Split, rows: np.ndarray, sample_rate: int, window: int,
                      span: int, opts: EvalOptions) -> tuple[dict[str, dict[str, list[float]]], int]:
    """{model: {subspace: mean distance at each of STRETCH_RATES}} on the centre span of each track row (at most
    `opts.max_curve_clips` rows), and the number of rows used."""
    rows = np.unique(rows)
    if opts.max_curve_clips is not None and len(rows) > opts.max_curve_clips:
        rows = np.sort(np.random.default_rng([opts.seed, 11]).choice(rows, opts.max_curve_clips, replace=False))
    waves = stack_common([centre_crop(test.waves[i], span) for i in rows])
    dist, _ = transform_distances(models, waves, sample_rate, "time_stretch", STRETCH_RATES, window=window,
                                  batch_size=opts.batch_size, progress=opts.progress)
    return {m: {s: [float(v) for v in d.mean(axis=1)] for s, d in per.items()} for m, per in dist.items()}, len(rows)


def evaluate_tracks(models: Mapping[str, Any], test: Split, sample_rate: int, window: int, span: int,
                    opts: EvalOptions, degradation: Degradation | None = None) -> dict[str, Any] | None:
    """results.json's "recordings" block for the clips of `test` (the test split, or every clip when the split
    was made by `loev eval`: `EvalCorpus.unseen`), or None when they hold no tracks (`cut_tracks`)."""
    t0 = time.time()
    clips = cut_tracks(test.clips, sample_rate, window, opts.track_clips, opts.progress, seed=opts.seed)
    if clips is None:
        return None
    deg = degradation or Degradation()
    degraded = deg.apply(clips.waves, sample_rate, seed=opts.seed)
    twins = repeats(clips.waves, clips.tracks, opts.repeat_share)
    stretch, n_stretch = stretch_distances(models, test, clips.rows, sample_rate, window, span, opts)
    scores: dict[str, Any] = {}
    asked_once = np.zeros(0)
    invariant: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # Z.invariant's same-track hits, for the pairs below
    for name, model in models.items():
        def embed(waves: torch.Tensor, what: str, model: Any = model, name: str = name) -> dict[str, np.ndarray]:
            return embed_waves(model, list(waves), sample_rate, opts.batch_size, f"embed {name} {what}", opts.progress)

        clean, moved = embed(clips.waves, "track clips"), embed(degraded, "degraded clips")
        scores[name] = {}
        for s in clean:
            nearest = nearest_other(clean[s], clips.tracks, twins)  # one search for the hits and the mix-ups
            same, asked = same_track_hits(clean[s], clips.tracks, nearest)
            found = cosine_knn(clean[s], moved[s], 1)[:, 0]  # one search for both rules
            copies = copy_hits(found, twins)
            scores[name][s] = {"same_track_p1": hit_rate(same),
                               "same_track_p1_ci": track_interval(same, asked, seed=opts.seed),
                               "degraded_top1": hit_rate(copies),
                               "degraded_top1_ci": track_interval(copies, clips.tracks, seed=opts.seed),
                               # the rules that ignore repeats: any other clip counts; only the own clip is found
                               "same_track_p1_with_repeats": same_track_p1(clean[s], clips.tracks),
                               "degraded_top1_own_clip": hit_rate(copy_hits(found)),
                               "stretch": stretch[name][s],
                               "confused": confused_pairs(clean[s], clips.tracks, nearest=nearest)}
            if s == "Z.invariant":
                invariant[name] = same, asked
            asked_once = asked  # the same clips in every subspace: those with another clip of their track
    simclr = next((n for n, m in models.items() if getattr(m, "kind", "") == "simclr" and n in invariant), None)
    for name, (same, asked) in invariant.items():  # "no model below SimCLR": the paired difference, same queries
        if simclr is not None and name != simclr:
            diff = same.astype(np.float64) - invariant[simclr][0]
            scores[name]["Z.invariant"]["same_track_p1_minus_simclr_ci"] = track_interval(diff, asked, seed=opts.seed)
    counts = clips.per_track
    return {"n_tracks": len(counts), "n_tracks_listed": clips.n_listed, "n_clips": len(clips.tracks),
            "min_clips_per_track": min(counts.values()),
            "n_asked_clips": len(asked_once), "n_asked_tracks": len(set(asked_once.tolist())),
            "repeat_share": opts.repeat_share, "n_repeated_clips": repeated_count(twins),
            "tracks_from": f"files of {RECORDING_SECONDS:g} s or more" if clips.from_files else "track column",
            "window_seconds": window / sample_rate, "degradation": dataclasses.asdict(deg),
            "stretch_rates": list(STRETCH_RATES), "n_stretch_clips": n_stretch, "models": scores,
            "seconds": round(time.time() - t0, 1)}
