"""Allocate a batch of new, unlabelled queries, learning from a separate labelled history.

This is the everyday path: nobody knows yet which model answers the new queries well, and
they have not been billed, so their costs come from token counts and prices
(`optllm.pricing.prices`). The predictor learns from every labelled history row; the featuriser is
fitted on history and batch texts together. The front then carries expected accuracy with an
uncertainty band, and no true accuracy. The batch is read by `optllm.data.queries`.
"""


from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from optllm.config import MIN_TRAIN_ROWS
from optllm.data.dataset import Dataset, Split
from optllm.data.queries import (
    Chunk,
    ColumnChunk,
    load_batch_columns,
)
from optllm.data.tables import (
    stem,
)
from optllm.exceptions import ConfigError
from optllm.pipeline.run import RunConfig, RunResult, run_split
from optllm.pricing.prices import CostModel, Overrides, build_cost_model
from optllm.progress import ProgressCallback, ShouldStop, report


@dataclass
class BatchRunResult(RunResult):
    """A `RunResult` whose allocated queries are a new batch priced by `cost_model`.

    `dataset` holds the history rows followed by the batch rows; `split.train` are the
    labelled history rows, `split.allocate` the batch. `input_tokens` (n_batch,) are the
    batch's counted input tokens.
    """

    cost_model: CostModel | None = None
    input_tokens: np.ndarray | None = None
    history_name: str = ""

    def summary(self) -> dict:
        """summary.json: the run summary plus the history it learnt from and the cost basis."""
        summary = super().summary()
        summary["history"] = self.history_name
        assert self.cost_model is not None and self.input_tokens is not None
        summary["costs"] = {**self.cost_model.as_dict(),
                            "batch_input_tokens": int(self.input_tokens.sum())}
        return summary


@dataclass
class PreparedBatch:
    """History and batch as one dataset, ready to train and allocate.

    `dataset` holds the history rows followed by the batch rows; `split.train` are the
    labelled history rows, `split.allocate` the batch. `input_tokens` (n_batch,) are the
    batch's counted input tokens.
    """

    dataset: Dataset
    split: Split
    cost_model: CostModel
    input_tokens: np.ndarray


def shared_columns(history: Dataset, batch_columns: pd.DataFrame) -> pd.DataFrame:
    """History and batch rows of the extra columns both have (a feature column must be
    known for the queries to allocate), history first; a model's columns are left out."""
    from optllm.predict.columns import candidate_columns

    names = [c for c in candidate_columns(history.metadata, history.models)
             if c in batch_columns.columns]
    rows = pd.RangeIndex(history.n_queries + len(batch_columns))
    if not names:
        return pd.DataFrame(index=rows)
    return pd.concat([history.metadata[names], batch_columns[names]]).set_axis(rows)


def prepare_batch(history: Dataset, batch: str | os.PathLike[str] | Chunk | ColumnChunk, *,
                  prices: Overrides | str | os.PathLike[str] | None = None,
                  output_tokens: Mapping[str, float] | None = None,
                  token_method: str = "auto",
                  progress: ProgressCallback | None = None,
                  query_column: str = "query") -> PreparedBatch:
    """Load and price the `batch` (a file, or `(query_ids, queries)` arrays, optionally
    with a DataFrame of extra columns) and append it to `history`: every labelled history
    row trains, the batch is allocated. The extra columns both have are kept as metadata."""
    if isinstance(batch, tuple):
        ids, queries = (np.asarray(a, dtype=object) for a in batch[:2])
        extras = batch[2] if len(batch) == 3 else pd.DataFrame(index=range(len(queries)))
        name, source = "batch", None
    else:
        ids, queries, extras = load_batch_columns(batch, query_column)
        name, source = stem(Path(batch)), str(batch)
    train = np.flatnonzero(history.labelled)
    if train.size < MIN_TRAIN_ROWS:
        raise ConfigError(f"{history.source or history.title}: too small to learn from: the "
                          f"history needs at least {MIN_TRAIN_ROWS} labelled queries (one per "
                          f"cross-validation fold); it has {train.size}")
    report(progress, "costs", 0, 1, "counting tokens")
    cost_model = build_cost_model(history.models, history, prices=prices,
                                  output_tokens=output_tokens, token_method=token_method)
    cost, counts = cost_model.costs(queries)
    report(progress, "costs", 1, 1)
    n_history, n_batch = history.n_queries, len(queries)
    dataset = Dataset(
        name=f"{name} (history: {history.name})",
        query_ids=np.concatenate([history.query_ids, ids]),
        queries=np.concatenate([history.queries, queries]),
        models=history.models,
        cost=np.vstack([history.cost, cost]),
        labels=np.vstack([history.labels, np.zeros((n_batch, history.n_models), np.int8)]),
        labelled=np.concatenate([history.labelled, np.zeros(n_batch, bool)]),
        metadata=shared_columns(history, extras),
        synthetic=history.synthetic,
        source=source,
    )
    split = Split(train, np.arange(n_history, n_history + n_batch))
    return PreparedBatch(dataset, split, cost_model, counts.tokens)


def run_batch(history: Dataset, batch: str | os.PathLike[str] | Chunk | ColumnChunk,
              config: RunConfig, *,
              prices: Overrides | str | os.PathLike[str] | None = None,
              output_tokens: Mapping[str, float] | None = None, token_method: str = "auto",
              progress: ProgressCallback | None = None,
              should_stop: ShouldStop | None = None,
              query_column: str = "query") -> BatchRunResult:
    """Learn from every labelled row of `history`, predict and allocate the `batch`
    (a file, or `(query_ids, queries)` arrays) with costs from token counts.

    `config.train_fraction` is not used: the history is the training set.
    """
    config.check()
    t0 = time.perf_counter()
    prepared = prepare_batch(history, batch, prices=prices, output_tokens=output_tokens,
                             token_method=token_method, progress=progress,
                             query_column=query_column)
    timings = {"costs": time.perf_counter() - t0}
    result = run_split(prepared.dataset, prepared.split, config, progress=progress,
                       should_stop=should_stop, timings=timings)
    timings["wall"] = time.perf_counter() - t0
    return BatchRunResult(**vars(result), cost_model=prepared.cost_model,
                          input_tokens=prepared.input_tokens, history_name=history.title)
