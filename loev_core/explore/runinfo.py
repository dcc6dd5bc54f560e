"""What we know about a checkpoint without loading its weights: card, training curves, evaluation.

The model card comes from the JSON inside the safetensors file; training curves from the run's
`metrics.csv` (an exported model sits in `RUN/model/`, so the run folder is its parent); evaluation
results from a `results.json` written by `loev eval` that names this checkpoint's hash.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd

from loev_core.checkpoint import read_metadata
from loev_core.explore.session import ASSETS, BASE_DIR

KIND_NAMES = {"simclr": "SimCLR (invariant only)", "loev": "LOEV (variant heads on a shared V)",
              "loevpp": "LOEV++ (one encoder branch per head)"}
EVAL_SEARCH_DEPTH = 3


def model_card(path: str | Path) -> dict[str, Any]:
    """Plain facts for the Models page: kind, subspaces, audio settings, size, training summary."""
    meta = read_metadata(path)
    cfg = meta.get("config", {})
    train = cfg.get("train", {})
    card = {
        "kind": KIND_NAMES.get(meta.get("model_kind", ""), meta.get("model_kind", "?")),
        "subspaces": ", ".join(meta.get("subspaces", [])),
        "variant augmentations": ", ".join(meta.get("variant_augs", [])) or "none",
        "encoder": f"{cfg.get('model', {}).get('encoder', '?')} (width {cfg.get('model', {}).get('width', '?')})",
        "parameters": f"{meta.get('n_parameters', 0):,}",
        "audio": f"{meta.get('sample_rate', '?')} Hz, {meta.get('clip_seconds', '?')} s clips",
        "trained steps": f"{meta['steps']} of {train.get('steps', '?')}" if "steps" in meta else "not recorded",
        "batch size": train.get("batch_size", "?"),
        "temperature": cfg.get("loss", {}).get("temperature", "?"),
        "loss": _loss_summary(cfg.get("loss", {})),
        "created": meta.get("created", "?"),
        "package version": meta.get("package_version", "?"),
    }
    if train.get("init"):  # a fine-tune: its steps come on top of the checkpoint it started from
        part = ", ".join(train.get("trainable") or []) or "all parameters"
        card["fine-tuned from"] = f"{train['init']} (training {part})"
        card["trained steps"] += " in this fine-tune, on top of the starting checkpoint's"
    data = meta.get("data") or {}
    if data.get("corpora"):  # each corpus with its share of a batch (a mixed run)
        card["training data"] = "; ".join(
            f"{c.get('clips', '?')} files ({c.get('tracks', '?')} recordings) from {c.get('source', '?')}"
            f"{' split ' + c['split'] if c.get('split') else ''}, {100 * float(c.get('share', 1)):.0f} % of a batch"
            for c in data["corpora"])
    elif data:
        card["training data"] = f"{data.get('clips', '?')} clips from {data.get('source', '?')}"
    history = meta.get("history") or []
    if history:  # every stage, the inherited ones first (loev_core.train.provenance)
        card["training stages"] = " → ".join(f"{s.get('run', '?')} to step {s.get('to_step', '?')}" for s in history)
    losses = meta.get("last_losses") or {}
    if losses:
        card["final loss"] = ", ".join(f"{k} {float(v):.3f}" for k, v in losses.items())
    return card


def _loss_summary(loss: dict) -> str:
    """Which heads used graded positives (an extension of the paper's loss) or a loss weight other than 1,
    so a card says how the model was trained."""
    graded = loss.get("graded") or {}
    weights = {h: w for h, w in (loss.get("weights") or {}).items() if w != 1}
    weighted = "; " + ", ".join(f"{h} loss weighted {w:g}" for h, w in weights.items()) if weights else ""
    if not graded:
        return "paper loss (NT-Xent per head)" + weighted
    text = "graded positives in " + ", ".join(f"{h} (scale {s:g})" for h, s in graded.items())
    temperature = loss.get("graded_temperature") or 0
    form = " (log form)" if loss.get("graded_form") == "log" else ""
    return text + form + (f" at temperature {temperature:g}" if temperature else "") + weighted


def find_metrics(path: str | Path) -> Path | None:
    """`metrics.csv` of the run that produced a checkpoint, when that folder is present."""
    p = Path(path)
    folder = p.parent if p.is_file() else p
    for cand in (folder, folder.parent, folder.parent.parent):
        if (cand / "metrics.csv").is_file():
            return cand / "metrics.csv"
    return None


def read_metrics(path: Path) -> pd.DataFrame:
    """Training curves as a long table: step, series, value (loss terms and learning rate)."""
    df = pd.read_csv(path)
    keep = [c for c in df.columns if c == "loss" or c.startswith("loss.") or c == "lr"]
    long = df.melt(id_vars=["step"], value_vars=keep, var_name="series", value_name="value")
    return long.dropna()


def find_stages(path: str | Path) -> list[tuple[str, Path]]:
    """(stage, curve file) for every training stage of a checkpoint, in training order: its run's
    `metrics.csv`, then the later stages' curves kept beside it as `metrics-NN-<stage>.csv` (the bundled models:
    a fine-tune's run folder holds only its own curve, and the card describes the last stage)."""
    first = find_metrics(path)
    if first is None:
        return []
    later = [(int(m.group(1)), m.group(2), f) for f in first.parent.glob("metrics-*.csv")
             if (m := re.fullmatch(r"metrics-(\d+)-(.+)\.csv", f.name))]
    return [(first.parent.name, first), *((name, f) for _, name, f in sorted(later))]


def read_stages(stages: list[tuple[str, Path]]) -> pd.DataFrame:
    """The stages' curves one after the other: `read_metrics` columns plus `stage`, with `step` counted from
    the start of the first stage (each fine-tune's own steps restart at 0)."""
    parts, offset = [], 0
    for name, path in stages:
        part = read_metrics(path)
        if part.empty:
            continue
        parts.append(part.assign(step=part["step"] + offset, stage=name))
        offset = int(part["step"].max()) + offset
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["step", "series", "value", "stage"])


