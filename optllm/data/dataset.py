"""The in-memory dataset (queries, models, a cost matrix and a label matrix) and its split."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from optllm.config import MIN_TRAIN_ROWS
from optllm.exceptions import ConfigError


@dataclass(frozen=True)
class Dataset:
    """N queries x M models.

    `cost` is (N, M) float64 USD. `labels` is (N, M) int8 in {0, 1}; rows where
    `labelled` is False carry no outcome (their label cells are 0 and meaningless).
    `metadata` holds the extra per-query columns of the source (N rows).
    """

    name: str
    query_ids: np.ndarray
    queries: np.ndarray
    models: tuple[str, ...]
    cost: np.ndarray
    labels: np.ndarray
    labelled: np.ndarray
    metadata: pd.DataFrame = field(default_factory=pd.DataFrame)
    synthetic: bool = False
    source: str | None = None

    @property
    def n_queries(self) -> int:
        return int(self.cost.shape[0])

    @property
    def n_models(self) -> int:
        return int(self.cost.shape[1])

    @property
    def n_labelled(self) -> int:
        return int(self.labelled.sum())

    @cached_property
    def shared_prefix(self) -> str:
        """The prefix every query shares (a few-shot prompt), which previews leave out."""
        from optllm.data.texts import shared_prefix

        return shared_prefix(self.queries)

    @property
    def title(self) -> str:
        """Name as shown to users; synthetic data always says so."""
        return f"{self.name} (synthetic)" if self.synthetic else self.name

    def subset(self, rows: np.ndarray) -> Dataset:
        """The queries at `rows` (indices or boolean mask), in that order."""
        rows = np.asarray(rows)
        meta = self.metadata.iloc[rows].reset_index(drop=True) if len(self.metadata.columns) else (
            pd.DataFrame(index=range(len(self.query_ids[rows]))))
        return Dataset(
            name=self.name,
            query_ids=self.query_ids[rows],
            queries=self.queries[rows],
            models=self.models,
            cost=self.cost[rows],
            labels=self.labels[rows],
            labelled=self.labelled[rows],
            metadata=meta,
            synthetic=self.synthetic,
            source=self.source,
        )

    def model_summary(self) -> pd.DataFrame:
        """Per model: accuracy on labelled rows, mean cost, number of rows."""
        lab = self.labelled
        acc = self.labels[lab].mean(axis=0) if lab.any() else np.full(self.n_models, np.nan)
        return pd.DataFrame({
            "model": list(self.models),
            "accuracy": acc,
            "mean_cost": self.cost.mean(axis=0),
            "total_cost": self.cost.sum(axis=0),
            "rows": np.full(self.n_models, self.n_queries),
            "labelled_rows": np.full(self.n_models, int(lab.sum())),
        })


@dataclass(frozen=True)
class Split:
    """Row indices of the labelled sample to learn from and of the queries to allocate."""

    train: np.ndarray
    allocate: np.ndarray


def split_queries(dataset: Dataset, train_fraction: float, seed: int) -> Split:
    """Draw `train_fraction` of all queries (at least `MIN_TRAIN_ROWS`), from the labelled
    ones, as the training sample; at least one query must be left to allocate."""
    n_train = max(MIN_TRAIN_ROWS, round(train_fraction * dataset.n_queries))
    labelled = np.flatnonzero(dataset.labelled)
    if labelled.size < n_train or dataset.n_queries - n_train < 1:
        raise ConfigError(
            f"{dataset.source or dataset.title}: too small to learn from: a train fraction of "
            f"{train_fraction:g} needs {n_train} labelled queries to train on (at least "
            f"{MIN_TRAIN_ROWS}, one per cross-validation fold) and at least one more to "
            f"allocate; the dataset has {dataset.n_queries} queries, {labelled.size} labelled")
    rng = np.random.default_rng(seed)
    train = np.sort(rng.choice(labelled, size=n_train, replace=False))
    allocate = np.setdiff1d(np.arange(dataset.n_queries), train)
    return Split(train, allocate)
