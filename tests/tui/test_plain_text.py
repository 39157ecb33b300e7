"""State and focus read without colour: radio buttons and selection boxes show whether
they are on in their characters, and the focused field's border differs in shape."""

from __future__ import annotations

from textual.widgets import Input, RadioButton, SelectionList

from optllm_tui.app import make_app
from optllm_tui.settings import Settings

from .conftest import run_opened, show


async def test_radios_boxes_and_focus_show_in_the_characters(run_settings: Settings) -> None:
    app = make_app(run_settings)
    async with app.run_test(size=(100, 30)) as pilot:
        await run_opened(pilot)
        await show(pilot, "6")
        buttons = [str(b.render()) for b in app.screen.query(RadioButton)]
        assert buttons[0].startswith("(•)") and all(b.startswith("( )") for b in buttons[1:])

        path = app.screen.query_one("#export-path", Input)
        assert path.styles.border_top[0] != "round"
        path.focus()
        await pilot.pause()
        assert path.styles.border_top[0] == "round"
        await pilot.press("escape")  # leave the field, so 7 is a key, not text

        await show(pilot, "7")
        methods = app.screen.query_one(SelectionList)
        lines = [methods.render_line(y).text for y in range(methods.option_count)]
        chosen = set(methods.selected)
        for line, name in zip(lines, [methods.get_option_at_index(i).value
                                      for i in range(methods.option_count)], strict=True):
            assert line.startswith("[x] " if name in chosen else "[ ] "), line
        assert chosen and len(chosen) < methods.option_count
