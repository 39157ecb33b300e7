"""Progress reports and cancellation checks shared by every long stage."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from optllm.exceptions import Cancelled


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