def find_evaluations(path: str | Path, checkpoint_id: str, extra_roots: tuple[Path, ...] = ()) -> list[dict]:
    """Every `loev eval` results.json that evaluated this checkpoint (matched by content hash), newest first:
    the bundled models have two, the generated demo set and the real recordings."""
    p = Path(path)
    folder = p.parent if p.is_file() else p
    roots = [folder, folder.parent, ASSETS, BASE_DIR / "runs", *extra_roots]
    found: list[tuple[float, dict]] = []
    seen: set[Path] = set()
    for root in dict.fromkeys(r for r in roots if r.is_dir()):
        for depth in range(EVAL_SEARCH_DEPTH + 1):
            for f in root.glob("/".join(["*"] * depth + ["results.json"])):
                if f.resolve() in seen:  # reached again from another root
                    continue
                seen.add(f.resolve())
                try:
                    results = json.loads(f.read_text())
                except (OSError, ValueError):
                    continue
                models = results.get("models") if isinstance(results, dict) else None
                if not isinstance(models, dict):
                    continue
                for name, m in models.items():
                    if isinstance(m, dict) and m.get("checkpoint_id") == checkpoint_id:
                        found.append((f.stat().st_mtime, {"name": name, "model": m, "file": f, "results": results}))
                        break
    return [ev for _, ev in sorted(found, key=lambda t: -t[0])]


def order_evaluations(found: list[dict], corpus: str | Path) -> list[dict]:
    """`find_evaluations`' list with the one to show first: an evaluation on the corpus being explored, then the
    bundled ones (`assets/`: the demo set, the real recordings), then the rest (a user's runs), each newest first."""
    here = Path(corpus).expanduser().resolve()

    def rank(ev: dict) -> int:
        ran_on = Path(str(ev["results"].get("corpus", ""))).expanduser()
        ran_on = (ran_on if ran_on.is_absolute() else BASE_DIR / ran_on).resolve()
        return 0 if ran_on == here else 1 if ASSETS.resolve() in ev["file"].resolve().parents else 2

    return sorted(found, key=rank)


ERROR_METRICS = ("mae",)  # results-table columns where lower is better (the pitch-shift probe's error, semitones)


def score_columns(columns: Any) -> tuple[list[str], list[str]]:
    """(scores, errors) of a results table: where the highest value is best, where the lowest is; the "low" and
    "high" columns of a 95 % interval are neither (they bound the score beside them)."""
    names = [str(c) for c in columns if not str(c).endswith((" low", " high"))]
    errors = [c for c in names if c.split(" ")[-1] in ERROR_METRICS]
    return [c for c in names if c not in errors], errors


def flatten_scores(node: Any, prefix: str = "") -> dict[str, float]:
    """Nested {task: {metric: value}} -> {"task metric": value} (numbers only)."""
    out: dict[str, float] = {}
    if isinstance(node, dict):
        for k, v in node.items():
            out.update(flatten_scores(v, f"{prefix} {k}" if prefix else str(k)))
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        out[prefix] = float(node)
    return out


