"""The pipeline on Dask: route a partitioned batch with a saved policy, or allocate one at a
budget or target on the exact hull front, partition by partition.

Prediction is per query, so it runs where the partitions are, with the policy's fitted
featuriser and predictor sent once to each worker. Allocating takes three kinds of rounds:
scoring (each partition's envelope moves stay on its worker, `rate_search.PartitionMoves`),
a few small map-reduce rounds of rate histograms that find the front and the chosen point
(`rate_search.locate`), and writing (each partition predicts again and writes its allocation;
prediction is deterministic, so it is the allocation the moves describe). Outputs are one
Parquet file per input partition, each written atomically into a folder that replaces the
old one as a whole (`optllm.data.files.replaced_folder`).
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow.parquet as pq

from optllm.config import MIN_TRAIN_ROWS, RunConfig, parse_feature_columns
from optllm.data.dataset import Dataset
from optllm.data.files import atomic_path, replaced_folder
from optllm.data.queries import DEFAULT_CHUNK_ROWS, iter_batch_columns
from optllm.exceptions import ConfigError, DatasetError
from optllm.optimizers.constraints import Constraints
from optllm.optimizers.front import thin_by_cost
from optllm.optimizers.limit_search import (
    PartScores,
    Spec,
    allocated,
    solve_limited,
)
from optllm.optimizers.rate_search import (
    GATHER_LIMIT,
    Gathered,
    GroupStats,
    PartitionMoves,
    Point,
    Selection,
    allocation,
    boundary_points,
    budget_point,
    concat_moves,
    gather_moves,
    group_stats,
    locate,
    merge_stats,
    over_budget,
    partition_moves,
    reaching,
    target_point,
)
from optllm.pipeline.cluster import gathered, output_names, wait_for
from optllm.pipeline.limits import LimitedRun
from optllm.pipeline.routing import (
    Policy,
    RouteSummary,
    choice_table,
    policy_chunks,
    route_file,
)
from optllm.predict.columns import FeatureColumns, choose_columns
from optllm.predict.select import Choice, fit_predictor
from optllm.pricing.prices import Overrides, build_cost_model
from optllm.progress import ProgressCallback, ShouldStop

if TYPE_CHECKING:
    from distributed import Client, Future

#: Front points written at most (evenly by cost), as by the in-memory path.
MAX_FRONT_POINTS = 2000


@dataclass(frozen=True)
class Totals:
    """Rows written, their total cost and score, and queries per model."""

    n_queries: int
    cost: float
    score: float
    counts: np.ndarray

    @classmethod
    def added(cls, parts: Sequence[Totals]) -> Totals:
        return cls(sum(p.n_queries for p in parts), sum(p.cost for p in parts),
                   sum(p.score for p in parts), np.sum([p.counts for p in parts], axis=0))


def owned_names(out: Path, parts: Sequence[Path]) -> list[str]:
    """The names a partitioned output in `out` owns: one per input partition and every
    `.parquet` file an earlier output left (they go with it, so no stale partition outlives
    a run with fewer)."""
    earlier = [p.name for p in out.glob("*.parquet")] if out.is_dir() else []
    return sorted({*output_names(parts), *earlier})


def route_partitions(client: Client, policy: Policy, parts: Sequence[Path], out: Path, *,
                     force: bool = False, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                     query_column: str = "query", progress: ProgressCallback | None = None,
                     should_stop: ShouldStop | None = None) -> tuple[Totals, list[Path]]:
    """Route every partition into `out`, one Parquet file each (`route_file` on a worker)."""
    names = output_names(parts)
    with replaced_folder(out, owned_names(out, parts), force=force) as staging:
        shared = client.scatter(policy, broadcast=True, hash=False)
        futures = [client.submit(route_file, shared, str(src), str(staging / name),
                                 chunk_rows=chunk_rows, query_column=query_column, pure=False)
                   for src, name in zip(parts, names, strict=True)]
        done: list[RouteSummary] = gathered(client, futures, "route", progress=progress,
                                            should_stop=should_stop)
    totals = Totals.added([
        Totals(d.n_queries, d.cost, d.expected_accuracy * d.n_queries,
               np.array([d.counts[m] for m in policy.models])) for d in done])
    return totals, [out / name for name in names]


def score_partition(policy: Policy, src: str, part: int, chunk_rows: int, query_column: str
                    ) -> PartitionMoves:
    """A worker's first round: predict the partition chunk by chunk and keep its moves."""
    chunks, first = [], 0
    for _, queries, columns in policy_chunks(policy, src, chunk_rows, query_column):
        costs, _, _, scores = policy.predict(queries, columns)
        chunks.append(partition_moves(part, scores, costs, first_query=first))
        first += len(queries)
    if not chunks:
        raise DatasetError(f"{src}: no data rows")
    return concat_moves(chunks)


