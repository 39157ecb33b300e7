"""Threads for independent fits: solvers that release the GIL (liblinear, XGBoost) run side
by side, while the caller keeps reporting progress and honouring `should_stop`.

Results come back in submission order, so what a learner computes does not depend on how
many threads computed it.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from optllm.exceptions import ConfigError
from optllm.progress import ShouldStop, check_cancelled

Item = TypeVar("Item")
Result = TypeVar("Result")


def n_workers(n_jobs: int) -> int:
    """Threads for `n_jobs`: itself, or every CPU for -1."""
    if n_jobs == -1:
        return os.cpu_count() or 1
    if n_jobs < 1:
        raise ConfigError(f"n_jobs must be >= 1 or -1 (all CPUs), got {n_jobs}")
    return n_jobs


def in_order(pool: ThreadPoolExecutor, workers: int, fn: Callable[[Item], Result],
             items: Iterable[Item], should_stop: ShouldStop | None, stage: str
             ) -> Iterator[Result]:
    """fn(item) for each item, computed in `pool`, yielded in order. At most `workers` tasks
    are in flight, and `should_stop` is checked before each is started; when the caller
    stops (an exception, `Cancelled` included), tasks not yet started never start."""
    pending: deque[Future[Result]] = deque()
    try:
        for item in items:
            check_cancelled(should_stop, stage)
            pending.append(pool.submit(fn, item))
            if len(pending) >= workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()


def map_in_order(n_jobs: int, fn: Callable[[Item], Result], items: Iterable[Item],
                 should_stop: ShouldStop | None, stage: str) -> Iterator[Result]:
    """`in_order` in a pool of its own of `n_workers(n_jobs)` threads; one thread runs
    fn in the caller's thread, with no pool at all."""
    workers = n_workers(n_jobs)
    if workers == 1:
        for item in items:
            check_cancelled(should_stop, stage)
            yield fn(item)
        return
    with ThreadPoolExecutor(workers) as pool:
        yield from in_order(pool, workers, fn, items, should_stop, stage)
