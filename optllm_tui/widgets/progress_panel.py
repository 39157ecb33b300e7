"""Training progress: what runs, a bar for the current stage, elapsed time and time left."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, ProgressBar

from optllm.progress import Progress, StageClock
from optllm_tui.formatting import seconds

STAGE_TEXT = {
    "costs": "pricing the batch",
    "choose": "choosing the predictor",
    "features": "featurising the queries to allocate",
    "train": "training",
    "predict": "predicting the queries to allocate",
    "hull": "computing the exact hull front",
}

#: Seconds between two redraws while no report arrives: elapsed time keeps moving.
TICK = 1.0


class ProgressPanel(Vertical):
    """Shows one training run: the stage in words with its count, the library's note of
    what runs ("cross-validating logistic on word+char, model 3/8, fold 2/5"), the time
    spent in the stage and the time left (`optllm.progress.StageClock`), redrawn every
    `TICK` seconds even while the library is silent. `show_timings` off hides the times
    (stable screenshots)."""

    def __init__(self, *, show_timings: bool = True, id: str | None = None) -> None:
        super().__init__(id=id)
        self.show_timings = show_timings
        self.clock = StageClock()
        self._running = False

    def compose(self) -> ComposeResult:
        yield Label("Not trained yet.", id="progress-text", markup=False)
        yield ProgressBar(total=1, show_eta=False, id="progress-bar")

    def on_mount(self) -> None:
        self.set_interval(TICK, self._tick)

    def start(self) -> None:
        self.clock.restart()
        self._running = True
        self.query_one(ProgressBar).update(total=None, progress=0)
        self._say("starting, Esc cancels")

    def report(self, stage: str, done: int, total: int | None, message: str = "") -> None:
        self.clock.update(Progress(stage, done, total, message))
        self.query_one(ProgressBar).update(total=total or None, progress=done)
        self._show()

    def _tick(self) -> None:
        if self._running and self.show_timings and self.clock.event is not None:
            self._show()

    def _show(self) -> None:
        event = self.clock.event
        assert event is not None
        text = STAGE_TEXT.get(event.stage, event.stage)
        if event.total:
            text += f" {event.done:,}/{event.total:,}"
        if self.show_timings:
            text += f", {seconds(self.clock.elapsed())}"
            left = self.clock.left()
            if left is not None:
                text += f", ~{seconds(left)} left"
        text += ", Esc cancels"
        if event.message:
            text += f"\n{event.message}"
        self._say(text)

    def finish(self, text: str) -> None:
        self._running = False
        bar = self.query_one(ProgressBar)
        bar.update(total=bar.total or 1, progress=bar.total or 1)
        self._say(text)

    def stop(self, text: str) -> None:
        self._running = False
        self._say(text)

    def _say(self, text: str) -> None:
        self.query_one("#progress-text", Label).update(text)
