"""Single allocations (OptLLM-S): the best under a budget, the cheapest reaching a target."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optllm.optimizers.api import check_problem
from optllm.optimizers.hull import hull_front


@dataclass(frozen=True)
class Point:
    """One allocation with its total cost (USD) and expected accuracy."""

    allocation: np.ndarray
    cost: float
    accuracy: float


def _point(allocation: np.ndarray, scores: np.ndarray, costs: np.ndarray) -> Point:
    rows = np.arange(allocation.size)
    return Point(allocation, float(costs[rows, allocation].sum()),
                 float(scores[rows, allocation].mean()))


def best_under_budget(scores: np.ndarray, costs: np.ndarray, budget: float) -> Point:
    """The most accurate allocation found costing at most `budget` USD.

    The hull point under the budget is optimal but for one query; the money left over
    then buys the best-rate single upgrades that still fit, in one greedy pass.
    """
    scores, costs = check_problem(scores, costs)
    front = hull_front(scores, costs)
    k = front.index_for_budget(budget)
    allocation = front.allocation(k)
    rows = np.arange(allocation.size)
    left = budget - front.cost[k]
    dc = costs - costs[rows, allocation][:, None]
    ds = scores - scores[rows, allocation][:, None]
    fits = (dc > 0) & (ds > 0) & (dc <= left)
    if fits.any():
        gain = np.where(fits, ds, -np.inf)
        pick = gain.argmax(axis=1)
        has = gain[rows, pick] > -np.inf
        cand = rows[has]
        rate = ds[cand, pick[cand]] / dc[cand, pick[cand]]
        cand = cand[np.argsort(-rate, kind="stable")]
        spend = np.cumsum(dc[cand, pick[cand]])
        take = cand[spend <= left]
        allocation = allocation.copy()
        allocation[take] = pick[take]
    return _point(allocation, scores, costs)


def cheapest_for_accuracy(scores: np.ndarray, costs: np.ndarray, target: float) -> Point:
    """The cheapest allocation on the exact front whose expected accuracy reaches `target`."""
    scores, costs = check_problem(scores, costs)
    front = hull_front(scores, costs)
    return _point(front.allocation(front.index_for_accuracy(target)), scores, costs)
