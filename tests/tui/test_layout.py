"""The app at 80x24, the smallest common terminal: nothing cut or wrapped that matters,
plots with room to read, and F8 screenshots saved where the user is, saying where."""

from __future__ import annotations

from pathlib import Path

import pytest

from optllm_tui.app import make_app
from optllm_tui.settings import Settings

from .conftest import loaded


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
