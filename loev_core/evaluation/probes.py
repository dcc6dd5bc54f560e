"""Probes on frozen embeddings: fit on the train split, score on the test split.

Two probe families as in the reference: a linear one (logistic regression whose L2 strength is
chosen by 3-fold cross-validation on the *train* split, from a grid fixed in advance) and a
one-hidden-layer MLP (512 units, early stopping on a slice of the *train* split). Inputs are
standardised with statistics of the train split. Seeds are fixed, nothing is ever selected on the
test split, and reruns give the same numbers. A fixed C overfits here: a few hundred clips against
hundreds of dimensions, so the strength must follow the data, and the same rule serves every model.

Tempo is probed as classification over log-spaced tempo bins (`labels.tempo_bins`), mapped back to
the bin centre in BPM. Regression on log-BPM was the alternative; classification is used because a
clip whose pulse is ambiguous between T and 2T gets a regression output in between (wrong for both
acc1 and acc2), whereas a classifier commits to one mode, and acc2 then credits octave errors.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import mir_eval
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from loev_core.config import PITCH_SHIFT_RANGE
from loev_core.evaluation.labels import tempo_accuracy, tempo_bins, tempo_to_bin
from loev_core.keys import key_name

PROBE_KINDS = ("linear", "mlp")
SHIFT_RANGE = int(PITCH_SHIFT_RANGE[1])  # pitch-shift probe: whole semitones within the trained range


LINEAR_CS = (0.001, 0.01, 0.1, 1.0)  # inverse L2 strengths tried by the linear probe's cross-validation
CV_FOLDS = 3


def make_probe(kind: str, seed: int = 0, validate: bool = True) -> Pipeline:
    """Standardise, then logistic regression ("linear") or an MLP with one 512-unit layer. `validate`:
    hold out part of the train split (the linear probe's C by cross-validation, the MLP's early
    stopping); off when the split has too few examples per class for that."""
    if kind == "linear":
        clf = (LogisticRegressionCV(Cs=list(LINEAR_CS), cv=CV_FOLDS, scoring="neg_log_loss", max_iter=2000)
               if validate else LogisticRegression(C=1.0, max_iter=2000))
    elif kind == "mlp":
        clf = MLPClassifier(hidden_layer_sizes=(512,), alpha=1e-3, learning_rate_init=1e-3, max_iter=200,
                            early_stopping=validate, validation_fraction=0.15, n_iter_no_change=10,
                            random_state=seed)
    else:
        raise ValueError(f"unknown probe kind {kind!r}; expected one of {PROBE_KINDS}")
    return make_pipeline(StandardScaler(), clf)


def fit_predict(kind: str, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                seed: int = 0) -> np.ndarray:
    """Train a probe and predict test labels (a one-class train split predicts that class)."""
    y_train = np.asarray(y_train)
    classes, counts = np.unique(y_train, return_counts=True)
    if len(classes) == 1:
        return np.full(len(x_test), classes[0])
    # The MLP's early-stopping split is stratified; it needs >= 2 examples per class and a
    # validation slice holding every class, otherwise train without it (still a fixed schedule).
    # The linear probe's stratified folds need CV_FOLDS examples per class, otherwise C is 1.
    if kind == "mlp":
        validate = bool(counts.min() >= 2 and 0.15 * len(y_train) >= len(classes))
    else:
        validate = bool(counts.min() >= CV_FOLDS)
    probe = make_probe(kind, seed, validate)
    # One BLAS thread: these matrices are small, and on a shared CPU multi-threaded BLAS spends most
    # of its time waiting for cores (measured 5-10x slower under load).
    with warnings.catch_warnings(), threadpool_limits(limits=1):
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", FutureWarning)  # sklearn 1.9's notices about LogisticRegressionCV defaults
        probe.fit(np.asarray(x_train, dtype=np.float64), y_train)
        return probe.predict(np.asarray(x_test, dtype=np.float64))


def key_scores(predicted: Sequence[int], reference: Sequence[int]) -> dict[str, float]:
    """Accuracy and mean mir_eval weighted score (fifths 0.5, relative 0.3, parallel 0.2)."""
    pred, ref = np.asarray(predicted, dtype=int), np.asarray(reference, dtype=int)
    weighted = [mir_eval.key.weighted_score(key_name(r), key_name(p)) for p, r in zip(pred, ref, strict=True)]
    return {"accuracy": float(np.mean(pred == ref)), "weighted_score": float(np.mean(weighted))}


def probe_key(kind: str, x_train: np.ndarray, key_train: np.ndarray, x_test: np.ndarray,
              key_test: np.ndarray, seed: int = 0) -> dict[str, float]:
    """24-class key probe; labels are class indices from `keys.key_index`."""
    return key_scores(fit_predict(kind, x_train, key_train, x_test, seed), key_test)


def probe_tempo(kind: str, x_train: np.ndarray, bpm_train: np.ndarray, x_test: np.ndarray,
                bpm_test: np.ndarray, seed: int = 0) -> dict[str, float]:
    """Tempo probe: classify into train-derived log-spaced bins, answer the bin centre; acc1/acc2."""
    edges, centres = tempo_bins(bpm_train)
    pred = fit_predict(kind, x_train, tempo_to_bin(bpm_train, edges), x_test, seed)
    return tempo_accuracy(centres[np.asarray(pred, dtype=int)], bpm_test)


def probe_instrument(kind: str, x_train: np.ndarray, inst_train: np.ndarray, x_test: np.ndarray,
                     inst_test: np.ndarray, seed: int = 0) -> dict[str, float]:
    pred = fit_predict(kind, x_train, np.asarray(inst_train, dtype=str), x_test, seed)
    return {"accuracy": float(np.mean(pred == np.asarray(inst_test, dtype=str)))}


def shift_features(clean: np.ndarray, shifted: np.ndarray, mode: str = "pair") -> np.ndarray:
    """Probe input for the pitch-shift task.

    "pair" (default): L2-normalised clean and shifted embeddings side by side. From a shifted clip
    alone the amount is confounded with the key (C major +2 sounds like D major +0), so the single
    embedding cannot identify it; the pair asks whether the subspace encodes the transposition.
    "single": the shifted embedding only (what survives is transform artefacts and register).
    """
    def unit(a: np.ndarray) -> np.ndarray:
        return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)

    if mode == "pair":
        return np.concatenate([unit(clean), unit(shifted)], axis=1)
    if mode == "single":
        return unit(shifted)
    raise ValueError(f"shift probe input must be 'pair' or 'single', got {mode!r}")


def probe_shift(kind: str, x_train: np.ndarray, shift_train: np.ndarray, x_test: np.ndarray,
                shift_test: np.ndarray, seed: int = 0) -> dict[str, float]:
    """Classify the integer shift (semitones); accuracy of the rounded shift and mean absolute error."""
    ytr = np.rint(shift_train).astype(int)
    pred = np.asarray(fit_predict(kind, x_train, ytr, x_test, seed), dtype=float)
    ref = np.asarray(shift_test, dtype=float)
    return {"accuracy": float(np.mean(pred == np.rint(ref))), "mae": float(np.mean(np.abs(pred - ref)))}
