"""The dashboard's figures and score tables: which value is best (highest score, lowest error), intervals drawn
as error bars, errors kept off the 0-1 score axis, distance curves drawn from 0."""

from __future__ import annotations

import numpy as np
import pandas as pd

from loev_dashboard import plots
from loev_dashboard.tables import shaded


def test_a_score_with_an_interval_is_one_bar_with_error_bars() -> None:
    """A recordings table (score, low, high per metric) plots one bar per score with its 95% interval as the
    error bar, not the bounds as bars of their own; tables without intervals keep a bar per column."""
    table = pd.DataFrame({"same-track P@1": [0.7, 0.5], "same-track low": [0.6, 0.3], "same-track high": [0.8, 0.6],
                          "degraded top-1": [0.95, 0.9], "degraded low": [0.9, 0.85], "degraded high": [1.0, 0.92]},
                         index=["V", "Z.invariant"])
    fig = plots.scores_figure(table)
    assert [t.name for t in fig.data] == ["same-track P@1", "degraded top-1"]
    bars = fig.data[0]
    assert list(bars.y) == [0.7, 0.5]
    assert np.allclose(bars.error_y.array, [0.1, 0.1]) and np.allclose(bars.error_y.arrayminus, [0.1, 0.2])
    plain = plots.scores_figure(pd.DataFrame({"key P@1": [0.4], "key P@5": [0.3]}, index=["V"]))
    assert [t.name for t in plain.data] == ["key P@1", "key P@5"] and plain.data[0].error_y.array is None


def test_errors_are_best_when_lowest_and_stay_out_of_the_score_bars() -> None:
    """The pitch-shift probe's MAE (semitones) is an error: its lowest value is the one highlighted, and it is
    not drawn on the 0-1 score axis beside the accuracies; interval bounds are never highlighted."""
    table = pd.DataFrame({"pitch_shift accuracy": [0.2, 0.6], "pitch_shift mae": [2.6, 0.9],
                          "degraded top-1": [0.9, 0.95], "degraded low": [0.85, 0.9], "degraded high": [0.99, 1.0]},
                         index=["Z.invariant", "Z.pitch_shift"])
    styles = shaded(table)._compute().ctx  # (row, column) -> CSS of the highlighted cells
    assert sorted(k for k, v in styles.items() if v) == [(1, 0), (1, 1), (1, 2)]  # accuracy max, MAE min, top-1 max
    fig = plots.scores_figure(table)
    assert [t.name for t in fig.data] == ["pitch_shift accuracy", "degraded top-1"]
    assert fig.layout.yaxis.range == (0, 1)


def test_curves_start_at_zero_and_a_flat_curve_looks_flat() -> None:
    """Cosine-distance curves are drawn from 0 and at least up to 0.1: a curve that moves by 0.005 (gain) must
    not fill the plot as if it rose steeply; a curve that does rise sets the top."""
    flat = {"m": {"Z.invariant": {"values": [-6, 0, 6], "mean": [0.004, 0.0, 0.005], "lo": [0.003, 0.0, 0.004],
                                  "hi": [0.005, 0.0, 0.006]}}}
    assert plots.curves_figure(flat, ["Z.invariant"], "dB").layout.yaxis.range == (0, plots.CURVE_MIN_TOP)
    steep = {"m": {**flat["m"], "Z.pitch_shift": {"values": [-6, 0, 6], "mean": [0.5, 0.0, 0.55],
                                                  "lo": [0.4, 0.0, 0.45], "hi": [0.6, 0.0, 0.65]}}}
    top = plots.curves_figure(steep, ["Z.invariant", "Z.pitch_shift"], "semitones").layout.yaxis.range[1]
    assert abs(top - 0.65 * 1.08) < 1e-9


def test_a_curve_that_moves_without_grading_is_named() -> None:
    """A distance that peaks at small stretches and falls back (Spearman under 0.5) is worth a sentence next to the
    figure; a flat curve (it does not move) or a rising one is not."""
    from loev_core.evaluation.report import moves_without_grading

    peaked = {"mean": [0.2, 0.6, 0.0, 0.6, 0.2], "rise": 0.2}
    assert moves_without_grading(peaked)
    assert not moves_without_grading({**peaked, "rise": 0.9})  # graded
    assert not moves_without_grading({"mean": [0.02, 0.0, 0.03], "rise": 0.1})  # barely moves: invariant
    assert not moves_without_grading({"mean": [0.5], "rise": float("nan")}) and not moves_without_grading(None)
