"""The Predictor screen lists the dataset's extra columns to tick (never a model's own);
the ticks become the run's feature columns and the trained predictor reads them."""

from __future__ import annotations

from textual.pilot import Pilot
from textual.widgets import SelectionList

from optllm_tui.app import OptLLMApp, make_app
from optllm_tui.settings import Settings

from .conftest import loaded, show, until


async def column_list(pilot: Pilot[None], app: OptLLMApp) -> SelectionList[str]:
    """The Predictor screen's list of extra columns, once the screen has filled it."""
    await show(pilot, "2")
    await until(pilot, lambda: [w for w in app.screen.query(SelectionList) if w.option_count],
                "the list of extra columns")
    return app.screen.query_one("#feature-columns", SelectionList)


async def test_ticked_columns_train_the_predictor(settings: Settings) -> None:
    app = make_app(settings)
    async with app.run_test() as pilot:
        await loaded(pilot)
        columns = await column_list(pilot, app)
        values = [columns.get_option_at_index(i).value for i in range(columns.option_count)]
        assert values == ["topic", "difficulty"]  # the models' columns are not offered
        assert list(columns.selected) == []  # 12 topics in 300 rows: not a category by auto
        columns.focus()
        await pilot.press("space")  # tick the highlighted first option, topic
        await until(pilot, lambda: app.session.config.feature_columns == "topic", "the tick")
        await show(pilot, "1")
        columns = await column_list(pilot, app)
        assert list(columns.selected) == ["topic"]  # the tick survives a screen switch
        await pilot.press("t")
        await until(pilot, lambda: app.session.prediction is not None, "training")
        assert app.session.prediction.offered_columns == ["topic"]
