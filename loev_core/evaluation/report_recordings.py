"""The recordings block of an evaluation report (corpora of tracks: `track_retrieval`): its table of
same-recording and degraded-copy retrieval per model and subspace, and the recordings each model mixes up."""

from __future__ import annotations

import math
from typing import Any

from loev_core.evaluation.markdown import fmt as _f
from loev_core.evaluation.markdown import table as _table
from loev_core.evaluation.seen import trained_on_note
from loev_core.evaluation.summary import interval_of, tracks_word


def recordings_table(results: dict[str, Any]) -> str:
    """Same-recording P@1, degraded-copy top-1 and time-stretch distances per model and subspace."""
    rec = results["recordings"]
    rates = rec["stretch_rates"]
    plain = ("same_track_p1_with_repeats", "degraded_top1_own_clip")  # the rules that ignore repeats
    spaces = [(name, space, v) for name, per in rec["models"].items() for space, v in per.items()]
    extra = all(k in v for _, _, v in spaces for k in plain)  # results written before repeats were found: none
    rows = [[name, space, _with_interval(v, "same_track_p1"), _with_interval(v, "degraded_top1"),
             *[_f(d, 4) for d in v["stretch"]], *([_f(v[k]) for k in plain] if extra else [])]
            for name, space, v in spaces]
    return _table(["model", "subspace", "same-recording P@1", "degraded top-1",
                   *[f"time stretch x{r:g}" for r in rates],
                   *(["P@1, repeats allowed", "top-1, own clip only"] if extra else [])], rows)


def mixed_up(per_subspace: dict[str, Any]) -> tuple[str, list[list[Any]]] | None:
    """One model's best same-recording subspace and the pairs of recordings it mixes up most there ([track, the
    track its clips found first, clips]); None for results written before this was recorded."""
    scored = {s: v for s, v in per_subspace.items() if v.get("confused") is not None
              and isinstance(v.get("same_track_p1"), float) and math.isfinite(v["same_track_p1"])}
    if not scored:
        return None
    space = max(scored, key=lambda s: scored[s]["same_track_p1"])
    return space, scored[space]["confused"]


def confusions_table(results: dict[str, Any]) -> str | None:
    """Per model, in its best same-recording subspace: the pairs of recordings whose clips most often find each
    other instead of their own (None for results written before this was recorded, or with nothing confused)."""
    rows = []
    for name, per in results["recordings"]["models"].items():
        found = mixed_up(per)
        if found is not None:
            rows += [[name, found[0], a, b, str(k)] for a, b, k in found[1]]
    if not rows:
        return None
    return _table(["model", "subspace (best)", "clips of", "find first a clip of", "clips"], rows)


def _with_interval(scores: dict[str, Any], metric: str) -> str:
    """"0.948 (0.917-0.974)": a score and its 95 % interval over tracks, when results.json has one."""
    ci = interval_of(scores, f"{metric}_ci")
    text = _f(scores[metric])
    return f"{text} ({_f(ci[0])}-{_f(ci[1])})" if ci else text


def recordings_section(results: dict[str, Any]) -> list[str]:
    """Markdown lines of the recordings block (a `track` column, or files of a recording's length)."""
    rec = results["recordings"]
    deg = rec["degradation"]
    every = rec.get("rows", "test split") != "test split"
    tracks = ("" if rec.get("tracks_from", "track column") == "track column" else
              f" (no track column: each {'' if every else 'test '}file of "
              f"{rec['tracks_from'].removeprefix('files of ')} is one track)")
    note = trained_on_note(results)
    scored = f" No split column: every file is scored ({note})." if every and note else (
        " No split column: every file is scored." if every else "")
    listed = rec.get("n_tracks_listed", rec["n_tracks"])
    sampled = (f" A seeded sample of {rec['n_tracks']} of the {listed} tracks (every window is held in memory)."
               if listed > rec["n_tracks"] else "")
    alone = ("" if rec["n_tracks"] > 1 else " With one track there is nothing to tell apart: same-recording "
             "P@1 is left out.")
    repeated = ("" if "n_repeated_clips" not in rec else
                f" {rec['n_repeated_clips']} of the {rec['n_clips']} clips repeat another clip of their track (loops, "
                f"repeated sections: the peak normalised cross-correlation of the two waveforms is at least "
                f"{rec['repeat_share']:g}, i.e. that share of the clip recurs): a clip's repeats are not its \"other\" "
                "clips, and a degraded copy that finds one has found its moment. The last two columns apply the "
                "rules without that: any other clip counts, only the own clip is found.")
    or_repeats = (" and its repeats", " (or a repeat of it)") if repeated else ("", "")
    return ["## Recordings: same-recording and degraded-copy retrieval", "",
            f"{rec['n_tracks']} {tracks_word(rec)}{tracks} cut into {rec['n_clips']} non-overlapping clips of "
            f"{rec['window_seconds']:g} s (at least {rec['min_clips_per_track']} per track). Same-recording P@1: "
            f"the nearest other clip (cosine, itself{or_repeats[0]} excluded) is from the same track. Degraded "
            f"top-1: a copy (gain {deg['gain_db']:g} dB, {deg['lowpass_hz'] / 1000:g} kHz low-pass, white noise at "
            f"{deg['snr_db']:g} dB SNR) finds its own clean clip{or_repeats[1]} first. In brackets: the 95 % "
            "bootstrap interval, whole tracks resampled (clips of one recording are not independent). Time "
            f"stretch: mean cosine distance to the clean clip, on {rec['n_stretch_clips']} tracks."
            f"{repeated}{scored}{sampled}{alone}", "",
            recordings_table(results), "", "![same-recording and degraded-copy retrieval](recordings.png)", "",
            *_confusions_section(results)]


def _confusions_section(results: dict[str, Any]) -> list[str]:
    table = confusions_table(results)
    if table is None:
        return []
    return ["### Recordings most often mixed up", "", "In each model's best same-recording subspace: whose clips find "
            "a clip of another recording first, and how many. Listen to those pairs first.", "", table, ""]