def evaluation_tables(model: dict[str, Any], recordings: dict[str, Any] | None = None) -> dict[str, pd.DataFrame]:
    """`loev eval` results of one model as tables with one row per subspace: one per probe kind
    ({subspace: {kind: {task: {metric}}}}), one per retrieval query type ({subspace: {query: ...}}), and on a
    corpus of recordings its same-recording and degraded-copy scores with their 95% intervals over tracks
    ("low", "high"; `recordings`: that model's entry of results.json's "recordings" block)."""
    tables: dict[str, pd.DataFrame] = {}
    if recordings:
        rows = {}
        for space, v in recordings.items():
            row: dict[str, float] = {}
            for metric, title, short in (("same_track_p1", "same-track P@1", "same-track"),
                                         ("degraded_top1", "degraded top-1", "degraded")):
                lo, hi = v.get(f"{metric}_ci") or (float("nan"), float("nan"))
                row.update({title: v.get(metric, float("nan")), f"{short} low": lo, f"{short} high": hi})
            rows[space] = row
        tables["recordings"] = pd.DataFrame(rows).T
    probes = model.get("probes") or {}
    kinds = list(dict.fromkeys(k for per in probes.values() if isinstance(per, dict) for k in per))
    for kind in kinds:
        rows = {s: flatten_scores(per.get(kind, {})) for s, per in probes.items() if isinstance(per, dict)}
        tables[f"probes ({kind})"] = pd.DataFrame(rows).T
    retrieval = model.get("retrieval") or {}
    queries = list(dict.fromkeys(q for per in retrieval.values() if isinstance(per, dict) for q in per))
    for q in queries:
        rows = {s: flatten_scores(per.get(q, {})) for s, per in retrieval.items() if isinstance(per, dict)}
        tables[f"retrieval ({q} queries)"] = pd.DataFrame(rows).T
    return {k: v.dropna(axis=1, how="all") for k, v in tables.items() if not v.empty}


def mixed_up_table(recordings: dict[str, Any] | None) -> pd.DataFrame | None:
    """The recordings one model mixes up most, in its best same-recording subspace (`report_recordings.mixed_up`),
    one row per pair; None without such a list (older results, a corpus without tracks, nothing mixed up)."""
    from loev_core.evaluation.report_recordings import mixed_up

    found = mixed_up(recordings) if recordings else None
    if not found or not found[1]:
        return None
    return pd.DataFrame([{"subspace": found[0], "clips of": a, "find first a clip of": b, "clips": k}
                         for a, b, k in found[1]])


RESULTS_FILE = "results.json"


def read_results_folder(path: str | Path) -> dict[str, Any]:
    """The results.json of a `loev eval --out` folder (or that file itself); ValueError when there is none."""
    p = Path(path)
    f = p / RESULTS_FILE if p.is_dir() else p
    if not f.is_file():
        raise ValueError(f"No {RESULTS_FILE} in {p}: point at the folder `loev eval --out` wrote.")
    try:
        results = json.loads(f.read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"Cannot read {f}: {e}") from None
    if not isinstance(results, dict) or not (isinstance(results.get("tasks"), dict)
                                             or isinstance(results.get("models"), dict)):
        raise ValueError(f"{f} is not a `loev eval` results file (no 'tasks' or 'models').")
    return results


def results_tables(results: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """Tables of a results.json: the reference protocol's scores (rows model / subspace, columns task
    metric), or the explorer evaluation's tables of every model."""
    if isinstance(results.get("tasks"), dict):
        from loev_core.evaluation.paper_tables import results_frame

        frame = results_frame(results)
        return {"scores": frame} if not frame.empty else {}
    recordings = (results.get("recordings") or {}).get("models") or {}
    return {f"{name}: {title}": table for name, m in results["models"].items() if isinstance(m, dict)
            for title, table in evaluation_tables(m, recordings.get(name)).items()}


def recordings_rule(rec: dict[str, Any]) -> str:
    """What same-track P@1 and degraded top-1 counted in a results.json "recordings" block: with repeats
    skipped and found (`evaluation.repeats`), or, in results written before repeats were found, without."""
    repeats = "n_repeated_clips" in rec
    return (f"same-track P@1: the nearest other clip{', repeats of it skipped,' if repeats else ''} is from the "
            f"same track; degraded top-1: a degraded copy finds its own clip{' or a repeat of it' if repeats else ''} "
            "first")


def results_caption(results: dict[str, Any]) -> str:
    """One line saying what a results.json evaluated."""
    if "dataset" in results:
        c, sk = results.get("counts", {}), results.get("skipped", {})
        trained = f", probes trained on {results['train_dataset']}" if results.get("train_dataset") else ""
        return (f"{results['dataset']}{trained}: {c.get('train', '?')} train / {c.get('validation', '?')} validation "
                f"/ {c.get('test', '?')} test tracks; {sk.get('missing', 0)} missing and {sk.get('unreadable', 0)} "
                f"unreadable files skipped; {results.get('split', '')}")
    rec = results.get("recordings") or {}
    tracks = (f"; recordings: {rec['n_tracks']} tracks cut into {rec['n_clips']} clips ({recordings_rule(rec)})"
              if "n_tracks" in rec and "n_clips" in rec else "")
    return (f"{results.get('corpus', '?')}: {results.get('n_train', '?')} train / {results.get('n_test', '?')} "
            f"test clips{tracks}")
