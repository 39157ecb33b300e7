"""OptLLM-M: destruct and reconstruct from both extremes (docs/algorithm.md), on whole arrays.

Every function here works on all queries at once; a "round" of the reconstruct applies
many independent moves together and re-scores only the queries they touched.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from optllm.progress import ShouldStop, check_cancelled

#: Upper bound on buy/sell rounds in one reconstruct, so it always ends.
MAX_SWAP_ROUNDS = 200

#: Leading candidates ordered first when only the largest few are needed (grown fourfold).
_FIRST_SELECTION = 4096

#: Queries re-scored at once when a reconstruct starts from scratch: a block takes a
#: fraction of a second at 8 models, so a stop request is honoured between blocks.
RESCORE_BLOCK = 1 << 17


@dataclass(frozen=True)
class Move:
    """The outcome of one destruct or reconstruct step."""

    side: str  # "cheap" (moving up from the cheapest end) or "accurate" (moving down)
    phase: str  # "destruct" or "reconstruct"
    allocation: np.ndarray
    n_changed: int


def _apply_until(allocation: np.ndarray, target: np.ndarray, amount: np.ndarray,
                 gap: float) -> np.ndarray:
    """Move queries to `target` by decreasing `amount` until the amounts sum to `gap`.

    Only the largest amounts are ordered: a step moves a small share of the queries, so
    the k largest are selected (k grown fourfold until they reach the gap) and sorted,
    instead of sorting every query."""
    candidates = np.flatnonzero(amount > 0)
    values = -amount[candidates]
    k = min(values.size, _FIRST_SELECTION)
    while True:
        order = candidates[_smallest(values, k)]
        reached = np.cumsum(amount[order]) >= gap
        if reached.any() or k == values.size:
            break
        k = min(values.size, 4 * k)
    count = int(np.argmax(reached)) + 1 if reached.any() else order.size
    moved = order[:count]
    new = allocation.copy()
    new[moved] = target[moved]
    return new


def destruct_up(allocation: np.ndarray, scores: np.ndarray, best: np.ndarray,
                acc_gap: float) -> np.ndarray:
    """Raise the summed score by about `acc_gap`: the largest single-query gains first."""
    rows = np.arange(allocation.size)
    gain = scores[rows, best] - scores[rows, allocation]
    return _apply_until(allocation, best, gain, acc_gap)


def destruct_down(allocation: np.ndarray, costs: np.ndarray, cheapest: np.ndarray,
                  cost_gap: float) -> np.ndarray:
    """Save about `cost_gap` dollars: the largest single-query savings first."""
    rows = np.arange(allocation.size)
    saving = costs[rows, allocation] - costs[rows, cheapest]
    return _apply_until(allocation, cheapest, saving, cost_gap)


def _rescore(allocation: np.ndarray, scores: np.ndarray, costs: np.ndarray,
             rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Re-score `rows`: apply free improvements in place, then find each row's trades.

    A free improvement moves a query to its best model (highest score, then lowest cost)
    among those costing no more and scoring no less. The trades are the best buy (most
    score gained per dollar) and the best sell (least score lost per dollar saved),
    returned as (buy_rate, buy_model, sell_rate, sell_model); -inf / inf where none.
    """
    contiguous = rows.size > 0 and bool((np.diff(rows) == 1).all())
    block = slice(rows[0], rows[-1] + 1) if contiguous else rows  # a view, not a copy
    sub_c, sub_s = costs[block], scores[block]
    k = np.arange(rows.size)
    cur = allocation[rows]
    dc = sub_c - sub_c[k, cur][:, None]
    ds = sub_s - sub_s[k, cur][:, None]
    ok = (dc <= 0) & (ds >= 0)
    free = (ok & ((dc < 0) | (ds > 0))).any(axis=1)
    if free.any():
        f = np.flatnonzero(free)
        ok_s = np.where(ok[f], ds[f], -np.inf)
        best = ok_s == ok_s.max(axis=1, keepdims=True)
        pick = np.where(best, dc[f], np.inf).argmin(axis=1)
        cur[f] = pick
        allocation[rows[f]] = pick
        dc[f] = sub_c[f] - sub_c[f, pick][:, None]
        ds[f] = sub_s[f] - sub_s[f, pick][:, None]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = ds / dc  # dc == 0 gives nan or +-inf, which no trade below accepts
    same_sign = ratio > 0
    up = dc > 0
    buy_rates = np.where(same_sign & up, ratio, -np.inf)
    np.logical_and(same_sign, ~up, out=same_sign)
    sell_rates = np.where(same_sign, ratio, np.inf)
    buy_model = buy_rates.argmax(axis=1)
    sell_model = sell_rates.argmin(axis=1)
    return buy_rates[k, buy_model], buy_model, sell_rates[k, sell_model], sell_model


