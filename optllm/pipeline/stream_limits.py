"""Per-model limits over a routed stream: the price-adjusted choice of each query, and a
hard counter that sends a query to its next-best model once its first choice is full.

A model with a cap or a spend limit closes when the next query, in stream order, would take
it over; from then on every query goes to its best open model. Limits count over the whole
stream, across chunks. A minimum share cannot be held query by query (the stream's length
is unknown); it acts through the price it got in the batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from optllm.exceptions import ConfigError


class StreamCounter:
    """Running queries and spend per model, and which models are full."""

    def __init__(self, models: Sequence[str], max_queries: Mapping[str, float],
                 max_spend: Mapping[str, float]) -> None:
        index = {name: j for j, name in enumerate(models)}
        self.models = tuple(models)
        self.cap = np.full(len(models), np.inf)
        self.spend_cap = np.full(len(models), np.inf)
        for name, cap in max_queries.items():
            self.cap[index[name]] = cap
        for name, usd in max_spend.items():
            self.spend_cap[index[name]] = usd
        self.count = np.zeros(len(models), dtype=np.int64)
        self.spend = np.zeros(len(models))
        self.closed = np.zeros(len(models), dtype=bool)
        self.routed = 0

    def choose(self, values: np.ndarray, costs: np.ndarray) -> np.ndarray:
        """Per query (in order) the best open model by `values` (N, M) that keeps every
        limit; updates the counts. At most one round per model that closes."""
        n, m = values.shape
        rows = np.arange(n)
        # Ties go to the cheaper model, then the lower index, as in unconstrained routing.
        order = np.lexsort((np.broadcast_to(np.arange(m), (n, m)), costs, -values), axis=1)
        rank = np.zeros(n, dtype=np.intp)
        final = np.full(n, -1, dtype=np.intp)
        limited = np.flatnonzero(np.isfinite(self.cap) | np.isfinite(self.spend_cap))
        while True:
            open_rows = final < 0
            for _ in range(m):
                blocked = open_rows & (rank < m)
                blocked[blocked] = self.closed[order[rows[blocked], rank[blocked]]]
                if not blocked.any():
                    break
                rank[blocked] += 1
            if (open_rows & (rank >= m)).any():
                first = int(np.argmax(open_rows & (rank >= m)))
                raise ConfigError(f"every model's limit is reached at query "
                                  f"{self.routed + first + 1} of the stream: "
                                  f"{self.describe()}")
            choice = np.where(open_rows, order[rows, np.minimum(rank, m - 1)], final)
            closed_now = False
            for j in limited:
                if self.closed[j]:
                    continue
                taking = np.flatnonzero(open_rows & (choice == j))
                fits = ((self.count[j] + np.arange(1, taking.size + 1) <= self.cap[j])
                        & (self.spend[j] + np.cumsum(costs[taking, j]) <= self.spend_cap[j]))
                if fits.all():
                    continue
                kept = taking[:int(np.argmin(fits))]
                final[kept] = j
                self.count[j] += kept.size
                self.spend[j] += costs[kept, j].sum()
                self.closed[j] = True
                closed_now = True
            if not closed_now:
                break
        fresh = final < 0
        self.count += np.bincount(choice[fresh], minlength=m)
        self.spend += np.bincount(choice[fresh], weights=costs[rows[fresh], choice[fresh]],
                                  minlength=m)
        self.routed += n
        return choice

    def describe(self) -> str:
        parts = []
        for j, name in enumerate(self.models):
            if np.isfinite(self.cap[j]):
                parts.append(f"{name} {self.count[j]} of {int(self.cap[j])} queries")
            if np.isfinite(self.spend_cap[j]):
                parts.append(f"{name} ${self.spend[j]:.6g} of ${self.spend_cap[j]:.6g}")
        return ", ".join(parts)
