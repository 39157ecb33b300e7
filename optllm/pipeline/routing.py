"""Route new queries one at a time with the trade-off of a point chosen on a front.

On the exact (hull) front, consecutive points differ by moves sorted by their rate (expected
score gained per dollar). Point k is exactly the allocation that gives every query the model
maximising `score - rate * cost` for any rate between the rates of the moves just before and
just after k. So a chosen point becomes a rule that needs no batch: a `Policy` stores the
trained featuriser and predictor, the models' prices and expected output tokens, alpha and
that rate (the midpoint of the interval), and routes each new query on its own, in chunks,
so files larger than memory stream through.

A policy file is a saved file (`optllm.data.savefile`: a zip of `manifest.json` and plain
arrays, never pickle, so opening one runs no code from it): the rate, alpha, the point, the
prices, and the fitted featuriser and learner as data (`optllm.predict.state`). Every
field is checked on load, and a file that is not a sound policy raises `PolicyFileError`
naming the file and the field.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import sklearn
import xgboost

from optllm.data.files import atomic_path, neutralise_formulas, open_output, write_jsonl
from optllm.data.formats import output_format
from optllm.data.queries import DEFAULT_CHUNK_ROWS, ColumnChunk, iter_batch_columns
from optllm.data.savefile import Fields, Stored, read_saved, write_saved
from optllm.exceptions import ConfigError, DatasetError, SavedFileError
from optllm.optimizers.api import optimize
from optllm.optimizers.front import Front
from optllm.pipeline.batch import BatchRunResult
from optllm.pipeline.stream_limits import StreamCounter
from optllm.predict.base import Featuriser, Learner, robust_score
from optllm.predict.columns import featurise, used_columns
from optllm.predict.state import load_featuriser, load_learner, save_featuriser, save_learner
from optllm.pricing.prices import CostModel
from optllm.pricing.tokens import TOKEN_METHODS
from optllm.progress import ProgressCallback, ShouldStop, check_cancelled, report

POLICY_FORMAT = "optllm.Policy"
#: 4: a policy may carry per-model limits and prices (`limits`, `model_prices`).
POLICY_VERSION = 4
#: Relative difference below which two moves' rates are one (equal scores and costs give
#: rates that differ in the last bits of a division).
TIED_RATES = 1e-9


class PolicyFileError(SavedFileError):
    """A policy file is unreadable, truncated or of another format or version."""

    KIND = "policy file"


def hull_rates(front: Front) -> np.ndarray:
    """Rates of the moves between consecutive points of a hull front: expected score per
    dollar, diff(accuracy) * N / diff(cost), (P - 1,) and non-increasing."""
    return np.diff(front.accuracy) * front.n_queries / np.diff(front.cost)


def rate_interval(front: Front, k: int) -> tuple[float, float]:
    """The rates (low, high) between which routing by `score - rate * cost` reproduces
    point k of a hull front: the rate of the move after k and of the move before it."""
    rates = hull_rates(front)
    k = k % len(front)
    low = float(rates[k]) if k < rates.size else 0.0
    high = float(rates[k - 1]) if k > 0 else float("inf")
    return low, high


def rate_for_point(front: Front, k: int) -> float:
    """A rate inside `rate_interval(front, k)`, away from both ends so no move ties: the
    midpoint, twice the low end for the cheapest point, 0 for a single-point front."""
    low, high = rate_interval(front, k)
    if np.isinf(high):
        return 2.0 * low
    return (low + high) / 2.0


def reproducible_point(front: Front, k: int) -> int:
    """The most accurate point of a hull front at most as dear as point k that a rate
    reproduces. Moves of equal rate (queries with equal scores and costs, as the rate
    learners give a whole group) are taken all at once by a rate, so a point between two
    of them has no rate of its own: it becomes the point before the tie."""
    k = k % len(front)
    rates = hull_rates(front)
    while 0 < k < rates.size and np.isclose(rates[k], rates[k - 1], rtol=TIED_RATES, atol=0):
        k -= 1
    return k


def route_scores(scores: np.ndarray, costs: np.ndarray, rate: float) -> np.ndarray:
    """Per query the model maximising `score - rate * cost` (ties: cheaper, then lower index),
    (N,) intp."""
    value = scores - rate * costs
    best = value == value.max(axis=1, keepdims=True)
    return np.where(best, -costs, -np.inf).argmax(axis=1)


@dataclass
class Policy:
    """A chosen trade-off, ready to route new queries without a batch.

    `rate` is the exchange rate lambda (expected accuracy per dollar, summed over queries);
    `point` records where it came from (front point, its cost and expected accuracy, the
    interval of rates that reproduce it, the number of queries).
    """

    featuriser: Featuriser
    predictor: Learner
    cost_model: CostModel
    alpha: float
    rate: float
    point: dict = field(default_factory=dict)
    #: Per-model limits kept over the routed stream ({"max_queries" | "max_spend" |
    #: "min_share": {model: value}}), and the prices that got the batch within them:
    #: {"cost_weight": [M], "offset": [M]}, each query taking the argmax of
    #: score - cost_weight[j] * cost - offset[j] (`optllm.pipeline.stream_limits`).
    limits: dict[str, dict[str, float]] | None = None
    model_prices: dict[str, list[float]] | None = None

    def counter(self) -> StreamCounter | None:
        """A fresh counter of the limits over one stream, or None without limits."""
        if not self.limits:
            return None
        return StreamCounter(self.models, self.limits.get("max_queries", {}),
                             self.limits.get("max_spend", {}))

    def values(self, scores: np.ndarray, costs: np.ndarray) -> np.ndarray:
        """What each query maximises over the models: score minus the priced cost."""
        if self.model_prices is None:
            return scores - self.rate * costs
        return (scores - np.asarray(self.model_prices["cost_weight"]) * costs
                - np.asarray(self.model_prices["offset"]))

    @property
    def models(self) -> tuple[str, ...]:
        return self.cost_model.models

    @property
    def feature_columns(self) -> list[str]:
        """The extra columns the predictor reads: every query routed needs them."""
        return used_columns(self.featuriser)

    def predict(self, queries: Iterable[object], columns: pd.DataFrame | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Costs C, mean P, spread U and robust scores S of `queries` (with their extra
        `columns` when the predictor reads some), each (N, M)."""
        queries = list(queries)
        costs, _ = self.cost_model.costs(queries)
        P, U = self.predictor.predict_mean_std(featurise(self.featuriser, queries, columns))
        return costs, P, U, robust_score(P, U, self.alpha)

    def save(self, path: str | os.PathLike[str], *, force: bool = False) -> Path:
        """Write the policy as a saved file, atomically (see the module docstring)."""
        featuriser, featuriser_arrays = save_featuriser(self.featuriser)
        predictor, predictor_arrays = save_learner(self.predictor)
        stored = Stored({
            "versions": {"scikit-learn": sklearn.__version__, "xgboost": xgboost.__version__},
            "alpha": self.alpha, "rate": self.rate, "point": self.point,
            "limits": self.limits, "model_prices": self.model_prices,
            "costs": self.cost_model.as_dict(),
            "featuriser": featuriser, "predictor": predictor})
        stored.add("featuriser", featuriser_arrays)
        stored.add("predictor", predictor_arrays)
        return write_saved(path, stored, file_format=POLICY_FORMAT, version=POLICY_VERSION,
                           force=force)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Policy:
        """Read and check a policy written by `save`; any problem raises PolicyFileError
        naming the file and the field."""
        stored = read_saved(path, PolicyFileError, POLICY_FORMAT, POLICY_VERSION)
        fields = Fields(path, PolicyFileError, stored)
        manifest = stored.manifest
        featuriser = load_featuriser(fields.part("featuriser"),
                                     fields.value(manifest, "featuriser", dict))
        predictor = load_learner(fields.part("predictor"),
                                 fields.value(manifest, "predictor", dict))
        if predictor.n_features_in_ != featuriser.n_features_out_:
            raise fields.fail("predictor.n_features_in", (
                f"is {predictor.n_features_in_}, but the featuriser gives "
                f"{featuriser.n_features_out_} features"))
        cost_model = _load_cost_model(fields, fields.value(manifest, "costs", dict))
        if list(predictor.model_names_) != list(cost_model.models):
            raise fields.fail("predictor.model_names", (
                f"{predictor.model_names_} differ from the priced models "
                f"{list(cost_model.models)}"))
        point = fields.value(manifest, "point", dict)
        for key, value in point.items():
            if not (value is None or isinstance(value, int | float | str)) or (
                    isinstance(value, float) and not np.isfinite(value)):
                raise fields.fail(f"point.{key}", f"is {value!r}, not a plain value")
        limits, prices = _load_limits(fields, manifest, cost_model.models)
        return cls(featuriser, predictor, cost_model,
                   fields.value(manifest, "alpha", float, low=-1e6, high=1e6),
                   fields.value(manifest, "rate", float, low=0.0), point, limits, prices)


