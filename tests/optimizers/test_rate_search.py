"""The partitioned walk over rate bins finds the same points and allocations as the exact hull
front computed in memory, at every refinement depth and with ties across partitions."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optllm.optimizers.hull import hull_front
from optllm.optimizers.rate_search import (
    Gathered,
    Selection,
    allocation,
    boundary_points,
    budget_point,
    concat_moves,
    gather_moves,
    group_stats,
    locate,
    merge_stats,
    over_budget,
    partition_moves,
    reaching,
    target_point,
)


def split_moves(scores, costs, n_parts, chunk=None):
    bounds = np.linspace(0, scores.shape[0], n_parts + 1).astype(int)
    parts = []
    for p, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        step = chunk or max(hi - lo, 1)
        pieces = [partition_moves(p, scores[a:min(a + step, hi)], costs[a:min(a + step, hi)],
                                  first_query=a - lo)
                  for a in range(lo, max(hi, lo + 1), step)]  # an empty partition too
        parts.append(concat_moves(pieces))
    return parts


def find(parts, reached, limit):
    start = (sum(p.start_cost for p in parts), sum(p.start_score for p in parts))

    def stats(selection):
        return merge_stats([group_stats(p, selection) for p in parts])

    def gather(selection):
        got = [gather_moves(p, selection) for p in parts]
        return Gathered(*(np.concatenate([getattr(g, f) for g in got])
                          for f in ("bits", "round", "part", "query", "dc", "ds")))

    return locate(stats, gather, reached, start, len(parts), gather_limit=limit), start, stats


def whole_allocation(parts, cut):
    return np.concatenate([allocation(p, cut) for p in parts])


def problem(seed, n, m, ties):
    rng = np.random.default_rng(seed)
    if ties:  # every query alike: every move of a round has the same rate
        scores = np.tile(np.sort(rng.random(m)), (n, 1))
        costs = np.tile(np.sort(rng.random(m)) + 0.1, (n, 1))
    else:
        scores = rng.random((n, m))
        costs = rng.random((n, m)) * 1e-3
    return scores, costs


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 400), m=st.integers(2, 6),
       n_parts=st.integers(1, 5), limit=st.sampled_from([0, 5, 10**9]), ties=st.booleans(),
       share=st.floats(0, 1), chunk=st.sampled_from([None, 7]))
def test_budget_and_target_points_match_the_in_memory_hull(seed, n, m, n_parts, limit, ties,
                                                           share, chunk):
    scores, costs = problem(seed, n, m, ties)
    front = hull_front(scores, costs)
    parts = split_moves(scores, costs, n_parts, chunk)
    # Off the knife edge: partial sums may differ from the in-memory sum by an ulp.
    budget = (front.cost[0] + share * (front.cost[-1] - front.cost[0])) * (1 + 1e-12)
    crossing, start, stats = find(parts, over_budget(budget), limit)
    groups = stats(Selection(len(parts)))
    end = (start[0] + groups.dc.sum(), start[1] + groups.ds.sum())
    point = budget_point(crossing, end, int(groups.count.sum()))
    k = front.index_for_budget(budget)
    assert point is not None
    assert np.array_equal(whole_allocation(parts, point.cut), front.allocation(k))
    assert point.cost == pytest.approx(front.cost[k], rel=1e-9)
    target = front.accuracy[0] + share * (front.accuracy[-1] - front.accuracy[0])
    crossing, _, _ = find(parts, reaching(target, n), limit)
    point = target_point(crossing)
    k = front.index_for_accuracy(target)
    assert point is not None
    assert np.array_equal(whole_allocation(parts, point.cut), front.allocation(k))
    assert point.score / n == pytest.approx(front.accuracy[k], rel=1e-9)


def test_every_bin_boundary_is_a_point_of_the_front():
    scores, costs = problem(3, 5000, 8, ties=False)
    front = hull_front(scores, costs)
    parts = split_moves(scores, costs, 4)
    _, start, stats = find(parts, over_budget(0), 10**9)
    cost, score = boundary_points(stats(Selection(4)), start)
    assert cost.size > 100
    k = np.searchsorted(front.cost, cost * (1 - 1e-12)).clip(0, len(front) - 1)
    np.testing.assert_allclose(front.cost[k], cost, rtol=1e-9)
    np.testing.assert_allclose(front.accuracy[k], score / 5000, rtol=1e-9)


def test_a_budget_below_the_cheapest_and_a_target_above_the_best_find_no_point():
    scores, costs = problem(0, 100, 3, ties=False)
    parts = split_moves(scores, costs, 2)
    crossing, start, _ = find(parts, over_budget(0.0), 10)
    assert budget_point(crossing, start, 0) is None
    crossing, _, _ = find(parts, reaching(1.01, 100), 10)
    assert target_point(crossing) is None
