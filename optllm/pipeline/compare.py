"""Methods side by side on the same split and the same predicted scores, over several seeds.

For each seed: one split of the queries, one prediction (the config's learner; `auto` by
default), then every method
builds its front of allocations of the allocated queries, and each front is re-scored with the
true labels and measured against the true front (`optllm.evaluation`). Sharing the prediction
means the methods differ only in how they search, except for `prior` (no per-query prediction)
and `oracle` (the labels themselves), which bound the comparison from both sides.

The evolutionary baselines (`nsga2`, `smsemoa`, `moead`, see
`optllm.optimizers.evolutionary`) need the
optional extra `optllm[baselines]` (pymoo); their default budget is a population of
`DEFAULT_POP_SIZE` = 100 (the paper's) for `DEFAULT_GENERATIONS` = 200 generations: 20,000
evaluations, 15 to 25 s per run on 16,000 queries x 8 models (2 CPUs).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import friedmanchisquare, rankdata

from optllm.data.dataset import Dataset, Split
from optllm.evaluation import Evaluation, evaluate
from optllm.exceptions import Cancelled, ConfigError
from optllm.optimizers.api import optimize
from optllm.optimizers.front import Front, allocation_totals
from optllm.optimizers.hull import cheapest_allocation
from optllm.optimizers.registry import METHODS, RANDOM_LEVELS
from optllm.pipeline.run import (
    MAX_FRONT_POINTS,
    Prediction,
    RunConfig,
    split_queries,
    train_and_predict,
)
from optllm.progress import Progress, ProgressCallback, ShouldStop, check_cancelled, report

DEFAULT_POP_SIZE = 100
DEFAULT_GENERATIONS = 200
#: Measures per (method, seed): name, and whether higher is better (None: not a quality).
MEASURES: dict[str, bool | None] = {
    "points": None,
    "runtime_s": None,
    "igd": False,
    "spread": False,
    "hypervolume": True,
    "cost_saving_at_best_accuracy": True,
    "accuracy_gain_at_best_cost": True,
    "best_true_accuracy": True,
}
#: Measures the Friedman test ranks the methods by (the paper's three indicators).
FRIEDMAN_MEASURES = ("igd", "spread", "hypervolume")


@dataclass(frozen=True)
class Trial:
    """What every method of one seed shares: the allocated queries and their predictions.

    `scores`, `costs` and `labels` are (N, M) float64 over the allocated queries; `base_rate`
    (M,) is the mean label per model over the training sample; `predictor` names the
    featuriser and learner that made the scores.
    """

    seed: int
    scores: np.ndarray
    costs: np.ndarray
    labels: np.ndarray
    base_rate: np.ndarray
    density: int
    pop_size: int
    generations: int
    predictor: str = ""


@dataclass(frozen=True)
class FrontUpdate:
    """A method's front as it grows (each generation of an evolutionary method) or at its
    end (`final`). Arrays are sorted by cost; `true_accuracy` re-scores the same
    allocations with the labels."""

    method: str
    seed: int
    generation: int | None
    cost: np.ndarray
    predicted_accuracy: np.ndarray
    true_accuracy: np.ndarray
    final: bool


@dataclass(frozen=True)
class Hooks:
    """The caller's progress callback, stop check and per-generation front callback."""

    progress: ProgressCallback | None = None
    should_stop: ShouldStop | None = None
    on_generation: Callable[[np.ndarray, np.ndarray, np.ndarray], None] | None = None


def _optllm(trial: Trial, hooks: Hooks) -> Front:
    return optimize(trial.scores, trial.costs, "optllm", trial.density,
                    should_stop=hooks.should_stop)


def _hull(trial: Trial, hooks: Hooks) -> Front:
    return optimize(trial.scores, trial.costs, "hull", should_stop=hooks.should_stop)


def _single(trial: Trial, hooks: Hooks) -> Front:
    """Each model for all queries, kept where no other is cheaper and better by its base
    rate (what one knows of a model without per-query prediction)."""
    n, m = trial.scores.shape
    allocations = np.repeat(np.arange(m, dtype=np.int16)[:, None], n, axis=1)
    return Front.from_allocations(allocations, _base_scores(trial), trial.costs,
                                  method="single")


def _base_scores(trial: Trial) -> np.ndarray:
    return np.broadcast_to(trial.base_rate, trial.scores.shape)


