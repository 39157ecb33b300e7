"""F1: every key of every screen, from the command registry."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label

from optllm_tui.commands import COMMANDS, SCOPE_TITLES


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,f1,q", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="help") as box:
            box.border_title = "Keys"
            yield DataTable(id="help-table", cursor_type="row", zebra_stripes=True)
            yield Label("Escape, F1 or q closes. ctrl+p finds any command by name.",
                        classes="hint")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("where", "keys", "what")
        for command in COMMANDS:
            keys = " / ".join(self.app.get_key_display(Binding(key, ""))
                              for key in command.keys.split(","))
            table.add_row(SCOPE_TITLES[command.scope], keys, command.title)
        table.focus()