def predict_partition(policy: Policy, src: str, part: int, chunk_rows: int,
                      query_column: str) -> PartScores:
    """A worker's first round under limits: the partition's scores and costs, kept on the
    worker for the rounds that price the limits (they need every model's score)."""
    scores, costs = [], []
    for _, queries, columns in policy_chunks(policy, src, chunk_rows, query_column):
        chunk_costs, _, _, chunk_scores = policy.predict(queries, columns)
        scores.append(chunk_scores)
        costs.append(chunk_costs)
    if not scores:
        raise DatasetError(f"{src}: no data rows")
    return PartScores(part, np.concatenate(scores), np.concatenate(costs))


def scored_moves(scored: PartScores) -> PartitionMoves:
    """The envelope moves of a partition scored by `predict_partition`."""
    return partition_moves(scored.part, scored.scores, scored.costs)


def write_allocation(policy: Policy, src: str, chosen: np.ndarray, dst: str,
                     chunk_rows: int, query_column: str) -> Totals:
    """A worker's last round: the partition's allocation (`chosen`, a model per query),
    with each query's predicted cost, score, probability and spread, written atomically
    to `dst`."""
    n_models = len(policy.models)
    totals, first = [], 0
    with atomic_path(dst) as tmp:
        writer: pq.ParquetWriter | None = None
        try:
            for ids, queries, columns in policy_chunks(policy, src, chunk_rows, query_column):
                choice = chosen[first:first + len(queries)]
                first += len(queries)
                table = choice_table(ids, policy.models, choice,
                                     policy.predict(queries, columns))
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema)
                writer.write_table(table)
                totals.append(Totals(len(choice), float(np.sum(table.column("cost"))),
                                     float(np.sum(table.column("score"))),
                                     np.bincount(choice, minlength=n_models)))
        finally:
            if writer is not None:
                writer.close()
    return Totals.added(totals)


def engine_columns(history: Dataset, spec: FeatureColumns, parts: Sequence[Path],
                   query_column: str = "query") -> list[str]:
    """The feature columns offered to the predictor (`--feature-columns`), chosen as the
    in-memory batch run chooses them: among the history's extra columns that the batch
    has, here every partition (each one's first rows are read for its column names). A
    column named in `spec` that a partition lacks is an error naming the file and column;
    `auto` judges a column's shape on the history's rows (the batch is never in one
    place)."""
    present = [_extra_columns(part, query_column) for part in parts]
    wanted = parse_feature_columns(spec) if isinstance(spec, str) else spec
    if not isinstance(wanted, str):
        for name in wanted:
            for part, names in zip(parts, present, strict=True):
                if name in history.metadata.columns and name not in names:
                    raise DatasetError(f"{part}: no feature column {name!r} (the predictor "
                                       f"reads {', '.join(repr(c) for c in wanted)}); "
                                       f"columns found besides the query and id: "
                                       f"{', '.join(repr(c) for c in names) or 'none'}")
    shared = [c for c in history.metadata.columns if all(c in names for names in present)]
    return choose_columns(history.metadata[shared], history.models, wanted,
                          history.source or history.title)


def _extra_columns(part: Path, query_column: str) -> list[str]:
    """The columns of a partition besides its query and id, from its first rows."""
    first = next(iter_batch_columns(part, 1, query_column, with_columns=True), None)
    return [] if first is None else [str(c) for c in first[2].columns]


def train_policy(history: Dataset, config: RunConfig, *, columns: Sequence[str] = (),
                 prices: Overrides | str | os.PathLike[str] | None = None,
                 output_tokens: Mapping[str, float] | None = None, token_method: str = "auto",
                 progress: ProgressCallback | None = None,
                 should_stop: ShouldStop | None = None) -> tuple[Policy, Choice]:
    """Fit the featuriser and predictor on every labelled row of the (small) `history` in
    this process, with the extra feature `columns` (`engine_columns`), and price its
    models: what the workers need to score a batch. The featuriser sees only the history's
    texts and column values (the batch is never in one place)."""
    train = np.flatnonzero(history.labelled)
    if train.size < MIN_TRAIN_ROWS:
        raise ConfigError(f"{history.source or history.title}: {train.size} labelled "
                          f"queries; learning needs at least {MIN_TRAIN_ROWS}")
    cost_model = build_cost_model(history.models, history, prices=prices,
                                  output_tokens=output_tokens, token_method=token_method)
    featuriser, predictor, choice = fit_predictor(
        list(history.queries), train, history.labels[train], costs_train=history.cost[train],
        featuriser=config.featuriser,
        learner=config.learner, n_bootstraps=config.bootstraps,
        model_names=list(history.models), random_state=config.seed, n_jobs=config.n_jobs,
        progress=progress, should_stop=should_stop,
        columns=history.metadata[list(columns)] if columns else None)
    return Policy(featuriser, predictor, cost_model, config.alpha, 0.0), choice


