"""The app at 80x24, the smallest common terminal: nothing cut or wrapped that matters,
plots with room to read, and F8 screenshots saved where the user is, saying where."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from textual.widgets import DataTable

from optllm.pipeline.views import PointDetails
from optllm_tui.app import OptLLMApp, make_app
from optllm_tui.commands import COMMANDS
from optllm_tui.settings import Settings
from optllm_tui.widgets.point_panel import describe

from .conftest import loaded, run_opened, show


async def test_f8_saves_the_screenshot_in_the_current_folder_and_says_where(
        settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "here"
    folder.mkdir()
    monkeypatch.chdir(folder)
    app = make_app(settings)
    async with app.run_test() as pilot:
        await loaded(pilot)
        await pilot.press("f8")
        await pilot.pause()
        saved = list(folder.glob("*.svg"))
        assert len(saved) == 1
        assert any(str(saved[0]) in str(n.message) for n in app._notifications)


async def test_optimise_plot_gets_the_room_at_80x24(run_settings: Settings) -> None:
    app = make_app(run_settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await run_opened(pilot)
        await show(pilot, "3")
        await pilot.pause()
        # Its legend and x axis take 4 of these rows: at least 8 rows of data remain.
        assert app.screen.query_one("#live-plot").size.height >= 12


async def test_help_text_is_wrapped_not_cut_at_80x24(app: OptLLMApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f1")
        await pilot.pause()
        await pilot.pause()
        table = app.screen.query_one(DataTable)
        assert table.virtual_size.width <= table.scrollable_content_region.width
        assert table.row_count == len(COMMANDS)


@given(width=st.integers(min_value=20, max_value=80),
       names=st.lists(st.text(alphabet="abcdefghij-./0123456789", min_size=1, max_size=40),
                      min_size=1, max_size=6, unique=True))
def test_share_bars_never_wrap(width: int, names: list[str]) -> None:
    shares = tuple((name, 1 / len(names)) for name in names)
    details = PointDetails(0, 1.0, 0.8, 0.01, 0.7, names[0], 2.0, 0.8, True, shares)
    lines = describe(details, 10, width).plain.splitlines()
    share_lines = lines[lines.index("queries per model") + 1:][:len(names)]
    assert all(len(line) <= max(width, 8 + 8) for line in share_lines)
    assert all("%" in line for line in share_lines)
