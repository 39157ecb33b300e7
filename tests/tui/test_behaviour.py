"""Cancelling, pausing, quitting, resizing, help, palette, themes, saved runs."""

from __future__ import annotations

import dataclasses
import gc
import time
from collections import Counter
from pathlib import Path

import pytest
from textual import events
from textual.command import CommandList, CommandPalette
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import DataTable, Input

from optllm_tui.app import OptLLMApp, make_app
from optllm_tui.commands import COMMANDS, SCREENS
from optllm_tui.messages import TrainingProgress
from optllm_tui.screens.base import ModeScreen
from optllm_tui.screens.help import HelpScreen
from optllm_tui.session import Stepper
from optllm_tui.settings import Settings
from optllm_tui.widgets.pareto_plot import ParetoPlot
from optllm_tui.widgets.progress_panel import ProgressPanel

from .conftest import loaded, quit_stops_work, run_opened, show, trained, until

#: Enough members of the paper's XGBoost ensemble that training is still running when the
#: test acts on it.
LONG_RUN = {"bootstraps": 400, "train_fraction": 0.2, "learner": "xgboost",
            "featuriser": "tfidf-svd"}


def training_started(messages: list[object]) -> bool:
    """Any progress of the training job (featurising or members): the worker is busy."""
    return any(isinstance(m, TrainingProgress) for m in messages)


async def test_escape_cancels_training(settings: Settings) -> None:
    app = make_app(dataclasses.replace(settings, run=LONG_RUN))
    messages: list[object] = []
    async with app.run_test(message_hook=messages.append) as pilot:
        await loaded(pilot)
        await show(pilot, "2")
        await pilot.press("t")
        await until(pilot, lambda: training_started(messages), "training to start")
        await pilot.press("escape")
        assert not app.jobs.running("train")
        assert "cancelled" in str(app.screen.query_one("#progress-text").render())
        # The thread stops at its next check (every 1,024 texts, fold or boosting round).
        await until(pilot, lambda: app.jobs.live_threads() == 0, "the thread to stop",
                    timeout=20)
        await pilot.pause(0.2)
        assert app.session.prediction is None


async def test_quit_while_training_leaves_no_threads(settings: Settings) -> None:
    async def train(pilot: Pilot[None], messages: list[object]) -> None:
        await loaded(pilot)
        await show(pilot, "2")
        await pilot.press("t")
        await until(pilot, lambda: training_started(messages), "training to start")

    await quit_stops_work(make_app(dataclasses.replace(settings, run=LONG_RUN)), train, 15)


async def test_pause_keeps_the_generator(run_settings: Settings,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    slow_advance = Stepper.advance

    def advance(self: Stepper) -> object:
        time.sleep(0.05)
        return slow_advance(self)

    monkeypatch.setattr(Stepper, "advance", advance)
    app = make_app(run_settings)
    async with app.run_test() as pilot:
        await run_opened(pilot)
        session = app.session
        await show(pilot, "3")
        await pilot.press("x")
        assert session.front is None and not session.events
        await pilot.press("r")
        await until(pilot, lambda: len(session.events) >= 3, "a few steps")
        assert session.running
        await pilot.press("p")
        assert not session.running
        await until(pilot, lambda: app.jobs.live_threads() == 0, "the run to stop")
        await pilot.pause(0.3)
        paused_at = len(session.events)
        stepper = session.stepper
        await pilot.press("s")
        await until(pilot, lambda: len(session.events) == paused_at + 1, "one more step")
        assert session.stepper is stepper
        assert [e.step for e in session.events] == list(range(1, paused_at + 2))
        await pilot.press("escape")  # Escape pauses too; nothing is running: no change
        await pilot.press("r")
        await until(pilot, lambda: session.front is not None, "the end")
        assert len(session.events) == stepper.total


async def test_changing_density_resets_the_optimiser(run_settings: Settings) -> None:
    app = make_app(run_settings)
    async with app.run_test() as pilot:
        await run_opened(pilot)
        await show(pilot, "3")
        app.screen.query_one("#density", Input).value = "4"
        app.screen.query_one("#density", Input).focus()
        await pilot.press("enter")
        assert app.session.config.density == 4 and app.session.front is None
        await pilot.press("r")
        await until(pilot, lambda: app.session.front is not None, "the front")
        assert len(app.session.events) == 4 * 4 - 3
        app.screen.query_one("#density", Input).value = "1"
        app.screen.query_one("#density", Input).focus()
        await pilot.press("enter")
        assert "density must be at least 2" in str(app.screen.query_one("#opt-status").render())
        assert app.session.config.density == 4 and app.session.front is not None


async def test_resize_redraws_and_small_terminal_says_so(run_settings: Settings) -> None:
    app = make_app(run_settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await run_opened(pilot)
        await pilot.press("4")
        plot = app.screen.query_one(ParetoPlot)
        small = plot.size
        await pilot.resize_terminal(160, 48)
        await pilot.pause()
        assert plot.size.width > small.width and plot.size.height > small.height
        assert app.screen.query_one("#too-small").display is False

        await pilot.resize_terminal(50, 15)
        await pilot.pause()
        assert app.screen.query_one("#too-small").display is True
        assert app.screen.query_one("#body").display is False
        await pilot.press("1")
        assert app.screen.query_one("#too-small").display is True

        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert app.screen.query_one("#body").display is True


async def test_help_lists_every_key(app: OptLLMApp) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        assert app.screen.query_one(DataTable).row_count == len(COMMANDS)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_palette_runs_screen_commands(app: OptLLMApp) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        await show(pilot, "2")
        await pilot.press("ctrl+p")
        await pilot.press(*"Predictor: Train the")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette)
                    and app.screen.query_one(CommandList).option_count > 0, "hits")
        hits = app.screen.query_one(CommandList)
        assert "Train the predictor" in str(hits.get_option_at_index(0).prompt)
        await pilot.press("enter")
        await until(pilot, lambda: app.jobs.running("train")
                    or app.session.prediction is not None, "training from the palette")


