"""Constrained allocation speed: one point and a 50-point front under a budget and three
per-model limits, on synthetic 1M x 12 (the stand-in predictor of bench_optimize.py).

Run: python benchmarks/bench_constraints.py [--queries 1000000] [--points 50]
Prints a Markdown table: seconds, the stated gap, and which limits bind.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from bench_optimize import synthetic_problem

from optllm.optimizers.constraints import Constraints, constrained_front, constrained_point
from optllm.progress import Progress


def limits_for(scores: np.ndarray, costs: np.ndarray, models: list[str]) -> Constraints:
    """A budget halfway between the cheapest and the most accurate allocation, a cap on the
    most accurate model (a tenth of its queries there), a spend limit on the second most
    accurate (half its spend) and a minimum share for the cheapest model."""
    n = scores.shape[0]
    rows = np.arange(n)
    best = scores.argmax(axis=1)
    cheapest_cost = costs.min(axis=1).sum()
    budget = cheapest_cost + 0.5 * (costs[rows, best].sum() - cheapest_cost)
    by_accuracy = np.argsort(-scores.mean(axis=0))
    top, second = by_accuracy[0], by_accuracy[1]
    cheapest = int(np.argmin(costs.sum(axis=0)))
    return Constraints(
        budget=float(budget),
        max_queries={models[top]: int(np.count_nonzero(best == top) // 10)},
        max_spend={models[second]: float(costs[best == second, second].sum() / 2)},
        min_share={models[cheapest]: 0.15})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--queries", type=int, default=1_000_000)
    parser.add_argument("--points", type=int, default=50)
    args = parser.parse_args()
    scores, costs, label = synthetic_problem(args.queries)
    models = [f"m{j}" for j in range(scores.shape[1])]
    limits = limits_for(scores, costs, models)
    print(f"| case ({label}, budget + 3 limits) | seconds | gap (accuracy) | binding |")
    print("|---|---:|---:|---|")
    t0 = time.perf_counter()
    point = constrained_point(scores, costs, limits, models)
    seconds = time.perf_counter() - t0
    binding = ", ".join(limit.label for limit, b in zip(point.limits, point.binding,
                                                        strict=True) if b)
    print(f"| one constrained point | {seconds:.1f} | {point.gap_accuracy:.2e} | {binding} |")
    t0 = time.perf_counter()

    def progress(event: Progress) -> None:
        print(f"front point {event.done}/{event.total} at {time.perf_counter() - t0:.1f} s",
              file=sys.stderr, flush=True)

    front = constrained_front(scores, costs, limits.with_budget(None), models,
                              n_points=args.points, progress=progress)
    seconds = time.perf_counter() - t0
    worst = max(p.gap_accuracy for p in front.points)
    print(f"| constrained front, {args.points} budgets ({len(front.front)} points kept) | "
          f"{seconds:.1f} | max {worst:.2e} | |")


if __name__ == "__main__":
    main()
