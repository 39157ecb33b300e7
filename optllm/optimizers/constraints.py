"""Capacity and spending limits on an allocation, and the best allocation that meets them.

The objectives are sums over queries, so Lagrangian relaxation keeps the problem
separable: with one multiplier per limit, each query independently takes the model
maximising its score minus the multipliers' price of what it uses. The multipliers are
the duals of the linear relaxation, solved exactly with HiGHS (`scipy.optimize.linprog`)
on the queries near a tie ("free"), every other query fixed at its price-adjusted
choice; the duals are then checked against every fixed query and the check's failures
freed until none is left, which makes them the duals of the full relaxation. A vertex of
that relaxation has at most (limits + 1) fractional queries; those and the queries nearest
a tie are re-solved as a small integer program (`scipy.optimize.milp`) with every other
query fixed, so every limit holds exactly. The dual bound (weak duality, valid for any
non-negative multipliers) states how far from the integer optimum the result can be.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

from optllm.exceptions import ConfigError
from optllm.optimizers.front import Front, non_dominated
from optllm.optimizers.problem import check_problem
from optllm.progress import ProgressCallback, ShouldStop, check_cancelled, report

#: Queries solved as one exact linear program; larger problems start from a sample.
FULL_LP_QUERIES = 4000
#: Each level of sampling that prices the limits takes this fraction (1/k) of the queries.
SAMPLE_FACTOR = 10
#: Queries nearest a tie kept free in the linear program (doubled while it is infeasible).
FREE_QUERIES = 3000
#: Queries nearest a tie re-solved as integers beside the fractional ones.
REPAIR_QUERIES = 48
#: Time the integer repair may take; its best whole assignment by then is used (the gap
#: stated against the dual bound covers what it left).
REPAIR_SECONDS = 10.0
#: Rounds of freeing the fixed queries the duals disagree with.
MAX_PRICING_ROUNDS = 12
#: Rows per block of a pass over all queries (bounds memory; a stop check per block).
BLOCK = 1 << 17



def _frozen_map(values: Mapping[str, float]) -> Mapping[str, float]:
    return MappingProxyType(dict(values))


@dataclass(frozen=True)
class Constraints:
    """Limits an allocation must meet: an optional total budget (USD) and, per model
    name, at most `max_queries`, at most `max_spend` USD, at least `min_share` of queries."""

    budget: float | None = None
    max_queries: Mapping[str, float] = field(default_factory=dict)
    max_spend: Mapping[str, float] = field(default_factory=dict)
    min_share: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("max_queries", "max_spend", "min_share"):
            object.__setattr__(self, name, _frozen_map(getattr(self, name)))
        if self.budget is not None and not (math.isfinite(self.budget) and self.budget >= 0):
            raise ConfigError(f"budget must be a finite amount >= 0 USD; got {self.budget}")
        for model, cap in self.max_queries.items():
            if isinstance(cap, bool) or not float(cap).is_integer() or cap < 0:
                raise ConfigError(f"cap of model {model!r} must be a whole number of "
                                  f"queries >= 0; got {cap!r}")
        for model, usd in self.max_spend.items():
            if not (math.isfinite(usd) and usd >= 0):
                raise ConfigError(f"spend limit of model {model!r} must be a finite amount "
                                  f">= 0 USD; got {usd!r}")
        for model, share in self.min_share.items():
            if not (math.isfinite(share) and 0 <= share <= 1):
                raise ConfigError(f"minimum share of model {model!r} must be between 0 and 1 "
                                  f"(0.2 = 20% of queries); got {share!r}")

    @property
    def has_model_limits(self) -> bool:
        return bool(self.max_queries or self.max_spend or self.min_share)

    def with_budget(self, budget: float | None) -> Constraints:
        return Constraints(budget, self.max_queries, self.max_spend, self.min_share)

    def limits(self, model_names: Sequence[str], n_queries: int) -> list[Limit]:
        """The limits as rows of a linear program over these models (budget first)."""
        index = {name: j for j, name in enumerate(model_names)}
        for mapping in (self.max_queries, self.max_spend, self.min_share):
            for name in mapping:
                if name not in index:
                    raise ConfigError(f"unknown model {name!r} in the limits; the models are "
                                      f"{', '.join(model_names)}")
        limits = []
        if self.budget is not None:
            limits.append(Limit("budget", None, float(self.budget), float(self.budget)))
        for name, cap in self.max_queries.items():
            limits.append(Limit("max_queries", index[name], float(cap), float(cap), name))
        for name, usd in self.max_spend.items():
            limits.append(Limit("max_spend", index[name], float(usd), float(usd), name))
        for name, share in self.min_share.items():
            count = math.ceil(share * n_queries - 1e-9)
            limits.append(Limit("min_share", index[name], float(share), -float(count), name))
        return limits

    def as_dict(self) -> dict[str, object]:
        return {"budget": self.budget, "max_queries": dict(self.max_queries),
                "max_spend": dict(self.max_spend), "min_share": dict(self.min_share)}


@dataclass(frozen=True)
class Limit:
    """One limit as a row sum_i coef(i, a_i) <= rhs; `bound` is the value the user gave
    (USD, queries, a share or an accuracy)."""

    kind: str
    model: int | None
    bound: float
    rhs: float
    model_name: str = ""

    @property
    def label(self) -> str:
        if self.kind == "budget":
            return f"budget ${self.bound:.6g}"
        if self.kind == "target_accuracy":
            return f"target accuracy {self.bound:.4g}"
        if self.kind == "max_queries":
            return f"cap {self.model_name}={int(self.bound)} queries"
        if self.kind == "max_spend":
            return f"max spend {self.model_name}=${self.bound:.6g}"
        return f"min share {self.model_name}={self.bound:.4g} ({int(-self.rhs)} queries)"

    def coefficients(self, scores: np.ndarray, costs: np.ndarray) -> np.ndarray:
        """(n, M) contribution of each (query, model) choice to this row."""
        if self.kind == "budget":
            return costs
        if self.kind == "target_accuracy":
            return -scores
        coef = np.zeros_like(costs)
        j = self.model
        coef[:, j] = {"max_queries": 1.0, "max_spend": costs[:, j],
                      "min_share": -1.0}[self.kind]
        return coef


@dataclass(frozen=True)
class ConstrainedPoint:
    """The allocation found, its totals, the multipliers and the stated optimality gap.

    `multipliers[k]` is the price of limit k in the objective per unit of it (summed score
    per USD or per query when maximising accuracy; USD per summed score or per query when
    minimising cost); a limit binds when its multiplier is positive. `bound` is the dual
    (linear relaxation) bound on the objective; `gap_accuracy` the accuracy the integer
    optimum can at most exceed ours by, `gap_usd` the dollars it can at most save (when
    maximising accuracy: the accuracy gap priced at the budget's multiplier, 0 if it does
    not bind).
    """

    allocation: np.ndarray
    cost: float
    accuracy: float
    limits: tuple[Limit, ...]
    multipliers: np.ndarray
    realised: np.ndarray
    bound: float
    gap_accuracy: float
    gap_usd: float
    objective: str

    @property
    def binding(self) -> np.ndarray:
        return self.multipliers > 0


class Infeasible(ConfigError):
    """No allocation meets the limits; the message names the ones that conflict."""


@dataclass
class LimitProblem:
    """Scores and costs with the objective's weights: maximise
    score_weight * score - cost_weight * cost summed over queries, subject to `limits`."""

    scores: np.ndarray
    costs: np.ndarray
    limits: list[Limit]
    score_weight: float
    cost_weight: float
    should_stop: ShouldStop | None

    @property
    def n(self) -> int:
        return int(self.scores.shape[0])

    def objective(self, rows: np.ndarray | slice) -> np.ndarray:
        return self.score_weight * self.scores[rows] - self.cost_weight * self.costs[rows]

    def weights(self, lam: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """(score weight, per-model cost weight, per-model offset) of the adjusted
        objective score_w * s - cost_w[j] * c - offset[j] at multipliers `lam`."""
        m = self.scores.shape[1]
        score_w, cost_w, offset = self.score_weight, np.full(m, self.cost_weight), np.zeros(m)
        for limit, price in zip(self.limits, lam, strict=True):
            if limit.kind == "budget":
                cost_w += price
            elif limit.kind == "target_accuracy":
                score_w += price
            elif limit.kind == "max_spend":
                cost_w[limit.model] += price
            elif limit.kind == "max_queries":
                offset[limit.model] += price
            else:
                offset[limit.model] -= price
        return score_w, cost_w, offset

    def adjusted(self, lam: np.ndarray, rows: np.ndarray | slice) -> np.ndarray:
        """Objective minus the multipliers' price of each choice, (rows, M)."""
        score_w, cost_w, offset = self.weights(lam)
        return score_w * self.scores[rows] - self.costs[rows] * cost_w - offset

    def adjusted_at(self, lam: np.ndarray, rows: np.ndarray, models: np.ndarray) -> np.ndarray:
        """The adjusted objective of `rows` at `models` only."""
        score_w, cost_w, offset = self.weights(lam)
        return (score_w * self.scores[rows, models] - self.costs[rows, models] * cost_w[models]
                - offset[models])

    def best(self, lam: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per query the price-adjusted choice, its adjusted value and its margin over
        the second-best model; one vectorised pass in blocks."""
        n = self.n
        choice = np.empty(n, dtype=np.intp)
        value = np.empty(n)
        margin = np.empty(n)
        for start in range(0, n, BLOCK):
            check_cancelled(self.should_stop, "constrained optimise")
            rows = slice(start, min(start + BLOCK, n))
            adj = self.adjusted(lam, rows)
            pick = adj.argmax(axis=1)
            k = np.arange(adj.shape[0])
            top = adj[k, pick]
            adj[k, pick] = -np.inf
            second = adj.max(axis=1) if adj.shape[1] > 1 else np.full(top.size, np.inf)
            choice[rows], value[rows], margin[rows] = pick, top, top - second
        return choice, value, margin

    def totals(self, allocation: np.ndarray) -> np.ndarray:
        """Each limit's row sum for a whole allocation."""
        rows = np.arange(self.n)
        cost = self.costs[rows, allocation]
        counts = np.bincount(allocation, minlength=self.scores.shape[1]).astype(np.float64)
        spend = np.bincount(allocation, weights=cost, minlength=self.scores.shape[1])
        out = np.empty(len(self.limits))
        for k, limit in enumerate(self.limits):
            if limit.kind == "budget":
                out[k] = cost.sum()
            elif limit.kind == "target_accuracy":
                out[k] = -self.scores[rows, allocation].sum()
            elif limit.kind == "max_queries":
                out[k] = counts[limit.model]
            elif limit.kind == "max_spend":
                out[k] = spend[limit.model]
            else:
                out[k] = -counts[limit.model]
        return out

    def rows_totals(self, rows: np.ndarray, models: np.ndarray) -> np.ndarray:
        """Each limit's row sum over `rows` assigned to `models`."""
        s, c = self.scores[rows, models][:, None], self.costs[rows, models][:, None]
        out = np.empty(len(self.limits))
        for k, limit in enumerate(self.limits):
            coef = limit.coefficients(s, c) if limit.model is None else None
            if coef is not None:
                out[k] = coef.sum()
            elif limit.kind == "max_spend":
                out[k] = c[models == limit.model].sum()
            else:
                sign = 1.0 if limit.kind == "max_queries" else -1.0
                out[k] = sign * np.count_nonzero(models == limit.model)
        return out


def _matrices(problem: LimitProblem, rows: np.ndarray
              ) -> tuple[np.ndarray, sparse.csr_array, sparse.csr_array, np.ndarray]:
    """The (objective, equality, scaled inequality rows, row scales) of the program over
    `rows` (variables query-major): each inequality row is divided by its largest
    coefficient so HiGHS's absolute tolerances mean the same thing for every limit."""
    scores, costs = problem.scores[rows], problem.costs[rows]
    n, m = scores.shape
    objective = -(problem.score_weight * scores - problem.cost_weight * costs).ravel()
    eq = sparse.kron(sparse.eye_array(n, format="csr"), np.ones((1, m)), format="csr")
    dense = []
    scales = np.ones(len(problem.limits))
    for k, limit in enumerate(problem.limits):
        coef = limit.coefficients(scores, costs).ravel()
        scale = float(np.abs(coef).max()) if coef.size else 0.0
        scales[k] = scale if scale > 0 else 1.0
        dense.append(coef / scales[k])
    ub = sparse.csr_array(np.array(dense).reshape(len(problem.limits), n * m))
    return objective, eq, ub, scales


def solve_relaxation(problem: LimitProblem, rows: np.ndarray, rhs: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray] | None:
    """The relaxation over `rows` with residual right-hand sides: (x as (rows, M),
    multipliers), or None when it is infeasible."""
    m = problem.scores.shape[1]
    objective, eq, ub, scales = _matrices(problem, rows)
    if len(problem.limits):
        res = linprog(objective, A_ub=ub, b_ub=rhs / scales, A_eq=eq, b_eq=np.ones(rows.size),
                      bounds=(0, 1), method="highs-ipm")
    else:
        res = linprog(objective, A_eq=eq, b_eq=np.ones(rows.size), bounds=(0, 1),
                      method="highs-ds")
    if res.status == 2:
        return None
    if res.status != 0:
        raise ConfigError(f"the linear program over {rows.size} queries failed: {res.message}")
    marginals = res.ineqlin.marginals if len(problem.limits) else np.empty(0)
    lam = np.maximum(-np.asarray(marginals, dtype=np.float64), 0.0) / scales
    return res.x.reshape(rows.size, m), lam


def solve_integer(problem: LimitProblem, rows: np.ndarray, rhs: np.ndarray) -> np.ndarray | None:
    """The best whole assignment of `rows` within the residual limits, or None."""
    m = problem.scores.shape[1]
    objective, eq, ub, scales = _matrices(problem, rows)
    slack = np.zeros(len(problem.limits))
    for _ in range(4):
        constraints = [LinearConstraint(eq, 1, 1)]
        if len(problem.limits):
            constraints.append(LinearConstraint(ub, -np.inf, rhs / scales - slack))
        res = milp(objective, constraints=constraints, integrality=np.ones(objective.size),
                   bounds=Bounds(0, 1), options={"time_limit": REPAIR_SECONDS})
        if res.x is None:
            return None
        models = np.asarray(res.x).reshape(rows.size, m).argmax(axis=1)
        # HiGHS allows a 1e-6 row violation; the limits must hold exactly, so a row
        # over its bound is tightened by what it went over and solved again.
        over = (problem.rows_totals(rows, models) - rhs) / scales
        if (over <= 0).all():
            return models
        slack = np.where(over > 0, slack + 2 * over + 1e-12, slack)
    return None


def _fixed_rhs(problem: LimitProblem, free: np.ndarray, choice: np.ndarray) -> np.ndarray:
    """Right-hand sides left for the free rows when every other query keeps `choice`."""
    rhs = np.array([limit.rhs for limit in problem.limits])
    fixed = np.ones(problem.n, dtype=bool)
    fixed[free] = False
    rows = np.flatnonzero(fixed)
    return rhs - problem.rows_totals(rows, choice[rows])


def _nearest_ties(margin: np.ndarray, count: int) -> np.ndarray:
    if count >= margin.size:
        return np.arange(margin.size)
    return np.sort(np.argpartition(margin, count)[:count])


def _sample_prices(problem: LimitProblem) -> np.ndarray:
    """Multipliers of the relaxation over a random tenth of the queries with proportional
    limits (itself solved this way, down to `FULL_LP_QUERIES`): the price error of a
    sample shrinks with its size, so each level leaves only a few thousand queries whose
    choice the exact prices change."""
    n = problem.n
    size = max(FULL_LP_QUERIES, n // SAMPLE_FACTOR)
    rows = np.sort(np.random.default_rng(0).choice(n, size=size, replace=False))
    scale = size / n
    limits = [replace(limit, rhs=limit.rhs * scale) for limit in problem.limits]
    return relaxation_prices(LimitProblem(problem.scores[rows], problem.costs[rows], limits,
                                          problem.score_weight, problem.cost_weight,
                                          problem.should_stop))


def relaxation_prices(problem: LimitProblem) -> np.ndarray:
    """The multipliers of `problem`'s linear relaxation (zeros when it is infeasible): the
    starting prices of a larger problem `problem` is a uniform sample of, its limits scaled
    to the sample's size."""
    try:
        return _relaxation(problem)[0]
    except Infeasible:
        return np.zeros(len(problem.limits))


def _relaxation(problem: LimitProblem) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The relaxation's multipliers and solution: (multipliers, free rows, x over the
    free rows, the fixed choice of every query). Raises Infeasible when the relaxation of
    the whole problem is.

    Every query outside the free set keeps its price-adjusted choice at the starting
    prices; the program over the free set gives new prices; a fixed query whose choice
    they disagree with is freed and the program solved again. When none disagrees, the
    prices and the solution satisfy complementary slackness for the whole problem."""
    n = problem.n
    if n <= FULL_LP_QUERIES or not problem.limits:
        lam = np.zeros(len(problem.limits))
        choice = problem.best(lam)[0]
        if not problem.limits:
            return lam, np.empty(0, dtype=np.intp), np.empty((0, problem.scores.shape[1])), choice
        free = np.arange(n)
        solved = solve_relaxation(problem, free, np.array([limit.rhs for limit in problem.limits]))
        if solved is None:
            raise Infeasible("")
        return solved[1], free, solved[0], choice
    lam = _sample_prices(problem)
    choice, _, margin = problem.best(lam)
    size = FREE_QUERIES
    free = _nearest_ties(margin, size)
    rows = np.arange(n)
    for _ in range(MAX_PRICING_ROUNDS):
        solved = solve_relaxation(problem, free, _fixed_rhs(problem, free, choice))
        while solved is None:
            if free.size == n:
                raise Infeasible("")
            size *= 2
            free = np.union1d(free, _nearest_ties(margin, size))
            solved = solve_relaxation(problem, free, _fixed_rhs(problem, free, choice))
        x, lam = solved
        _, value, _ = problem.best(lam)
        fixed = np.ones(n, dtype=bool)
        fixed[free] = False
        gain = value - problem.adjusted_at(lam, rows, choice)
        tol = 1e-9 * (1.0 + np.abs(value).max())
        wrong = np.flatnonzero(fixed & (gain > tol))
        if wrong.size == 0:
            break
        if wrong.size > free.size:
            # Prices from a program over few queries can disagree with most of the rest
            # (a budget far from the sample's): freeing them all made a program of
            # 10^5-10^6 queries that ran for minutes. The most violated ones, at most
            # doubling the program, is column generation's step; it ends the same way.
            wrong = wrong[np.argpartition(-gain[wrong], free.size)[:free.size]]
        free = np.union1d(free, wrong)
    return lam, free, x, choice


def _limits_text(limits: Sequence[Limit]) -> str:
    return ", ".join(limit.label for limit in limits)


def diagnose(problem: LimitProblem, model_names: Sequence[str]) -> None:
    """Raise Infeasible naming the limits that conflict, for the conflicts that can be
    told without solving (`check_limits`)."""
    def affordable(model: int, usd: float) -> int:
        cheapest = np.cumsum(np.sort(problem.costs[:, model]))
        return int(np.searchsorted(cheapest, usd, side="right"))

    check_limits(problem.limits, model_names, problem.n, affordable)


def check_limits(limits: Sequence[Limit], model_names: Sequence[str], n: int,
                 affordable: Callable[[int, float], int]) -> None:
    """Raise Infeasible naming the limits that conflict, for the conflicts that can be
    told without solving: minimum shares over 100%, a minimum above a model's cap or
    spend limit, caps that leave queries nowhere to go. `affordable(j, usd)` is how many
    of model j's cheapest queries `usd` pays for (the data enter only there, so queries
    that are not in one place can be checked too)."""
    m = len(model_names)
    by_model: dict[int, dict[str, Limit]] = {}
    for limit in limits:
        if limit.model is not None:
            by_model.setdefault(limit.model, {})[limit.kind] = limit
    shares = [limit for limit in limits if limit.kind == "min_share"]
    if -sum(limit.rhs for limit in shares) > n:
        raise Infeasible(f"the minimum shares add up to more than all {n} queries: "
                         f"{_limits_text(shares)}")
    most = np.full(m, n)
    for j, own in by_model.items():
        spend = own.get("max_spend")
        if spend is not None:
            most[j] = min(most[j], affordable(j, spend.bound))
        cap = own.get("max_queries")
        if cap is not None:
            most[j] = min(most[j], int(cap.bound))
        share = own.get("min_share")
        if share is not None and -share.rhs > most[j]:
            others = [limit for kind, limit in own.items() if kind != "min_share"]
            raise Infeasible(f"{share.label} conflicts with {_limits_text(others)}: model "
                             f"{model_names[j]} can take at most {most[j]} queries")
    if most.sum() < n:
        capped = [limit for limit in limits if limit.kind in ("max_queries", "max_spend")]
        raise Infeasible(f"the limits leave {n - int(most.sum())} of {n} queries nowhere to "
                         f"go (the models take at most {int(most.sum())}): "
                         f"{_limits_text(capped)}")


def _problem(scores: np.ndarray, costs: np.ndarray, limits: list[Limit], *, maximise: str,
             should_stop: ShouldStop | None) -> LimitProblem:
    if maximise == "accuracy":
        return LimitProblem(scores, costs, limits, 1.0, 0.0, should_stop)
    return LimitProblem(scores, costs, limits, 0.0, 1.0, should_stop)


def _solve(problem: LimitProblem) -> tuple[np.ndarray, np.ndarray, float]:
    """(allocation meeting every limit, multipliers, dual bound on the objective)."""
    lam, free, x, choice = _relaxation(problem)
    allocation = choice.copy()
    if free.size:
        allocation[free] = x.argmax(axis=1)
    _, value, margin = problem.best(lam)
    bound = float(value.sum() + lam @ np.array([limit.rhs for limit in problem.limits]))
    fractional = free[x.max(axis=1) < 1 - 1e-7] if free.size else free
    rhs = np.array([limit.rhs for limit in problem.limits])
    if fractional.size == 0 and (problem.totals(allocation) <= rhs).all():
        return allocation, lam, bound
    size = REPAIR_QUERIES + fractional.size
    while True:
        check_cancelled(problem.should_stop, "constrained optimise")
        repair = np.union1d(fractional, _nearest_ties(margin, size))
        models = solve_integer(problem, repair, _fixed_rhs(problem, repair, allocation))
        if models is not None:
            allocation[repair] = models
            return allocation, lam, bound
        if repair.size == problem.n or size > 64 * REPAIR_QUERIES:
            raise Infeasible("no whole allocation meets the limits, though a fractional one "
                             f"does: {_limits_text(problem.limits)}")
        size *= 4


def _point(problem: LimitProblem, allocation: np.ndarray, lam: np.ndarray, bound: float,
           objective: str) -> ConstrainedPoint:
    n = problem.n
    rows = np.arange(n)
    score_sum = float(problem.scores[rows, allocation].sum())
    cost = float(problem.costs[rows, allocation].sum())
    value = problem.score_weight * score_sum - problem.cost_weight * cost
    gap_accuracy, gap_usd = stated_gap(problem.limits, lam, bound - value, n, objective)
    realised = problem.totals(allocation)
    return ConstrainedPoint(allocation, cost, score_sum / n, tuple(problem.limits), lam,
                            realised, bound, gap_accuracy, gap_usd, objective)


def stated_gap(limits: Sequence[Limit], lam: np.ndarray, gap: float, n: int,
               objective: str) -> tuple[float, float]:
    """(accuracy, USD) of a gap in the objective (bound minus value, summed over `n`
    queries), as `ConstrainedPoint.gap_accuracy` and `gap_usd` state it."""
    gap = max(0.0, gap)
    if objective == "accuracy":
        budget_price = sum(float(p) for limit, p in zip(limits, lam, strict=True)
                           if limit.kind == "budget")
        return gap / n, gap / budget_price if budget_price > 0 else 0.0
    target_price = sum(float(p) for limit, p in zip(limits, lam, strict=True)
                       if limit.kind == "target_accuracy")
    return gap * target_price / n, gap


def constrained_point(scores: np.ndarray, costs: np.ndarray, constraints: Constraints,
                      model_names: Sequence[str] | None = None, *,
                      target_accuracy: float | None = None,
                      should_stop: ShouldStop | None = None) -> ConstrainedPoint:
    """The most accurate allocation meeting `constraints` (or, with `target_accuracy`,
    the cheapest one reaching it), with its multipliers and stated gap."""
    scores, costs = check_problem(scores, costs)
    n, m = scores.shape
    names = list(model_names) if model_names is not None else [str(j) for j in range(m)]
    if len(names) != m:
        raise ConfigError(f"{len(names)} model names for {m} models")
    limits, objective = limit_rows(constraints, names, n, target_accuracy)
    problem = _problem(scores, costs, limits, maximise=objective, should_stop=should_stop)
    return _solved(problem, names, objective, lambda: explain_infeasible(
        constraints, names, n, limits, target_accuracy,
        lambda given, extreme: _solve_extreme(scores, costs, given, names, extreme)))


def limit_rows(constraints: Constraints, names: Sequence[str], n: int,
               target_accuracy: float | None = None) -> tuple[list[Limit], str]:
    """(the limits as rows, the objective): most accurate under `constraints`, or with
    `target_accuracy` the cheapest reaching it (the target becomes one more row)."""
    limits = constraints.limits(names, n)
    if target_accuracy is None:
        return limits, "accuracy"
    if not 0 < target_accuracy <= 1:
        raise ConfigError(f"target accuracy must be above 0 and at most 1; "
                          f"got {target_accuracy}")
    limits.append(Limit("target_accuracy", None, float(target_accuracy),
                        -float(target_accuracy) * n))
    return limits, "cost"


def _solved(problem: LimitProblem, names: Sequence[str], objective: str,
            explain: Callable[[], Infeasible]) -> ConstrainedPoint:
    """The point of `problem`; an infeasible relaxation raises `explain()`'s error."""
    diagnose(problem, names)
    try:
        allocation, lam, bound = _solve(problem)
    except Infeasible as error:
        if str(error):
            raise
        raise explain() from None
    return _point(problem, allocation, lam, bound, objective)