def _load_limits(fields: Fields, manifest: dict, models: tuple[str, ...]
                 ) -> tuple[dict[str, dict[str, float]] | None, dict[str, list[float]] | None]:
    """The optional limits and per-model prices of a policy, checked: known kinds and
    models, values a `Constraints` accepts, one finite price per model."""
    from optllm.config import LIMIT_OPTIONS
    from optllm.optimizers.constraints import Constraints

    limits = fields.value(manifest, "limits", dict, optional=True)
    prices = fields.value(manifest, "model_prices", dict, optional=True)
    if limits is not None:
        part = fields.part("limits")
        for kind, values in limits.items():
            if kind not in LIMIT_OPTIONS:
                raise part.fail(kind, "is not a kind of limit")
            if not isinstance(values, dict):
                raise part.fail(kind, "must be an object")
            for model in values:
                if model not in models:
                    raise part.fail(f"{kind}.{model}", "is not one of the policy's models")
                part.part(kind).value(values, model, float, low=0.0)
        try:
            Constraints(**limits)
        except ConfigError as exc:
            raise part.fail("", str(exc)) from None
    if prices is not None:
        part = fields.part("model_prices")
        for name in ("cost_weight", "offset"):
            values = part.value(prices, name, list)
            if len(values) != len(models) or not all(
                    isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v)
                    for v in values):
                raise part.fail(name, f"must be {len(models)} finite numbers, one per model")
    return limits, prices


