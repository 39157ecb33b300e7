"""Status lines never contradict the screen: no "Press t" while t cannot train, no old
predictor's table under a new training, no old error after the data changed."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from textual.widgets import DataTable, Input, Static

from optllm_tui.app import make_app
from optllm_tui.session import Topic
from optllm_tui.settings import Settings
from optllm_tui.widgets.progress_panel import ProgressPanel

from .conftest import loaded, show, trained, until


def progress_text(app) -> str:
    return str(app.screen.query_one(ProgressPanel).query_one("#progress-text").render())


async def test_no_press_t_without_a_dataset(settings: Settings, tmp_path: Path) -> None:
    app = make_app(dataclasses.replace(settings, data=str(tmp_path / "missing.csv")))
    async with app.run_test() as pilot:
        await until(pilot, lambda: not app.jobs.running("load"), "the failed load")
        await show(pilot, "2")
        await pilot.pause()
        assert app.session.dataset is None
        assert "Press t" not in progress_text(app)
        assert "Load a dataset first" in progress_text(app)


async def test_a_new_training_clears_the_old_table_and_error(settings: Settings) -> None:
    app = make_app(settings)
    async with app.run_test() as pilot:
        await trained(pilot)
        table = app.screen.query_one("#quality", DataTable)
        await until(pilot, lambda: table.row_count > 0, "the quality table")
        app.screen.query_one("#param-status", Static).update("an old error")
        app.screen.query_one("#bootstraps", Input).value = "3000"  # still training below
        app.screen.action_train()  # what t does
        await until(pilot, lambda: app.jobs.running("train"), "the training", timeout=10)
        await until(pilot, lambda: table.row_count == 0, "the old table to go", timeout=10)
        assert app.jobs.running("train")
        assert app.session.prediction is not None  # the old one, still in the session
        assert str(app.screen.query_one("#verdict", Static).render()) == ""
        await pilot.press("escape")
        await until(pilot, lambda: app.jobs.live_threads() == 0, "the thread to stop")
        app.screen.query_one("#param-status", Static).update("an old error")
        await loaded(pilot)
        app.publish(Topic.DATASET)
        await pilot.pause()
        assert str(app.screen.query_one("#param-status", Static).render()) == ""
