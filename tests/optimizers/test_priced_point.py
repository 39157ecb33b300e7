"""The limits' report at one point of a front under limits (what the app shows for the
chosen point and writes to summary.json): its prices at its own cost and a gap that holds
against the exact integer optimum, for points of the exact front and repaired ones alike."""

from __future__ import annotations

import numpy as np
import pytest
from test_constraints import assert_within_limits, instance, milp_optimum

from optllm import optimize
from optllm.config import RunConfig
from optllm.optimizers.constraints import constrained_point, front_under_limits, priced_point
from optllm.pipeline.limits import limited_point


def config_of(names: list[str], n: int) -> RunConfig:
    return RunConfig(limits={"max_queries": {names[-1]: n // 10},
                             "min_share": {names[0]: 0.3}})


@pytest.mark.parametrize(("seed", "n", "m", "method"), [(0, 200, 3, "hull"),
                                                        (1, 300, 4, "optllm")])
def test_each_point_is_within_its_stated_gap_of_the_optimum_at_its_cost(
        seed: int, n: int, m: int, method: str) -> None:
    scores, costs, names = instance(seed, n, m)
    config = config_of(names, n)
    constraints = config.constraints()
    assert constraints is not None
    front = front_under_limits(optimize(scores, costs, method), scores, costs, constraints,
                               names, exact=method == "hull", n_points=6)
    for k in range(len(front)):
        allocation = front.allocation(k)
        point = priced_point(allocation, scores, costs, constraints, names)
        np.testing.assert_array_equal(point.allocation, allocation)
        assert point.cost == pytest.approx(front.cost[k])
        at_cost = constraints.with_budget(point.cost)
        assert_within_limits(allocation, scores, costs, names, at_cost)
        optimum = milp_optimum(scores, costs, names, at_cost)
        ours = point.accuracy * n
        assert optimum <= ours + point.gap_accuracy * n + 1e-9
        assert (point.multipliers >= 0).all()


def test_a_solved_point_priced_at_its_own_cost_states_no_wider_gap() -> None:
    """Its own cost is at most the budget it was solved under, so the bound is as tight."""
    scores, costs, names = instance(4, 250, 4)
    constraints = config_of(names, 250).constraints()
    assert constraints is not None
    budget = float(costs.min(axis=1).sum() * 3)
    solved = constrained_point(scores, costs, constraints.with_budget(budget), names)
    point = priced_point(solved.allocation, scores, costs, constraints, names)
    np.testing.assert_allclose(point.realised, solved.realised)
    assert point.gap_accuracy <= solved.gap_accuracy + 1e-12


def test_the_report_gives_per_model_queries_and_spend_and_the_budget_it_was_priced_at(
        ) -> None:
    scores, costs, names = instance(5, 200, 4)
    config = config_of(names, 200)
    allocation = constrained_point(scores, costs, config.constraints(), names).allocation
    report = limited_point(allocation, scores, costs, config, names).as_dict()
    rows = np.arange(allocation.size)
    spent = float(costs[rows, allocation].sum())
    assert report["given"]["budget"] == pytest.approx(spent)
    per_model = report["per_model"]
    assert sum(row["spend"] for row in per_model) == pytest.approx(spent)
    assert [row["queries"] for row in per_model] == np.bincount(
        allocation, minlength=len(names)).tolist()
    cap = next(row for row in report["limits"] if row["kind"] == "max_queries")
    assert cap["realised"] <= 20 and cap["multiplier_unit"] == "accuracy per query"
