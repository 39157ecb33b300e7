"""The point under per-model limits found over partitions of queries that are never all in
one place: the in-memory method of `optllm.optimizers.constraints`, its passes over every
query done as map-reduce rounds.

The multipliers are a few numbers, and at given multipliers each query takes the model of
best price-adjusted value on its own, so the totals the limits need (queries, spend per
model, score) are one round: each partition sends M counts, M sums and a score. The prices
are found as the in-memory `constraints._relaxation` finds them:

1. prices of the linear relaxation on a uniform sample of the queries, limits scaled to the
   sample (`relaxation_prices`, solved in memory): the sample's price error shrinks with its
   size, so only the queries within that error of a tie can change model;
2. those queries nearest a tie ("free", a few thousand, gathered by one round of
   per-partition margins and one gather) are solved as a linear program with every other
   query fixed at its choice at the sample's prices (the fixed queries' totals come from
   the same round); a round then finds the fixed queries whose choice the new prices
   disagree with, they are freed and the program solved again. When none disagrees, the
   prices and the solution meet complementary slackness for the whole problem: they are
   the exact duals of the full relaxation, not an approximation;
3. the relaxation's fractional queries (at most limits + 1) and the queries nearest a tie at
   those prices are gathered and re-solved as a small integer program with every other
   query fixed, so every limit holds exactly on the allocation; it reaches the partitions
   as per-row overrides of their price-adjusted choice.

Why not bisection per multiplier: coordinate steps on the dual stall where limits couple (a
budget and a spend limit price the same dollars), each step costs a round per bisection
level, and they end with approximate prices whose bound is looser. The rounds above are a
handful however many limits there are, and the duals are exact. The stated gap is the dual
bound (weak duality: valid for any non-negative multipliers) minus the allocation's value,
as `ConstrainedPoint.gap_accuracy`/`gap_usd` state it.

`solve_limited` takes the round as a function (`Run`), so the same code runs over a list
in memory (the tests) or over a Dask cluster (`optllm.pipeline.distributed`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from optllm.optimizers.constraints import (
    FREE_QUERIES,
    FULL_LP_QUERIES,
    MAX_PRICING_ROUNDS,
    REPAIR_QUERIES,
    SAMPLE_FACTOR,
    ConstrainedPoint,
    Constraints,
    Infeasible,
    Limit,
    LimitProblem,
    check_limits,
    explain_infeasible,
    limit_rows,
    relaxation_prices,
    solve_integer,
    solve_relaxation,
    stated_gap,
)

#: The sample pricing the limits holds at most this many queries (it is solved in memory).
SAMPLE_QUERIES = 200_000

#: Per-partition row overrides of the price-adjusted choice: {part: (rows, models)}.
Overrides = Mapping[int, tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class PartScores:
    """One partition's scores and costs (N, M), kept where the partition was scored."""

    part: int
    scores: np.ndarray
    costs: np.ndarray


@dataclass(frozen=True)
class Spec:
    """What every partition needs to price its queries: the limits and the objective."""

    limits: tuple[Limit, ...]
    objective: str

    def problem(self, scores: np.ndarray, costs: np.ndarray) -> LimitProblem:
        weights = (1.0, 0.0) if self.objective == "accuracy" else (0.0, 1.0)
        return LimitProblem(scores, costs, list(self.limits), *weights, None)


@dataclass(frozen=True)
class Sums:
    """Queries, spend per model and summed score of an allocation (or part of one)."""

    counts: np.ndarray
    spend: np.ndarray
    score: float

    @classmethod
    def of(cls, scores: np.ndarray, costs: np.ndarray, models: np.ndarray) -> Sums:
        rows = np.arange(models.size)
        m = scores.shape[1]
        return cls(np.bincount(models, minlength=m).astype(np.float64),
                   np.bincount(models, weights=costs[rows, models], minlength=m),
                   float(scores[rows, models].sum()))

    def __add__(self, other: Sums) -> Sums:
        return Sums(self.counts + other.counts, self.spend + other.spend,
                    self.score + other.score)

    def __sub__(self, other: Sums) -> Sums:
        return Sums(self.counts - other.counts, self.spend - other.spend,
                    self.score - other.score)

    @property
    def cost(self) -> float:
        return float(self.spend.sum())

    def rows(self, limits: Sequence[Limit]) -> np.ndarray:
        """Each limit's row sum (as `LimitProblem.totals`)."""
        out = np.empty(len(limits))
        for k, limit in enumerate(limits):
            out[k] = {"budget": self.cost, "target_accuracy": -self.score,
                      "max_queries": self.counts[limit.model or 0],
                      "max_spend": self.spend[limit.model or 0],
                      "min_share": -self.counts[limit.model or 0]}[limit.kind]
        return out


