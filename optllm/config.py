"""Run parameters, their bounds and parsers: light to import (no numpy, no ML libraries)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from optllm.exceptions import ConfigError

if TYPE_CHECKING:
    from optllm.optimizers.constraints import Constraints
from optllm.optimizers.registry import RUN_METHODS
from optllm.predict.registry import FEATURISER_CHOICES, LEARNER_CHOICES

#: What a front's cost counts: US dollars, or calls to the paid models (every model
#: dearer than the cheapest one costs 1 per query, the cheapest 0).
COST_UNITS = ("usd", "calls")
#: Strategies choosing the queries to label next (optllm.pipeline.labelling.STRATEGIES; a
#: test checks the two agree) and the default, chosen by measurement (docs/labelling.md).
LABELLING_STRATEGIES = ("random", "uncertainty", "diverse", "mixed")
DEFAULT_LABELLING_STRATEGY = "mixed"

#: The per-model limits (fields of optllm.optimizers.constraints.Constraints), with the
#: command's option for each.
LIMIT_OPTIONS = {"max_queries": "--cap", "max_spend": "--max-spend", "min_share": "--min-share"}

#: Robust score S = clip(P + alpha * U, 0, 1). benchmarks/bench_alpha.py (2% labelled, B=100,
#: 5 seeds, exact hull front): alpha in [-0.5, 0.5] moves mean AUC and hypervolume ratio by
#: < 0.002 on overruling and logparsing, alpha = +1 loses 0.06 hypervolume on overruling, and
#: the cost saving at the best single model's accuracy is highest for alpha <= 0. So the plain
#: mean is the default.
DEFAULT_ALPHA = 0.0
#: The largest seed: NumPy's legacy seeding and scikit-learn take 32-bit seeds, and a larger
#: one failed deep inside training instead of here.
MAX_SEED = 2**32 - 1
#: Upper bounds that keep a run from going on for hours: the paper uses 100 bootstraps (each
#: a refit; 1,000 logistic refits take about a minute on the 5,000-query default), and a
#: front of density 1000 has about 4,000 steps (ten seconds there).
MAX_BOOTSTRAPS = 5000
MAX_DENSITY = 1000
#: Labelled queries a run learns from at least: one per fold of the learners' 5-fold
#: cross-validation (optllm.predict.select); fewer gave meaningless fronts.
MIN_TRAIN_ROWS = 5

@dataclass(frozen=True)
class RunConfig:
    """Every parameter of a run; saved as config.json next to its results."""

    train_fraction: float = 0.02
    seed: int = 0
    bootstraps: int = 30
    alpha: float = DEFAULT_ALPHA
    method: str = "optllm"
    density: int = 10
    featuriser: str = "auto"
    learner: str = "auto"
    learning_curve: bool = False
    n_jobs: int = 2
    budget: float | None = None
    target_accuracy: float | None = None
    cost_unit: str = "usd"
    #: Report the cost at this share of the best single model's accuracy (0.95 = 95%).
    report_at: float | None = None
    #: Extra columns the predictor may use: "auto" (those shaped like a category), "none",
    #: or comma-separated names (optllm.predict.columns).
    feature_columns: str = "auto"
    #: Per-model limits every allocation must meet: {"max_queries" | "max_spend" |
    #: "min_share": {model: value}} (optllm.optimizers.constraints.Constraints).
    limits: dict[str, dict[str, float]] | None = None

    def check(self) -> RunConfig:
        """Raise ConfigError naming the first parameter out of range."""
        if not 0 < self.train_fraction < 1:
            raise ConfigError(f"train fraction must be between 0 and 1 (exclusive); "
                              f"got {self.train_fraction}")
        if not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"seed must be a whole number from 0 to {MAX_SEED} (2**32 - 1); "
                              f"got {self.seed}")
        if self.n_jobs < 1:
            raise ConfigError(f"n_jobs must be at least 1; got {self.n_jobs}")
        if self.learner not in LEARNER_CHOICES:
            raise ConfigError(f"learner must be one of {', '.join(LEARNER_CHOICES)}; "
                              f"got {self.learner!r}")
        if self.featuriser not in FEATURISER_CHOICES:
            raise ConfigError(f"featuriser must be one of {', '.join(FEATURISER_CHOICES)}; "
                              f"got {self.featuriser!r}")
        if not 1 <= self.bootstraps <= MAX_BOOTSTRAPS:
            raise ConfigError(f"bootstraps must be at least 1 and at most {MAX_BOOTSTRAPS}; "
                              f"got {self.bootstraps}")
        if self.method not in RUN_METHODS:
            raise ConfigError(f"method must be one of {', '.join(RUN_METHODS)}; "
                              f"got {self.method!r}")
        if not 2 <= self.density <= MAX_DENSITY:
            raise ConfigError(f"density must be at least 2 and at most {MAX_DENSITY}; "
                              f"got {self.density}")
        if not math.isfinite(self.alpha):
            raise ConfigError(f"alpha must be a finite number; got {self.alpha}")
        if self.cost_unit not in COST_UNITS:
            raise ConfigError(f"cost unit must be one of {', '.join(COST_UNITS)}; "
                              f"got {self.cost_unit!r}")
        parse_feature_columns(self.feature_columns)
        if self.report_at is not None and not 0 < self.report_at <= 1:
            raise ConfigError(f"report-at must be a share of the best model's accuracy above "
                              f"0 and at most 1 (0.95 = 95%); got {self.report_at}")
        if self.budget is not None and self.target_accuracy is not None:
            raise ConfigError("give either a budget or a target accuracy, not both")
        if self.budget is not None and not self.budget >= 0:
            raise ConfigError(f"budget must be a non-negative amount (USD, or calls with cost "
                              f"unit calls); got {self.budget}")
        if self.target_accuracy is not None and not 0 < self.target_accuracy <= 1:
            raise ConfigError(f"target accuracy must be above 0 and at most 1; "
                              f"got {self.target_accuracy}")
        if self.limits is not None:
            self.constraints()
        return self

    def constraints(self) -> Constraints | None:
        """The run's limits (with its budget) as a checked `Constraints`, or None."""
        from optllm.optimizers.constraints import Constraints

        if not self.limits:
            return None
        unknown = set(self.limits) - set(LIMIT_OPTIONS)
        if unknown:
            raise ConfigError(f"unknown kind of limit {sorted(unknown)[0]!r}; the kinds are "
                              f"{', '.join(LIMIT_OPTIONS)}")
        if self.limits.get("max_spend") and self.cost_unit != "usd":
            raise ConfigError("spend limits are in USD: use them with cost unit usd")
        return Constraints(self.budget, **{kind: dict(values)
                                           for kind, values in self.limits.items()})

    def as_dict(self) -> dict:
        return asdict(self)