#: Solves the cheapest ("cost") or most accurate ("accuracy") allocation under limits.
SolveExtreme = Callable[[Constraints, str], ConstrainedPoint]


def explain_infeasible(constraints: Constraints, names: Sequence[str], n: int,
                       limits: list[Limit], target_accuracy: float | None,
                       solve_extreme: SolveExtreme) -> Infeasible:
    """Why the relaxation is infeasible: the budget below the cheapest allocation that
    meets the model limits, a target above the most accurate one, or else all the limits.
    `solve_extreme` solves over the same queries wherever they are."""
    model_limits = constraints.with_budget(None)
    try:
        if constraints.budget is not None:
            cheapest = solve_extreme(model_limits, "cost")
            if cheapest.cost > constraints.budget:
                meets = _limits_text(model_limits.limits(names, n))
                return Infeasible(f"budget ${constraints.budget:.6g} is below the cheapest "
                                  f"allocation that meets {meets} (${cheapest.cost:.6g})")
        if target_accuracy is not None:
            best = solve_extreme(constraints, "accuracy")
            if best.accuracy < target_accuracy:
                return Infeasible(f"target accuracy {target_accuracy:.4g} is above the best "
                                  f"expected accuracy under "
                                  f"{_limits_text(constraints.limits(names, n))} "
                                  f"({best.accuracy:.4g})")
    except Infeasible as inner:
        if str(inner):
            return inner
    return Infeasible(f"the limits cannot all hold together: {_limits_text(limits)}")


