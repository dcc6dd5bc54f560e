"""The issue's targets for the bundled models, checked against measured numbers (pass/fail).

"Best subspace" means the best score over a model's subspaces and probe kinds, chosen the same way
for SimCLR and for LOEV, so the comparison is symmetric. Nothing here feeds back into training or
probe fitting: it only reads the results of `evaluate`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from loev_core.config import PITCH_SHIFT_RANGE
from loev_core.evaluation.equivariance import amount, spearman_rows


@dataclass(frozen=True)
class Target:
    """A pass/fail target: measured >= `threshold`, or with `over_simclr` measured >= SimCLR's best +
    `threshold`. Its row text is `label` with that bound written in, so each number is stated once."""

    label: str  # "{}" marks where the bound goes
    threshold: float
    over_simclr: bool = False

    @property
    def text(self) -> str:
        if not self.over_simclr:
            return self.label.format(f"{self.threshold:g}")
        sign = "-" if self.threshold < 0 else "+"
        return self.label.format(f"SimCLR best {sign} {abs(self.threshold):.2f}")

    def passed(self, measured: float, reference: float | None = None) -> bool:
        """Whether `measured` meets the target; `reference` is SimCLR's best (targets over SimCLR only)."""
        if self.over_simclr:
            if reference is None:
                raise ValueError(f"{self.text}: needs SimCLR's best as the reference")
            return measured >= reference + self.threshold
        return measured >= self.threshold


RATIO_AT = PITCH_SHIFT_RANGE[1]  # the distance ratio is read at the largest trained shift
KEY_SCORE = Target("key weighted score, best subspace >= {}", 0.15, over_simclr=True)
TEMPO_ACC = Target("tempo acc1, best subspace >= {}", 0.10, over_simclr=True)
INSTRUMENT_ACC = Target("instrument accuracy, best subspace >= {}", -0.02, over_simclr=True)
PITCH_RATIO = Target(f"Z.pitch_shift / Z.invariant distance at +-{RATIO_AT:g} st >= {{}}", 3.0)
PITCH_RISE = Target("Z.pitch_shift distance rises with |shift| (Spearman >= {})", 0.9)
PITCH_STEP = f"Z.pitch_shift distance at +-1 st clearly below +-{RATIO_AT:g} st (ratio, 95% interval under 1)"
KEY_P5 = Target("key P@5 in V.pitch_shift >= {}", 0.15, over_simclr=True)
INVARIANT_FLAT = "Z.invariant stays flat (max mean distance, no threshold)"  # reported, not judged
PROBE_TARGETS = (("key", "weighted_score", KEY_SCORE), ("tempo", "acc1", TEMPO_ACC),
                 ("instrument", "accuracy", INSTRUMENT_ACC))  # (task, metric, target on the best subspace)
# corpora with a `track` column (`track_retrieval`): rows for every model, SimCLR included
SAME_TRACK = "same-recording P@1, best subspace (reported, no threshold)"
SAME_TRACK_INVARIANT = Target("same-recording P@1 in Z.invariant >= {}", 0.6)
SAME_TRACK_OVER_SIMCLR = "same-recording P@1 in Z.invariant >= SimCLR's"  # no model below the baseline
DEGRADED_TOP1 = Target("degraded-copy top-1, best subspace >= {}", 0.95)
STRETCH_RATIO = Target("Z.time_stretch / Z.invariant distance at rates 0.8 and 1.25 >= {}", 2.0)


def best_probe(model: dict[str, Any], task: str, metric: str) -> tuple[float, str]:
    """Highest probe score over subspaces and probe kinds, and where it came from."""
    best, where = float("nan"), ""
    for space, kinds in model["probes"].items():
        for kind, tasks in kinds.items():
            v = tasks.get(task, {}).get(metric)
            if v is not None and not (v <= best):
                best, where = float(v), f"{space} ({kind})"
    return best, where


def best_retrieval(model: dict[str, Any], task: str, metric: str, query: str = "clean") -> tuple[float, str]:
    vals = {s: r.get(query, {}).get(task, {}).get(metric) for s, r in model["retrieval"].items()}
    vals = {s: v for s, v in vals.items() if v is not None}
    if not vals:
        return float("nan"), ""
    s = max(vals, key=lambda k: vals[k])
    return float(vals[s]), s


def distance_at(curve: dict[str, list[float]], value: float) -> float:
    """Mean curve distance at +-value (average of both signs present)."""
    vs = [m for v, m in zip(curve["values"], curve["mean"], strict=True) if abs(abs(v) - value) < 1e-6]
    return float(np.mean(vs)) if vs else float("nan")