def _load_cost_model(fields: Fields, data: dict) -> CostModel:
    """The prices part of a policy, checked: known token method, finite non-negative
    prices and output tokens, one row per model."""
    costs = fields.part("costs")
    method = costs.value(data, "token_method", str)
    if method not in TOKEN_METHODS:
        raise costs.fail("token_method", f"{method!r} is not one of {', '.join(TOKEN_METHODS)}")
    rows = costs.value(data, "models", list)
    if not rows:
        raise costs.fail("models", "is empty")
    checked = []
    for i, row in enumerate(rows):
        part = costs.part(f"models[{i}]")
        if not isinstance(row, dict):
            raise part.fail("", "must be an object")
        checked.append({
            "model": part.value(row, "model", str),
            "input_per_mtok": part.value(row, "input_per_mtok", float, low=0.0),
            "output_per_mtok": part.value(row, "output_per_mtok", float, low=0.0),
            "price_source": part.value(row, "price_source", str),
            "output_tokens": part.value(row, "output_tokens", float, low=0.0),
            "output_tokens_source": part.value(row, "output_tokens_source", str)})
    return CostModel.from_dict({"token_method": method, "models": checked})


def policy_from_result(result: BatchRunResult, point: int | None = None) -> Policy:
    """The policy of `point` (default: the run's selected point) of a batch run.

    The rate comes from the exact hull front of the same scores and costs: the point itself
    when the run used the hull, else the most accurate hull point costing no more; inside a
    run of tied moves, the point before them (`reproducible_point`).
    """
    k = result.selected if point is None else point
    if k is None:
        raise ConfigError("no point chosen: give a budget or a target accuracy to save a policy")
    if result.limits is not None and result.limits.point is not None and point is None:
        return _limited_policy(result)
    allocated = result.allocated
    front = result.front
    if front.method != "hull":
        hull = optimize(result.prediction.scores, allocated.cost, method="hull")
        k, front = hull.index_for_budget(float(front.cost[k]) * (1 + 1e-12)), hull
    k = reproducible_point(front, k)
    low, high = rate_interval(front, k)
    config = result.config
    featuriser, predictor = result.prediction.featuriser, result.prediction.predictor
    # A batch run has all three; only a run reopened from a file lacks its fitted models.
    assert result.cost_model is not None and featuriser is not None and predictor is not None
    return Policy(featuriser, predictor, result.cost_model,
                  config.alpha,
                  rate_for_point(front, k),
                  {"point": int(k), "cost": float(front.cost[k]),
                   "expected_accuracy": float(front.accuracy[k]),
                   "n_queries": front.n_queries, "rate_low": low,
                   "rate_high": high if np.isfinite(high) else None,
                   "dataset": result.dataset.title})