def _random(trial: Trial, hooks: Hooks) -> Front:
    """Per mixing level q, each query takes a uniformly random model with probability q and
    its cheapest model otherwise."""
    n, m = trial.scores.shape
    rng = np.random.default_rng(trial.seed)
    levels = np.linspace(0.0, 1.0, RANDOM_LEVELS)[:, None]
    mixed = rng.random((RANDOM_LEVELS, n)) < levels
    allocations = np.where(mixed, rng.integers(0, m, (RANDOM_LEVELS, n)),
                           cheapest_allocation(trial.scores, trial.costs))
    return Front.from_allocations(allocations, trial.scores, trial.costs, method="random")


def _relabelled(front: Front, method: str) -> Front:
    front.method = method
    return front


def _oracle(trial: Trial, hooks: Hooks) -> Front:
    """The exact front of the true labels: on 0/1 scores the hull sweep is the true front."""
    return _relabelled(optimize(trial.labels, trial.costs, "hull",
                                should_stop=hooks.should_stop), "oracle")


def _prior(trial: Trial, hooks: Hooks) -> Front:
    return _relabelled(optimize(_base_scores(trial), trial.costs, "hull",
                                should_stop=hooks.should_stop), "prior")


def _evolutionary(name: str) -> Callable[[Trial, Hooks], Front]:
    def run(trial: Trial, hooks: Hooks) -> Front:
        from optllm.optimizers import evolutionary as baselines

        return baselines.evolve(name, trial.scores, trial.costs, pop_size=trial.pop_size,
                                generations=trial.generations, seed=trial.seed,
                                progress=hooks.progress, should_stop=hooks.should_stop,
                                on_generation=hooks.on_generation)
    return run


#: How each registered method (optllm.optimizers.registry) builds its front for one trial.
RUNNERS: dict[str, Callable[[Trial, Hooks], Front]] = {
    "optllm": _optllm, "hull": _hull, "single": _single, "random": _random, "oracle": _oracle,
    "prior": _prior, **{name: _evolutionary(name) for name in ("nsga2", "smsemoa", "moead")},
}


def pymoo_available() -> bool:
    """Whether the evolutionary baselines can run (the `optllm[baselines]` extra)."""
    try:
        import pymoo  # noqa: F401
    except ImportError:
        return False
    return True


def default_methods() -> list[str]:
    """Every method, without the pymoo ones when pymoo is not installed."""
    with_pymoo = pymoo_available()
    return [name for name, m in METHODS.items() if with_pymoo or not m.needs_pymoo]


def check_methods(methods: Sequence[str]) -> tuple[str, ...]:
    """Known, distinct method names in the given order; pymoo present when one needs it."""
    names = tuple(dict.fromkeys(methods))
    if not names:
        raise ConfigError("no methods to compare")
    unknown = [m for m in names if m not in METHODS]
    if unknown:
        raise ConfigError(f"unknown method {unknown[0]!r}; choose from {', '.join(METHODS)}")
    needs = [m for m in names if METHODS[m].needs_pymoo]
    if needs and not pymoo_available():
        raise ConfigError(f"method {needs[0]} needs pymoo: pip install 'optllm[baselines]'")
    return names


@dataclass(frozen=True)
class MethodRun:
    """One method on one seed: its front, each point's predicted (mean score of the
    allocation) and true accuracy, and the measures against the true front."""

    method: str
    seed: int
    front: Front
    predicted_accuracy: np.ndarray
    evaluation: Evaluation
    runtime_s: float

    @property
    def true_accuracy(self) -> np.ndarray:
        return self.evaluation.true_accuracy

    def row(self) -> dict:
        ev = self.evaluation
        return {
            "method": self.method,
            "seed": self.seed,
            "points": len(self.front),
            "runtime_s": self.runtime_s,
            "igd": ev.igd,
            "spread": ev.spread,
            "hypervolume": ev.hypervolume,
            "cost_saving_at_best_accuracy": _nan_if_none(ev.cost_saving_at_best_accuracy),
            "accuracy_gain_at_best_cost": _nan_if_none(ev.accuracy_gain_at_best_cost),
            "best_true_accuracy": float(ev.true_accuracy.max()),
            "best_single_model": ev.best_single.model,
            "status": self.front.status,
        }

    def frame(self, max_points: int = MAX_FRONT_POINTS) -> pd.DataFrame:
        """The front's points (at most `max_points`, evenly by cost): cost and accuracies."""
        points = self.front.thin(max_points)
        return pd.DataFrame({
            "point": points,
            "cost": self.front.cost[points],
            "predicted_accuracy": self.predicted_accuracy[points],
            "true_accuracy": self.true_accuracy[points],
        })