def _row(target: str, model: str, measured: float, reference: float | None, passed: bool | None,
         detail: str) -> dict[str, Any]:
    return {"target": target, "model": model, "measured": measured, "reference": reference,
            "passed": None if passed is None else bool(passed), "detail": detail}


def check_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (target, LOEV model): measured value, SimCLR reference, pass/fail (None = n/a)."""
    models = results["models"]
    simclr = next((n for n, m in models.items() if m["kind"] == "simclr"), None)
    rows: list[dict[str, Any]] = []
    for name, m in models.items():
        if m["kind"] == "simclr":
            continue
        for task, metric, target in PROBE_TARGETS:
            val, where = best_probe(m, task, metric)
            if np.isnan(val):  # the corpus has no such labels (e.g. a folder of recordings)
                continue
            if simclr is None:
                rows.append(_row(target.text, name, val, None, None, f"{where}; no SimCLR model to compare"))
                continue
            ref, ref_where = best_probe(models[simclr], task, metric)
            rows.append(_row(target.text, name, val, ref, target.passed(val, ref), f"{where} vs SimCLR {ref_where}"))
        ps = m["curves"].get("pitch_shift", {})
        if "Z.pitch_shift" in ps and "Z.invariant" in ps:
            zp, zi = ps["Z.pitch_shift"], ps["Z.invariant"]
            dp, di = distance_at(zp, RATIO_AT), distance_at(zi, RATIO_AT)
            ratio = dp / di if di > 0 else float("inf")
            rows.append(_row(PITCH_RATIO.text, name, ratio, None, PITCH_RATIO.passed(ratio),
                             f"Z.pitch_shift {dp:.4f}, Z.invariant {di:.4f}"))
            rho = float(spearman_rows(amount("pitch_shift", zp["values"]), np.asarray([zp["mean"]]))[0])
            spread = (f"; 95% interval over clips {zp['rise_lo']:.2f}-{zp['rise_hi']:.2f}"
                      if zp.get("rise_lo") is not None and np.isfinite(zp["rise_lo"]) else "")  # older, one clip
            rows.append(_row(PITCH_RISE.text, name, rho, None, PITCH_RISE.passed(rho),
                             f"over {len(zp['values'])} shift values{spread}"))
            if zp.get("near_far") is not None and np.isfinite(zp["near_far"]):  # absent in older results
                hi = zp.get("near_far_hi")
                known = hi is not None and np.isfinite(hi)
                rows.append(_row(PITCH_STEP, name, zp["near_far"], None, bool(hi < 1.0) if known else None,
                                 f"Z.pitch_shift {distance_at(zp, 1.0):.4f} at +-1, {dp:.4f} at +-{RATIO_AT:g}"
                                 + (f"; 95% interval over clips {zp['near_far_lo']:.2f}-{hi:.2f}" if known else "")))
            flat = float(max(zi["mean"]))
            rows.append(_row(INVARIANT_FLAT, name, flat, None, None, f"Z.pitch_shift max {max(zp['mean']):.4f}"))
        val = m["retrieval"].get("V.pitch_shift", {}).get("clean", {}).get("key", {}).get("P@5", float("nan"))
        if m["kind"] == "loevpp" and not np.isnan(val):  # NaN: not LOEV++, or no key labels
            if simclr is None:
                rows.append(_row(KEY_P5.text, name, val, None, None, "no SimCLR model to compare"))
            else:
                ref, ref_where = best_retrieval(models[simclr], "key", "P@5")
                rows.append(_row(KEY_P5.text, name, val, ref, KEY_P5.passed(val, ref),
                                 f"SimCLR best subspace {ref_where}"))
    return rows + recording_targets(results)


def best_recording(scores: dict[str, Any], metric: str) -> tuple[float, str]:
    """Highest `metric` of one model's "recordings" scores over its subspaces, and which subspace."""
    vals = {s: v[metric] for s, v in scores.items() if v.get(metric) is not None and not np.isnan(v[metric])}
    if not vals:
        return float("nan"), ""
    best = max(vals, key=lambda k: vals[k])
    return float(vals[best]), best


def interval_of(scores: dict[str, Any], key: str) -> list[float] | None:
    """The finite [low, high] stored under `key` (e.g. "degraded_top1_ci"), or None (results written before
    intervals, or nothing to resample)."""
    ci = scores.get(key)
    return ci if ci and all(v == v for v in ci) else None


def _interval(scores: dict[str, Any], space: str, metric: str) -> str:
    """", 95% interval over tracks a-b" for a subspace's score, or '' when there is none."""
    ci = interval_of(scores.get(space, {}), f"{metric}_ci")
    return f", 95% interval over tracks {ci[0]:.3f}-{ci[1]:.3f}" if ci else ""


