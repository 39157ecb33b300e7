"""The Allocation screen filters by typing: `/` over the query text (Enter applies, Escape
clears), `p` picks a model from a list, and the header stays on one line at 100 columns."""

from __future__ import annotations

from textual.widgets import OptionList

from optllm_tui.app import make_app
from optllm_tui.screens.modals import PickModal
from optllm_tui.settings import Settings

from .conftest import run_opened, show, until


def shown(app, column: str) -> list:  # type: ignore[no-untyped-def]
    return app.session.allocation_view.backend.source_data[column].to_pylist()


async def test_filter_by_query_text_and_pick_a_model(run_settings: Settings) -> None:
    app = make_app(run_settings)
    async with app.run_test(size=(100, 30)) as pilot:
        await run_opened(pilot)
        session = app.session
        await show(pilot, "5")
        await until(pilot, lambda: session.allocation_view is not None, "the table")
        every = session.allocation_view.rows
        word = shown(app, "query")[0].split()[0]

        await pilot.press("slash", *word.upper(), "enter")  # case is ignored
        await until(pilot, lambda: session.allocation_view.text == word.upper(), "the filter")
        queries = shown(app, "query")
        assert queries and all(word.lower() in q.lower() for q in queries)
        assert len(queries) < every
        title = app.screen.query_one("#alloc-title")
        assert f'text: "{word.upper()}"' in str(title.render())
        assert title.size.height == 1  # one line at 100 columns, filters and all

        # A model from the list, on top of the text filter.
        await pilot.press("p")
        assert isinstance(app.screen, PickModal)
        second = session.dataset.models[1]
        await pilot.press("down", "down", "enter")
        await until(pilot, lambda: session.allocation_view.model == second, "the model")
        assert set(shown(app, "model")) <= {second}
        assert all(word.lower() in q.lower() for q in shown(app, "query"))
        assert app.screen.query_one("#alloc-title").size.height == 1

        # Escape clears the text filter; the model stays.
        await pilot.press("escape")
        await until(pilot, lambda: session.allocation_view.text is None, "no filter")
        assert session.allocation_view.model == second
        assert not app.screen.query("#alloc-filter")


async def test_escape_in_the_picker_changes_nothing(run_settings: Settings) -> None:
    app = make_app(run_settings)
    async with app.run_test(size=(100, 30)) as pilot:
        await run_opened(pilot)
        await show(pilot, "5")
        await until(pilot, lambda: app.session.allocation_view is not None, "the table")
        await pilot.press("p")
        assert app.screen.query_one(OptionList).highlighted == 0  # "all models" now
        await pilot.press("down", "escape")
        await pilot.pause()
        assert app.session.allocation_view.model is None
