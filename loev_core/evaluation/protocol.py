"""The reference probe protocol: probes on frozen embeddings, early-stopped on a validation split,
mean and spread over seeds, with each task's own metrics.

Probes: "linear" (one linear layer) and "mlp" (one hidden layer of 512 units, ReLU), trained with Adam
on standardised inputs (train statistics) and stopped when the validation loss has not improved for
`patience` epochs (the best epoch's weights are kept). Task heads as in the reference: key is 24
classes (accuracy and mir_eval's weighted score), tempo is 300 one-BPM classes (acc1 and acc2 at 4 %),
single-label tasks are classes over the train vocabulary (accuracy), tags are independent sigmoids
(macro ROC-AUC and PR-AUC over the tags that have positives and negatives in the test split).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from loev_core.datasets.tasks import tag_matrix, task_of
from loev_core.evaluation.labels import key_index, tempo_accuracy
from loev_core.evaluation.probes import key_scores

PROBE_KINDS = ("linear", "mlp")
TEMPO_CLASSES = 300  # one class per BPM, 0..299, as the reference


@dataclass(frozen=True)
class ProbeSettings:
    """Training of one probe (fixed in advance; nothing is chosen on the test split)."""

    hidden: int = 512
    max_epochs: int = 200
    patience: int = 10
    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 128


def vocabulary(task: str, train_labels: Sequence[Any]) -> tuple[str, ...]:
    """Classes of a single-label task or tags of a multi-label one, from the train split."""
    kind = task_of(task).kind
    if kind == "class":
        return tuple(sorted({str(v) for v in train_labels}))
    if kind == "tags":
        return tuple(sorted({t for tags in train_labels for t in tags}))
    return ()


def n_outputs(task: str, vocab: Sequence[str]) -> int:
    kind = task_of(task).kind
    return 24 if kind == "key" else TEMPO_CLASSES if kind == "tempo" else max(1, len(vocab))


def tempo_class(bpm: Sequence[float] | np.ndarray) -> np.ndarray:
    """BPM -> class 0..299 (rounded BPM)."""
    return np.clip(np.rint(np.asarray(bpm, dtype=float)), 0, TEMPO_CLASSES - 1).astype(int)


def targets(task: str, labels: Sequence[Any], vocab: Sequence[str]) -> np.ndarray:
    """Training targets: class indices (-1 for a class the train split lacks) or a multi-hot matrix."""
    kind = task_of(task).kind
    if kind == "key":
        return np.asarray([key_index(k) for k in labels], dtype=int)
    if kind == "tempo":
        return tempo_class(labels)
    where = {v: k for k, v in enumerate(vocab)}
    if kind == "class":
        return np.asarray([where.get(str(v), -1) for v in labels], dtype=int)
    return tag_matrix(labels, where)


def _network(kind: str, d_in: int, n_out: int, hidden: int) -> nn.Module:
    if kind == "linear":
        return nn.Linear(d_in, n_out)
    if kind == "mlp":
        return nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, n_out))
    raise ValueError(f"unknown probe kind {kind!r}; expected one of {PROBE_KINDS}")


def _usable(y: np.ndarray, multilabel: bool) -> np.ndarray:
    return np.ones(len(y), dtype=bool) if multilabel else y >= 0


def fit_probe(kind: str, x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
              n_out: int, multilabel: bool = False, seed: int = 0,
              settings: ProbeSettings = ProbeSettings()) -> Any:
    """Train a probe with early stopping on the validation loss; returns `predict(x) -> logits` (numpy)."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    keep_tr, keep_va = _usable(y_train, multilabel), _usable(y_val, multilabel)
    xtr = torch.as_tensor(np.asarray(x_train, dtype=np.float32)[keep_tr])
    mean, std = xtr.mean(0), xtr.std(0, unbiased=False)
    std = torch.where(std > 1e-6, std, torch.ones_like(std))
    xtr = (xtr - mean) / std
    ytr = torch.as_tensor(y_train[keep_tr]).float() if multilabel else torch.as_tensor(y_train[keep_tr]).long()
    if keep_va.any():
        xva = (torch.as_tensor(np.asarray(x_val, dtype=np.float32)[keep_va]) - mean) / std
        yva = torch.as_tensor(y_val[keep_va]).float() if multilabel else torch.as_tensor(y_val[keep_va]).long()
    else:  # no usable validation example: stop on the train loss
        xva, yva = xtr, ytr
    net = _network(kind, xtr.shape[1], n_out, settings.hidden)
    loss_fn: nn.Module = nn.BCEWithLogitsLoss() if multilabel else nn.CrossEntropyLoss()
    opt = torch.optim.Adam(net.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    best, best_state, waited = float("inf"), None, 0
    for _ in range(settings.max_epochs):
        net.train()
        for idx in torch.randperm(len(xtr), generator=gen).split(settings.batch_size):
            opt.zero_grad()
            loss_fn(net(xtr[idx]), ytr[idx]).backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            val = float(loss_fn(net(xva), yva))
        if val < best - 1e-5:
            best, waited = val, 0
            best_state = {k: v.clone() for k, v in net.state_dict().items()}
        else:
            waited += 1
            if waited >= settings.patience:
                break
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()

    def predict(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return net((torch.as_tensor(np.asarray(x, dtype=np.float32)) - mean) / std).numpy()

    return predict


def tag_scores(probabilities: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Macro ROC-AUC and PR-AUC (average precision) over tags with both positives and negatives."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    cols = [c for c in range(truth.shape[1]) if 0 < truth[:, c].sum() < len(truth)]
    if not cols:
        return {"roc_auc": float("nan"), "pr_auc": float("nan")}
    return {"roc_auc": float(np.mean([roc_auc_score(truth[:, c], probabilities[:, c]) for c in cols])),
            "pr_auc": float(np.mean([average_precision_score(truth[:, c], probabilities[:, c]) for c in cols]))}


def task_scores(task: str, logits: np.ndarray, test_labels: Sequence[Any], vocab: Sequence[str]) -> dict[str, float]:
    """The task's metrics from a probe's test logits."""
    kind = task_of(task).kind
    if kind == "tags":
        return tag_scores(1.0 / (1.0 + np.exp(-logits)), targets(task, test_labels, vocab))
    pred = np.argmax(logits, axis=1)
    if kind == "key":
        s = key_scores(pred, targets(task, test_labels, vocab))
        return {"accuracy": s["accuracy"], "weighted": s["weighted_score"]}
    if kind == "tempo":
        return tempo_accuracy(pred.astype(float), np.asarray(test_labels, dtype=float))
    names = np.asarray(list(vocab) or [""], dtype=object)[pred]
    return {"accuracy": float(np.mean(names == np.asarray([str(v) for v in test_labels], dtype=object)))}


def mean_spread(runs: Sequence[dict[str, float]]) -> dict[str, float]:
    """{metric: mean} plus {metric_std: standard deviation over runs} (0 for a single run)."""
    out: dict[str, float] = {}
    for metric in runs[0]:
        vals = np.asarray([r[metric] for r in runs], dtype=float)
        out[metric] = float(np.mean(vals))
        out[f"{metric}_std"] = float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0
    return out


def probe_task(task: str, kind: str, x: dict[str, np.ndarray], labels: dict[str, Sequence[Any]],
               seeds: Sequence[int] = (0, 1, 2), settings: ProbeSettings = ProbeSettings()) -> dict[str, float]:
    """Mean and spread of the task's metrics over `seeds` for one probe kind; `x` and `labels` are
    keyed by split (train, validation, test)."""
    vocab = vocabulary(task, labels["train"])
    multilabel = task_of(task).kind == "tags"
    y_tr, y_va = targets(task, labels["train"], vocab), targets(task, labels["validation"], vocab)
    runs = []
    for seed in seeds:
        predict = fit_probe(kind, x["train"], y_tr, x["validation"], y_va, n_outputs(task, vocab), multilabel,
                            seed, settings)
        runs.append(task_scores(task, predict(x["test"]), labels["test"], vocab))
    return mean_spread(runs)
