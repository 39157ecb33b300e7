"""The whole workflow through the keyboard: load, train, step, browse steps, run, choose a
point, set a budget, open the allocation, export to every format and read it back."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from textual.widgets import DataTable, Input

from optllm_tui.app import OptLLMApp
from optllm_tui.messages import StepsTaken
from optllm_tui.screens.optimise import OptimiseScreen
from optllm_tui.widgets.allocation_table import AllocationTable
from optllm_tui.widgets.run_log import RunLog

from .conftest import loaded, show, trained, until


async def test_whole_workflow(app: OptLLMApp, tmp_path: Path) -> None:
    messages: list[object] = []
    async with app.run_test(size=(120, 40), message_hook=messages.append) as pilot:
        session = app.session
        await loaded(pilot)
        assert session.dataset is not None and session.dataset.n_queries == 300
        assert app.screen.query_one("#models", DataTable).row_count == 4

        await trained(pilot)
        quality = app.screen.query_one("#quality", DataTable)
        await until(pilot, lambda: len(quality.rows) == 4, "the quality table")
        assert session.split is not None and session.hull is not None

        # Three single steps: each key press advances the live generator by exactly one.
        await show(pilot, "3")
        for expected in (1, 2, 3):
            await pilot.press("s")
            await until(pilot, lambda n=expected: len(session.events) == n, "a step")
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert len(session.events) == expected
        stepper = session.stepper
        assert [event.step for event in session.events] == [1, 2, 3]
        assert app.screen.query_one(RunLog).row_count == 3

        # Step back: the plot shows step 2, and forward / follow return to the newest.
        await pilot.press("left_square_bracket")
        assert session.view_step == 1
        assert isinstance(app.screen, OptimiseScreen)
        assert "step 2" in str(app.screen.query_one("#live-plot").border_title)
        await pilot.press("f")
        assert session.view_step is None

        # Run to the end from where the generator stands.
        await pilot.press("r")
        await until(pilot, lambda: session.front is not None, "the front")
        assert session.stepper is stepper
        assert len(session.events) == stepper.total
        assert app.screen.query_one(RunLog).row_count == stepper.total
        assert any(isinstance(m, StepsTaken) for m in messages)

        # Move along the front, then jump to a budget.
        await pilot.press("4")
        front = session.front
        assert front is not None and session.selected is not None
        start = session.selected
        await pilot.press("right")
        assert session.selected == start + 1
        await pilot.press("h")
        assert session.selected == start
        budget = float(front.cost[len(front) // 3]) + 1e-9
        await pilot.press("b")
        await pilot.press(*f"{budget:.9f}", "enter")
        assert session.selected == front.index_for_budget(budget)
        await until(pilot, lambda: session.details is not None
                    and session.details.index == session.selected, "point details")

        # The allocation of the chosen point.
        await pilot.press("enter")
        await until(pilot, lambda: session.allocation_view is not None, "the table")
        await until(pilot, lambda: bool(app.screen.query(AllocationTable)), "the table widget")
        table = app.screen.query_one(AllocationTable)
        assert table.source_row_count == front.n_queries

        # Export to each format and read the files back.
        await pilot.press("6")
        path_input = app.screen.query_one("#export-path", Input)
        for key, suffix, read in (("csv", ".csv", pd.read_csv),
                                  ("parquet", ".parquet", pd.read_parquet),
                                  ("jsonl", ".jsonl",
                                   lambda p: pd.read_json(p, lines=True))):
            target = tmp_path / f"allocation{suffix}"
            app.screen.query_one("#format").focus()
            await pilot.press("home" if key == "csv" else "down", "enter")
            path_input.value = str(target)
            await pilot.press("e")
            await until(pilot, target.exists, f"the {key} file")
            frame = read(target)
            assert len(frame) == front.n_queries
            assert {"query_id", "model", "cost", "score", "uncertainty", "label"} <= set(frame)
            assert set(frame["model"]) <= set(session.dataset.models)
        assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
async def test_default_dataset_opens_without_data(tmp_path: Path,
                                                  size: tuple[int, int]) -> None:
    from optllm_tui.app import make_app
    from optllm_tui.settings import Settings

    app = make_app(Settings(config_dir=tmp_path, show_timings=False))
    async with app.run_test(size=size) as pilot:
        await loaded(pilot)
        assert app.session.dataset is not None
        assert "(synthetic)" in app.session.dataset.title
        assert "(synthetic)" in app.sub_title
        assert app.session.source is None


async def test_sort_and_filter_allocation(run_settings) -> None:
    from optllm_tui.app import make_app

    app = make_app(run_settings)
    async with app.run_test(size=(120, 40)) as pilot:
        from .conftest import run_opened

        await run_opened(pilot)
        session = app.session
        await pilot.press("5")
        await until(pilot, lambda: session.allocation_view is not None, "the table")
        view = session.allocation_view
        assert view is not None and view.sort == "cost" and not view.descending
        costs = view.backend.source_data["cost"].to_pylist()
        assert costs == sorted(costs)

        await pilot.press("o")  # sort by score
        await until(pilot, lambda: session.allocation_view.sort == "score", "sort by score")
        await pilot.press("r")  # descending
        await until(pilot, lambda: session.allocation_view.descending, "descending")
        scores = session.allocation_view.backend.source_data["score"].to_pylist()
        assert scores == sorted(scores, reverse=True)

        await pilot.press("m")  # first model only
        first = session.dataset.models[0]
        await until(pilot, lambda: session.allocation_view.model == first, "the filter")
        view = session.allocation_view
        models = view.backend.source_data["model"].to_pylist()
        assert set(models) <= {first}
        assert view.rows == len(models) and view.all_rows == session.front.n_queries
