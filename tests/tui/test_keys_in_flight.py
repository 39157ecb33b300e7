"""Keys pressed while the app is busy are queued, not dropped: `s` presses while a step is
computed are each taken in order, and the last step ends the run (no extra press)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from optllm_tui.app import make_app
from optllm_tui.session import Stepper
from optllm_tui.settings import Settings

from .conftest import run_opened, show, until


@pytest.fixture
def slow_steps(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Each step takes 200 ms, so key presses arrive while one is being computed; a step
    also waits while the returned gate is closed (a test closes it to hold a step open
    however slowly a loaded machine delivers the key presses)."""
    advance = Stepper.advance
    gate = threading.Event()
    gate.set()

    def slow(self: Stepper) -> object:
        gate.wait(timeout=60)
        time.sleep(0.2)
        return advance(self)

    monkeypatch.setattr(Stepper, "advance", slow)
    return gate


async def reset_optimiser(pilot) -> None:  # type: ignore[no-untyped-def]
    app = pilot.app
    await run_opened(pilot)
    await show(pilot, "3")
    await pilot.press("x")
    assert app.session.front is None and app.session.prediction is not None


def status(app) -> str:  # type: ignore[no-untyped-def]
    return str(app.screen.query_one("#opt-status").render())


async def test_step_presses_during_a_step_are_queued(run_settings: Settings,
                                                     slow_steps: threading.Event) -> None:
    app = make_app(run_settings)
    async with app.run_test() as pilot:
        await reset_optimiser(pilot)
        slow_steps.clear()  # the first step stays open while the other nine presses arrive
        await pilot.press(*["s"] * 10)
        assert "queued" in status(app)
        slow_steps.set()
        await until(pilot, lambda: len(app.session.events) == 10
                    and not app.jobs.running("optimise"), "ten steps")
        await pilot.pause(0.2)
        assert [event.step for event in app.session.events] == list(range(1, 11))
        assert app.session.queued_steps == 0
        assert status(app).startswith("Paused at step 10 of")


async def test_the_last_step_finishes_the_run(run_settings: Settings,
                                              slow_steps: None) -> None:
    app = make_app(run_settings)
    async with app.run_test() as pilot:
        await reset_optimiser(pilot)
        total = 4 * app.session.config.density - 3
        await pilot.press(*["s"] * total)
        await until(pilot, lambda: app.session.front is not None, "the front", timeout=30)
        await pilot.pause()
        assert len(app.session.events) == total
        assert status(app).startswith(f"Done: {total} steps,")
        assert "1 steps" not in status(app)


async def test_keys_typed_while_a_screen_waits_go_to_that_screen(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from optllm_tui.jobs import Jobs
    from optllm_tui.messages import LibraryReady
    from optllm_tui.screens.modals import WaitModal

    monkeypatch.setattr(Jobs, "warm_up", lambda self: None)  # the library is "loading"
    app = make_app(settings)
    async with app.run_test() as pilot:
        await until(pilot, lambda: app.session.dataset is not None, "the dataset")
        await pilot.press("2", "t")
        # Not on the Datasets screen below: the dialog holds the keys and says so.
        assert isinstance(app.screen, WaitModal)
        assert "Kept for the screen: t" in str(app.screen.query_one("#wait-keys").render())
        app.post_message(LibraryReady(None))  # type: ignore[arg-type]
        await until(pilot, lambda: getattr(app.screen, "SCOPE", "") == "predictor",
                    "the Predictor screen")
        await until(pilot, lambda: app.session.prediction is not None, "training by the t")


async def test_escape_gives_up_waiting(settings: Settings,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from optllm_tui.jobs import Jobs
    from optllm_tui.messages import LibraryReady

    monkeypatch.setattr(Jobs, "warm_up", lambda self: None)
    app = make_app(settings)
    async with app.run_test() as pilot:
        await until(pilot, lambda: app.session.dataset is not None, "the dataset")
        await pilot.press("3", "escape")
        app.post_message(LibraryReady(None))  # type: ignore[arg-type]
        await pilot.pause(0.2)
        assert getattr(app.screen, "SCOPE", "") == "datasets"


async def test_opening_a_run_clears_the_step_plot_title(run_settings: Settings,
                                                        run_file: Path) -> None:
    from textual.widgets import Input

    app = make_app(run_settings)
    async with app.run_test() as pilot:
        await reset_optimiser(pilot)
        await pilot.press("s")
        await until(pilot, lambda: len(app.session.events) == 1, "a step")
        plot = app.screen.query_one("#live-plot")
        await until(pilot, lambda: "step 1" in str(plot.border_title), "the step's title")
        await pilot.press("f3")
        app.screen.query_one(Input).value = str(run_file)
        await pilot.press("enter")
        await until(pilot, lambda: app.session.front is not None and not app.session.events,
                    "the run")
        await pilot.pause()
        assert "step" not in str(plot.border_title)
