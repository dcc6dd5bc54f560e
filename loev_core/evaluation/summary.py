"""The issue's targets for the bundled models, checked against measured numbers (pass/fail).

"Best subspace" means the best score over a model's subspaces and probe kinds, chosen the same way
for SimCLR and for LOEV, so the comparison is symmetric. Nothing here feeds back into training or
probe fitting: it only reads the results of `evaluate`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from loev_core.evaluation.equivariance import amount, spearman_rows

PROBE_TARGETS = (  # (task, metric, margin over SimCLR's best, description)
    ("key", "weighted_score", 0.15, "key weighted score, best subspace >= SimCLR best + 0.15"),
    ("tempo", "acc1", 0.10, "tempo acc1, best subspace >= SimCLR best + 0.10"),
    ("instrument", "accuracy", -0.02, "instrument accuracy, best subspace >= SimCLR best - 0.02"),
)
RATIO_AT = 4.0
MIN_RATIO = 3.0
MIN_SPEARMAN = 0.9
MIN_P5_GAIN = 0.15


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
        for task, metric, margin, desc in PROBE_TARGETS:
            val, where = best_probe(m, task, metric)
            if np.isnan(val):  # the corpus has no such labels (e.g. a folder of recordings)
                continue
            if simclr is None:
                rows.append(_row(desc, name, val, None, None, f"{where}; no SimCLR model to compare"))
                continue
            ref, ref_where = best_probe(models[simclr], task, metric)
            rows.append(_row(desc, name, val, ref, val >= ref + margin, f"{where} vs SimCLR {ref_where}"))
        ps = m["curves"].get("pitch_shift", {})
        if "Z.pitch_shift" in ps and "Z.invariant" in ps:
            zp, zi = ps["Z.pitch_shift"], ps["Z.invariant"]
            dp, di = distance_at(zp, RATIO_AT), distance_at(zi, RATIO_AT)
            ratio = dp / di if di > 0 else float("inf")
            rows.append(_row("Z.pitch_shift / Z.invariant distance at +-4 st >= 3", name, ratio, None,
                             ratio >= MIN_RATIO, f"Z.pitch_shift {dp:.4f}, Z.invariant {di:.4f}"))
            rho = float(spearman_rows(amount("pitch_shift", zp["values"]), np.asarray([zp["mean"]]))[0])
            spread = (f"; 95% interval over clips {zp['rise_lo']:.2f}-{zp['rise_hi']:.2f}"
                      if "rise_lo" in zp else "")  # results written before session 8 have no interval
            rows.append(_row("Z.pitch_shift distance rises with |shift| (Spearman >= 0.9)", name, rho, None,
                             rho >= MIN_SPEARMAN, f"over {len(zp['values'])} shift values{spread}"))
            flat = float(max(zi["mean"]))
            rows.append(_row("Z.invariant stays flat (max mean distance, no threshold)", name, flat, None, None,
                             f"Z.pitch_shift max {max(zp['mean']):.4f}"))
        val = m["retrieval"].get("V.pitch_shift", {}).get("clean", {}).get("key", {}).get("P@5", float("nan"))
        if m["kind"] == "loevpp" and not np.isnan(val):  # NaN: not LOEV++, or no key labels
            if simclr is None:
                rows.append(_row("key P@5 in V.pitch_shift >= SimCLR best + 0.15", name, val, None, None,
                                 "no SimCLR model to compare"))
            else:
                ref, ref_where = best_retrieval(models[simclr], "key", "P@5")
                rows.append(_row("key P@5 in V.pitch_shift >= SimCLR best + 0.15", name, val, ref,
                                 val >= ref + MIN_P5_GAIN, f"SimCLR best subspace {ref_where}"))
    return rows