class Reconstructor:
    """Repairs allocations toward non-dominated, keeping its per-query trade table.

    Successive steps from one end change few queries, so the table (best buy and best
    sell per query) is kept and only the queries whose model changed are re-scored.
    """

    def __init__(self, scores: np.ndarray, costs: np.ndarray,
                 should_stop: ShouldStop | None = None) -> None:
        self.scores = scores
        self.costs = costs
        self.should_stop = should_stop
        self._allocation: np.ndarray | None = None
        # (buy rate, buy model, sell rate, sell model) per query
        self._table: tuple[np.ndarray, ...] | None = None

    def __call__(self, allocation: np.ndarray) -> np.ndarray:
        """Free improvements, then paired trades while the best rate of buying score
        beats the cheapest rate of selling it.

        The k-th best buyer pairs with the k-th cheapest seller (distinct queries) and
        both moves apply; each pair raises score - lambda * cost for any lambda between
        its two rates. `should_stop` is checked between blocks and rounds (raises
        `Cancelled`; the kept table is then unchanged).
        """
        scores, costs = self.scores, self.costs
        allocation = allocation.copy()
        if self._allocation is None or self._table is None:
            blocks = []
            for start in range(0, allocation.size, RESCORE_BLOCK):
                check_cancelled(self.should_stop, "optimise")
                rows = np.arange(start, min(start + RESCORE_BLOCK, allocation.size))
                blocks.append(_rescore(allocation, scores, costs, rows))
            table = tuple(np.concatenate(parts) for parts in zip(*blocks, strict=True))
        else:
            rows = np.flatnonzero(allocation != self._allocation)
            table = tuple(a.copy() for a in self._table)
            _update(table, _rescore(allocation, scores, costs, rows), rows)
        buy_rate, buy_model, sell_rate, sell_model = table
        for _ in range(MAX_SWAP_ROUNDS):
            check_cancelled(self.should_stop, "optimise")
            # Only candidates that can possibly pair matter: prune before sorting.
            cheapest_sell, best_buy = sell_rate.min(), buy_rate.max()
            if not cheapest_sell < best_buy:
                break
            buyers, sellers, n_pairs = _pairs(np.flatnonzero(buy_rate > cheapest_sell),
                                              np.flatnonzero(sell_rate < best_buy),
                                              buy_rate, sell_rate)
            if n_pairs == 0:
                break
            buy_q, sell_q = buyers[:n_pairs], sellers[:n_pairs]
            allocation[buy_q] = buy_model[buy_q]
            allocation[sell_q] = sell_model[sell_q]
            touched = np.concatenate((buy_q, sell_q))
            _update(table, _rescore(allocation, scores, costs, touched), touched)
        self._allocation = allocation
        self._table = table
        return allocation.copy()


def _update(table: tuple[np.ndarray, ...], rows_table: tuple[np.ndarray, ...],
            rows: np.ndarray) -> None:
    for full, part in zip(table, rows_table, strict=True):
        full[rows] = part