@dataclass(frozen=True)
class Tally:
    """A partition's answer to a round: the totals of its allocation, the sum and largest
    size of its best price-adjusted values (the dual bound's part), its smallest margins."""

    sums: Sums
    value: float
    largest: float
    margins: np.ndarray


@dataclass(frozen=True)
class Rows:
    """Gathered queries: partition, row within it, scores and costs (K, M), current model."""

    part: np.ndarray
    row: np.ndarray
    scores: np.ndarray
    costs: np.ndarray
    model: np.ndarray

    @classmethod
    def joined(cls, parts: Sequence[Rows]) -> Rows:
        return cls(*(np.concatenate([getattr(p, name) for p in parts])
                     for name in ("part", "row", "scores", "costs", "model")))

    @property
    def size(self) -> int:
        return int(self.row.size)

    def sums(self, models: np.ndarray | None = None) -> Sums:
        return Sums.of(self.scores, self.costs, self.model if models is None else models)

    def overrides(self, models: np.ndarray) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """These rows set to `models`, per partition."""
        return {int(p): (self.row[self.part == p], models[self.part == p])
                for p in np.unique(self.part)}


def sample_part(part: PartScores, fraction: float, seed: int = 0
                ) -> tuple[np.ndarray, np.ndarray]:
    """Map step: a uniform sample (each query kept with probability `fraction`)."""
    keep = np.random.default_rng((seed, part.part)).random(part.scores.shape[0]) < fraction
    return part.scores[keep], part.costs[keep]


def cheapest_part(part: PartScores, model: int, usd: float) -> np.ndarray:
    """Map step: the partition's cheapest costs of `model` that `usd` pays for, ascending
    (the cheapest ones overall that `usd` pays for are among the partitions' answers)."""
    cheapest = np.sort(part.costs[:, model])
    return cheapest[:int(np.searchsorted(np.cumsum(cheapest), usd, side="right"))]


def allocated(part: PartScores, spec: Spec, lam: np.ndarray, overrides: Overrides
              ) -> np.ndarray:
    """Map step: the partition's model per query: its choice at the prices `lam`, with the
    overrides of its rows."""
    choice = spec.problem(part.scores, part.costs).best(lam)[0]
    if part.part in overrides:
        rows, models = overrides[part.part]
        choice[rows] = models
    return choice


def tally_part(part: PartScores, spec: Spec, lam: np.ndarray, overrides: Overrides,
               price: np.ndarray, keep: int) -> Tally:
    """Map step: totals of the partition's allocation (`allocated`), and at the prices
    `price` the sum of best adjusted values and the `keep` smallest margins."""
    choice = allocated(part, spec, lam, overrides)
    _, value, margin = spec.problem(part.scores, part.costs).best(price)
    small = np.sort(np.partition(margin, keep - 1)[:keep]) if keep < margin.size else np.sort(
        margin)
    return Tally(Sums.of(part.scores, part.costs, choice), float(value.sum()),
                 float(np.abs(value).max(initial=0.0)), small)


def gather_part(part: PartScores, spec: Spec, lam: np.ndarray, overrides: Overrides,
                price: np.ndarray, threshold: float, skip: Overrides) -> Rows:
    """Map step: the queries whose margin at `price` is at most `threshold`, except the
    rows of `skip` (gathered already), with their model in the allocation."""
    margin = spec.problem(part.scores, part.costs).best(price)[2]
    chosen = margin <= threshold
    if part.part in skip:
        chosen[skip[part.part][0]] = False
    return _rows(part, np.flatnonzero(chosen), allocated(part, spec, lam, overrides))


def disagreeing_part(part: PartScores, spec: Spec, lam: np.ndarray, price: np.ndarray,
                     free: Overrides, tolerance: float) -> Rows:
    """Map step: the fixed queries (not in `free`) whose choice at `lam` is worse at the
    prices `price` than their best model by more than `tolerance`."""
    problem = spec.problem(part.scores, part.costs)
    choice = problem.best(lam)[0]
    _, value, _ = problem.best(price)
    rows = np.arange(choice.size)
    wrong = value - problem.adjusted_at(price, rows, choice) > tolerance
    if part.part in free:
        wrong[free[part.part][0]] = False
    return _rows(part, np.flatnonzero(wrong), choice)


