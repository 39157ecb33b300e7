"""Optimiser invariants: property tests against brute force and the exact hull."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from optllm import ConfigError, Front, StepEvent, iter_optimize, optimize
from optllm.optimizers.front import non_dominated
from optllm.optimizers.hull import cheapest_allocation, most_accurate_allocation
from optllm.optimizers.single import best_under_budget, cheapest_for_accuracy


@st.composite
def problems(draw, max_queries: int = 30, max_models: int = 5):
    n = draw(st.integers(1, max_queries))
    m = draw(st.integers(2, max_models))
    # Values on grids make ties (equal costs, equal scores) common, as in real price
    # tables, while staying far above float rounding (ties are decided exactly).
    scores = draw(arrays(np.int64, (n, m), elements=st.sampled_from([0, 100, 250, 500, 900])
                         | st.integers(0, 1000))) / 1000
    costs = draw(arrays(np.int64, (n, m), elements=st.sampled_from([0, 10, 20, 100])
                        | st.integers(0, 10_000))) * 1e-6
    return scores, costs


def allocation_values(alloc: np.ndarray, scores: np.ndarray, costs: np.ndarray):
    rows = np.arange(alloc.size)
    return costs[rows, alloc].sum(), scores[rows, alloc].mean()


def brute_force_front(scores: np.ndarray, costs: np.ndarray):
    n, m = scores.shape
    allocs = np.array(list(itertools.product(range(m), repeat=n)))
    rows = np.arange(n)
    cost = costs[rows, allocs].sum(axis=1)
    acc = scores[rows, allocs].mean(axis=1)
    keep = non_dominated(cost, acc)
    return cost[keep], acc[keep]


def hull_upper(hull: Front, cost: np.ndarray) -> np.ndarray:
    """The hull's piecewise-linear accuracy at `cost` (its LP relaxation bound)."""
    return np.interp(cost, hull.cost, hull.accuracy)


@pytest.mark.parametrize("method", ["optllm", "hull"])
@settings(max_examples=150, deadline=None)
@given(problem=problems())
def test_front_points_are_valid_non_dominated_and_span_the_extremes(method, problem):
    scores, costs = problem
    n, m = scores.shape
    front = optimize(scores, costs, method=method, density=5)
    assert len(front) >= 1
    assert np.all(np.diff(front.cost) > 0) or len(front) == 1
    assert np.all(np.diff(front.accuracy) > 0) or len(front) == 1
    for k in range(len(front)):
        alloc = front.allocation(k)
        assert alloc.shape == (n,)
        assert alloc.min() >= 0 and alloc.max() < m
        cost, acc = allocation_values(alloc, scores, costs)
        assert cost == pytest.approx(front.cost[k], rel=1e-9, abs=1e-12)
        assert acc == pytest.approx(front.accuracy[k], rel=1e-9, abs=1e-12)
    cheap = allocation_values(cheapest_allocation(scores, costs), scores, costs)
    best = allocation_values(most_accurate_allocation(scores, costs), scores, costs)
    # The ends are the two extremes (or, where float sums tie, points as good).
    assert front.cost[0] == pytest.approx(cheap[0], abs=1e-12)
    assert front.accuracy[0] >= cheap[1] - 1e-12
    assert front.accuracy[-1] == pytest.approx(best[1], abs=1e-12)
    assert front.cost[-1] <= best[0] + 1e-12


@settings(max_examples=150, deadline=None)
@given(problem=problems())
def test_hull_is_never_dominated_by_optllm(problem):
    scores, costs = problem
    hull = optimize(scores, costs, method="hull")
    heuristic = optimize(scores, costs, method="optllm", density=4)
    # No optllm point lies above the hull's piecewise-linear bound, which rises with
    # cost, so no hull point can be dominated by an optllm point.
    assert np.all(heuristic.accuracy <= hull_upper(hull, heuristic.cost) + 1e-9)
    assert np.all(np.diff(hull.accuracy) > 0)


@settings(max_examples=60, deadline=None)
@given(problem=problems(max_queries=5, max_models=3))
def test_hull_points_lie_on_the_brute_force_front(problem):
    scores, costs = problem
    hull = optimize(scores, costs, method="hull")
    bf_cost, bf_acc = brute_force_front(scores, costs)
    # Every hull point is Pareto-optimal: brute force finds nothing strictly better.
    for c, a in zip(hull.cost, hull.accuracy, strict=True):
        better = (bf_cost <= c + 1e-12) & (bf_acc >= a - 1e-12) & (
            (bf_cost < c - 1e-9) | (bf_acc > a + 1e-9))
        assert not better.any()
    # Every brute-force optimum is on or below the hull's bound.
    assert np.all(bf_acc <= hull_upper(hull, bf_cost) + 1e-9)


@settings(max_examples=100, deadline=None)
@given(problem=problems(), data=st.data())
def test_budget_and_target_return_feasible_points(problem, data):
    scores, costs = problem
    hull = optimize(scores, costs, method="hull")
    budget = data.draw(st.floats(float(hull.cost[0]), float(hull.cost[-1]) + 0.01))
    point = best_under_budget(scores, costs, budget)
    assert point.cost <= budget + 1e-12
    assert point.accuracy >= hull.accuracy[hull.index_for_budget(budget)] - 1e-12
    target = data.draw(st.floats(float(hull.accuracy[0]), float(hull.accuracy[-1])))
    cheapest = cheapest_for_accuracy(scores, costs, target)
    assert cheapest.accuracy >= target - 1e-9
    for method in ("optllm", "hull"):
        front = optimize(scores, costs, method=method, density=3)
        k = front.index_for_budget(budget)
        assert front.cost[k] <= budget
        k = front.index_for_accuracy(target)
        assert front.accuracy[k] >= target - 1e-9
        assert k == 0 or front.accuracy[k - 1] < target