@dataclass(frozen=True)
class PartitionHead:
    """A partition's totals: queries, cheapest allocation, each single model, moves."""

    n_queries: int
    start_cost: float
    start_score: float
    model_cost: np.ndarray
    model_score: np.ndarray


def _head(moves: PartitionMoves) -> PartitionHead:
    return PartitionHead(moves.n_queries, moves.start_cost, moves.start_score,
                         moves.model_cost, moves.model_score)


@dataclass
class DistributedAllocation:
    """What `allocate_partitions` found and wrote.

    `front_cost` and `front_accuracy` are exact hull-front points (the first-level rate-bin
    boundaries, the chosen point among them), `front_moves` how many envelope moves each
    applies; `point` is the chosen point (None without a goal, or `unmet` says why).
    """

    n_queries: int
    models: tuple[str, ...]
    front_cost: np.ndarray
    front_accuracy: np.ndarray
    front_moves: np.ndarray
    n_moves: int
    model_cost: np.ndarray
    model_accuracy: np.ndarray
    point: Point | None = None
    #: Under per-model limits: the point solved under them (`point` is then None).
    limits: LimitedRun | None = None
    unmet: str | None = None
    written: Totals | None = None
    files: list[Path] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


class _Rounds:
    """The map-reduce rounds over the partitions' moves kept on the workers."""

    def __init__(self, client: Client, moves: list[Future],
                 progress: ProgressCallback | None, should_stop: ShouldStop | None) -> None:
        self.client, self.moves = client, moves
        self.progress, self.should_stop = progress, should_stop

    def _map(self, function: Callable[[PartitionMoves, Selection], object],
             selection: Selection) -> list:
        futures: list[Future] = self.client.map(function, self.moves, selection=selection,
                                                pure=False)
        return gathered(self.client, futures, "front", progress=self.progress,
                        should_stop=self.should_stop)

    def stats(self, selection: Selection) -> GroupStats:
        return merge_stats(self._map(group_stats, selection))

    def gather(self, selection: Selection) -> Gathered:
        parts = self._map(gather_moves, selection)
        return Gathered(*(np.concatenate([getattr(p, name) for p in parts])
                          for name in ("bits", "round", "part", "query", "dc", "ds")))


def check_limits_goal(constraints: Constraints | None, target: float | None) -> bool:
    """Whether the run has per-model limits; they need a budget or a target here (the
    engine solves the one point, not a front, under them)."""
    if constraints is None or not constraints.has_model_limits:
        return False
    if constraints.budget is None and target is None:
        raise ConfigError("--cap/--max-spend/--min-share with --engine dask need --budget "
                          "or --target-accuracy: the engine solves one point under the "
                          "limits")
    return True


