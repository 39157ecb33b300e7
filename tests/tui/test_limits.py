"""The limits editor of the Front screen (issue 14): per-model limits typed, refused with
the command's words, the front put under them in a worker (cancellable, infeasible limits
reported), the constrained front drawn and browsed, its point exported with the limits'
report, and cleared again."""

from __future__ import annotations

import argparse
import json
import threading
from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv
import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Static

from optllm.cli.limits import limits_from_args
from optllm.exceptions import ConfigError
from optllm.optimizers.constraints import meets
from optllm_tui.app import OptLLMApp, make_app
from optllm_tui.screens.limits import LimitsScreen, field_id
from optllm_tui.settings import Settings
from optllm_tui.widgets.pareto_plot import ParetoPlot
from optllm_tui.widgets.point_panel import PointPanel

from .conftest import app_of, run_opened, until
from .test_files_and_quitting import palette_run


@pytest.fixture
def limits_app(run_settings: Settings) -> OptLLMApp:
    return make_app(run_settings)


async def open_editor(pilot: Pilot[None]) -> LimitsScreen:
    app = app_of(pilot)
    await run_opened(pilot)
    await pilot.press("4", "c")
    await until(pilot, lambda: isinstance(app.screen, LimitsScreen), "the limits editor")
    return app.screen  # type: ignore[return-value]


async def type_limit(pilot: Pilot[None], row: int, kind: str, text: str) -> None:
    field = pilot.app.screen.query_one(f"#{field_id(row, kind)}", Input)
    field.focus()
    field.value = ""
    await pilot.press(*text)
    await pilot.pause()


def the_commands_error(option: str, model: str, text: str) -> str:
    """What `optllm run OPTION MODEL=TEXT` says about the value."""
    args = argparse.Namespace(cap=[], max_spend=[], min_share=[])
    getattr(args, option.lstrip("-").replace("-", "_")).append(f"{model}={text}")
    with pytest.raises(ConfigError) as refused:
        limits_from_args(args)
    return str(refused.value)


async def apply_and_wait(pilot: Pilot[None]) -> None:
    app = app_of(pilot)
    await pilot.press("enter")
    await until(pilot, lambda: app.session.limited is not None, "the front under limits")
    await until(pilot, lambda: not isinstance(app.screen, LimitsScreen), "the editor closed")
    await until(pilot, lambda: app.session.point_limits is not None, "the point's limits")


def limits_of(app: OptLLMApp) -> tuple[np.ndarray, np.ndarray, object, tuple[str, ...]]:
    session = app.session
    assert session.prediction is not None and session.allocated is not None
    constraints = app.limits_config(session.limits or {}).constraints()
    return (session.prediction.scores, session.allocated.cost, constraints,
            session.allocated.models)


async def test_the_editor_opens_from_the_front_screen_and_the_palette(limits_app) -> None:
    async with limits_app.run_test() as pilot:
        app = app_of(pilot)
        dialog = await open_editor(pilot)
        models = app.session.allocated.models
        assert len(dialog.query(".limits-field")) == 3 * len(models)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, LimitsScreen), "closed")
        await palette_run(pilot, "Front: Edit per-model limits")
        await until(pilot, lambda: isinstance(app.screen, LimitsScreen), "from the palette")


@pytest.mark.parametrize(("kind", "option", "text"), [
    ("max_queries", "--cap", "abc"), ("max_queries", "--cap", "2.5"),
    ("max_queries", "--cap", "-3"), ("max_spend", "--max-spend", "-1"),
    ("max_spend", "--max-spend", "nan"), ("min_share", "--min-share", "1.5"),
    ("min_share", "--min-share", "150%")])
async def test_a_refused_value_is_named_with_the_commands_words_and_not_applied(
        limits_app, kind: str, option: str, text: str) -> None:
    async with limits_app.run_test() as pilot:
        app = app_of(pilot)
        dialog = await open_editor(pilot)
        model = app.session.allocated.models[1]
        await type_limit(pilot, 1, kind, text)
        error = dialog.query_one("#limit-1-error", Static)
        assert error.display
        assert str(error.render()) == the_commands_error(option, model, text)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, LimitsScreen)
        assert not app.jobs.running("limits") and app.session.limited is None
        assert "refused" in str(dialog.query_one("#limits-status", Static).render())
        await type_limit(pilot, 1, kind, "")
        assert not error.display and not dialog.errors


