"""The optimisers' input check, in a module of its own so the optimisers that `api`
dispatches to (constraints) can use it without importing `api` back."""

from __future__ import annotations

import numpy as np

from optllm.exceptions import ConfigError


def check_problem(scores: np.ndarray, costs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate once at the boundary: two finite (N, M) float arrays, costs >= 0."""
    scores = np.ascontiguousarray(scores, dtype=np.float64)
    costs = np.ascontiguousarray(costs, dtype=np.float64)
    if scores.ndim != 2 or costs.ndim != 2:
        raise ConfigError(f"scores and costs must be 2-D (queries x models); got shapes "
                          f"{scores.shape} and {costs.shape}")
    if scores.shape != costs.shape:
        raise ConfigError(f"scores {scores.shape} and costs {costs.shape} differ in shape")
    if scores.shape[0] == 0 or scores.shape[1] == 0:
        raise ConfigError(f"need at least one query and one model; got shape {scores.shape}")
    for name, arr in (("scores", scores), ("costs", costs)):
        if not np.isfinite(arr).all():
            row, col = np.argwhere(~np.isfinite(arr))[0]
            raise ConfigError(f"{name}[{row}, {col}] is not finite ({arr[row, col]})")
    if (costs < 0).any():
        row, col = np.argwhere(costs < 0)[0]
        raise ConfigError(f"costs[{row}, {col}] is negative ({costs[row, col]})")
    return scores, costs