def allocate_partitions(client: Client, policy: Policy, parts: Sequence[Path],
                        allocation_dir: Path | None, *, budget: float | None = None,
                        target: float | None = None,
                        constraints: Constraints | None = None,
                        chunk_rows: int = DEFAULT_CHUNK_ROWS, query_column: str = "query",
                        progress: ProgressCallback | None = None,
                        should_stop: ShouldStop | None = None,
                        gather_limit: int = GATHER_LIMIT) -> DistributedAllocation:
    """Score every partition, find the hull front and the point of `budget` or `target`,
    and (when one is met and `allocation_dir` is given) write its allocation there, one
    Parquet file per partition. `gather_limit`: the moves of a rate bin sent to this
    process to be sorted.

    With per-model limits in `constraints` (its budget is the budget then) the point is
    solved under them (`optllm.optimizers.limit_search`) and every limit holds exactly on
    the allocation written; the front stays the one without them."""
    limited = check_limits_goal(constraints, target)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    shared = client.scatter(policy, broadcast=True, hash=False)
    scored: list[Future] = []
    if limited:
        scored = [client.submit(predict_partition, shared, str(src), i, chunk_rows,
                                query_column, pure=False) for i, src in enumerate(parts)]
        moves = client.map(scored_moves, scored, pure=False)
    else:
        moves = [client.submit(score_partition, shared, str(src), i, chunk_rows, query_column,
                               pure=False) for i, src in enumerate(parts)]
    try:
        wait_for(client, moves, "score", progress=progress, should_stop=should_stop)
        heads: list[PartitionHead] = gathered(client, client.map(_head, moves, pure=False),
                                              "score")
        timings["score"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = _front(_Rounds(client, moves, progress, should_stop), heads, policy.models,
                        None if limited else budget, None if limited else target,
                        gather_limit)
        timings["front"] = time.perf_counter() - t0
        chosen: list[Future] | None = None
        if limited and constraints is not None:
            t0 = time.perf_counter()
            chosen = _limited_choice(client, scored, result, constraints, target, progress,
                                     should_stop)
            timings["limits"] = time.perf_counter() - t0
        elif result.point is not None:
            chosen = [client.submit(allocation, part_moves, result.point.cut, pure=False)
                      for part_moves in moves]
        if chosen is not None and allocation_dir is not None:
            t0 = time.perf_counter()
            os.mkdir(allocation_dir)
            names = output_names(parts)
            futures = [client.submit(write_allocation, shared, str(src), part_chosen,
                                     str(allocation_dir / name), chunk_rows, query_column,
                                     pure=False)
                       for src, part_chosen, name in zip(parts, chosen, names, strict=True)]
            result.written = Totals.added(gathered(client, futures, "allocate",
                                                   progress=progress, should_stop=should_stop))
            result.files = [allocation_dir / name for name in names]
            timings["allocate"] = time.perf_counter() - t0
    finally:
        client.cancel([*moves, *scored])
    result.timings = timings
    return result


def _limited_choice(client: Client, scored: list[Future], result: DistributedAllocation,
                    constraints: Constraints, target: float | None,
                    progress: ProgressCallback | None, should_stop: ShouldStop | None
                    ) -> list[Future] | None:
    """The point under the limits into `result.limits` (or why none, into `result.unmet`),
    and each partition's model per query at it (futures; None without a point)."""
    def run(function: Callable[..., object], **kwargs: object) -> list:
        # Bound here, not passed as map's keywords: Dask reads those as parts of its task
        # graph (a keyword named like a task state, a string like a key).
        futures = client.map(functools.partial(function, **kwargs), scored, pure=False)
        return gathered(client, futures, "limits", progress=progress,
                        should_stop=should_stop)

    try:
        solution = solve_limited(run, result.n_queries, result.models, constraints, target)
    except ConfigError as error:
        result.unmet = str(error)
        return None
    point = solution.point
    result.limits = LimitedRun(constraints, result.models, point,
                               tuple(solution.sums.spend.tolist()),
                               tuple(int(c) for c in solution.sums.counts))
    return client.map(functools.partial(allocated, spec=Spec(point.limits, point.objective),
                                        lam=solution.choice_prices,
                                        overrides=solution.overrides), scored, pure=False)


def _front(rounds: _Rounds, heads: Sequence[PartitionHead], models: tuple[str, ...],
           budget: float | None, target: float | None, gather_limit: int
           ) -> DistributedAllocation:
    """The front's bin-boundary points and the goal's point, from the rounds' answers."""
    n = sum(h.n_queries for h in heads)
    start = (sum(h.start_cost for h in heads), sum(h.start_score for h in heads))
    selection = Selection(len(heads))
    first = rounds.stats(selection)
    cost, score = boundary_points(first, start)
    moves = np.concatenate(([0], np.cumsum(first.count)))
    result = DistributedAllocation(
        n, models, cost, score / n, moves, int(moves[-1]),
        np.sum([h.model_cost for h in heads], axis=0),
        np.sum([h.model_score for h in heads], axis=0) / n)
    if budget is not None:
        crossing = locate(rounds.stats, rounds.gather, over_budget(budget), start,
                          len(heads), gather_limit, first)
        result.point = budget_point(crossing, (float(cost[-1]), float(score[-1])),
                                    result.n_moves)
        if result.point is None:
            result.unmet = (f"budget ${budget:.6g} is below the cheapest allocation "
                            f"(${start[0]:.6g})")
    elif target is not None:
        crossing = locate(rounds.stats, rounds.gather, reaching(target, n), start,
                          len(heads), gather_limit, first)
        result.point = target_point(crossing)
        if result.point is None:
            result.unmet = (f"target accuracy {target:.4g} is above the best reachable "
                            f"expected accuracy ({score[-1] / n:.4g})")
    if result.point is not None and not np.isin(result.point.n_moves, moves):
        at = int(np.searchsorted(moves, result.point.n_moves))
        result.front_cost = np.insert(cost, at, result.point.cost)
        result.front_accuracy = np.insert(score / n, at, result.point.score / n)
        result.front_moves = np.insert(moves, at, result.point.n_moves)
    keep = thin_by_cost(result.front_cost, MAX_FRONT_POINTS)
    if result.point is not None:
        keep = np.union1d(keep, [int(np.searchsorted(result.front_moves, result.point.n_moves))])
    result.front_cost = result.front_cost[keep]
    result.front_accuracy = result.front_accuracy[keep]
    result.front_moves = result.front_moves[keep]
    return result
