"""Public optimisation API: `optimize` and the step-by-step `iter_optimize`."""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import dataclass

import numpy as np

from optllm.exceptions import Cancelled, ConfigError
from optllm.optimizers.destruct import search
from optllm.optimizers.front import Front, non_dominated
from optllm.optimizers.hull import cheapest_allocation, hull_front, most_accurate_allocation
from optllm.optimizers.registry import RUN_METHODS
from optllm.progress import ShouldStop


@dataclass(frozen=True)
class StepEvent:
    """One step of a search, as a small frozen snapshot a UI can keep.

    `side` is "cheap" or "accurate" (the end the step moves from; "both" for the
    extremes and the hull sweep); `phase` is "extremes", "destruct", "reconstruct" or
    "sweep". `cost`/`accuracy` are the step's allocation; `front_cost`/`front_accuracy`
    the non-dominated front found so far (read-only copies, sorted by cost).
    """

    step: int
    side: str
    phase: str
    cost: float
    accuracy: float
    n_changed: int
    front_cost: np.ndarray
    front_accuracy: np.ndarray
    elapsed_s: float


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


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=np.float64)
    a.flags.writeable = False
    return a


def iter_optimize(scores: np.ndarray, costs: np.ndarray, method: str = "optllm",
                  density: int = 10, *, should_stop: ShouldStop | None = None
                  ) -> Generator[StepEvent | Front, None, Front]:
    """Run the search one step at a time.

    Yields a `StepEvent` per step (the extremes, then every destruct and reconstruct;
    one "sweep" for the hull), then the final `Front`, which is also the generator's
    return value. When `should_stop()` turns True (it is checked between steps and inside
    each reconstruct), the front found so far is yielded with status "cancelled"; the hull
    has no partial front, so there it raises `Cancelled`.
    """
    scores, costs = check_problem(scores, costs)
    if method not in RUN_METHODS:
        raise ConfigError(f"unknown method {method!r}; choose one of {', '.join(RUN_METHODS)}")
    if not isinstance(density, int | np.integer) or density < 1:
        raise ConfigError(f"density must be a whole number >= 1; got {density!r}")
    t0 = time.perf_counter()
    n = scores.shape[0]
    rows = np.arange(n)

    if method == "hull":
        front = hull_front(scores, costs, should_stop)
        front.elapsed_s = time.perf_counter() - t0
        yield StepEvent(1, "both", "sweep", float(front.cost[-1]), float(front.accuracy[-1]),
                        int((front.allocation(-1) != front.allocation(0)).sum()),
                        front.cost, front.accuracy, front.elapsed_s)
        yield front
        return front

    cheapest = cheapest_allocation(scores, costs)
    accurate = most_accurate_allocation(scores, costs)
    candidates = [cheapest, accurate]
    cand_cost = [costs[rows, cheapest].sum(), costs[rows, accurate].sum()]
    cand_acc = [scores[rows, cheapest].mean(), scores[rows, accurate].mean()]

    def snapshot(step: int, side: str, phase: str, cost: float, accuracy: float,
                 changed: int) -> StepEvent:
        keep = non_dominated(np.array(cand_cost), np.array(cand_acc))
        return StepEvent(step, side, phase, float(cost), float(accuracy), changed,
                         _frozen(np.array(cand_cost)[keep]), _frozen(np.array(cand_acc)[keep]),
                         time.perf_counter() - t0)

    status = "converged"
    yield snapshot(1, "both", "extremes", cand_cost[1], cand_acc[1],
                   int((accurate != cheapest).sum()))
    moves = enumerate(search(scores, costs, cheapest, accurate, density, should_stop), start=2)
    while True:
        try:
            step, move = next(moves)
        except StopIteration:
            break
        except Cancelled:
            status = "cancelled"
            break
        if should_stop is not None and should_stop():
            status = "cancelled"
            break
        cost = costs[rows, move.allocation].sum()
        accuracy = scores[rows, move.allocation].mean()
        if move.phase == "reconstruct":
            candidates.append(move.allocation)
            cand_cost.append(cost)
            cand_acc.append(accuracy)
        yield snapshot(step, move.side, move.phase, cost, accuracy, move.n_changed)
    front = Front.from_allocations(np.stack(candidates), scores, costs, method="optllm",
                                   status=status, elapsed_s=time.perf_counter() - t0,
                                   cost=np.array(cand_cost), accuracy=np.array(cand_acc))
    yield front
    return front


def optimize(scores: np.ndarray, costs: np.ndarray, method: str = "optllm",
             density: int = 10, *, should_stop: ShouldStop | None = None) -> Front:
    """The front of allocations for predicted `scores` and `costs`, both (N, M).

    `method="optllm"` is the paper's destruct/reconstruct search (OptLLM-M);
    `method="hull"` the exact supported front, the yardstick for every heuristic.

    Examples
    --------
    Three queries, two models: model 0 costs $1 a query, model 1 costs $10 and is better on
    every query, by most on query 1. From the cheapest allocation, each next point sends
    one more query to the dear model, where a dollar buys the most expected accuracy:

    >>> import numpy as np
    >>> scores = np.array([[0.9, 0.95], [0.3, 0.9], [0.6, 0.7]])
    >>> costs = np.array([[1.0, 10.0]] * 3)
    >>> front = optimize(scores, costs)
    >>> front.cost.tolist(), front.accuracy.round(3).tolist()
    ([3.0, 12.0, 21.0, 30.0], [0.6, 0.8, 0.833, 0.85])
    >>> front.allocation(1).tolist()  # query 1 moves first: +0.6 for $9
    [0, 1, 0]
    """
    front = None
    for item in iter_optimize(scores, costs, method, density, should_stop=should_stop):
        if isinstance(item, Front):
            front = item
    assert front is not None
    return front
