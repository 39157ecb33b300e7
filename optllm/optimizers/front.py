"""The Pareto front of allocations: points sorted by cost, each one an allocation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optllm.exceptions import ConfigError


def non_dominated(cost: np.ndarray, accuracy: np.ndarray) -> np.ndarray:
    """Indices of the points no other point dominates (lower cost, higher accuracy), by cost.

    Exact duplicates keep one representative (the first in input order).
    """
    cost = np.asarray(cost, dtype=np.float64)
    accuracy = np.asarray(accuracy, dtype=np.float64)
    if cost.size == 0:
        return np.empty(0, dtype=np.int64)
    order = np.lexsort((np.arange(cost.size), -accuracy, cost))
    acc_sorted = accuracy[order]
    best_before = np.maximum.accumulate(np.concatenate(([-np.inf], acc_sorted[:-1])))
    return order[acc_sorted > best_before]


def thin_by_cost(cost: np.ndarray, max_points: int) -> np.ndarray:
    """At most `max_points` indices of the increasing `cost` spread evenly by cost, both
    ends included."""
    if cost.size <= max_points:
        return np.arange(cost.size)
    targets = np.linspace(cost[0], cost[-1], max_points)
    idx = np.searchsorted(cost, targets).clip(0, cost.size - 1)
    return np.unique(np.concatenate(([0], idx, [cost.size - 1])))


def allocation_totals(allocations: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per allocation (rows of `allocations`, (P, N)), the sum over queries of values[i, a_i]."""
    return np.take_along_axis(values, allocations.T.astype(np.intp), axis=1).sum(axis=0)


@dataclass(frozen=True)
class _Dense:
    """Points stored as whole allocations, (P, N) small ints: for short fronts."""

    allocations: np.ndarray

    def allocation(self, k: int) -> np.ndarray:
        return self.allocations[k].astype(np.intp)

    def totals(self, values: np.ndarray) -> np.ndarray:
        return allocation_totals(self.allocations, values)

    def take(self, points: np.ndarray) -> _Dense:
        return _Dense(self.allocations[points])


@dataclass(frozen=True)
class Moves:
    """Points stored as prefixes of one move sequence from a start allocation.

    Point k is `start` with the first `n_moves[k]` moves applied; within a query the
    moves come in the order they are applied, so a later move overrides an earlier one.
    This keeps the exact front of a million queries (millions of points) small.
    """

    start: np.ndarray
    query: np.ndarray
    source: np.ndarray
    target: np.ndarray
    n_moves: np.ndarray

    def allocation(self, k: int) -> np.ndarray:
        n = int(self.n_moves[k])
        alloc = self.start.astype(np.intp)
        if n:
            last = np.full(alloc.size, -1, dtype=np.intp)
            np.maximum.at(last, self.query[:n], np.arange(n, dtype=np.intp))
            moved = last >= 0
            alloc[moved] = self.target[last[moved]]
        return alloc

    def totals(self, values: np.ndarray) -> np.ndarray:
        rows = np.arange(self.start.size)
        base = values[rows, self.start].sum()
        delta = values[self.query, self.target] - values[self.query, self.source]
        prefix = np.concatenate(([0.0], np.cumsum(delta)))
        return base + prefix[self.n_moves]

    def take(self, points: np.ndarray) -> Moves:
        return Moves(self.start, self.query, self.source, self.target, self.n_moves[points])


