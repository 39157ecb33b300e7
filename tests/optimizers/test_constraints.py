"""Constrained allocations against the exact integer optimum (scipy's milp), the limits
held exactly, and infeasible limits explained."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

from optllm.exceptions import ConfigError
from optllm.optimizers import constraints as constraints_module
from optllm.optimizers.constraints import (
    Constraints,
    Infeasible,
    constrained_front,
    constrained_point,
    meets,
)


def instance(seed: int, n: int, m: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    scores = rng.random((n, m))
    costs = rng.random((n, m)) * np.geomspace(1e-3, 1e-1, m)
    return scores, costs, [f"model-{j}" for j in range(m)]


def milp_optimum(scores: np.ndarray, costs: np.ndarray, names: list[str], limits: Constraints,
                 target: float | None = None) -> float:
    """The exact integer optimum (summed score, or total cost with a target), built here
    from the limits' definitions, independently of the module under test."""
    n, m = scores.shape
    index = {name: j for j, name in enumerate(names)}
    rows, lower, upper = [], [], []

    def column(j: int, values: np.ndarray) -> np.ndarray:
        row = np.zeros((n, m))
        row[:, j] = values
        return row.ravel()

    if limits.budget is not None:
        rows.append(costs.ravel()), lower.append(-np.inf), upper.append(limits.budget)
    for name, cap in limits.max_queries.items():
        rows.append(column(index[name], np.ones(n))), lower.append(-np.inf), upper.append(cap)
    for name, usd in limits.max_spend.items():
        rows.append(column(index[name], costs[:, index[name]]))
        lower.append(-np.inf), upper.append(usd)
    for name, share in limits.min_share.items():
        rows.append(column(index[name], np.ones(n)))
        lower.append(np.ceil(share * n - 1e-9)), upper.append(np.inf)
    if target is not None:
        rows.append(scores.ravel()), lower.append(target * n), upper.append(np.inf)
    one_each = sparse.kron(sparse.eye_array(n), np.ones((1, m)))
    constraints = [LinearConstraint(one_each, 1, 1)]
    if rows:
        # Each row scaled to a largest coefficient of 1: HiGHS allows an absolute 1e-6 row
        # violation, which on dollar rows of 1e-4 per query would be most of a query.
        matrix = np.array(rows)
        scale = np.maximum(np.abs(matrix).max(axis=1), 1e-300)
        constraints.append(LinearConstraint(matrix / scale[:, None], np.array(lower) / scale,
                                            np.array(upper) / scale))
    objective = costs.ravel() if target is not None else -scores.ravel()
    res = milp(objective, constraints=constraints, integrality=np.ones(n * m),
               bounds=Bounds(0, 1), options={"mip_rel_gap": 1e-12})
    assert res.status == 0, res.message
    # What HiGHS calls feasible may still break a limit by its tolerance; the limits are
    # exact, so such a solution is none (AssertionError, as for an infeasible problem).
    allocation = np.asarray(res.x).reshape(n, m).argmax(axis=1)
    assert_within_limits(allocation, scores, costs, names, limits)
    if target is not None:
        assert scores[np.arange(n), allocation].mean() >= target - 1e-12
    return float(res.fun if target is not None else -res.fun)


def assert_within_limits(allocation: np.ndarray, scores: np.ndarray, costs: np.ndarray,
                         names: list[str], limits: Constraints) -> None:
    n = allocation.size
    rows = np.arange(n)
    spent = costs[rows, allocation]
    if limits.budget is not None:
        assert spent.sum() <= limits.budget
    for j, name in enumerate(names):
        mine = allocation == j
        if name in limits.max_queries:
            assert mine.sum() <= limits.max_queries[name]
        if name in limits.max_spend:
            assert spent[mine].sum() <= limits.max_spend[name]
        if name in limits.min_share:
            assert mine.sum() >= limits.min_share[name] * n - 1e-9