def test_budget_below_cheapest_and_unreachable_target_are_clear_errors():
    scores = np.array([[0.2, 0.9], [0.5, 0.6]])
    costs = np.array([[1.0, 3.0], [1.0, 2.0]])
    with pytest.raises(ConfigError, match="below the cheapest"):
        best_under_budget(scores, costs, 1.0)
    with pytest.raises(ConfigError, match="above the best reachable"):
        cheapest_for_accuracy(scores, costs, 0.99)


def test_permuting_queries_leaves_the_front_unchanged():
    rng = np.random.default_rng(3)
    scores, costs = rng.random((200, 6)), rng.gamma(2.0, 0.01, (200, 6))
    perm = rng.permutation(200)
    for method in ("optllm", "hull"):
        a = optimize(scores, costs, method=method)
        b = optimize(scores[perm], costs[perm], method=method)
        np.testing.assert_allclose(a.cost, b.cost, rtol=1e-9)
        np.testing.assert_allclose(a.accuracy, b.accuracy, rtol=1e-9)
        np.testing.assert_array_equal(a.allocation(len(a) // 2)[perm], b.allocation(len(b) // 2))


def test_iter_optimize_events_then_the_same_front():
    rng = np.random.default_rng(1)
    scores, costs = rng.random((500, 8)), rng.gamma(2.0, 0.01, (500, 8))
    items = list(iter_optimize(scores, costs, method="optllm", density=10))
    *events, last = items
    assert isinstance(last, Front)
    assert all(isinstance(e, StepEvent) for e in events)
    assert len(events) == 1 + 2 * 9 * 2
    assert [e.step for e in events] == list(range(1, len(events) + 1))
    phases = [(e.side, e.phase) for e in events[1:5]]
    assert phases == [("cheap", "destruct"), ("cheap", "reconstruct")] * 2
    assert {e.side for e in events[1:]} == {"cheap", "accurate"}
    assert events[1].n_changed > 0
    final = optimize(scores, costs, method="optllm", density=10)
    np.testing.assert_array_equal(last.cost, final.cost)
    np.testing.assert_array_equal(events[-1].front_cost, final.cost)
    with pytest.raises(ValueError):
        events[-1].front_cost[0] = 0.0  # snapshots are read-only


def test_reconstruct_improves_on_destruct_and_front_grows():
    rng = np.random.default_rng(2)
    scores, costs = rng.random((1000, 6)), rng.gamma(2.0, 0.01, (1000, 6))
    events = [e for e in iter_optimize(scores, costs, density=10) if isinstance(e, StepEvent)]
    hull = optimize(scores, costs, method="hull")
    for before, after in zip(events[1::2], events[2::2], strict=True):
        assert before.phase == "destruct" and after.phase == "reconstruct"
        gap_before = hull_upper(hull, np.array([before.cost]))[0] - before.accuracy
        gap_after = hull_upper(hull, np.array([after.cost]))[0] - after.accuracy
        assert gap_after <= gap_before + 1e-12
    assert events[-1].front_cost.size >= 10


def test_cancel_returns_the_front_so_far():
    rng = np.random.default_rng(4)
    scores, costs = rng.random((300, 5)), rng.gamma(2.0, 0.01, (300, 5))
    items: list[object] = []
    for item in iter_optimize(scores, costs, should_stop=lambda: len(items) >= 4):
        items.append(item)
    front = items[-1]
    assert isinstance(front, Front) and front.status == "cancelled"
    assert len(items) - 1 == 4  # the extremes and three steps
    assert optimize(scores, costs).status == "converged"


def test_hull_front_of_many_queries_rebuilds_any_point():
    rng = np.random.default_rng(5)
    scores, costs = rng.random((2000, 12)), rng.gamma(2.0, 0.01, (2000, 12))
    hull = optimize(scores, costs, method="hull")
    assert len(hull) > 2000
    for k in (0, 1, len(hull) // 3, len(hull) - 1):
        cost, acc = allocation_values(hull.allocation(k), scores, costs)
        assert cost == pytest.approx(hull.cost[k])
        assert acc == pytest.approx(hull.accuracy[k])
    labels = (rng.random((2000, 12)) < scores).astype(float)
    totals = hull.totals(labels)
    k = len(hull) // 2
    assert totals[k] == pytest.approx(labels[np.arange(2000), hull.allocation(k)].sum())
    assert hull.thin(100).size <= 102


@pytest.mark.parametrize(("scores", "costs", "message"), [
    (np.ones((3, 2)), np.ones((3, 3)), "differ in shape"),
    (np.ones(3), np.ones(3), "2-D"),
    (np.array([[0.5, np.nan]]), np.ones((1, 2)), r"scores\[0, 1\] is not finite"),
    (np.ones((1, 2)), np.array([[1.0, -1.0]]), r"costs\[0, 1\] is negative"),
    (np.ones((0, 2)), np.ones((0, 2)), "at least one query"),
])
def test_bad_inputs_are_named(scores, costs, message):
    with pytest.raises(ConfigError, match=message):
        optimize(scores, costs)


def test_unknown_method_and_bad_density():
    with pytest.raises(ConfigError, match="unknown method"):
        optimize(np.ones((2, 2)), np.ones((2, 2)), method="nsga")
    with pytest.raises(ConfigError, match="density"):
        optimize(np.ones((2, 2)), np.ones((2, 2)), density=0)
