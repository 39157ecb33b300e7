"""Training progress: a bar per bootstrap member with an estimate of the time left."""

from __future__ import annotations

import time

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, ProgressBar

from optllm_tui.formatting import seconds

STAGE_TEXT = {
    "features": "featurising the query texts",
    "train": "members",
    "predict": "predicting the queries to allocate",
    "hull": "computing the exact hull front",
}


class ProgressPanel(Vertical):
    """Shows one training run. The time left is the mean time per finished member times
    the members left; `show_timings` off hides it (stable screenshots)."""

    def __init__(self, *, show_timings: bool = True, id: str | None = None) -> None:
        super().__init__(id=id)
        self.show_timings = show_timings
        self._train_started: float | None = None
        self._last_report = 0.0

    def compose(self) -> ComposeResult:
        yield Label("Not trained yet. Press t to train.", id="progress-text", markup=False)
        yield ProgressBar(total=1, show_eta=False, id="progress-bar")

    def start(self, bootstraps: int) -> None:
        self._last_report = time.monotonic()
        self._train_started = None
        self.query_one(ProgressBar).update(total=bootstraps, progress=0)
        self._say("starting, Esc cancels")

    def report(self, stage: str, done: int, total: int | None) -> None:
        what = STAGE_TEXT.get(stage, stage)
        now, previous = time.monotonic(), self._last_report
        self._last_report = now
        if stage != "train":
            self._say(f"{what}, Esc cancels")
            return
        if self._train_started is None:
            # The first member's report comes when it is done: it started at the report
            # before (the end of featurising).
            self._train_started = previous
        self.query_one(ProgressBar).update(total=total, progress=done)
        left = ""
        if self.show_timings and done and total:
            eta = (now - self._train_started) / done * (total - done)
            left = f", ~{seconds(eta)} left"
        self._say(f"{what} {done}/{total}{left}, Esc cancels")

    def finish(self, text: str) -> None:
        bar = self.query_one(ProgressBar)
        bar.update(progress=bar.total or 0)
        self._say(text)

    def stop(self, text: str) -> None:
        self._say(text)

    def _say(self, text: str) -> None:
        self.query_one("#progress-text", Label).update(text)