def route_queries(policy: Policy, query_ids: Iterable[object], queries: Iterable[object],
                  columns: pd.DataFrame | None = None,
                  counter: StreamCounter | None = None) -> tuple[pa.Table, np.ndarray]:
    """Each query's model by the policy's rule, with its cost, score, probability and
    uncertainty (a table, one row per query in input order), and the chosen model index.
    With a `counter`, the policy's limits hold over every query it has counted."""
    costs, P, U, S = policy.predict(queries, columns)
    if counter is not None:
        choice = counter.choose(policy.values(S, costs), costs)
    elif policy.model_prices is not None:
        choice = route_scores(policy.values(S, costs), costs, 0.0)
    else:
        choice = route_scores(S, costs, policy.rate)
    return choice_table(query_ids, policy.models, choice, (costs, P, U, S)), choice


def choice_table(query_ids: Iterable[object], models: tuple[str, ...], choice: np.ndarray,
                 predicted: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]) -> pa.Table:
    """One row per query: its chosen model with that model's cost, score, probability and
    uncertainty, from `predicted` = `Policy.predict`'s (costs, P, U, S)."""
    costs, P, U, S = predicted
    query_ids = np.asarray(list(query_ids), dtype=object)
    rows = np.arange(choice.size)
    return pa.table({
        "query_id": pa.array(pd.Series(query_ids, dtype=object).astype(str), type=pa.string()),
        "model": pa.array(np.asarray(models, dtype=object)).take(pa.array(choice)),
        "cost": pa.array(costs[rows, choice]),
        "score": pa.array(S[rows, choice]),
        "probability": pa.array(P[rows, choice]),
        "uncertainty": pa.array(U[rows, choice]),
    })


@dataclass(frozen=True)
class RouteSummary:
    """What `route_file` wrote: rows, total expected cost, expected accuracy, per-model counts."""

    path: Path
    n_queries: int
    cost: float
    expected_accuracy: float
    counts: dict[str, int]
    #: Expected USD per model over the stream.
    spend: dict[str, float] = field(default_factory=dict)


class _Writer:
    """Appends tables to one open output file in CSV (formula-like text neutralised, as by
    `export.write_table`), Parquet or JSON Lines; CSV and JSON Lines gzipped when `gz`."""

    def __init__(self, path: Path, kind: str, gz: bool, schema: pa.Schema) -> None:
        self.kind = kind
        self.file: pa.NativeFile | None = None
        if kind == "parquet":
            self.sink = pq.ParquetWriter(path, schema)
            return
        self.file = open_output(path, gz)
        self.sink = pacsv.CSVWriter(self.file, schema) if kind == "csv" else None

    def write(self, table: pa.Table) -> None:
        if self.kind == "jsonl":
            write_jsonl(table, self.file)
        elif self.kind == "parquet":
            self.sink.write_table(table)
        else:
            self.sink.write(neutralise_formulas(table))

    def close(self) -> None:
        if self.sink is not None:
            self.sink.close()
        if self.file is not None:
            self.file.close()