def parse_feature_columns(text: str) -> str | tuple[str, ...]:
    """Feature columns as typed (`--feature-columns`, the app): "auto", "none", or
    comma-separated column names (a tuple)."""
    stripped = text.strip()
    if stripped.lower() in ("auto", "none"):
        return stripped.lower()
    names = tuple(name.strip() for name in stripped.split(","))
    if not all(names):
        raise ConfigError(f"feature columns must be auto, none or comma-separated column "
                          f"names; got {text!r}")
    return names


def parse_accuracy(text: str, what: str = "target accuracy") -> float:
    """An accuracy as a user types it, in the command and the app alike: a fraction
    ("0.85") or a percentage with its sign ("85%"). A bare number above 1 ("1.5", "85")
    is refused rather than guessed at: read as a percentage, a mistyped 1.5 would quietly
    become 1.5%.

    >>> parse_accuracy("0.85"), parse_accuracy(" 85% ")
    (0.85, 0.85)
    >>> parse_accuracy("85")
    Traceback (most recent call last):
    ...
    optllm.exceptions.ConfigError: target accuracy 85 is above 1: give a fraction such as ...
    """
    stripped = text.strip()
    percent = stripped.endswith("%")
    value = finite_number(stripped[:-1] if percent else stripped, what, stripped)
    if percent:
        if not 0 < value <= 100:
            raise ConfigError(f"{what} must be above 0% and at most 100%; got {text.strip()}")
        return value / 100
    if value > 1:
        raise ConfigError(f"{what} {stripped} is above 1: give a fraction such as 0.85 or "
                          f"a percentage with its sign such as 85%")
    if not value > 0:
        raise ConfigError(f"{what} must be above 0 and at most 1; got {stripped}")
    return value


def parse_usd(text: str, what: str = "budget") -> float:
    """An amount of money as typed: "12.5", "$1,200"; never negative.

    >>> parse_usd("12.5"), parse_usd("$1,200")
    (12.5, 1200.0)
    >>> parse_usd("nan", "max cost")
    Traceback (most recent call last):
    ...
    optllm.exceptions.ConfigError: max cost must be a finite number; got 'nan'
    """
    value = finite_number(text.strip().lstrip("$").replace(",", ""), what, text.strip())
    if value < 0:
        raise ConfigError(f"{what} must be a non-negative amount in USD; got {text.strip()}")
    return value


def finite_number(text: str, what: str, typed: str) -> float:
    """The number `text`, or a ConfigError naming `what` and quoting what was `typed`:
    float() alone would also take "nan" and "inf", which no budget or accuracy can be."""
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{what} must be a number; got {typed!r}") from None
    if not math.isfinite(value):
        raise ConfigError(f"{what} must be a finite number; got {typed!r}")
    return value


def parse_whole(text: str, what: str) -> float:
    """A count of queries as typed: a whole number >= 0 ("300", "3e2")."""
    value = finite_number(text, what, text)
    if not value.is_integer() or value < 0:
        raise ConfigError(f"{what} must be a whole number of queries >= 0; got {text!r}")
    return value


def parse_limit(kind: str, model: str, text: str) -> float:
    """One per-model limit as typed, in the command (`--cap MODEL=N`) and the app's limits
    editor alike, refused with the same message naming the option and the model.

    >>> parse_limit("min_share", "m", "20%")
    0.2
    >>> parse_limit("max_queries", "m", "1.5")
    Traceback (most recent call last):
    ...
    optllm.exceptions.ConfigError: --cap m must be a whole number of queries >= 0; got '1.5'
    """
    parsers = {"max_queries": parse_whole, "max_spend": parse_usd,
               "min_share": parse_accuracy}
    return parsers[kind](text, f"{LIMIT_OPTIONS[kind]} {model}")


def allocated_rows_note(n_train: int, n_allocated: int) -> str:
    """Why an allocation has fewer rows than the data: said wherever one is shown or
    written, since a user counting rows otherwise suspects lost queries."""
    return (f"{n_allocated:,} of {n_train + n_allocated:,} queries: the {n_train:,} labelled "
            "queries the predictor was trained on are left out (its scores on them would "
            "flatter it)")