def some_limits(scores: np.ndarray, costs: np.ndarray, names: list[str]) -> Constraints:
    n = scores.shape[0]
    return Constraints(budget=float(costs.min(axis=1).sum() * 4),
                       max_queries={names[-1]: n // 10},
                       max_spend={names[-2]: float(costs[:, -2].sum() * 0.05)},
                       min_share={names[0]: 0.3})


@pytest.mark.parametrize(("seed", "n", "m"), [(0, 200, 3), (1, 300, 4), (2, 400, 6),
                                              (3, 250, 5)])
def test_point_is_within_its_gap_of_the_integer_optimum(seed: int, n: int, m: int) -> None:
    scores, costs, names = instance(seed, n, m)
    limits = some_limits(scores, costs, names)
    point = constrained_point(scores, costs, limits, names)
    assert_within_limits(point.allocation, scores, costs, names, limits)
    optimum = milp_optimum(scores, costs, names, limits)
    ours = point.accuracy * n
    assert ours <= optimum + 1e-9
    assert optimum <= ours + point.gap_accuracy * n + 1e-9
    # The stated gap is at most one query's worth: 1/N of the range of accuracy.
    assert point.gap_accuracy <= (scores.max() - scores.min()) / n
    assert point.binding[0]  # the budget binds at four times the cheapest cost


def test_cheapest_for_a_target_is_within_its_gap_of_the_integer_optimum() -> None:
    scores, costs, names = instance(4, 300, 4)
    limits = Constraints(max_queries={names[3]: 40}, min_share={names[0]: 0.2})
    target = 0.8
    point = constrained_point(scores, costs, limits, names, target_accuracy=target)
    assert point.accuracy >= target
    assert_within_limits(point.allocation, scores, costs, names, limits)
    optimum = milp_optimum(scores, costs, names, limits, target=target)
    assert optimum - 1e-12 <= point.cost <= optimum + point.gap_usd + 1e-12


def test_sampled_prices_and_free_set_reach_the_same_optimum(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The path large problems take (prices from samples, a free set, freeing the queries
    the prices disagree with), forced on a problem milp still solves."""
    monkeypatch.setattr(constraints_module, "FULL_LP_QUERIES", 150)
    monkeypatch.setattr(constraints_module, "FREE_QUERIES", 60)
    scores, costs, names = instance(5, 1500, 4)
    limits = some_limits(scores, costs, names)
    point = constrained_point(scores, costs, limits, names)
    assert_within_limits(point.allocation, scores, costs, names, limits)
    optimum = milp_optimum(scores, costs, names, limits)
    ours = point.accuracy * 1500
    assert ours <= optimum + 1e-9 <= ours + point.gap_accuracy * 1500 + 2e-9
    assert point.gap_accuracy <= 1 / 1500


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n=st.integers(5, 60), m=st.integers(2, 5),
       budget_factor=st.floats(0.5, 5), cap=st.floats(0, 1), spend=st.floats(0, 1),
       share=st.floats(0, 0.6))
def test_every_allocation_respects_every_limit(seed: int, n: int, m: int, budget_factor: float,
                                               cap: float, spend: float, share: float) -> None:
    scores, costs, names = instance(seed, n, m)
    limits = Constraints(budget=float(costs.min(axis=1).sum() * budget_factor),
                         max_queries={names[-1]: int(cap * n)},
                         max_spend={names[-2]: float(costs[:, -2].sum() * spend)},
                         min_share={names[0]: share})
    try:
        point = constrained_point(scores, costs, limits, names)
    except Infeasible:
        with pytest.raises(AssertionError):
            milp_optimum(scores, costs, names, limits)
        return
    assert_within_limits(point.allocation, scores, costs, names, limits)
    assert point.gap_accuracy >= 0


def test_front_points_respect_the_limits_and_rise_in_cost() -> None:
    scores, costs, names = instance(6, 300, 4)
    limits = some_limits(scores, costs, names).with_budget(None)
    result = constrained_front(scores, costs, limits, names, n_points=12)
    front = result.front
    assert len(front) >= 2 and len(result.points) == len(front)
    assert (np.diff(front.cost) > 0).all() and (np.diff(front.accuracy) > 0).all()
    for k in range(len(front)):
        assert_within_limits(front.allocation(k), scores, costs, names, limits)
        assert result.points[k].gap_accuracy <= 1 / 300


@pytest.mark.parametrize(("limits", "words"), [
    (Constraints(min_share={"model-0": 0.6, "model-1": 0.5}),
     ["minimum shares add up", "min share model-0=0.6", "min share model-1=0.5"]),
    (Constraints(max_queries={"model-1": 10}, min_share={"model-1": 0.5}),
     ["min share model-1=0.5", "conflicts with cap model-1=10", "at most 10"]),
    (Constraints(max_queries={"model-0": 10, "model-1": 10, "model-2": 10}),
     ["leave 70 of 100 queries nowhere", "cap model-0=10"]),
    (Constraints(max_spend={"model-1": 0.0}, min_share={"model-1": 0.1}),
     ["min share model-1=0.1", "max spend model-1=$0"]),
    (Constraints(budget=0.001, min_share={"model-2": 0.5}),
     ["budget $0.001 is below the cheapest allocation that meets min share model-2=0.5"]),
])
def test_infeasible_limits_name_the_conflict(limits: Constraints, words: list[str]) -> None:
    scores, costs, names = instance(7, 100, 3)
    with pytest.raises(Infeasible) as error:
        constrained_point(scores, costs, limits, names)
    for word in words:
        assert word in str(error.value)


def test_target_out_of_reach_under_the_limits_is_explained() -> None:
    scores, costs, names = instance(8, 100, 3)
    limits = Constraints(min_share={"model-0": 0.9})
    with pytest.raises(Infeasible, match=r"target accuracy 0\.95 is above the best expected"):
        constrained_point(scores, costs, limits, names, target_accuracy=0.95)


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"max_queries": {"gpt": -1}}, "cap of model 'gpt' must be a whole number"),
    ({"max_queries": {"gpt": 1.5}}, "cap of model 'gpt' must be a whole number"),
    ({"max_spend": {"gpt": float("nan")}}, "spend limit of model 'gpt'"),
    ({"min_share": {"gpt": 1.2}}, "minimum share of model 'gpt' must be between 0 and 1"),
    ({"budget": -3.0}, "budget must be a finite amount"),
])
def test_bad_limit_values_are_named(kwargs: dict, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        Constraints(**kwargs)


def test_unknown_model_lists_the_models() -> None:
    scores, costs, names = instance(9, 20, 3)
    with pytest.raises(ConfigError, match=r"unknown model 'gpt-9'.*model-0, model-1, model-2"):
        constrained_point(scores, costs, Constraints(max_queries={"gpt-9": 3}), names)


@pytest.mark.parametrize("method", ["optllm", "hull"])
def test_optimize_with_constraints_gives_only_allocations_within_the_limits(method: str
                                                                            ) -> None:
    """OptLLM-M's points are repaired into the limits; the hull becomes the exact
    constrained front. Its unconstrained front breaks the limits, so the repair acts."""
    import optllm

    scores, costs, names = instance(10, 300, 4)
    limits = optllm.Constraints(max_queries={names[3]: 30}, min_share={names[0]: 0.25})
    plain = optllm.optimize(scores, costs, method)
    assert not all(meets(plain.allocation(k), scores, costs, limits, names)
                   for k in range(len(plain)))
    front = optllm.optimize(scores, costs, method, constraints=limits, model_names=names)
    assert len(front) >= 2
    for k in range(len(front)):
        assert_within_limits(front.allocation(k), scores, costs, names, limits)
    # No point beats the exact constrained point at its cost by more than that one's gap.
    for k in np.unique(np.linspace(0, len(front) - 1, 5).astype(int)):
        exact = constrained_point(scores, costs, limits.with_budget(float(front.cost[k])), names)
        assert front.accuracy[k] <= exact.accuracy + exact.gap_accuracy + 1e-12
