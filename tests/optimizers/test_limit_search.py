"""The point under limits over partitions (`limit_search`), with the map-reduce round run
over a list in memory: the same limits hold exactly, the same objective within the stated
gaps, the same messages as `constrained_point` on all the queries at once."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optllm.optimizers.constraints import Constraints, Infeasible, constrained_point, meets
from optllm.optimizers.limit_search import PartScores, Spec, allocated, solve_limited

N, M, PARTS = 20_000, 6, 5
NAMES = [f"m{j}" for j in range(M)]


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(1)
    scores = rng.random((N, M)) * np.linspace(0.5, 1, M)
    costs = rng.random((N, M)) * np.linspace(1e-5, 1e-3, M)
    bounds = np.linspace(0, N, PARTS + 1).astype(int)
    parts = [PartScores(i, scores[bounds[i]:bounds[i + 1]], costs[bounds[i]:bounds[i + 1]])
             for i in range(PARTS)]

    def run(function, **kwargs):
        return [function(part, **kwargs) for part in parts]

    return scores, costs, run


LIMITS = Constraints(max_queries={"m5": 3000}, max_spend={"m4": 2.0}, min_share={"m0": 0.1})


@pytest.mark.parametrize("goal", ["budget", "target"])
def test_limits_hold_exactly_and_the_objective_is_within_the_stated_gaps(problem, goal):
    scores, costs, run = problem
    cheapest, dearest = costs.min(1).sum(), costs.max(1).sum()
    limits, target = LIMITS.with_budget(float(cheapest + 0.3 * (dearest - cheapest))), None
    if goal == "target":
        limits, target = LIMITS, 0.6
    solution = solve_limited(run, N, NAMES, limits, target)
    point = solution.point
    chosen = np.concatenate(run(allocated, spec=Spec(point.limits, point.objective),
                                lam=solution.choice_prices, overrides=solution.overrides))
    assert meets(chosen, scores, costs, limits, NAMES)
    rows = np.arange(N)
    reference = constrained_point(scores, costs, limits, NAMES, target_accuracy=target)
    assert point.binding.sum() >= 2
    if goal == "budget":
        assert reference.accuracy - point.accuracy <= point.gap_accuracy + 1e-12
        assert point.accuracy - reference.accuracy <= reference.gap_accuracy + 1e-12
    else:
        assert scores[rows, chosen].mean() >= target
        assert point.cost - reference.cost <= point.gap_usd + 1e-12
        assert reference.cost - point.cost <= reference.gap_usd + 1e-12
    assert point.gap_accuracy <= np.ptp(scores) / N
    assert point.cost == pytest.approx(costs[rows, chosen].sum(), rel=1e-12)
    assert (point.binding == reference.binding).all()


@pytest.mark.parametrize("limits", [
    Constraints(0.005, max_queries={"m5": 300}),
    Constraints(min_share={"m0": 0.6, "m1": 0.6}),
    Constraints(max_spend={"m0": 0.001}, min_share={"m0": 0.5}),
    Constraints(max_queries={"m0": 500, "m1": 500, "m2": 500, "m3": 500, "m4": 500,
                             "m5": 500}, budget=10.0),
], ids=["budget below the cheapest", "shares over 100%", "share over a spend limit",
        "caps leave queries out"])
def test_infeasible_limits_get_the_in_memory_message(problem, limits):
    scores, costs, _ = problem
    with pytest.raises(Infeasible) as in_memory:
        constrained_point(scores[:4000], costs[:4000], limits, NAMES)
    small = PartScores(0, scores[:4000], costs[:4000])
    with pytest.raises(Infeasible) as partitioned:
        solve_limited(lambda function, **kwargs: [function(small, **kwargs)], 4000, NAMES,
                      limits)
    assert str(partitioned.value) == str(in_memory.value)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n=st.integers(5, 80), m=st.integers(2, 5),
       n_parts=st.integers(1, 4),
       budget_factor=st.floats(0.5, 5).filter(lambda f: abs(f - 1) > 1e-9),
       cap=st.floats(0, 1), spend=st.floats(0, 1 - 1e-9), share=st.floats(0, 0.6))
def test_any_partitioning_keeps_every_limit_or_says_what_the_in_memory_path_says(
        seed, n, m, n_parts, budget_factor, cap, spend, share):
    """(A limit within rounding of a sum of costs, the budget of the cheapest allocation or
    a spend limit of a whole column, is met or missed depending on the order of
    summation, which differs between partitions and the whole: those are left out.)"""
    rng = np.random.default_rng(seed)
    scores = rng.random((n, m))
    costs = rng.random((n, m)) * np.geomspace(1e-3, 1e-1, m)
    names = [f"model-{j}" for j in range(m)]
    limits = Constraints(budget=float(costs.min(axis=1).sum() * budget_factor),
                         max_queries={names[-1]: int(cap * n)},
                         max_spend={names[-2]: float(costs[:, -2].sum() * spend)},
                         min_share={names[0]: share})
    cuts = np.sort(rng.choice(np.arange(1, n), size=min(n_parts - 1, n - 1), replace=False))
    bounds = [0, *cuts.tolist(), n]
    parts = [PartScores(i, scores[a:b], costs[a:b])
             for i, (a, b) in enumerate(itertools.pairwise(bounds))]

    def run(function, **kwargs):
        return [function(part, **kwargs) for part in parts]

    try:
        reference = constrained_point(scores, costs, limits, names)
    except Infeasible as in_memory:
        with pytest.raises(Infeasible) as partitioned:
            solve_limited(run, n, names, limits)
        assert str(partitioned.value) == str(in_memory)
        return
    solution = solve_limited(run, n, names, limits)
    point = solution.point
    chosen = np.concatenate(run(allocated, spec=Spec(point.limits, point.objective),
                                lam=solution.choice_prices, overrides=solution.overrides))
    assert meets(chosen, scores, costs, limits, names)
    assert reference.accuracy - point.accuracy <= point.gap_accuracy + 1e-9
    assert point.accuracy - reference.accuracy <= reference.gap_accuracy + 1e-9
