"""Progress reports and cancellation checks shared by every long stage.

A `should_stop` callable is checked between units of work short enough that a stop takes
effect within a fraction of a second: a cross-validation fold, one model's fit, an XGBoost
boosting round, a batch of rows, an optimiser round, a generation. It must be cheap (a
flag read); it is called thousands of times per stage.
"""

from __future__ import annotations

import time
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


def relabelled(progress: ProgressCallback | None, stage: str, done: int, total: int | None,
               what: str) -> ProgressCallback | None:
    """A callback that turns an inner step's reports (a learner's folds and fits while a
    candidate is scored) into reports of the outer `stage` at `done` of `total`, the message
    naming `what` runs and how far its inner step is: the outer bar stays put while the
    message says what it waits for."""
    if progress is None:
        return None

    def inner(event: Progress) -> None:
        step = event.message or (f"{event.done}/{event.total}" if event.total else "")
        progress(Progress(stage, done, total, f"{what}, {step}" if step else what))

    return inner


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


class StageClock:
    """Elapsed time and time left of the current stage, for a display that ticks between
    reports (a stage may send none for a minute).

    A stage starts when the previous stage's last report arrived (or the clock was made),
    not at its own first report, which often comes only when its first unit is done: the
    bar of a stage counts from its real start. The time left is the mean time per unit so
    far times the units left, counted down between reports; None until a unit is done or
    when the total is unknown.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.event: Progress | None = None
        self.started = self._last = clock()

    def restart(self) -> None:
        """Forget the stage: the next report starts a new one, counted from now."""
        self.event = None
        self.started = self._last = self._clock()

    def update(self, event: Progress) -> bool:
        """Record a report; True when it starts a new stage."""
        now = self._clock()
        new = self.event is None or event.stage != self.event.stage
        if new:
            self.started = self._last
        self.event, self._last = event, now
        return new

    def elapsed(self) -> float:
        return self._clock() - self.started

    def left(self) -> float | None:
        event = self.event
        if event is None or not event.total or event.done <= 0 or event.done >= event.total:
            return None
        per_unit = (self._last - self.started) / event.done
        return max(0.0, per_unit * (event.total - event.done) - (self._clock() - self._last))

