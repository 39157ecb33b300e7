"""F1: every key of every screen, from the command registry."""

from __future__ import annotations

from typing import ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label

from optllm_tui.commands import COMMANDS, SCOPE_TITLES

#: The narrowest the "what" column gets (its text wraps within it).
MIN_WHAT_WIDTH = 20
#: The dialog's width and max-width (#help and .dialog in app.tcss), and its thick
#: border plus padding across.
DIALOG_WIDTH, DIALOG_MAX_SHARE, DIALOG_FRAME = 100, 0.95, 2 + 4


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,f1,q", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="help") as box:
            box.border_title = "Keys"
            yield DataTable(id="help-table", cursor_type="row", zebra_stripes=True)
            yield Label("Escape, F1 or q closes. ctrl+p finds any command by name.",
                        classes="hint")

    def on_mount(self) -> None:
        self._fill(self.app.size.width)
        self.query_one(DataTable).focus()

    def on_resize(self, event: events.Resize) -> None:
        self._fill(event.size.width)

    def _fill(self, screen_width: int) -> None:
        """One row per command, the "what" column as wide as the table leaves it and its
        text wrapped to that width, so no help text is cut off at 80 columns. The table's
        width follows from the screen's (the dialog's size in app.tcss), so the rows are
        right at the first paint, not one layout later."""
        table = self.query_one(DataTable)
        table_width = min(DIALOG_WIDTH, int(screen_width * DIALOG_MAX_SHARE)) - DIALOG_FRAME
        rows = [(SCOPE_TITLES[command.scope],
                 " / ".join(self.app.get_key_display(Binding(key, ""))
                            for key in command.keys.split(",")),
                 command.title) for command in COMMANDS]
        where = max(len(row[0]) for row in rows)
        keys = max(len(row[1]) for row in rows)
        # 2 cells of padding per column, and room for the vertical scrollbar.
        what = max(MIN_WHAT_WIDTH, table_width - where - keys - 3 * 2 - 2)
        cursor = table.cursor_row
        table.clear(columns=True)
        table.add_column("where", width=where)
        table.add_column("keys", width=keys)
        table.add_column("what", width=what)
        for row in rows:
            table.add_row(*row, height=None)
        table.move_cursor(row=cursor)