class Front:
    """A set of non-dominated allocations sorted by increasing cost.

    `cost[k]` is the total cost (USD) of point k and `accuracy[k]` its expected accuracy
    (mean score over queries); `allocation(k)` is its (N,) array of model indices.
    `status` is "converged", or "cancelled" when the search stopped early.

    Examples
    --------
    The front of `optimize`'s example. A budget or a target accuracy picks a point, and
    `totals` scores every point with other per-query values, such as the true labels:

    >>> import numpy as np
    >>> from optllm.optimizers.api import optimize
    >>> front = optimize(np.array([[0.9, 0.95], [0.3, 0.9], [0.6, 0.7]]),
    ...                  np.array([[1.0, 10.0]] * 3))
    >>> front
    Front(method='optllm', points=4, queries=3, status='converged')
    >>> k = front.index_for_budget(15.0)
    >>> k, front.cost[k], front.allocation(k).tolist()
    (1, np.float64(12.0), [0, 1, 0])
    >>> front.index_for_accuracy(0.83)
    2
    >>> labels = np.array([[1, 1], [0, 1], [1, 0]])  # which model really got each query
    >>> front.totals(labels).tolist()  # correct answers at each point
    [2.0, 3.0, 2.0, 2.0]
    """

    def __init__(self, cost: np.ndarray, accuracy: np.ndarray, store: _Dense | Moves,
                 *, n_queries: int, method: str, status: str = "converged",
                 elapsed_s: float = 0.0) -> None:
        self.cost = np.asarray(cost, dtype=np.float64)
        self.accuracy = np.asarray(accuracy, dtype=np.float64)
        self.cost.flags.writeable = False
        self.accuracy.flags.writeable = False
        self._store = store
        self.n_queries = n_queries
        self.method = method
        self.status = status
        self.elapsed_s = elapsed_s

    @classmethod
    def from_allocations(cls, allocations: np.ndarray, scores: np.ndarray, costs: np.ndarray,
                         *, method: str, status: str = "converged", elapsed_s: float = 0.0,
                         cost: np.ndarray | None = None, accuracy: np.ndarray | None = None
                         ) -> Front:
        """The non-dominated subset of candidate allocations (P, N), sorted by cost.

        `cost` and `accuracy` of the candidates are computed unless the caller has them.
        """
        allocations = np.asarray(allocations)
        n = scores.shape[0]
        if cost is None or accuracy is None:
            cost = allocation_totals(allocations, costs)
            accuracy = allocation_totals(allocations, scores) / n
        keep = non_dominated(cost, accuracy)
        dtype = np.int16 if scores.shape[1] < 2**15 else np.int32
        return cls(cost[keep], accuracy[keep], _Dense(allocations[keep].astype(dtype)),
                   n_queries=n, method=method, status=status, elapsed_s=elapsed_s)

    def __len__(self) -> int:
        return int(self.cost.size)

    def __repr__(self) -> str:
        return (f"Front(method={self.method!r}, points={len(self)}, queries={self.n_queries}, "
                f"status={self.status!r})")

    def allocation(self, k: int) -> np.ndarray:
        """The (N,) model index of every query at point k (negative k counts from the end)."""
        if not -len(self) <= k < len(self):
            raise IndexError(f"front has {len(self)} points; point {k} does not exist")
        return self._store.allocation(k % len(self))

    def totals(self, values: np.ndarray) -> np.ndarray:
        """Per point, the sum over queries of values[i, allocation_i] (e.g. true labels)."""
        return self._store.totals(np.asarray(values, dtype=np.float64))

    def queries_per_model(self, n_models: int) -> np.ndarray:
        """(P, M) number of queries each point sends to each model: the totals of a
        one-hot indicator per model (one pass over the store per model)."""
        indicator = np.zeros((self.n_queries, n_models))
        counts = np.empty((len(self), n_models), dtype=np.int64)
        for j in range(n_models):
            indicator[:, j] = 1.0
            counts[:, j] = np.rint(self.totals(indicator))
            indicator[:, j] = 0.0
        return counts

    def take(self, points: np.ndarray) -> Front:
        """A front of the given point indices (kept in cost order)."""
        points = np.sort(np.asarray(points, dtype=np.intp))
        return Front(self.cost[points], self.accuracy[points], self._store.take(points),
                     n_queries=self.n_queries, method=self.method, status=self.status,
                     elapsed_s=self.elapsed_s)

    def thin(self, max_points: int) -> np.ndarray:
        """At most `max_points` point indices spread evenly by cost, both ends included."""
        return thin_by_cost(self.cost, max_points)

    def index_for_budget(self, budget: float) -> int:
        """The most accurate point costing at most `budget` USD."""
        k = int(np.searchsorted(self.cost, budget, side="right")) - 1
        if k < 0:
            raise ConfigError(f"budget ${budget:.6g} is below the cheapest allocation "
                              f"(${self.cost[0]:.6g})")
        return k

    def index_for_accuracy(self, target: float, expected: np.ndarray | None = None) -> int:
        """The cheapest point whose expected accuracy reaches `target` (0..1): `accuracy`,
        or `expected` per point when given (e.g. the calibrated figure, not monotone)."""
        expected = self.accuracy if expected is None else np.asarray(expected)
        reached = np.flatnonzero(expected >= target - 1e-12)
        if reached.size == 0:
            raise ConfigError(f"target accuracy {target:.4g} is above the best reachable "
                              f"expected accuracy ({expected.max():.4g})")
        return int(reached[0])
