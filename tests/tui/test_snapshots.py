"""SVG snapshots of every screen at 80x24 and 160x48.

Each app starts from the same saved run of the tiny seeded dataset (no training, so the
pictures are stable and quick); timings are hidden, the input cursor does not blink, and
notifications are cleared before the picture. Update with `--snapshot-update` only after
looking at the report (snapshot_report.html).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from optllm_tui.app import make_app
from optllm_tui.recent import Places
from optllm_tui.settings import Settings
from optllm_tui.widgets.allocation_table import AllocationTable

from .conftest import RUN, app_of, run_opened, show, until

SIZES = [(80, 24), (160, 48)]


async def on_optimise(pilot: Pilot[None]) -> None:
    """Clear the opened front, take three steps, look back at the second."""
    app = app_of(pilot)
    await show(pilot, "3")
    await pilot.press("x")
    for n in (1, 2, 3):
        await pilot.press("s")
        await until(pilot, lambda n=n: len(app.session.events) == n, "a step")
        await until(pilot, lambda: app.jobs.live_threads() == 0, "the step to end")
    await pilot.press("left_square_bracket")


async def on_front(pilot: Pilot[None]) -> None:
    app = app_of(pilot)
    await pilot.press("4", "right")
    await until(pilot, lambda: app.session.details is not None
                and app.session.details.index == app.session.selected, "point details")


async def on_allocation(pilot: Pilot[None]) -> None:
    app = app_of(pilot)
    await pilot.press("5")
    await until(pilot, lambda: bool(app.screen.query(AllocationTable)), "the table")


async def on_compare(pilot: Pilot[None]) -> None:
    """The default methods (none needs pymoo) compared on the saved run's dataset."""
    app = app_of(pilot)
    await show(pilot, "7")
    await pilot.press("c")
    await until(pilot, lambda: app.session.compare_state.phase == "done", "the comparison")
    await until(pilot, lambda: app.jobs.live_threads() == 0, "the comparison to end")


async def on_limits_editor(pilot: Pilot[None]) -> None:
    """The limits editor with a cap typed and a share it refuses."""
    app_of(pilot).clear_notifications()  # the run's "Opened" would show over the dialog
    await pilot.press("4", "c", *"120", "tab", "tab", "tab", *"1.5")


async def on_front_under_limits(pilot: Pilot[None]) -> None:
    app = app_of(pilot)
    await pilot.press("4", "c", *"20", "tab", "tab", "tab", "tab", "tab", *"0.2", "enter")
    await until(pilot, lambda: app.session.point_limits is not None
                and app.session.point_limits[0] == app.session.selected, "the point's limits")


def keys(*pressed: str) -> Callable[[Pilot[None]], Awaitable[None]]:
    async def press(pilot: Pilot[None]) -> None:
        await pilot.press(*pressed)

    return press


SCREENS: dict[str, Callable[[Pilot[None]], Awaitable[None]]] = {
    "datasets": keys(),
    "predictor": lambda pilot: show(pilot, "2"),
    "optimise": on_optimise,
    "front": on_front,
    "allocation": on_allocation,
    "export": keys("6"),
    "compare": on_compare,
    "help": keys("f1"),
    "limits-editor": on_limits_editor,
    "front-limits": on_front_under_limits,
}


@pytest.fixture(autouse=True)
def stable_screen(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    """No blinking cursor, paths shown relative to the data folder, one output folder
    whatever the temporary folder's name, and the Compare screen's method list drawn as
    with pymoo installed (the snapshot runs none of them)."""
    import optllm.pipeline.compare

    monkeypatch.setattr(Input, "cursor_blink", False)
    monkeypatch.setattr(Places, "folder", lambda self: "/data")
    monkeypatch.setattr(optllm.pipeline.compare, "pymoo_available", lambda: True)
    monkeypatch.chdir(data_dir)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen(snap_compare, run_file: Path, tmp_path: Path, screen: str,
                size: tuple[int, int]) -> None:
    app = make_app(Settings(run_file=str(run_file), run=dict(RUN),
                            config_dir=tmp_path / "config", show_timings=False))

    async def run_before(pilot: Pilot[None]) -> None:
        await run_opened(pilot)
        await SCREENS[screen](pilot)
        await pilot.pause()
        app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_too_small(snap_compare, run_file: Path, tmp_path: Path) -> None:
    app = make_app(Settings(run_file=str(run_file), run=dict(RUN),
                            config_dir=tmp_path / "config", show_timings=False))

    async def run_before(pilot: Pilot[None]) -> None:
        await run_opened(pilot)
        app.clear_notifications()

    assert snap_compare(app, terminal_size=(50, 15), run_before=run_before)