def _pairs(buyers: np.ndarray, sellers: np.ndarray, buy_rate: np.ndarray,
           sell_rate: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """(buyers best first, sellers cheapest first, number of pairs): the k-th best buyer
    pairs with the k-th cheapest seller while its rate is higher. A query cannot both buy
    and sell in one round: it keeps its buying role.

    Only the leading candidates are ordered, k of each side grown fourfold until the pairs
    end inside them: the lists returned are the leading parts of the fully sorted ones,
    long enough for every pair."""
    buy_keys, sell_keys = -buy_rate[buyers], sell_rate[sellers]
    k = _FIRST_SELECTION
    while True:
        kb, ks = min(k, buyers.size), min(k, sellers.size)
        top_b = buyers[_smallest(buy_keys, kb)]
        top_s = sellers[_smallest(sell_keys, ks)]
        first = _pair_count(buy_rate[top_b], sell_rate[top_s])
        kept = top_s[~np.isin(top_s, top_b[:first])]
        n_pairs = _pair_count(buy_rate[top_b], sell_rate[kept])
        whole = kb == buyers.size and ks == sellers.size
        if whole or (first < min(kb, ks) and n_pairs < min(kb, kept.size)):
            return top_b, kept, n_pairs
        k *= 4


def _smallest(keys: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k smallest keys in ascending order, ties by position: the first k
    of `_argsort(keys)`, without sorting the rest (a selection, then a sort of k)."""
    if k >= keys.size:
        return _argsort(keys)
    part = np.argpartition(keys, k)
    head, pivot = part[:k], keys[part[k]]
    if keys[head].max(initial=-np.inf) >= pivot:  # a tie across the cut: no unique set
        return np.argsort(keys, kind="stable")[:k]
    head.sort()  # by position, so the stable sort by key breaks ties by position
    return head[np.argsort(keys[head], kind="stable")]


def _argsort(keys: np.ndarray) -> np.ndarray:
    """Ascending order; ties broken by position, so results are the same on every CPU.

    The SIMD quicksort is several times faster than a stable sort; it is used unless
    equal keys make its order machine-dependent.
    """
    order = np.argsort(keys)
    ranked = keys[order]
    if ranked.size > 1 and (ranked[1:] == ranked[:-1]).any():
        return np.argsort(keys, kind="stable")
    return order


def _pair_count(buy_sorted: np.ndarray, sell_sorted: np.ndarray) -> int:
    """How many leading pairs have buy rate > sell rate (buy falls, sell rises)."""
    k = min(buy_sorted.size, sell_sorted.size)
    wins = buy_sorted[:k] > sell_sorted[:k]
    return k if wins.all() else int(np.argmin(wins))


def search(scores: np.ndarray, costs: np.ndarray, cheapest: np.ndarray, accurate: np.ndarray,
           density: int, should_stop: ShouldStop | None = None) -> Iterator[Move]:
    """The d - 1 destruct/reconstruct iterations from each end, one `Move` per phase.
    `should_stop` is checked inside each reconstruct (raises `Cancelled`)."""
    rows = np.arange(scores.shape[0])
    cost_gap = (costs[rows, accurate].sum() - costs[rows, cheapest].sum()) / density
    acc_gap = (scores[rows, accurate].sum() - scores[rows, cheapest].sum()) / density
    sides = (("cheap", cheapest), ("accurate", accurate))
    for side, start in sides:
        reconstruct = Reconstructor(scores, costs, should_stop)
        current = start.astype(np.intp)
        for _ in range(density - 1):
            if side == "cheap":
                destructed = destruct_up(current, scores, accurate, acc_gap)
            else:
                destructed = destruct_down(current, costs, cheapest, cost_gap)
            yield Move(side, "destruct", destructed, int((destructed != current).sum()))
            rebuilt = reconstruct(destructed)
            yield Move(side, "reconstruct", rebuilt, int((rebuilt != destructed).sum()))
            current = rebuilt
