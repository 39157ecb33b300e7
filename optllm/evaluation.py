"""Measures of a front against the truth (docs/algorithm.md, "Measures").

A front found on predicted scores is re-scored with the true labels; it is then compared
with the true front (the best any predictor could allow) on objectives normalised by the
true front's extremes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from optllm.optimizers.front import Front, non_dominated
from optllm.optimizers.hull import cheapest_allocation

#: One line each on what the headline measures mean, printed by the command and written to
#: summary.json (docs/algorithm.md, "Measures", has the definitions).
EXPLANATIONS = {
    "cost_saving_at_best_accuracy": "share of the best single model's cost saved by the "
                                    "cheapest allocation that is as accurate (true labels)",
    "accuracy_gain_at_best_cost": "true accuracy gained, in percentage points (pp), by the "
                                  "best allocation costing no more than the best single model",
    "igd": "inverted generational distance: mean distance from the true (oracle) front to "
           "this front, on normalised axes; 0 is perfect, lower is better",
    "spread": "Deb's Delta: how evenly the points cover the front end to end; "
             "0 is perfectly even, lower is better",
    "hypervolume": "area this front dominates up to the best single model's cost, as a share "
                   "of the true front's area; 1 is the oracle, higher is better",
}


@dataclass(frozen=True)
class TrueFront:
    """The oracle front from the labels: cost (USD) and true accuracy, sorted by cost."""

    cost: np.ndarray
    accuracy: np.ndarray


def true_front(labels: np.ndarray, costs: np.ndarray) -> TrueFront:
    """From the cheapest allocation, switch queries to their cheapest correct model in
    order of increasing extra cost (queries no model gets right stay cheapest)."""
    labels = np.asarray(labels, dtype=np.float64)
    n = labels.shape[0]
    rows = np.arange(n)
    cheapest = cheapest_allocation(labels, costs)
    correct_cost = np.where(labels > 0, costs, np.inf)
    best = correct_cost.argmin(axis=1)
    switch = np.isfinite(correct_cost[rows, best]) & (labels[rows, cheapest] == 0)
    extra = costs[rows, best] - costs[rows, cheapest]
    q = np.flatnonzero(switch)
    q = q[np.argsort(extra[q], kind="stable")]
    base_cost = costs[rows, cheapest].sum()
    base_correct = labels[rows, cheapest].sum()
    cost = base_cost + np.concatenate(([0.0], np.cumsum(extra[q])))
    accuracy = (base_correct + np.arange(q.size + 1)) / n
    keep = non_dominated(cost, accuracy)
    return TrueFront(cost[keep], accuracy[keep])


@dataclass(frozen=True)
class SingleModel:
    model: str
    cost: float
    true_accuracy: float


def single_models(labels: np.ndarray, costs: np.ndarray, models: tuple[str, ...] | list[str]
                  ) -> list[SingleModel]:
    """Every model used for all queries: its total cost and true accuracy."""
    return [SingleModel(m, float(costs[:, j].sum()), float(labels[:, j].mean()))
            for j, m in enumerate(models)]


def best_single_model(singles: list[SingleModel]) -> SingleModel:
    """The most accurate single model; ties go to the cheaper one."""
    return min(singles, key=lambda s: (-s.true_accuracy, s.cost))


class Normaliser:
    """Maps (cost, accuracy) to [0, 1] by the true front's extremes."""

    def __init__(self, reference: TrueFront) -> None:
        self.cost_lo, self.cost_hi = float(reference.cost[0]), float(reference.cost[-1])
        self.acc_lo, self.acc_hi = float(reference.accuracy[0]), float(reference.accuracy[-1])

    def __call__(self, cost: np.ndarray, accuracy: np.ndarray) -> np.ndarray:
        c_span = self.cost_hi - self.cost_lo or 1.0
        a_span = self.acc_hi - self.acc_lo or 1.0
        return np.column_stack(((np.asarray(cost) - self.cost_lo) / c_span,
                                (np.asarray(accuracy) - self.acc_lo) / a_span))


def igd(points: np.ndarray, reference: np.ndarray) -> float:
    """Mean distance from each reference point to its nearest point of the front (2-D)."""
    if len(points) == 0:
        return float("inf")
    # A front is nearly a 1-D curve: an unbalanced tree without compact nodes builds
    # about ten times faster on it than the default.
    tree = cKDTree(points, compact_nodes=False, balanced_tree=False)
    distances, _ = tree.query(reference)
    return float(np.mean(distances))


def spread(points: np.ndarray, reference: np.ndarray) -> float:
    """Deb's Delta: how evenly the points cover the front, including its two ends."""
    points = points[np.lexsort((points[:, 1], points[:, 0]))]
    reference = reference[np.lexsort((reference[:, 1], reference[:, 0]))]
    d_first = float(np.linalg.norm(points[0] - reference[0]))
    d_last = float(np.linalg.norm(points[-1] - reference[-1]))
    if len(points) < 2:
        return 1.0
    gaps = np.linalg.norm(np.diff(points, axis=0), axis=1)
    mean_gap = gaps.mean()
    denominator = d_first + d_last + (len(points) - 1) * mean_gap
    if denominator == 0:
        return 0.0
    return float((d_first + d_last + np.abs(gaps - mean_gap).sum()) / denominator)


