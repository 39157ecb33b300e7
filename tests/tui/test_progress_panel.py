"""The training panel ticks while the library is silent and says what runs."""

from __future__ import annotations

from textual.app import App, ComposeResult

from optllm.progress import StageClock
from optllm_tui.widgets import progress_panel
from optllm_tui.widgets.progress_panel import ProgressPanel


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class PanelApp(App[None]):
    def compose(self) -> ComposeResult:
        yield ProgressPanel()


async def test_the_panel_ticks_between_reports_and_names_what_runs(monkeypatch) -> None:
    monkeypatch.setattr(progress_panel, "TICK", 0.05)
    app = PanelApp()
    async with app.run_test() as pilot:
        panel = app.query_one(ProgressPanel)
        clock = FakeClock()
        panel.clock = StageClock(clock)
        panel.start()
        clock.now = 5.0
        panel.report("choose", 1, 4, "cross-validating logistic on word+char, fold 3/5")
        text = str(panel.query_one("#progress-text").render())
        assert "choosing the predictor 1/4, 5.0 s, ~15.0 s left" in text
        assert "cross-validating logistic on word+char, fold 3/5" in text
        clock.now = 80.0  # 75 s without a report
        await pilot.pause(0.3)
        text = str(panel.query_one("#progress-text").render())
        assert "choosing the predictor 1/4, 80.0 s" in text
        panel.finish("Trained.")
        clock.now = 90.0
        await pilot.pause(0.3)
        assert str(panel.query_one("#progress-text").render()) == "Trained."
