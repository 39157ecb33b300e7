"""Files, dialogs, the palette and quitting (issue 11): the typed extension decides the
export format, nothing trained is thrown away without a question, `q` quits, every command
is reachable from the palette anywhere, paths are shown whole and completed with Tab."""

from __future__ import annotations

import json
from pathlib import Path

from textual.widgets import Input, RadioSet

from optllm_tui.app import make_app
from optllm_tui.screens.export import FORMATS
from optllm_tui.settings import Settings

from .conftest import run_opened, until
from .test_errors import status_text


async def test_the_typed_extension_decides_the_export_format(run_settings: Settings,
                                                             tmp_path: Path) -> None:
    """`test.jsonl` came out as Parquet when that radio was set: now the radio follows
    the typed name, and choosing a radio renames the file."""
    app = make_app(run_settings)
    async with app.run_test() as pilot:
        await run_opened(pilot)
        await pilot.press("6")
        path_input = app.screen.query_one("#export-path", Input)
        radios = app.screen.query_one("#format", RadioSet)
        radios.query("RadioButton")[FORMATS.index("parquet")].value = True
        await pilot.pause()
        assert path_input.value.endswith(".parquet")
        target = tmp_path / "test.jsonl"
        path_input.value = str(target)
        await pilot.pause()
        assert FORMATS[radios.pressed_index] == "jsonl"
        await pilot.press("e")
        await until(pilot, lambda: "Wrote" in status_text(app, "#export-status"), "written")
        first = target.read_text(encoding="utf-8").splitlines()[0]
        assert "query_id" in json.loads(first)

        gzipped = tmp_path / "test.csv.gz"
        path_input.value = str(gzipped)
        await pilot.pause()
        assert FORMATS[radios.pressed_index] == "csv"
        await pilot.press("e")
        await until(pilot, gzipped.exists, "the gzipped export")
        assert gzipped.read_bytes().startswith(b"\x1f\x8b")
