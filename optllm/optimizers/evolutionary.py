"""Multi-objective evolutionary baselines from pymoo: NSGA-II, SMS-EMOA and MOEA/D.

The OptLLM paper compares its search with these algorithms on the same problem: one integer
variable per query (the index of its model, 0..M-1), minimising total cost and maximising the
expected accuracy. They are here to be measured against, not to be used: on thousands of
variables they need far more evaluations than the separable methods (`optllm`, `hull`).

pymoo is an optional dependency (`pip install 'optllm[baselines]'`) and is imported at the top
of this module, so import it only when pymoo is there; `optllm.pipeline.compare` does so lazily and
turns its absence into a `ConfigError` that names the method.

Settings are the paper's tuned ones (its published `parameter_setting/res_/*.json`):

- NSGA-II: Latin hypercube sampling, binary tournament selection, SBX crossover
  (prob 0.778, eta 7), polynomial mutation (prob 0.812, eta 9).
- SMS-EMOA: random sampling, SBX (prob 0.760, eta 5), polynomial mutation (prob 0.068, eta 28).
- MOEA/D: uniform grid of weight vectors (one per individual), boundary-intersection
  decomposition (PBI), 10 neighbours; pymoo's default SBX and mutation.

Every algorithm rounds its offspring to integers (`RoundingRepair`, as pymoo's guide for
discrete variables does). The start population is not seeded with the two extreme allocations:
the paper's NSGA-II and SMS-EMOA start from plain random or Latin hypercube samples (only its
R-NSGA-II uses the extremes, as reference points), so seeding would test another algorithm.
The caller sets the budget; `optllm.pipeline.compare` defaults to a population of 100 (the paper's)
for 200 generations, 20,000 evaluations per run.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from pymoo.algorithms.moo.moead import MOEAD
from pymoo.algorithms.moo.nsga2 import NSGA2
from pymoo.algorithms.moo.sms import SMSEMOA
from pymoo.core.algorithm import Algorithm
from pymoo.core.callback import Callback
from pymoo.core.duplicate import DuplicateElimination
from pymoo.core.problem import Problem
from pymoo.decomposition.pbi import PBI
from pymoo.operators.crossover.sbx import SBX
from pymoo.operators.mutation.pm import PM
from pymoo.operators.repair.rounding import RoundingRepair
from pymoo.operators.sampling.lhs import LHS
from pymoo.operators.sampling.rnd import FloatRandomSampling
from pymoo.optimize import minimize
from pymoo.util.ref_dirs import get_reference_directions

from optllm.exceptions import ConfigError
from optllm.optimizers.api import check_problem
from optllm.optimizers.front import Front, non_dominated
from optllm.optimizers.hull import cheapest_allocation, most_accurate_allocation
from optllm.progress import ProgressCallback, ShouldStop, report

EVOLUTIONARY = ("nsga2", "smsemoa", "moead")

#: Called after every generation with the non-dominated (cost, expected accuracy,
#: allocations) of the current population, sorted by cost (read-only copies).
OnGeneration = Callable[[np.ndarray, np.ndarray, np.ndarray], None]


class AllocationProblem(Problem):
    """Minimise (cost, -expected accuracy) of allocations, one integer variable per query.

    Both objectives are scaled affinely so that the cheapest allocation sits at 0 and the most
    accurate one at 1 (the dominance order is unchanged). NSGA-II and SMS-EMOA normalise on
    their own; MOEA/D's weight vectors do not, and would otherwise see dollars against a
    fraction and spend its whole population on the cost axis.
    """

    def __init__(self, scores: np.ndarray, costs: np.ndarray) -> None:
        self.scores, self.costs = check_problem(scores, costs)
        n, m = self.scores.shape
        self._flat = np.arange(n, dtype=np.intp) * m
        ends = np.stack((cheapest_allocation(self.scores, self.costs),
                         most_accurate_allocation(self.scores, self.costs)))
        (self._cost_lo, cost_hi), (acc_lo, self._acc_hi) = self.totals(ends)
        self._cost_span = (cost_hi - self._cost_lo) or 1.0
        self._acc_span = (self._acc_hi - acc_lo) or 1.0
        super().__init__(n_var=n, n_obj=2, xl=0, xu=m - 1, vtype=int)

    def totals(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Total cost (USD) and expected accuracy of each allocation row of X, (P, N)."""
        index = self._flat + np.asarray(X, dtype=np.intp)
        return (np.take(self.costs, index).sum(axis=1),
                np.take(self.scores, index).mean(axis=1))

    def _evaluate(self, x: np.ndarray, out: dict, *args: object, **kwargs: object) -> None:
        cost, accuracy = self.totals(np.atleast_2d(x))
        out["F"] = np.column_stack(((cost - self._cost_lo) / self._cost_span,
                                    (self._acc_hi - accuracy) / self._acc_span))


