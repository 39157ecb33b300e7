"""The exact hull front and one point of it, found over partitions of queries that are never
all in memory together.

For a rate lambda every query goes to argmax(score - lambda * cost). The hull front
(`optllm.optimizers.hull`) applies every query's envelope moves by decreasing rate from the
cheapest allocation, ties in (envelope round, query) order. Each partition computes its own
moves (`partition_moves`), so the front is a merge of per-partition moves. Instead of a global
sort, partitions send histograms of their rates and the client walks the bins from the
steepest, refining only the bin where a budget or target falls until its moves are few
enough to gather and sort exactly (`locate`). Every prefix sum at a bin boundary is a point
of the exact front (`boundary_points`).

Bins are read off the bit pattern of the rate: for positive floats it orders like the value,
so `bits >> shift` bins by exponent and leading mantissa bits (relative width 2**-8 at the
first level) with no pass to find the range first. Past the last level (one exact rate) the
tie order is (round, partition, query), as the in-memory stable sort of round-major moves.

`locate` takes the map-reduce round as functions (`stats`, `gather`), so the same walk runs
over a list in memory or over a Dask cluster. A point under per-model limits is found by
`optllm.optimizers.limit_search` instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from optllm.optimizers.hull import cheapest_allocation, envelope_moves

#: Right shifts of the rate's bit pattern at each refinement level (the last is exact).
SHIFTS = (44, 28, 12, 0)
#: A bin with at most this many moves is gathered to the client and sorted there.
GATHER_LIMIT = 1_000_000
#: A cut whose bits no move reaches (nothing applied) and one below every move (all applied).
_NOTHING = np.iinfo(np.int64).max
_EVERYTHING = -1


@dataclass(frozen=True)
class PartitionMoves:
    """One partition's envelope moves and totals: moves (K,) as rate bit patterns, envelope
    round, query row within the partition, target model, and the real cost and score gained;
    totals of its cheapest allocation and of each single model."""

    part: int
    n_queries: int
    bits: np.ndarray
    round: np.ndarray
    query: np.ndarray
    target: np.ndarray
    dc: np.ndarray
    ds: np.ndarray
    start: np.ndarray
    start_cost: float
    start_score: float
    model_cost: np.ndarray
    model_score: np.ndarray


def partition_moves(part: int, scores: np.ndarray, costs: np.ndarray, first_query: int = 0
                    ) -> PartitionMoves:
    """The envelope moves of queries (N, M) numbered from `first_query` within partition
    `part`."""
    start = cheapest_allocation(scores, costs)
    query, source, target, rate = envelope_moves(scores, costs, start)
    rows = np.arange(scores.shape[0])
    return PartitionMoves(
        part, scores.shape[0], rate.view(np.int64), _envelope_round(query),
        (query + first_query).astype(np.int64), target.astype(np.int16),
        costs[query, target] - costs[query, source],
        scores[query, target] - scores[query, source],
        start.astype(np.int16), float(costs[rows, start].sum()),
        float(scores[rows, start].sum()), costs.sum(axis=0), scores.sum(axis=0))


def _envelope_round(query: np.ndarray) -> np.ndarray:
    """Per move, how many moves of its query come before it (moves are round-major)."""
    order = np.argsort(query, kind="stable")
    grouped = query[order]
    first = np.concatenate(([True], grouped[1:] != grouped[:-1]))
    position = np.arange(query.size)
    rounds = np.empty(query.size, dtype=np.int16)
    rounds[order] = position - np.maximum.accumulate(np.where(first, position, 0))
    return rounds


def concat_moves(chunks: Sequence[PartitionMoves]) -> PartitionMoves:
    """The moves of a partition read in chunks (numbered with `first_query`), as one."""
    def joined(name: str) -> np.ndarray:
        return np.concatenate([getattr(c, name) for c in chunks])

    return PartitionMoves(
        chunks[0].part, sum(c.n_queries for c in chunks), bits=joined("bits"),
        round=joined("round"), query=joined("query"), target=joined("target"),
        dc=joined("dc"), ds=joined("ds"), start=joined("start"),
        start_cost=sum(c.start_cost for c in chunks),
        start_score=sum(c.start_score for c in chunks),
        model_cost=np.sum([c.model_cost for c in chunks], axis=0),
        model_score=np.sum([c.model_score for c in chunks], axis=0))


@dataclass(frozen=True)
class Selection:
    """The moves still undecided: all (`shift` None), those in bin `key` of `shift`, or (at
    shift 0, one exact rate) of envelope round `round` in partition `part`."""

    n_parts: int
    shift: int | None = None
    key: int = 0
    round: int | None = None
    part: int | None = None

    def members(self, moves: PartitionMoves) -> np.ndarray:
        if self.shift is None:
            return np.ones(moves.bits.size, dtype=bool)
        inside = (moves.bits >> self.shift) == self.key
        if self.round is not None:
            inside &= (moves.round == self.round) & (moves.part == self.part)
        return inside

    def group_keys(self, moves: PartitionMoves, inside: np.ndarray) -> np.ndarray:
        """The finer groups' keys, ascending in move order (so negated rate bins)."""
        if self.shift is None or self.shift > 0:
            shift = SHIFTS[0] if self.shift is None else SHIFTS[SHIFTS.index(self.shift) + 1]
            return -(moves.bits[inside] >> shift)
        return moves.round[inside].astype(np.int64) * self.n_parts + moves.part

    def narrow(self, group: int) -> Selection:
        if self.shift is None or self.shift > 0:
            shift = SHIFTS[0] if self.shift is None else SHIFTS[SHIFTS.index(self.shift) + 1]
            return Selection(self.n_parts, shift, -group)
        return Selection(self.n_parts, 0, self.key, group // self.n_parts, group % self.n_parts)

    @property
    def last(self) -> bool:
        return self.round is not None


@dataclass(frozen=True)
class GroupStats:
    """Per group of a selection (keys ascending in move order): moves, cost and score gained."""

    keys: np.ndarray
    count: np.ndarray
    dc: np.ndarray
    ds: np.ndarray


def group_stats(moves: PartitionMoves, selection: Selection) -> GroupStats:
    """Map step: this partition's moves of `selection`, summed per finer group."""
    inside = selection.members(moves)
    return _summed(selection.group_keys(moves, inside), moves.dc[inside], moves.ds[inside])


def merge_stats(parts: Sequence[GroupStats]) -> GroupStats:
    """Reduce step: the partitions' group sums added up per key."""
    return _summed(np.concatenate([p.keys for p in parts]),
                   np.concatenate([p.dc for p in parts]), np.concatenate([p.ds for p in parts]),
                   np.concatenate([p.count for p in parts]))


def _summed(keys: np.ndarray, dc: np.ndarray, ds: np.ndarray,
            count: np.ndarray | None = None) -> GroupStats:
    unique, inverse = np.unique(keys, return_inverse=True)
    n = unique.size
    counts = (np.bincount(inverse, minlength=n) if count is None
              else np.bincount(inverse, weights=count, minlength=n).astype(np.int64))
    return GroupStats(unique, counts, np.bincount(inverse, weights=dc, minlength=n),
                      np.bincount(inverse, weights=ds, minlength=n))


@dataclass(frozen=True)
class Gathered:
    """Moves of a selection with their order keys, from any partitions."""

    bits: np.ndarray
    round: np.ndarray
    part: np.ndarray
    query: np.ndarray
    dc: np.ndarray
    ds: np.ndarray


def gather_moves(moves: PartitionMoves, selection: Selection) -> Gathered:
    """Map step: this partition's moves of `selection`, to be sorted on the client."""
    inside = selection.members(moves)
    return Gathered(moves.bits[inside], moves.round[inside],
                    np.full(int(inside.sum()), moves.part, dtype=np.int64),
                    moves.query[inside], moves.dc[inside], moves.ds[inside])


@dataclass(frozen=True)
class Cut:
    """Which moves a point applies: every move before the move (bits, round, part, query) in
    the front's order, and that move too when `inclusive`."""

    bits: int
    round: int = 0
    part: int = 0
    query: int = 0
    inclusive: bool = False

    def applied(self, moves: PartitionMoves) -> np.ndarray:
        """Mask of the partition's moves this point applies."""
        ahead = moves.bits > self.bits
        same = moves.bits == self.bits
        if moves.part != self.part:
            later = moves.part > self.part
            tie = (moves.round < self.round) | ((moves.round == self.round) & ~later)
        else:
            tie = (moves.round < self.round) | ((moves.round == self.round) & (
                (moves.query < self.query) | ((moves.query == self.query) & self.inclusive)))
        return ahead | (same & tie)


NOTHING = Cut(_NOTHING)
EVERYTHING = Cut(_EVERYTHING)


def allocation(moves: PartitionMoves, cut: Cut) -> np.ndarray:
    """The partition's model per query at the point `cut` describes."""
    chosen = moves.start.astype(np.intp)
    applied = np.flatnonzero(cut.applied(moves))
    # A query's applied moves are a prefix of its envelope: its last round decides.
    last = np.full(chosen.size, -1, dtype=np.intp)
    np.maximum.at(last, moves.query[applied], applied)
    moved = last >= 0
    chosen[moved] = moves.target[last[moved]]
    return chosen


#: Whether a point of (total cost, total score) has reached the budget or target.
Reached = Callable[[np.ndarray, np.ndarray], np.ndarray]


def over_budget(budget: float) -> Reached:
    """Reached when the cost exceeds `budget`: the point is the last one before."""
    return lambda cost, score: np.asarray(cost) > budget


def reaching(target: float, n_queries: int) -> Reached:
    """Reached when the expected accuracy is at least `target` (as `Front.index_for_accuracy`)."""
    return lambda cost, score: np.asarray(score) / n_queries >= target - 1e-12


@dataclass(frozen=True)
class Crossing:
    """The first move whose application reaches the goal (None: the start already does), with
    the totals just before and just after it and the number of moves before it."""

    move: Cut | None
    moves_before: int
    before: tuple[float, float]
    after: tuple[float, float]


def locate(stats: Callable[[Selection], GroupStats], gather: Callable[[Selection], Gathered],
           reached: Reached, start: tuple[float, float], n_parts: int,
           gather_limit: int = GATHER_LIMIT, first: GroupStats | None = None
           ) -> Crossing | None:
    """Walk the front's moves in order to the first that reaches the goal; None when no
    point does. `stats` and `gather` run a map-reduce round over every partition; `first`
    is the first round's answer when the caller has it (the front's boundaries)."""
    cost, score = start
    if reached(np.array(cost), np.array(score)):
        return Crossing(None, 0, start, start)
    before = 0
    selection = Selection(n_parts)
    groups = first if first is not None else stats(selection)
    while True:
        if groups.count.sum() <= gather_limit or selection.last:
            return _locate_gathered(gather(selection), reached, cost, score, before,
                                    selection.shift is None)
        cum_cost = cost + np.cumsum(groups.dc)
        cum_score = score + np.cumsum(groups.ds)
        hits = np.flatnonzero(reached(cum_cost, cum_score))
        if hits.size == 0 and selection.shift is None:
            return None
        # Inside a bin that reached, rounding in the finer sums may miss by an ulp: its
        # last group is then the one.
        g = int(hits[0]) if hits.size else groups.keys.size - 1
        if g:
            cost, score = float(cum_cost[g - 1]), float(cum_score[g - 1])
            before += int(groups.count[:g].sum())
        selection = selection.narrow(int(groups.keys[g]))
        groups = stats(selection)


def _locate_gathered(moves: Gathered, reached: Reached, cost: float, score: float,
                     before: int, top: bool) -> Crossing | None:
    order = np.lexsort((moves.query, moves.part, moves.round, -moves.bits))
    cum_cost = cost + np.cumsum(moves.dc[order])
    cum_score = score + np.cumsum(moves.ds[order])
    hits = np.flatnonzero(reached(cum_cost, cum_score))
    if hits.size == 0 and top:
        return None
    j = int(hits[0]) if hits.size else order.size - 1
    i = order[j]
    move = Cut(int(moves.bits[i]), int(moves.round[i]), int(moves.part[i]),
               int(moves.query[i]))
    prior = (float(cum_cost[j - 1]), float(cum_score[j - 1])) if j else (cost, score)
    return Crossing(move, before + j, prior, (float(cum_cost[j]), float(cum_score[j])))


@dataclass(frozen=True)
class Point:
    """A chosen point of the front: the moves it applies, its totals, its rate (that of its
    last move; infinite for the cheapest allocation)."""

    cut: Cut
    cost: float
    score: float
    n_moves: int

    @property
    def rate(self) -> float:
        if self.cut.bits in (_NOTHING, _EVERYTHING):
            return float("inf") if self.cut.bits == _NOTHING else 0.0
        return float(np.array(self.cut.bits, dtype=np.int64).view(np.float64))


def budget_point(crossing: Crossing | None, end: tuple[float, float], n_moves: int
                 ) -> Point | None:
    """The most accurate point within the budget (None: the start is over it)."""
    if crossing is None:
        return Point(EVERYTHING, *end, n_moves)
    if crossing.move is None:
        return None
    return Point(crossing.move, *crossing.before, crossing.moves_before)


def target_point(crossing: Crossing | None) -> Point | None:
    """The cheapest point reaching the target (None: no point does)."""
    if crossing is None:
        return None
    if crossing.move is None:
        return Point(NOTHING, *crossing.before, 0)
    cut = Cut(crossing.move.bits, crossing.move.round, crossing.move.part,
              crossing.move.query, inclusive=True)
    return Point(cut, *crossing.after, crossing.moves_before + 1)


def boundary_points(groups: GroupStats, start: tuple[float, float]
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Total cost and score of the front's points at every first-level bin boundary, from the
    cheapest allocation to the most accurate: exact points of the hull front."""
    return (np.concatenate(([start[0]], start[0] + np.cumsum(groups.dc))),
            np.concatenate(([start[1]], start[1] + np.cumsum(groups.ds))))