async def test_applied_limits_give_a_front_that_meets_them_browsed_and_exported(
        limits_app, tmp_path: Path) -> None:
    async with limits_app.run_test(size=(120, 40)) as pilot:
        app = app_of(pilot)
        await open_editor(pilot)
        session = app.session
        front = session.front
        models = session.allocated.models
        unconstrained_point = session.selected
        counts = np.bincount(front.allocation(len(front) - 1), minlength=len(models))
        busiest = int(counts.argmax())
        cap = int(counts[busiest]) // 2
        await type_limit(pilot, busiest, "max_queries", str(cap))
        await type_limit(pilot, (busiest + 1) % len(models), "min_share", "10%")
        await apply_and_wait(pilot)

        limited = session.limited
        assert limited is not None and limited.unconstrained_selected == unconstrained_point
        assert session.limits == {"max_queries": {models[busiest]: cap},
                                  "min_share": {models[(busiest + 1) % len(models)]: 0.1}}
        scores, costs, constraints, names = limits_of(app)
        for k in range(len(limited.front)):
            assert meets(limited.front.allocation(k), scores, costs, constraints, names)
        plot = app.screen.query_one(ParetoPlot)
        assert plot._data is not None and plot._data.limited_cost is not None
        assert "under limits" in str(plot.border_title)
        # The keys move along the front under the limits.
        k = session.selected
        await pilot.press("end")
        await until(pilot, lambda: session.selected == len(limited.front) - 1, "the last point")
        await until(pilot, lambda: session.point_limits is not None
                    and session.point_limits[0] == session.selected, "its limits")
        report = session.point_limits[1]
        assert report.point is not None and report.point.allocation.size == front.n_queries
        np.testing.assert_array_equal(report.point.allocation,
                                      limited.front.allocation(session.selected))
        assert k is not None
        panel = str(app.screen.query_one(PointPanel).render())
        assert "limits (use, price)" in panel and f"cap {models[busiest]}={cap}" in panel
        assert "gap <=" in panel

        chosen = limited.front.allocation(session.selected)
        await pilot.press("5")
        await until(pilot, lambda: session.allocation_base is not None
                    and session.allocation_base[0] == session.selected, "the allocation table")
        browsed = session.allocation_base[1].column("model").to_pylist()
        assert browsed == [models[j] for j in chosen]

        path = tmp_path / "under-limits.csv"
        assert app.export(str(path), "csv", force=False)
        summary = tmp_path / "under-limits.summary.json"
        await until(pilot, lambda: path.exists() and summary.exists(), "the export")
        written = pacsv.read_csv(path).column("model").to_pylist()
        assert written == [models[j] for j in chosen]
        report_json = json.loads(summary.read_text())["limits"]
        assert report_json["given"]["max_queries"] == {models[busiest]: cap}
        queries = {row["model"]: row["queries"] for row in report_json["per_model"]}
        assert queries[models[busiest]] <= cap
        assert json.loads(summary.read_text())["selected"]["point"] == session.selected


async def test_infeasible_limits_are_named_and_nothing_changes(limits_app) -> None:
    async with limits_app.run_test() as pilot:
        app = app_of(pilot)
        dialog = await open_editor(pilot)
        for row in (0, 1):
            await type_limit(pilot, row, "min_share", "0.6")
        await pilot.press("enter")
        status = dialog.query_one("#limits-status", Static)
        await until(pilot, lambda: "minimum shares add up" in str(status.render()),
                    "the library's message")
        models = app.session.allocated.models
        assert f"min share {models[0]}=0.6" in str(status.render())
        assert app.is_running and isinstance(app.screen, LimitsScreen)
        assert app.session.limited is None and app.session.limits is None


async def test_escape_stops_the_computation_and_keeps_what_was_shown(
        limits_app, monkeypatch: pytest.MonkeyPatch) -> None:
    """The library call is held open (until cancelled) so the cancel lands mid-way."""
    import optllm.pipeline.limits
    from optllm.progress import check_cancelled

    entered = threading.Event()

    def held(*args: object, should_stop=None, **kwargs: object) -> object:
        entered.set()
        while True:
            check_cancelled(should_stop, "limits")
            threading.Event().wait(0.01)

    monkeypatch.setattr(optllm.pipeline.limits, "front_under_limits", held)
    async with limits_app.run_test() as pilot:
        app = app_of(pilot)
        dialog = await open_editor(pilot)
        await type_limit(pilot, 0, "max_queries", "10")
        await pilot.press("enter")
        await until(pilot, entered.is_set, "the computation")
        status = dialog.query_one("#limits-status", Static)
        assert "Putting the front under the limits" in str(status.render())
        await pilot.press("escape")
        await until(pilot, lambda: app.jobs.live_threads() == 0, "the thread to return")
        assert isinstance(app.screen, LimitsScreen)
        assert "Cancelled" in str(status.render())
        assert app.session.limited is None and app.session.limits is None
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, LimitsScreen), "closed")


async def test_clear_all_returns_to_the_unconstrained_front(limits_app) -> None:
    async with limits_app.run_test() as pilot:
        app = app_of(pilot)
        await open_editor(pilot)
        session = app.session
        before = session.selected
        await type_limit(pilot, 0, "max_queries", "5")
        await apply_and_wait(pilot)
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, LimitsScreen), "the editor again")
        assert app.screen.query_one(f"#{field_id(0, 'max_queries')}", Input).value == "5"
        await pilot.click("#clear")
        await until(pilot, lambda: session.limited is None, "the limits cleared")
        assert session.limits is None and session.selected == before
        await until(pilot, lambda: not isinstance(app.screen, LimitsScreen), "closed")
        await pilot.pause()
        plot = app.screen.query_one(ParetoPlot)
        assert plot._data is not None and plot._data.limited_cost is None


async def test_twelve_models_scroll_in_an_80x24_editor_with_its_buttons_in_view(
        limits_app) -> None:
    """Overruling has 12 models: the rows scroll, Apply stays on the screen."""
    models = tuple(f"model-{j:02d}-with-a-long-name" for j in range(12))
    async with limits_app.run_test(size=(80, 24)) as pilot:
        app = app_of(pilot)
        await run_opened(pilot)
        await app.push_screen(LimitsScreen(models, None))
        await pilot.pause()
        dialog = app.screen
        rows = dialog.query_one("#limits-rows")
        assert rows.max_scroll_y > 0
        screen = dialog.region
        for button in ("#apply", "#clear", "#cancel"):
            assert screen.contains_region(dialog.query_one(button).region), button
        last = dialog.query_one(f"#{field_id(11, 'min_share')}", Input)
        last.focus()
        await until(pilot, lambda: rows.region.contains_region(last.region),
                    "the last row scrolled into view")
        assert rows.scroll_y > 0
