"""Measures against hand-computed values and brute force on tiny fronts."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from optllm import optimize
from optllm.evaluation import (
    SingleModel,
    TrueFront,
    accuracy_gain,
    cost_saving,
    dominated_area,
    evaluate,
    hypervolume_ratio,
    igd,
    spread,
    true_front,
)
from optllm.optimizers.front import non_dominated

LABELS = np.array([[0, 1, 1], [1, 1, 1], [0, 0, 1], [0, 0, 0]], dtype=float)
COSTS = np.array([[1.0, 2.0, 5.0], [1.0, 2.0, 5.0], [1.0, 3.0, 4.0], [1.0, 2.0, 5.0]])


def test_true_front_by_hand():
    front = true_front(LABELS, COSTS)
    # Cheapest: cost 4, one correct (query 1). Then query 0 (+1), then query 2 (+3).
    np.testing.assert_allclose(front.cost, [4.0, 5.0, 8.0])
    np.testing.assert_allclose(front.accuracy, [0.25, 0.5, 0.75])


def test_true_front_matches_brute_force():
    rng = np.random.default_rng(0)
    labels = (rng.random((6, 3)) < 0.5).astype(float)
    costs = rng.integers(1, 5, (6, 3)).astype(float)
    allocs = np.array(list(itertools.product(range(3), repeat=6)))
    rows = np.arange(6)
    cost = costs[rows, allocs].sum(axis=1)
    acc = labels[rows, allocs].mean(axis=1)
    keep = non_dominated(cost, acc)
    front = true_front(labels, costs)
    np.testing.assert_allclose(front.cost, cost[keep])
    np.testing.assert_allclose(front.accuracy, acc[keep])


def test_igd_zero_on_itself_and_positive_otherwise():
    ref = np.array([[0.0, 0.0], [0.5, 0.7], [1.0, 1.0]])
    assert igd(ref, ref) == 0.0
    assert igd(ref[:1], ref) > 0.0
    assert igd(np.empty((0, 2)), ref) == float("inf")


def test_spread_of_even_front_is_zero():
    pts = np.array([[0.0, 0.0], [0.5, 0.5], [1.0, 1.0]])
    assert spread(pts, pts) == pytest.approx(0.0)
    uneven = np.array([[0.0, 0.0], [0.1, 0.1], [1.0, 1.0]])
    assert spread(uneven, pts) > 0.3


def test_dominated_area_never_decreases_when_a_point_is_added():
    rng = np.random.default_rng(1)
    cost, acc = rng.random(20), rng.random(20)
    areas = [dominated_area(cost[:k], acc[:k], 1.0, 0.0, 1.0) for k in range(1, 21)]
    assert all(b >= a - 1e-15 for a, b in itertools.pairwise(areas))
    assert dominated_area(np.array([0.0]), np.array([1.0]), 1.0, 0.0, 1.0) == 1.0


def test_oracle_scores_one_and_headline_figures():
    truth = true_front(LABELS, COSTS)
    best = SingleModel("m2", 19.0, 0.75)
    assert hypervolume_ratio(truth.cost, truth.accuracy, truth, best) == pytest.approx(1.0)
    # The truth reaches 0.75 at cost 8 against the best model's 19.
    assert cost_saving(truth.cost, truth.accuracy, best) == pytest.approx(1 - 8 / 19)
    assert accuracy_gain(truth.cost, truth.accuracy, best) == pytest.approx(0.0)
    assert cost_saving(np.array([4.0]), np.array([0.25]), best) is None
    assert accuracy_gain(np.array([30.0]), np.array([0.9]), best) is None


def test_hypervolume_by_hand():
    truth = TrueFront(np.array([0.0, 1.0]), np.array([0.0, 1.0]))
    best = SingleModel("b", 2.0, 0.5)
    # The true front's area in the box [0, 2] x [0, 1] is 1 (from cost 1 to 2 at height 1).
    # The point (0, 0.5) covers 2 x 0.5 = 1 as well.
    assert hypervolume_ratio(np.array([0.0]), np.array([0.5]), truth, best) == pytest.approx(1.0)
    assert hypervolume_ratio(np.array([1.5]), np.array([1.0]), truth, best) == pytest.approx(0.5)


def test_evaluate_oracle_scores_dominate_predicted_ones():
    rng = np.random.default_rng(2)
    n, m = 400, 6
    p = rng.random((n, m))
    labels = (rng.random((n, m)) < p).astype(float)
    costs = rng.gamma(2.0, 0.01, (n, m))
    noisy = np.clip(p + rng.normal(0, 0.3, (n, m)), 0, 1)
    oracle = evaluate(optimize(labels, costs, method="hull"), labels, costs, list("abcdef"))
    predicted = evaluate(optimize(noisy, costs, method="hull"), labels, costs, list("abcdef"))
    assert oracle.hypervolume == pytest.approx(1.0, abs=1e-9)
    assert oracle.igd == pytest.approx(0.0, abs=1e-9)
    assert predicted.hypervolume < oracle.hypervolume
    assert predicted.igd > oracle.igd
    assert set(oracle.as_dict()) >= {"igd", "spread", "hypervolume",
                                     "cost_saving_at_best_accuracy",
                                     "accuracy_gain_at_best_cost", "best_single_model"}
