"""The exact supported front and the two extreme allocations (docs/algorithm.md).

The objectives are sums over queries, so the convex hull of the front is exact: per query,
take the concave upper envelope of its (cost, score) points from its cheapest model to its
best-scoring one; every envelope edge is a move with a rate (score per dollar). Applying
all edges of all queries by decreasing rate from the cheapest allocation gives, at every
prefix, an allocation optimal for its cost in the linear relaxation.
"""

from __future__ import annotations

import numpy as np

from optllm.optimizers.front import Front, Moves, non_dominated
from optllm.progress import ShouldStop, check_cancelled


def cheapest_allocation(scores: np.ndarray, costs: np.ndarray) -> np.ndarray:
    """Per query the lowest-cost model; ties go to the higher score, then the lower index."""
    at_min = costs == costs.min(axis=1, keepdims=True)
    return np.where(at_min, scores, -np.inf).argmax(axis=1)


def most_accurate_allocation(scores: np.ndarray, costs: np.ndarray) -> np.ndarray:
    """Per query the highest-score model; ties go to the lower cost, then the lower index."""
    at_max = scores == scores.max(axis=1, keepdims=True)
    return np.where(at_max, -costs, -np.inf).argmax(axis=1)


def envelope_moves(scores: np.ndarray, costs: np.ndarray, start: np.ndarray,
                   should_stop: ShouldStop | None = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """All upper-envelope edges of all queries, as (query, source, target, rate).

    Gift wrapping, vectorised over queries: from the current point of each query, the
    next envelope point is the one reached at the highest rate among the models that
    cost more and score more (ties: the nearer one, so collinear points stay separate
    moves). At most M - 1 rounds, each O(N M), with a `should_stop` check before each.
    Edges come out round-major: within a query they are in envelope order.
    """
    n, _ = scores.shape
    rows = np.arange(n)
    current = start.astype(np.intp)
    queries, sources, targets, rates = [], [], [], []
    last_rate = np.full(n, np.inf)
    active = rows
    while active.size:
        check_cancelled(should_stop, "hull")
        cur = current[active]
        c0 = costs[active, cur][:, None]
        s0 = scores[active, cur][:, None]
        dc = costs[active] - c0
        ds = scores[active] - s0
        valid = (dc > 0) & (ds > 0)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            rate = np.where(valid, ds / np.where(valid, dc, 1.0), -np.inf)
        best_rate = rate.max(axis=1)
        has_move = best_rate > -np.inf
        if not has_move.any():
            break
        # Among equal best rates, the nearest (lowest extra cost) first.
        tie = rate == best_rate[:, None]
        nxt = np.where(tie, -dc, -np.inf).argmax(axis=1)
        moving = active[has_move]
        # Rounding may let a collinear next edge look steeper; clamp so each query's
        # rates never rise along its envelope and the global sort keeps them in order.
        edge_rate = np.minimum(best_rate[has_move], last_rate[moving])
        last_rate[moving] = edge_rate
        queries.append(moving)
        sources.append(cur[has_move])
        targets.append(nxt[has_move])
        rates.append(edge_rate)
        current[moving] = nxt[has_move]
        active = moving
    if not queries:
        empty = np.empty(0, dtype=np.intp)
        return empty, empty, empty, np.empty(0)
    return (np.concatenate(queries), np.concatenate(sources), np.concatenate(targets),
            np.concatenate(rates))


def rate_ordered_moves(scores: np.ndarray, costs: np.ndarray,
                       should_stop: ShouldStop | None = None
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(start, query, source, target): the cheapest allocation and every envelope move by
    decreasing rate; each prefix applied to `start` is a point of the hull front.
    `should_stop` is checked between the envelope rounds and around the sort."""
    start = cheapest_allocation(scores, costs)
    query, source, target, rate = envelope_moves(scores, costs, start, should_stop)
    check_cancelled(should_stop, "hull")
    # Stable sort on decreasing rate keeps each query's moves in envelope order
    # (its rates do not increase along the envelope, and moves are round-major).
    order = np.argsort(-rate, kind="stable")
    check_cancelled(should_stop, "hull")
    return start, query[order], source[order], target[order]


def hull_front(scores: np.ndarray, costs: np.ndarray, should_stop: ShouldStop | None = None
               ) -> Front:
    """The exact supported front: every prefix of the rate-sorted envelope moves.
    `should_stop` is checked between the envelope rounds and around the sort (raises
    `Cancelled`)."""
    start, query, source, target = rate_ordered_moves(scores, costs, should_stop)
    n = scores.shape[0]
    rows = np.arange(n)
    dc = costs[query, target] - costs[query, source]
    ds = scores[query, target] - scores[query, source]
    cost = np.concatenate(([costs[rows, start].sum()], costs[rows, start].sum() + np.cumsum(dc)))
    accuracy = np.concatenate(([scores[rows, start].sum()],
                               scores[rows, start].sum() + np.cumsum(ds))) / n
    dtype = np.int16 if scores.shape[1] < 2**15 else np.int32
    store = Moves(start.astype(dtype), query.astype(np.int32 if n < 2**31 else np.int64),
                   source.astype(dtype), target.astype(dtype),
                   np.arange(query.size + 1, dtype=np.int64))
    front = Front(cost, accuracy, store, n_queries=n, method="hull")
    # Moves too small to change the float sums would leave equal points: drop them.
    keep = non_dominated(cost, accuracy)
    return front if keep.size == cost.size else front.take(keep)