class ExactDuplicates(DuplicateElimination):
    """Drop individuals whose allocation repeats an earlier one (or one in `other`).

    pymoo's default compares every pair by Euclidean distance, a P x P x N job that dominates
    a generation at thousands of queries; here each allocation is hashed once by its bytes
    (a loop over the population, never over queries).
    """

    def _do(self, pop, other, is_duplicate: np.ndarray) -> np.ndarray:
        seen = set() if other is None else {row.tobytes() for row in _int_rows(other)}
        for i, row in enumerate(_int_rows(pop)):
            key = row.tobytes()
            is_duplicate[i] |= key in seen
            seen.add(key)
        return is_duplicate


def _int_rows(pop) -> np.ndarray:
    return np.ascontiguousarray(pop.get("X"), dtype=np.int32).reshape(len(pop), -1)


class GenerationReport(Callback):
    """After every generation: progress, the current front to `on_generation`, and a stop
    check that ends the run there."""

    def __init__(self, problem: AllocationProblem, stage: str, generations: int, *,
                 progress: ProgressCallback | None, should_stop: ShouldStop | None,
                 on_generation: OnGeneration | None) -> None:
        super().__init__()
        self.problem = problem
        self.stage = stage
        self.generations = generations
        self.progress = progress
        self.should_stop = should_stop
        self.on_generation = on_generation
        self.cancelled = False

    def notify(self, algorithm: Algorithm) -> None:
        report(self.progress, self.stage, algorithm.n_iter, self.generations,
               f"{algorithm.evaluator.n_eval} evaluations")
        if self.on_generation is not None:
            allocations = np.atleast_2d(algorithm.opt.get("X")).astype(np.intp)
            cost, accuracy = self.problem.totals(allocations)
            keep = non_dominated(cost, accuracy)
            front = cost[keep], accuracy[keep], allocations[keep]
            for array in front:
                array.flags.writeable = False
            self.on_generation(*front)
        if self.should_stop is not None and self.should_stop():
            self.cancelled = True
            algorithm.termination.terminate()
            algorithm.termination.update(algorithm)  # takes effect now, not a generation later


def make_algorithm(method: str, pop_size: int) -> Algorithm:
    """A fresh pymoo algorithm for `method` with the paper's tuned settings."""
    if method == "nsga2":
        return NSGA2(pop_size=pop_size, sampling=LHS(), repair=RoundingRepair(),
                     crossover=SBX(prob=0.778, eta=7, vtype=float, repair=RoundingRepair()),
                     mutation=PM(prob=0.812, eta=9, vtype=float, repair=RoundingRepair()),
                     eliminate_duplicates=ExactDuplicates())
    if method == "smsemoa":
        return SMSEMOA(pop_size=pop_size, sampling=FloatRandomSampling(), repair=RoundingRepair(),
                       crossover=SBX(prob=0.760, eta=5, vtype=float, repair=RoundingRepair()),
                       mutation=PM(prob=0.068, eta=28, vtype=float, repair=RoundingRepair()),
                       eliminate_duplicates=ExactDuplicates())
    if method == "moead":
        ref_dirs = get_reference_directions("uniform", 2, n_partitions=pop_size - 1)
        return MOEAD(ref_dirs=ref_dirs, n_neighbors=min(10, pop_size), decomposition=PBI(),
                     sampling=FloatRandomSampling(), repair=RoundingRepair(),
                     crossover=SBX(prob=1.0, eta=20, vtype=float, repair=RoundingRepair()),
                     mutation=PM(eta=20, vtype=float, repair=RoundingRepair()))
    raise ConfigError(f"unknown evolutionary method {method!r}; choose one of "
                      f"{', '.join(EVOLUTIONARY)}")


def evolve(method: str, scores: np.ndarray, costs: np.ndarray, *, pop_size: int,
           generations: int, seed: int = 0, progress: ProgressCallback | None = None,
           should_stop: ShouldStop | None = None,
           on_generation: OnGeneration | None = None) -> Front:
    """The non-dominated allocations of the final population of `method` on (N, M) scores
    and costs.

    Reports `(method, generation, generations)` after each generation and hands the
    population's current front to `on_generation` as (cost, expected accuracy, allocations),
    (K,), (K,) and (K, N). When `should_stop()` turns True the run
    ends after that generation and the front so far comes back with status "cancelled".
    """
    if pop_size < 2:
        raise ConfigError(f"population size must be at least 2; got {pop_size}")
    if generations < 1:
        raise ConfigError(f"generations must be at least 1; got {generations}")
    t0 = time.perf_counter()
    problem = AllocationProblem(scores, costs)
    algorithm = make_algorithm(method, pop_size)
    callback = GenerationReport(problem, method, generations, progress=progress,
                                should_stop=should_stop, on_generation=on_generation)
    result = minimize(problem, algorithm, ("n_gen", generations), seed=seed,
                      callback=callback, verbose=False)
    return Front.from_allocations(
        np.atleast_2d(result.X).astype(np.intp), problem.scores, problem.costs, method=method,
        status="cancelled" if callback.cancelled else "converged",
        elapsed_s=time.perf_counter() - t0)