def _solve_extreme(scores: np.ndarray, costs: np.ndarray, constraints: Constraints,
                   names: Sequence[str], objective: str, should_stop: ShouldStop | None = None,
                   ) -> ConstrainedPoint:
    """The cheapest ("cost") or most accurate ("accuracy") allocation meeting the limits."""
    limits = constraints.limits(names, scores.shape[0])
    problem = _problem(scores, costs, limits, maximise=objective, should_stop=should_stop)
    return _solved(problem, names, objective, lambda: Infeasible(
        f"the limits cannot all hold together: {_limits_text(limits)}"))


#: Points of a constrained front unless asked otherwise.
FRONT_POINTS = 50


@dataclass(frozen=True)
class ConstrainedFront:
    """A front of allocations meeting the limits, each point solved under its own budget;
    `points[k]` (multipliers, gap) belongs to `front` point k."""

    front: Front
    points: tuple[ConstrainedPoint, ...]


def constrained_front(scores: np.ndarray, costs: np.ndarray, constraints: Constraints,
                      model_names: Sequence[str] | None = None, *,
                      n_points: int = FRONT_POINTS, should_stop: ShouldStop | None = None,
                      progress: ProgressCallback | None = None) -> ConstrainedFront:
    """Constrained points at `n_points` budgets spread evenly from the cheapest allocation
    meeting the model limits to the most accurate one (or the constraints' own budget)."""
    scores, costs = check_problem(scores, costs)
    if n_points < 2:
        raise ConfigError(f"a constrained front needs at least 2 points; got {n_points}")
    m = scores.shape[1]
    names = list(model_names) if model_names is not None else [str(j) for j in range(m)]
    model_limits = constraints.with_budget(None)
    report(progress, "constrained front", 0, n_points)
    cheapest = _solve_extreme(scores, costs, constraints, names, "cost", should_stop)
    best = _solve_extreme(scores, costs, model_limits, names, "accuracy", should_stop)
    top = best.cost if constraints.budget is None else min(best.cost, constraints.budget)
    points = [cheapest]
    # Each budget is priced afresh from samples: the previous point's prices, a budget
    # step away, put so many queries on the wrong side of a tie that the program grew.
    for k, budget in enumerate(np.linspace(cheapest.cost, top, n_points)[1:-1], start=1):
        check_cancelled(should_stop, "constrained front")
        points.append(constrained_point(scores, costs, constraints.with_budget(float(budget)),
                                        names, should_stop=should_stop))
        report(progress, "constrained front", k, n_points)
    points.append(best if top == best.cost else constrained_point(
        scores, costs, constraints.with_budget(float(top)), names, should_stop=should_stop))
    report(progress, "constrained front", n_points, n_points)
    cost = np.array([p.cost for p in points])
    accuracy = np.array([p.accuracy for p in points])
    keep = non_dominated(cost, accuracy)
    front = Front.from_allocations(np.stack([points[k].allocation for k in keep]), scores,
                                   costs, method="constrained", cost=cost[keep],
                                   accuracy=accuracy[keep])
    return ConstrainedFront(front, tuple(points[k] for k in keep))