def policy_chunks(policy: Policy, src: str | os.PathLike[str], chunk_rows: int,
                  query_column: str) -> Iterator[ColumnChunk]:
    """(query_ids, queries, columns) per chunk of `src`, with the columns the policy's
    predictor reads (a chunk without one raises DatasetError naming the file)."""
    for ids, queries, columns in iter_batch_columns(
            src, chunk_rows, query_column, with_columns=bool(policy.feature_columns)):
        missing = [c for c in policy.feature_columns if c not in columns.columns]
        if missing:
            raise DatasetError(
                f"{src}: no column {', '.join(repr(c) for c in missing)}: the policy's "
                f"predictor reads {', '.join(repr(c) for c in policy.feature_columns)}"
                f"; columns found besides the query and id: "
                f"{', '.join(repr(str(c)) for c in columns.columns) or 'none'}")
        yield ids, queries, columns


def route_file(policy: Policy, src: str | os.PathLike[str], dst: str | os.PathLike[str], *,
               chunk_rows: int = DEFAULT_CHUNK_ROWS, force: bool = False,
               progress: ProgressCallback | None = None,
               should_stop: ShouldStop | None = None, query_column: str = "query"
               ) -> RouteSummary:
    """Route every query of the batch file `src` into `dst` (CSV, Parquet or JSON Lines by
    extension), chunk by chunk; `dst` appears complete or not at all."""
    kind, gz = output_format(dst)
    n, cost, score = 0, 0.0, 0.0
    counts = np.zeros(len(policy.models), dtype=np.int64)
    spend = np.zeros(len(policy.models))
    counter = policy.counter()
    with atomic_path(dst, force=force) as tmp:
        writer: _Writer | None = None
        try:
            for ids, queries, columns in policy_chunks(policy, src, chunk_rows, query_column):
                check_cancelled(should_stop, "route")
                table, choice = route_queries(policy, ids, queries, columns, counter)
                if writer is None:
                    writer = _Writer(tmp, kind, gz, table.schema)
                writer.write(table)
                n += table.num_rows
                cost += float(np.sum(table.column("cost")))
                score += float(np.sum(table.column("score")))
                counts += np.bincount(choice, minlength=counts.size)
                spend += np.bincount(choice, weights=table.column("cost").to_numpy(),
                                     minlength=counts.size)
                report(progress, "route", n, None, f"{n} queries routed")
        finally:
            if writer is not None:
                writer.close()
        if writer is None:
            raise DatasetError(f"{src}: no data rows to route")
    return RouteSummary(Path(dst), n, cost, score / n,
                        dict(zip(policy.models, counts.tolist(), strict=True)),
                        dict(zip(policy.models, spend.tolist(), strict=True)))


def _limited_policy(result: BatchRunResult) -> Policy:
    """The policy of a run's point solved under limits: its prices route each query as
    the batch was allocated, and its limits are kept over the stream."""
    from optllm.optimizers.constraints import routing_prices

    assert result.limits is not None and result.limits.point is not None
    limited = result.limits.point
    rate, cost_weight, offset = routing_prices(limited, len(result.dataset.models))
    featuriser, predictor = result.prediction.featuriser, result.prediction.predictor
    assert result.cost_model is not None and featuriser is not None and predictor is not None
    given = result.limits.constraints
    limits = {kind: dict(values) for kind, values in (
        ("max_queries", given.max_queries), ("max_spend", given.max_spend),
        ("min_share", given.min_share)) if values}
    return Policy(featuriser, predictor, result.cost_model, result.config.alpha, rate,
                  {"point": int(result.selected) if result.selected is not None else None,
                   "cost": limited.cost, "expected_accuracy": limited.accuracy,
                   "n_queries": int(limited.allocation.size), "rate_low": None,
                   "rate_high": None, "dataset": result.dataset.title},
                  limits, {"cost_weight": cost_weight.tolist(), "offset": offset.tolist()})