MIN_ASKED_TRACKS = 5  # same-recording P@1 over fewer recordings with two clips is reported, not judged


def tracks_word(rec: dict[str, Any]) -> str:
    """"test tracks", or "tracks" when every file was scored (a corpus without a split column)."""
    return "test tracks" if rec.get("rows", "test split") == "test split" else "tracks"


def recording_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows for same-recording and degraded-copy retrieval and the stretch ratio (none without "recordings")."""
    rec = results.get("recordings")
    if not rec:
        return []
    models = results["models"]
    simclr = next((n for n, m in models.items() if m["kind"] == "simclr" and n in rec["models"]), None)
    deg = rec["degradation"]
    n_clips = rec.get("n_clips", 0)
    asked, asked_tracks = rec.get("n_asked_clips", n_clips), rec.get("n_asked_tracks", rec["n_tracks"])
    few = asked_tracks < MIN_ASKED_TRACKS  # a score over a handful of recordings: reported, not judged
    where = (f"{rec['n_tracks']} {tracks_word(rec)}, >= {rec['min_clips_per_track']} clips of "
             f"{rec['window_seconds']:g} s each" + ("" if rec["n_tracks"] > 1 else ": same-recording needs two")
             + (f"; {rec['n_repeated_clips']} clips repeat another of their track" if rec.get("n_repeated_clips")
                else "")
             + (f"; asked: the {asked} clips of the {asked_tracks} tracks with another clip" if asked < n_clips
                else "")
             + (f"; under {MIN_ASKED_TRACKS} tracks asked: not judged" if few and rec["n_tracks"] > 1 else ""))
    how = (f"gain {deg['gain_db']:g} dB, {deg['lowpass_hz'] / 1000:g} kHz low-pass, noise at {deg['snr_db']:g} dB SNR"
           + ("; finding a repeat of the clip counts" if rec.get("n_repeated_clips") else ""))
    rows: list[dict[str, Any]] = []
    for name, scores in rec["models"].items():
        ref = None if simclr in (None, name) else rec["models"][simclr]
        p1, space = best_recording(scores, "same_track_p1")
        rows.append(_row(SAME_TRACK, name, p1, best_recording(ref, "same_track_p1")[0] if ref else None, None,
                         f"{space}{_interval(scores, space, 'same_track_p1')}; {where}"))
        inv = scores.get("Z.invariant", {}).get("same_track_p1")
        if inv is not None:  # NaN with fewer than two test tracks: reported, not judged
            rows.append(_row(SAME_TRACK_INVARIANT.text, name, inv, None,
                             None if np.isnan(inv) or few else SAME_TRACK_INVARIANT.passed(inv),
                             f"Z.invariant{_interval(scores, 'Z.invariant', 'same_track_p1')}; {where}"))
            ref_inv = (ref or {}).get("Z.invariant", {}).get("same_track_p1")
            if ref_inv is not None and not (np.isnan(inv) or np.isnan(ref_inv)):
                ci = interval_of(scores["Z.invariant"], "same_track_p1_minus_simclr_ci")
                paired = (f"difference {inv - ref_inv:+.3f}, 95% interval over tracks {ci[0]:+.3f} to {ci[1]:+.3f}; "
                          if ci else "")
                rows.append(_row(SAME_TRACK_OVER_SIMCLR, name, inv, ref_inv, None if few else inv >= ref_inv,
                                 f"{paired}{where}"))
        top1, space = best_recording(scores, "degraded_top1")
        rows.append(_row(DEGRADED_TOP1.text, name, top1, best_recording(ref, "degraded_top1")[0] if ref else None,
                         None if np.isnan(top1) else DEGRADED_TOP1.passed(top1),
                         f"{space}{_interval(scores, space, 'degraded_top1')}; {how}"))
        if "Z.time_stretch" in scores and "Z.invariant" in scores:
            ds, di = scores["Z.time_stretch"]["stretch"], scores["Z.invariant"]["stretch"]
            ratio = float(np.mean(ds) / np.mean(di)) if np.mean(di) > 0 else float("inf")
            rates = "/".join(f"x{r:g}" for r in rec["stretch_rates"])
            rows.append(_row(STRETCH_RATIO.text, name, ratio, None, STRETCH_RATIO.passed(ratio),
                             f"Z.time_stretch {'/'.join(f'{v:.4f}' for v in ds)}, Z.invariant "
                             f"{'/'.join(f'{v:.4f}' for v in di)} at {rates}; {rec['n_stretch_clips']} tracks"))
    return rows