def meets(allocation: np.ndarray, scores: np.ndarray, costs: np.ndarray,
          constraints: Constraints, model_names: Sequence[str]) -> bool:
    """Whether an allocation meets every limit exactly."""
    problem = LimitProblem(scores, costs, constraints.limits(model_names, allocation.size),
                       1.0, 0.0, None)
    rhs = np.array([limit.rhs for limit in problem.limits])
    return bool((problem.totals(allocation) <= rhs).all())


def repair(allocation: np.ndarray, scores: np.ndarray, costs: np.ndarray,
           constraints: Constraints, model_names: Sequence[str], *, floor_cost: float = 0.0,
           should_stop: ShouldStop | None = None) -> np.ndarray:
    """The allocation meeting the limits that keeps the most queries where a heuristic
    put them (then the highest score), spending at most what it spent (or `floor_cost`,
    the cheapest that meets the limits, when that is more): how OptLLM-M and the
    evolutionary baselines are put under the same limits as the exact method."""
    if meets(allocation, scores, costs, constraints, model_names):
        return allocation
    rows = np.arange(allocation.size)
    kept = scores.copy()
    # A kept query is worth more than any change of score, so the fewest move.
    kept[rows, allocation] += float(np.ptp(scores)) + 1.0
    budget = max(float(costs[rows, allocation].sum()), floor_cost)
    if constraints.budget is not None:
        budget = min(budget, constraints.budget)
    return constrained_point(kept, costs, constraints.with_budget(budget), model_names,
                             should_stop=should_stop).allocation