def _nan_if_none(value: float | None) -> float:
    return math.nan if value is None else value


@dataclass(frozen=True)
class FriedmanResult:
    """Friedman test of one measure: methods as treatments, seeds as blocks.

    `mean_rank` is each method's mean rank over the seeds, 1 being the best.
    """

    measure: str
    statistic: float
    p_value: float
    n_seeds: int
    mean_rank: dict[str, float]


@dataclass(frozen=True)
class Comparison:
    """Every (method, seed) run of a comparison, with the settings it ran under and each
    seed's shared `Trial` (predicted scores, costs and labels of the allocated queries);
    a run's `evaluation.truth` is that seed's true front."""

    dataset: str
    n_allocated: int
    n_train: int
    models: tuple[str, ...]
    methods: tuple[str, ...]
    seeds: tuple[int, ...]
    config: RunConfig
    pop_size: int
    generations: int
    runs: tuple[MethodRun, ...]
    trials: dict[int, Trial]
    timings: dict[int, dict[str, float]]

    def run(self, method: str, seed: int) -> MethodRun:
        for r in self.runs:
            if r.method == method and r.seed == seed:
                return r
        raise KeyError(f"no run of {method!r} with seed {seed}")

    def table(self) -> pd.DataFrame:
        """One row per method and seed (methods in the order asked for)."""
        runs = sorted(self.runs, key=lambda r: (self.methods.index(r.method),
                                                self.seeds.index(r.seed)))
        return pd.DataFrame([r.row() for r in runs])

    def summary(self) -> pd.DataFrame:
        """Per method: median, min and max of every measure over the seeds, and `reached`,
        the number of seeds where the best single model's accuracy was reached."""
        table = self.table()
        grouped = table.groupby("method", sort=False)
        stats = {f"{measure}_{stat}": grouped[measure].agg(stat)
                 for measure in MEASURES for stat in ("median", "min", "max")}
        summary = pd.DataFrame(stats)
        summary["reached"] = grouped["cost_saving_at_best_accuracy"].count()
        summary["seeds"] = grouped.size()
        return summary.reset_index()

    def friedman(self) -> list[FriedmanResult]:
        """Friedman tests across methods (the oracle excluded: it wins by construction),
        one per measure of `FRIEDMAN_MEASURES`, when there are >= 3 seeds and >= 3 methods
        with a finite value on every seed; an empty list otherwise."""
        table = self.table()
        results = []
        for measure in FRIEDMAN_MEASURES:
            wide = (table[table["method"] != "oracle"]
                    .pivot(index="seed", columns="method", values=measure)
                    .dropna(axis=1))
            wide = wide[[m for m in self.methods if m in wide.columns]]
            if wide.shape[0] < 3 or wide.shape[1] < 3:
                continue
            values = wide.to_numpy()
            statistic, p_value = friedmanchisquare(*values.T)
            ranks = rankdata(-values if MEASURES[measure] else values, axis=1).mean(axis=0)
            results.append(FriedmanResult(measure, float(statistic), float(p_value),
                                          wide.shape[0], dict(zip(wide.columns, ranks,
                                                                  strict=True))))
        return results

    def _predictors(self) -> str:
        """The learner asked for and, for `auto`, what it chose in how many seeds."""
        chosen = pd.Series([trial.predictor for trial in self.trials.values()]).value_counts()
        if self.config.learner != "auto":
            return f"predictor {', '.join(chosen.index)}"
        picks = ", ".join(f"{name} in {count}/{len(self.trials)} seeds"
                          for name, count in chosen.items())
        return f"predictor auto ({picks})"

    def to_markdown(self) -> str:
        """The summary as a Markdown table (median and range over seeds) with the settings
        and the Friedman tests, for docs."""
        summary = self.summary().set_index("method")
        seeds = len(self.seeds)
        lines = [
            f"**{self.dataset}**: {self.n_allocated:,} allocated queries x {len(self.models)} "
            f"models; {self.n_train:,} labelled for training "
            f"({self.config.train_fraction:g}), {self._predictors()}, "
            f"{self.config.bootstraps} bootstraps, "
            f"alpha {self.config.alpha:g}; {seeds} seed{'s' * (seeds != 1)} "
            f"({', '.join(map(str, self.seeds))}); evolutionary methods: population "
            f"{self.pop_size}, {self.generations} generations. "
            "Median [min, max] over seeds; n/a: no point reaches the best single model's "
            "accuracy (cost saving) or costs no more than it (accuracy gain).",
            "",
            "| method | points | runtime (s) | IGD ↓ | spread ↓ | hypervolume ↑ | "
            "cost saving at the best model's accuracy (%) | accuracy gain at its cost (pp) | "
            "best true accuracy |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for method, s in summary.iterrows():
            def cell(measure: str, fmt: Callable[[float], str], row: pd.Series = s) -> str:
                lo, mid, hi = (row[f"{measure}_{k}"] for k in ("min", "median", "max"))
                if math.isnan(mid):
                    return "n/a"
                return fmt(mid) if lo == hi else f"{fmt(mid)} [{fmt(lo)}, {fmt(hi)}]"

            saving = cell("cost_saving_at_best_accuracy", lambda x: _fixed(100 * x, 1))
            if 0 < s["reached"] < s["seeds"]:
                saving += f" ({s['reached']:.0f}/{s['seeds']:.0f} seeds)"
            lines.append(" | ".join([
                f"| {method}",
                cell("points", lambda x: f"{x:,.0f}"),
                cell("runtime_s", lambda x: f"{x:.3g}"),
                cell("igd", lambda x: _fixed(x, 4)),
                cell("spread", lambda x: _fixed(x, 3)),
                cell("hypervolume", lambda x: _fixed(x, 3)),
                saving,
                cell("accuracy_gain_at_best_cost", lambda x: _fixed(100 * x, 1, sign=True)),
                cell("best_true_accuracy", lambda x: _fixed(x, 4)),
            ]) + " |")
        stage_times = pd.DataFrame(self.timings.values()).median()
        lines += ["", "Shared per seed (median): " + ", ".join(
            f"{stage} {seconds:.3g} s" for stage, seconds in stage_times.items()) + "."]
        tests = self.friedman()
        if tests:
            lines += ["", "Friedman tests (oracle excluded; mean rank, 1 = best):"]
            for t in tests:
                ranks = ", ".join(f"{m} {r:.1f}" for m, r in
                                  sorted(t.mean_rank.items(), key=lambda kv: kv[1]))
                lines.append(f"- {t.measure}: chi² = {t.statistic:.2f}, p = {t.p_value:.2g} "
                             f"({len(t.mean_rank)} methods, {t.n_seeds} seeds); {ranks}")
        else:
            lines += ["", "Friedman test: needs at least 3 seeds and 3 methods besides the "
                      "oracle."]
        return "\n".join(lines) + "\n"


def _fixed(x: float, decimals: int, *, sign: bool = False) -> str:
    """`x` rounded for a table; float noise around zero shows as 0, never as -0."""
    return f"{round(x, decimals) + 0.0:{'+' if sign else ''}.{decimals}f}"


def _tagged(progress: ProgressCallback | None, tag: str) -> ProgressCallback | None:
    """Prefix every report's message with `tag` (the seed), so streams stay readable."""
    if progress is None:
        return None

    def forward(event: Progress) -> None:
        message = f"{tag}: {event.message}" if event.message else tag
        progress(dataclasses.replace(event, message=message))
    return forward


#: The RunConfig fields a prediction depends on (the others choose points on a front).
TRAINING_FIELDS = ("train_fraction", "seed", "bootstraps", "alpha", "featuriser", "learner",
                   "feature_columns")


@dataclass(frozen=True)
class Trained:
    """A prediction already made on the compared dataset with `config` and `split` (the
    app's session): `compare` reuses it for the seed whose split and training parameters
    it matches rather than train the same predictor again (89 s on logparsing)."""

    config: RunConfig
    split: Split
    prediction: Prediction

    def matches(self, config: RunConfig, split: Split) -> bool:
        return (all(getattr(self.config, f) == getattr(config, f) for f in TRAINING_FIELDS)
                and np.array_equal(self.split.train, split.train)
                and np.array_equal(self.split.allocate, split.allocate))


def compare(dataset: Dataset, methods: Sequence[str], seeds: Sequence[int],
            config: RunConfig | None = None, *, pop_size: int = DEFAULT_POP_SIZE,
            generations: int = DEFAULT_GENERATIONS, progress: ProgressCallback | None = None,
            should_stop: ShouldStop | None = None,
            on_front: Callable[[FrontUpdate], None] | None = None,
            trained: Trained | None = None) -> Comparison:
    """Run `methods` on `dataset` for every seed and measure them against the true front.

    Per seed: `split_queries` and `train_and_predict` with `config` (its own `seed` replaced),
    then each method in turn on the shared predicted scores. `progress` gets the pipeline's
    stages, each generation of an evolutionary method (stage = its name) and one
    ("compare", runs done, runs total) report per finished run, messages prefixed by the
    seed. `on_front` gets a `FrontUpdate` after every generation and at the end of every
    run. `should_stop` is checked throughout (training, every run, every generation);
    stopping raises `Cancelled`. `trained` is used, not retrained, for the seed it matches.
    Every allocated query needs its labels.
    """
    config = (config or RunConfig()).check()
    methods = check_methods(methods)
    seeds = tuple(dict.fromkeys(int(s) for s in seeds))
    if not seeds:
        raise ConfigError("give at least one seed")
    if pop_size < 2:
        raise ConfigError(f"population size must be at least 2; got {pop_size}")
    if generations < 1:
        raise ConfigError(f"generations must be at least 1; got {generations}")
    if not dataset.labelled.all():
        raise ConfigError(f"{dataset.name}: comparing needs the true labels of every query; "
                          f"{dataset.n_queries - dataset.n_labelled} of {dataset.n_queries} "
                          "have none")
    runs: list[MethodRun] = []
    trials: dict[int, Trial] = {}
    timings: dict[int, dict[str, float]] = {}
    total = len(methods) * len(seeds)
    for seed in seeds:
        tagged = _tagged(progress, f"seed {seed}")
        split = split_queries(dataset, config.train_fraction, seed)
        allocated = dataset.subset(split.allocate)
        timings[seed] = {}
        seed_config = dataclasses.replace(config, seed=seed)
        if trained is not None and trained.matches(seed_config, split):
            prediction = trained.prediction
            report(tagged, "train", 1, 1, "the predictor already trained, reused")
        else:
            prediction = train_and_predict(dataset, split, seed_config, progress=tagged,
                                           should_stop=should_stop, timings=timings[seed])
        trial = Trial(seed, prediction.scores, allocated.cost,
                      allocated.labels.astype(np.float64),
                      dataset.labels[split.train].mean(axis=0), config.density, pop_size,
                      generations, prediction.choice.candidate.name if prediction.choice else "")
        trials[seed] = trial
        for method in methods:
            check_cancelled(should_stop, "compare")
            run = _run_method(method, trial, allocated.models, tagged, should_stop, on_front)
            runs.append(run)
            report(tagged, "compare", len(runs), total, method)
    return Comparison(dataset.title, int(split.allocate.size), int(split.train.size),
                      dataset.models, methods, seeds, config, pop_size, generations,
                      tuple(runs), trials, timings)


def _run_method(method: str, trial: Trial, models: tuple[str, ...],
                progress: ProgressCallback | None, should_stop: ShouldStop | None,
                on_front: Callable[[FrontUpdate], None] | None) -> MethodRun:
    """Build one method's front, then re-score and measure it."""
    n_generation = 0
    hooks = Hooks(progress, should_stop)
    if on_front is not None:
        def on_generation(cost: np.ndarray, accuracy: np.ndarray,
                          allocations: np.ndarray) -> None:
            nonlocal n_generation
            n_generation += 1
            true = allocation_totals(allocations, trial.labels) / allocations.shape[1]
            on_front(FrontUpdate(method, trial.seed, n_generation, cost, accuracy, true,
                                 final=False))

        hooks = Hooks(progress, should_stop, on_generation)
    t0 = time.perf_counter()
    front = RUNNERS[method](trial, hooks)
    runtime = time.perf_counter() - t0
    if front.status == "cancelled":
        raise Cancelled(f"compare cancelled during {method}")
    evaluation = evaluate(front, trial.labels, trial.costs, models)
    predicted = front.totals(trial.scores) / trial.scores.shape[0]
    run = MethodRun(method, trial.seed, front, predicted, evaluation, runtime)
    if on_front is not None:
        on_front(FrontUpdate(method, trial.seed, None, front.cost, predicted,
                             evaluation.true_accuracy, final=True))
    return run
