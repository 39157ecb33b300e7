"""The Front screen lists every single-model allocation beside the chosen point (issue 11)."""

from __future__ import annotations

from optllm_tui.app import OptLLMApp
from optllm_tui.widgets.point_panel import PointPanel

from .conftest import app_of, run_opened, until


async def test_front_panel_lists_every_single_model(run_settings) -> None:
    app = OptLLMApp(run_settings)
    async with app.run_test(size=(160, 48)) as pilot:
        await run_opened(pilot)
        await pilot.press("4", "right")
        session = app_of(pilot).session
        await until(pilot, lambda: session.details is not None
                    and session.details.index == session.selected, "point details")
        await pilot.pause()
        text = str(app.screen.query_one(PointPanel).render())
        assert "single models" in text
        for model in session.dataset.models:
            assert model in text.split("single models")[1]