async def test_theme_key_switches_theme(app: OptLLMApp) -> None:
    async with app.run_test() as pilot:
        first = app.theme
        await pilot.press("ctrl+t")
        assert app.theme != first


async def test_save_and_reopen_run(settings: Settings, tmp_path: Path) -> None:
    saved = tmp_path / "run.npz"
    app = make_app(settings)
    async with app.run_test(size=(120, 40)) as pilot:
        await trained(pilot)
        await show(pilot, "3")
        await pilot.press("r")
        await until(pilot, lambda: app.session.front is not None, "the front")
        await pilot.press("4", "right")
        front, selected = app.session.front, app.session.selected
        await pilot.press("f2")
        app.screen.query_one(Input).value = str(saved)
        await pilot.press("enter")
        await until(pilot, saved.exists, "the run file")

    again = make_app(dataclasses.replace(settings, data=None))
    async with again.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        await pilot.press("f3")
        again.screen.query_one(Input).value = str(saved)
        await pilot.press("enter")
        await until(pilot, lambda: again.session.front is not None, "the reopened run")
        session = again.session
        assert session.selected == selected
        assert list(session.front.cost) == pytest.approx(list(front.cost))
        assert session.dataset is not None and session.dataset.name == "small"
        assert session.config.bootstraps == settings.run["bootstraps"]
        await show(pilot, "2")
        assert len(again.screen.query_one("#quality", DataTable).rows) == 4
        assert "Trained" in str(again.screen.query_one(ProgressPanel).query_one(
            "#progress-text").render())


async def test_footer_rebuilds_only_when_its_keys_change(run_settings: Settings) -> None:
    app = make_app(run_settings)
    async with app.run_test() as pilot:
        await run_opened(pilot)
        await show(pilot, "3")
        await pilot.pause()

        def footer_keys() -> dict[str, Widget]:
            return {key.key: key for key in app.screen.query("KeyFooter FooterKey")}

        def off(key: str) -> bool:
            return footer_keys()[key].has_class("-disabled")

        shown = footer_keys()
        assert off("s") and not off("x")  # finished: only reset applies
        await show(pilot, "4")
        await show(pilot, "3")
        await pilot.pause()
        assert footer_keys() == shown and all(
            key is shown[name] for name, key in footer_keys().items())
        await pilot.press("x")
        await until(pilot, lambda: not off("s"), "Step to turn on")
        assert off("x") and not off("r")
        assert all(key is shown[name] for name, key in footer_keys().items())  # dimmed in place


async def test_loaded_data_is_left_out_of_garbage_collection(app: OptLLMApp) -> None:
    gc.unfreeze()
    async with app.run_test() as pilot:
        await loaded(pilot)
        await pilot.pause()
        assert gc.get_freeze_count() > 0


async def test_screen_base_handlers_run_once(app: OptLLMApp,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Textual calls every class's handler itself; a subclass calling super() on top
    would subscribe and redraw twice."""
    calls: Counter[tuple[str, str]] = Counter()
    mount, resume = ModeScreen.on_mount, ModeScreen.on_screen_resume

    def counted_mount(screen: ModeScreen) -> None:
        calls[screen.SCOPE, "mount"] += 1
        mount(screen)

    def counted_resume(screen: ModeScreen, event: events.ScreenResume) -> None:
        calls[screen.SCOPE, "resume"] += 1
        resume(screen, event)

    monkeypatch.setattr(ModeScreen, "on_mount", counted_mount)
    monkeypatch.setattr(ModeScreen, "on_screen_resume", counted_resume)
    async with app.run_test() as pilot:
        await loaded(pilot)
        for _, key, _ in SCREENS:
            await show(pilot, key)
        await show(pilot, "1")
    assert {scope for scope, _ in calls} == {mode for mode, _, _ in SCREENS}
    assert all(n == 1 for (_, kind), n in calls.items() if kind == "mount")
    # A first visit resumes a screen twice in Textual itself (mode set up, then switched to)
    resumes = {n for (scope, kind), n in calls.items() if kind == "resume"
               and scope != "datasets"}
    assert len(resumes) == 1 and calls["datasets", "resume"] <= resumes.pop()