def _rows(part: PartScores, rows: np.ndarray, choice: np.ndarray) -> Rows:
    return Rows(np.full(rows.size, part.part, dtype=np.int64), rows.astype(np.int64),
                part.scores[rows], part.costs[rows], choice[rows])


#: One map-reduce round: a map step run on every partition with these keyword arguments,
#: the answers in partition order.
Run = Callable[..., list]


@dataclass(frozen=True)
class LimitedSolution:
    """The point found: its prices (`point.multipliers`, the relaxation's exact duals), the
    prices every partition's choice is taken at (`choice_prices`) and the per-row
    overrides that make every limit hold, and its totals per model. The allocation itself
    stays in the partitions (`allocated`), so `point.allocation` is empty."""

    point: ConstrainedPoint
    choice_prices: np.ndarray
    overrides: dict[int, tuple[np.ndarray, np.ndarray]]
    sums: Sums


def solve_limited(run: Run, n: int, names: Sequence[str], constraints: Constraints,
                  target_accuracy: float | None = None) -> LimitedSolution:
    """The most accurate allocation of `n` queries meeting `constraints` (or, with
    `target_accuracy`, the cheapest reaching it) over partitions `run` maps over.
    Infeasible limits raise `Infeasible` with the in-memory path's message."""
    limits, objective = limit_rows(constraints, names, n, target_accuracy)
    spec = Spec(tuple(limits), objective)

    def affordable(model: int, usd: float) -> int:
        cheapest = np.sort(np.concatenate(run(cheapest_part, model=model, usd=usd)))
        return int(np.searchsorted(np.cumsum(cheapest), usd, side="right"))

    check_limits(limits, names, n, affordable)
    try:
        return _solve(run, n, spec)
    except Infeasible as error:
        if str(error):
            raise
        raise explain_infeasible(
            constraints, names, n, limits, target_accuracy,
            lambda given, extreme: _extreme(run, n, names, given, extreme)) from None


def _extreme(run: Run, n: int, names: Sequence[str], constraints: Constraints,
             objective: str) -> ConstrainedPoint:
    """The cheapest ("cost") or most accurate ("accuracy") allocation meeting the limits."""
    limits = constraints.limits(names, n)
    try:
        return _solve(run, n, Spec(tuple(limits), objective)).point
    except Infeasible as error:
        if str(error):
            raise
        raise Infeasible("the limits cannot all hold together: "
                         + ", ".join(limit.label for limit in limits)) from None