def front_under_limits(front: Front, scores: np.ndarray, costs: np.ndarray,
                       constraints: Constraints, model_names: Sequence[str], *,
                       exact: bool, n_points: int = FRONT_POINTS,
                       should_stop: ShouldStop | None = None,
                       progress: ProgressCallback | None = None) -> Front:
    """`front` put under the limits: the exact constrained front (`exact`, for the hull),
    or each of at most `n_points` of its points repaired into the feasible set."""
    if exact:
        result = constrained_front(scores, costs, constraints, model_names, n_points=n_points,
                                   should_stop=should_stop, progress=progress)
        return result.front
    floor = _solve_extreme(scores, costs, constraints, list(model_names), "cost",
                           should_stop).cost
    picks = front.thin(n_points)
    allocations = []
    for done, k in enumerate(picks):
        allocations.append(repair(front.allocation(int(k)), scores, costs, constraints,
                                  model_names, floor_cost=floor, should_stop=should_stop))
        report(progress, "limits", done + 1, picks.size)
    return Front.from_allocations(np.stack(allocations), scores, costs, method=front.method,
                                  status=front.status, elapsed_s=front.elapsed_s)


def routing_prices(point: ConstrainedPoint, n_models: int) -> tuple[float, np.ndarray, np.ndarray]:
    """(rate, per-model cost weight, per-model offset) so that each query's model is the
    argmax of score - weight[j] * cost - offset[j], the point's price-adjusted choice
    scaled to one unit of score: what a routing policy applies to one query at a time.
    `rate` is the budget's (or the target's) share of the cost weight."""
    base_score, base_cost = (1.0, 0.0) if point.objective == "accuracy" else (0.0, 1.0)
    problem = LimitProblem(np.zeros((0, n_models)), np.zeros((0, n_models)), list(point.limits),
                       base_score, base_cost, None)
    score_w, cost_w, offset = problem.weights(point.multipliers)
    if not score_w > 0:
        raise ConfigError("the target accuracy does not bind at this point: every query "
                          "goes to its cheapest model; choose the point by a budget instead")
    budget_w = base_cost + sum(float(p) for limit, p in zip(point.limits, point.multipliers,
                                                            strict=True)
                               if limit.kind == "budget")
    return budget_w / score_w, cost_w / score_w, offset / score_w


def priced_point(allocation: np.ndarray, scores: np.ndarray, costs: np.ndarray,
                 constraints: Constraints, model_names: Sequence[str], *,
                 should_stop: ShouldStop | None = None) -> ConstrainedPoint:
    """`allocation` (meeting the limits) reported as a constrained point: the limits' prices
    at its own cost (the budget set to what it spends) and its gap to the dual bound there.
    A point of a repaired front has no prices of its own; the bound holds for any
    allocation spending no more, so its gap is honest, and for a point of the exact
    constrained front it is that point's own."""
    scores, costs = check_problem(scores, costs)
    rows = np.arange(allocation.size)
    spent = float(costs[rows, allocation].sum())
    solved = constrained_point(scores, costs, constraints.with_budget(spent), model_names,
                               should_stop=should_stop)
    problem = _problem(scores, costs, list(solved.limits), maximise="accuracy",
                       should_stop=None)
    return _point(problem, allocation, solved.multipliers, solved.bound, "accuracy")
