"""A run under per-model limits: its front put under them, the chosen point solved exactly
at the run's budget or target, and what summary.json says about the limits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from optllm.config import RunConfig
from optllm.exceptions import ConfigError
from optllm.optimizers.constraints import (
    ConstrainedPoint,
    Constraints,
    Limit,
    constrained_point,
    front_under_limits,
    priced_point,
)
from optllm.optimizers.front import Front
from optllm.progress import ProgressCallback, ShouldStop

#: The unit of each limit's value as given and realised.
UNITS = {"budget": "USD", "max_queries": "queries", "max_spend": "USD",
         "min_share": "share of queries", "target_accuracy": "expected accuracy"}


@dataclass(frozen=True)
class LimitedRun:
    """The limits of a run and, with a budget or target, the point solved under them."""

    constraints: Constraints
    models: tuple[str, ...]
    point: ConstrainedPoint | None
    #: USD spent on each model at `point` (empty without one).
    spend: tuple[float, ...] = ()
    #: Queries sent to each model at `point` (empty without one).
    queries: tuple[int, ...] = ()

    def as_dict(self) -> dict[str, object]:
        """summary.json's "limits": each limit with its realised value, whether it binds
        and its price, the queries and spend per model, and the stated gap."""
        out: dict[str, object] = {"given": self.constraints.as_dict()}
        point = self.point
        if point is None:
            out["note"] = ("every front point meets the limits; give --budget or "
                           "--target-accuracy for a point with prices and a gap")
            return out
        n = sum(self.queries)
        out["objective"] = point.objective
        out["limits"] = [self._limit_row(limit, value, price, n)
                         for limit, value, price in zip(point.limits, point.realised,
                                                        point.multipliers, strict=True)]
        out["per_model"] = [{"model": name, "queries": self.queries[j],
                             "spend": self.spend[j]} for j, name in enumerate(self.models)]
        out["gap"] = {"accuracy": point.gap_accuracy, "usd": point.gap_usd,
                      "bound": point.bound,
                      "meaning": "the integer optimum under these limits is at most this "
                                 "much more accurate (accuracy, 0.01 = 1 point) or cheaper "
                                 "(usd) than the chosen point (dual bound of the linear "
                                 "relaxation)"}
        return out

    def _limit_row(self, limit: Limit, value: float, price: float, n: int
                   ) -> dict[str, object]:
        realised = {"min_share": -value / n, "target_accuracy": -value / n}.get(
            limit.kind, float(value))
        per = "USD" if limit.kind in ("budget", "max_spend") else "query"
        if limit.kind == "target_accuracy":
            per = "unit of accuracy"
        if self.point is not None and self.point.objective == "accuracy":
            unit, scaled = f"accuracy per {per}", price / n
        else:
            unit = f"USD per {per}"
            scaled = price * n if limit.kind == "target_accuracy" else price
        return {"limit": limit.label, "kind": limit.kind,
                "model": limit.model_name or None, "value": limit.bound,
                "unit": UNITS[limit.kind], "realised": realised, "binds": bool(price > 0),
                "multiplier": float(scaled), "multiplier_unit": unit}


def check_limit_models(config: RunConfig, models: Sequence[str], n_queries: int) -> None:
    """Fail before any training on an unknown model name or a bad limit value."""
    constraints = config.constraints()
    if constraints is not None:
        constraints.limits(models, n_queries)


def limited_front(front: Front, scores: np.ndarray, costs: np.ndarray, config: RunConfig,
                  models: Sequence[str], *, should_stop: ShouldStop | None = None,
                  progress: ProgressCallback | None = None
                  ) -> tuple[Front, LimitedRun, str | None]:
    """(the front under the limits with the chosen point among its points, the limits'
    report, why no point was chosen or None). The hull's front becomes the exact
    constrained front; OptLLM-M's points are repaired into the limits."""
    constraints = config.constraints()
    assert constraints is not None
    limited = front_under_limits(front, scores, costs, constraints.with_budget(None), models,
                                 exact=front.method == "hull", should_stop=should_stop,
                                 progress=progress)
    point, unmet = None, None
    if config.budget is not None or config.target_accuracy is not None:
        try:
            point = constrained_point(scores, costs, constraints, models,
                                      target_accuracy=config.target_accuracy,
                                      should_stop=should_stop)
        except ConfigError as error:
            unmet = str(error)
    spend: tuple[float, ...] = ()
    queries: tuple[int, ...] = ()
    if point is not None:
        queries, spend = model_totals(point, costs, len(models))
        allocations = np.stack([limited.allocation(k) for k in range(len(limited))]
                               + [point.allocation])
        limited = Front.from_allocations(allocations, scores, costs, method=limited.method,
                                         status=front.status, elapsed_s=front.elapsed_s)
    return (limited, LimitedRun(constraints, tuple(models), point, spend, queries),
            unmet)


def limited_point(allocation: np.ndarray, scores: np.ndarray, costs: np.ndarray,
                  config: RunConfig, models: Sequence[str], *,
                  should_stop: ShouldStop | None = None) -> LimitedRun:
    """The limits' report at one point of a front under them (the app's chosen point):
    its prices at its own cost, its gap, the queries and spend per model."""
    constraints = config.constraints()
    assert constraints is not None
    point = priced_point(allocation, scores, costs, constraints, models,
                         should_stop=should_stop)
    queries, spend = model_totals(point, costs, len(models))
    return LimitedRun(point_constraints(point, constraints), tuple(models), point, spend,
                      queries)


def point_constraints(point: ConstrainedPoint, constraints: Constraints) -> Constraints:
    """`constraints` with the budget `point` was solved under (the given one or its cost)."""
    budget = next((limit.bound for limit in point.limits if limit.kind == "budget"), None)
    return constraints.with_budget(budget)


def model_totals(point: ConstrainedPoint, costs: np.ndarray, n_models: int
                 ) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """Queries sent to and USD spent on each model at `point`."""
    rows = np.arange(point.allocation.size)
    return (tuple(np.bincount(point.allocation, minlength=n_models).tolist()),
            tuple(np.bincount(point.allocation, weights=costs[rows, point.allocation],
                              minlength=n_models).tolist()))