def _sample_prices(run: Run, n: int, spec: Spec) -> np.ndarray:
    """The relaxation's prices on a uniform sample, its limits scaled to the sample."""
    size = min(SAMPLE_QUERIES, max(FULL_LP_QUERIES, n // SAMPLE_FACTOR))
    parts = run(sample_part, fraction=min(1.0, size / n))
    scores = np.concatenate([p[0] for p in parts])
    costs = np.concatenate([p[1] for p in parts])
    if not scores.shape[0]:
        return np.zeros(len(spec.limits))
    scale = scores.shape[0] / n
    scaled = Spec(tuple(replace(limit, rhs=limit.rhs * scale) for limit in spec.limits),
                  spec.objective)
    return relaxation_prices(scaled.problem(scores, costs))


def _threshold(tallies: Sequence[Tally], count: int) -> float:
    """The margin of the `count`-th query nearest a tie over every partition."""
    margins = np.sort(np.concatenate([t.margins for t in tallies]))
    return float(margins[min(count, margins.size) - 1])


def _total(tallies: Sequence[Tally]) -> Sums:
    total = tallies[0].sums
    for t in tallies[1:]:
        total = total + t.sums
    return total


def _residual(spec: Spec, rhs: np.ndarray, fixed: Sums) -> np.ndarray:
    """Right-hand sides left for gathered rows when the rest sum to `fixed`."""
    return rhs - fixed.rows(spec.limits)


def _solve(run: Run, n: int, spec: Spec) -> LimitedSolution:
    """(see the module docstring) Raises Infeasible("") when the relaxation is infeasible."""
    limits = list(spec.limits)
    rhs = np.array([limit.rhs for limit in limits])
    none: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    start = _sample_prices(run, n, spec)
    size = FREE_QUERIES
    tallies = run(tally_part, spec=spec, lam=start, overrides=none, price=start, keep=size)
    fixed_all = _total(tallies)
    tolerance = 1e-9 * (1.0 + max(t.largest for t in tallies))
    free = Rows.joined(run(gather_part, spec=spec, lam=start, overrides=none, price=start,
                           threshold=_threshold(tallies, size), skip=none))
    for _ in range(MAX_PRICING_ROUNDS):
        priced = free
        solved = _free_program(spec, free, rhs, fixed_all)
        while solved is None:
            if free.size >= n:
                raise Infeasible("")
            size *= 2
            tallies = run(tally_part, spec=spec, lam=start, overrides=none, price=start,
                          keep=size)
            free = Rows.joined([free, *run(gather_part, spec=spec, lam=start, overrides=none,
                                           price=start, threshold=_threshold(tallies, size),
                                           skip=free.overrides(free.model))])
            solved = _free_program(spec, free, rhs, fixed_all)
        priced = free
        x, lam = solved
        wrong = Rows.joined(run(disagreeing_part, spec=spec, lam=start, price=lam,
                                free=free.overrides(free.model), tolerance=tolerance))
        if not wrong.size:
            break
        free = Rows.joined([free, wrong])
    # Queries freed after the last program keep their starting choice, as in its totals.
    overrides = priced.overrides(x.argmax(axis=1))
    fractional = int(np.count_nonzero(x.max(axis=1) < 1 - 1e-7))
    return _repaired(run, n, spec, start, lam, overrides, rhs, REPAIR_QUERIES + fractional)


def _free_program(spec: Spec, free: Rows, rhs: np.ndarray, fixed_all: Sums
                  ) -> tuple[np.ndarray, np.ndarray] | None:
    """The relaxation over the free rows, every other query at its starting choice."""
    problem = spec.problem(free.scores, free.costs)
    return solve_relaxation(problem, np.arange(free.size),
                            _residual(spec, rhs, fixed_all - free.sums()))


def _repaired(run: Run, n: int, spec: Spec, start: np.ndarray, lam: np.ndarray,
              overrides: dict[int, tuple[np.ndarray, np.ndarray]], rhs: np.ndarray,
              size: int) -> LimitedSolution:
    """The allocation (choice at `start`, `overrides`) with the queries nearest a tie at
    `lam` re-solved as integers so that every limit holds, and its point."""
    tallies = run(tally_part, spec=spec, lam=start, overrides=overrides, price=lam,
                  keep=min(size * 64, n))
    sums = _total(tallies)
    bound = float(sum(t.value for t in tallies) + lam @ rhs)
    if (_residual(spec, rhs, sums) < 0).any() or size > REPAIR_QUERIES:
        while True:
            repair = Rows.joined(run(gather_part, spec=spec, lam=start, overrides=overrides,
                                     price=lam, threshold=_threshold(tallies, size),
                                     skip={}))
            models = solve_integer(spec.problem(repair.scores, repair.costs),
                                   np.arange(repair.size),
                                   _residual(spec, rhs, sums - repair.sums()))
            if models is not None:
                sums = sums - repair.sums() + repair.sums(models)
                overrides = _merged(overrides, repair.overrides(models))
                break
            if repair.size >= n or size > 64 * REPAIR_QUERIES:
                raise Infeasible("no whole allocation meets the limits, though a fractional "
                                 "one does: " + ", ".join(limit.label for limit in spec.limits))
            size *= 4
    problem = spec.problem(np.zeros((0, len(sums.counts))), np.zeros((0, len(sums.counts))))
    value = problem.score_weight * sums.score - problem.cost_weight * sums.cost
    gap_accuracy, gap_usd = stated_gap(spec.limits, lam, bound - value, n, spec.objective)
    point = ConstrainedPoint(np.empty(0, dtype=np.intp), sums.cost, sums.score / n,
                             spec.limits, lam, sums.rows(spec.limits), bound, gap_accuracy,
                             gap_usd, spec.objective)
    return LimitedSolution(point, start, overrides, sums)


def _merged(first: Overrides, then: Overrides) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Overrides of `first` with those of `then` applied after them (a row in both takes
    its model from `then`)."""
    out = dict(first)
    for part, (rows, models) in then.items():
        if part in out:
            rows = np.concatenate([rows, out[part][0]])
            models = np.concatenate([models, out[part][1]])
            rows, first_seen = np.unique(rows, return_index=True)
            models = models[first_seen]
        out[part] = (rows, models)
    return out