def dominated_area(cost: np.ndarray, accuracy: np.ndarray, cost_max: float,
                   acc_min: float, acc_max: float) -> float:
    """Area of {(x, y): some point has cost <= x <= cost_max and acc_min <= y <= its acc}."""
    inside = cost <= cost_max
    c = np.asarray(cost)[inside]
    a = np.minimum(np.asarray(accuracy)[inside], acc_max)
    if c.size == 0:
        return 0.0
    keep = non_dominated(c, a)
    c, a = c[keep], a[keep]
    heights = np.clip(a - acc_min, 0.0, None)
    widths = np.diff(np.concatenate((c, [cost_max])))
    return float((widths * heights).sum())


@dataclass(frozen=True)
class Evaluation:
    """A front scored with true labels, and the headline figures."""

    true_cost: np.ndarray
    true_accuracy: np.ndarray
    truth: TrueFront
    singles: list[SingleModel]
    best_single: SingleModel
    igd: float
    spread: float
    hypervolume: float
    cost_saving_at_best_accuracy: float | None
    accuracy_gain_at_best_cost: float | None

    def as_dict(self) -> dict:
        return {
            "igd": self.igd,
            "spread": self.spread,
            "hypervolume": self.hypervolume,
            "cost_saving_at_best_accuracy": self.cost_saving_at_best_accuracy,
            "accuracy_gain_at_best_cost": self.accuracy_gain_at_best_cost,
            "best_single_model": self.best_single.model,
        }


def evaluate(front: Front, labels: np.ndarray, costs: np.ndarray,
             models: tuple[str, ...] | list[str], *, offer_single_models: bool = False
             ) -> Evaluation:
    """Re-score `front` with the true labels and measure it against the true front.

    With `offer_single_models`, the saving and the gain are measured on the front together
    with the single-model allocations (what a user can choose); without, on the front alone
    (what a comparison of optimisers needs)."""
    labels = np.asarray(labels, dtype=np.float64)
    n = labels.shape[0]
    true_cost = np.asarray(front.cost)
    true_accuracy = front.totals(labels) / n
    truth = true_front(labels, costs)
    singles = single_models(labels, costs, models)
    best = best_single_model(singles)
    # A user can always send every query to one model: counting those choices, the saving
    # is never n/a for want of an all-best-model point when the predictor preferred a
    # cheaper model on some queries.
    offered = singles if offer_single_models else []
    offered_cost = np.concatenate((true_cost, [s.cost for s in offered]))
    offered_accuracy = np.concatenate((true_accuracy, [s.true_accuracy for s in offered]))
    return Evaluation(
        true_cost=true_cost,
        true_accuracy=true_accuracy,
        truth=truth,
        singles=singles,
        best_single=best,
        hypervolume=hypervolume_ratio(true_cost, true_accuracy, truth, best),
        cost_saving_at_best_accuracy=cost_saving(offered_cost, offered_accuracy, best),
        accuracy_gain_at_best_cost=accuracy_gain(offered_cost, offered_accuracy, best),
        **_shape_measures(true_cost, true_accuracy, truth),
    )


def _shape_measures(cost: np.ndarray, accuracy: np.ndarray, truth: TrueFront) -> dict:
    """IGD and spread of the evaluated front's non-dominated points, normalised."""
    norm = Normaliser(truth)
    keep = non_dominated(cost, accuracy)
    points = norm(cost[keep], accuracy[keep])
    reference = norm(truth.cost, truth.accuracy)
    return {"igd": igd(points, reference), "spread": spread(points, reference)}


def hypervolume_ratio(cost: np.ndarray, accuracy: np.ndarray, truth: TrueFront,
                      best: SingleModel) -> float:
    """Area the front dominates in the box up to the best single model's cost, over the
    true front's area in the same box (the oracle scores 1)."""
    cost_lo, cost_hi = float(truth.cost[0]), max(best.cost, float(truth.cost[0]))
    acc_lo, acc_hi = float(truth.accuracy[0]), float(truth.accuracy[-1])
    norm_c = (cost_hi - cost_lo) or 1.0
    norm_a = (acc_hi - acc_lo) or 1.0

    def area(c: np.ndarray, a: np.ndarray) -> float:
        return dominated_area((c - cost_lo) / norm_c, (a - acc_lo) / norm_a, 1.0, 0.0, 1.0)

    ideal = area(truth.cost, truth.accuracy)
    return area(cost, accuracy) / ideal if ideal > 0 else float("nan")


def cost_saving(cost: np.ndarray, accuracy: np.ndarray, best: SingleModel) -> float | None:
    """1 - cost / best model's cost, at the cheapest point reaching its true accuracy."""
    reached = accuracy >= best.true_accuracy - 1e-12
    if not reached.any() or best.cost <= 0:
        return None
    return float(1.0 - cost[reached].min() / best.cost)


def cheapest_reaching(cost: np.ndarray, accuracy: np.ndarray, target: float) -> int | None:
    """Index of the cheapest point whose accuracy reaches `target`, or None."""
    reached = np.flatnonzero(accuracy >= target - 1e-12)
    return None if reached.size == 0 else int(reached[np.argmin(cost[reached])])


def accuracy_gain(cost: np.ndarray, accuracy: np.ndarray, best: SingleModel) -> float | None:
    """Best true accuracy among points costing no more than the best model, minus its own."""
    within = cost <= best.cost * (1 + 1e-12)
    if not within.any():
        return None
    return float(accuracy[within].max() - best.true_accuracy)
