"""Evaluation of LOEV models: probes, retrieval P@k and equivariance curves (`loev eval`).

Public API: `evaluate(checkpoints, corpus, out_dir, ...)` and
`equivariance_curve(model, waves, sample_rate, transform, values)` (used by the dashboard).
"""

from loev_core.evaluation.equivariance import DEFAULT_VALUES, equivariance_curve, equivariance_curves
from loev_core.evaluation.run import EvalOptions, evaluate

__all__ = ["DEFAULT_VALUES", "EvalOptions", "equivariance_curve", "equivariance_curves", "evaluate"]
