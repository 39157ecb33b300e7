"""Progress reports and cancellation checks shared by every long stage.

A `should_stop` callable is checked between units of work short enough that a stop takes
effect within a fraction of a second: a cross-validation fold, one model's fit, an XGBoost
boosting round, a batch of rows, an optimiser round, a generation. It must be cheap (a
flag read); it is called thousands of times per stage.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from optllm.exceptions import Cancelled

T = TypeVar("T")

#: Items between two checks in `checked`: tokenising this many texts takes milliseconds.
CHECK_EVERY = 1024


@dataclass(frozen=True)
class Progress:
    """One progress report: `done` of `total` units of `stage` (`total` None when unknown)."""

    stage: str
    done: int
    total: int | None
    message: str = ""

    @property
    def fraction(self) -> float | None:
        if not self.total:
            return None
        return min(1.0, self.done / self.total)


ProgressCallback = Callable[[Progress], None]
ShouldStop = Callable[[], bool]


def report(progress: ProgressCallback | None, stage: str, done: int, total: int | None,
           message: str = "") -> None:
    """Send a report if a callback was given."""
    if progress is not None:
        progress(Progress(stage, done, total, message))


def check_cancelled(should_stop: ShouldStop | None, stage: str) -> None:
    """Raise `Cancelled` when the caller asked to stop."""
    if should_stop is not None and should_stop():
        raise Cancelled(f"{stage} cancelled")


def checked(items: Iterable[T], should_stop: ShouldStop | None, stage: str,
            every: int = CHECK_EVERY) -> Iterable[T]:
    """`items`, checking `should_stop` every `every` items: lets a library call that
    consumes an iterable in one go (a TF-IDF vectoriser over a million texts) be stopped
    part-way. Without `should_stop`, `items` itself."""
    if should_stop is None:
        return items
    return _checked(items, should_stop, stage, every)


def _checked(items: Iterable[T], should_stop: ShouldStop, stage: str, every: int
             ) -> Iterator[T]:
    for i, item in enumerate(items):
        if i % every == 0:
            check_cancelled(should_stop, stage)
        yield item
