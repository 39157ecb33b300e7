"""Screen 6: write the chosen allocation to CSV, Parquet or JSON Lines, atomically."""

from __future__ import annotations

import os

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Label, RadioSet, Static

from optllm.data.formats import EXTENSIONS, FORMAT_LABELS, split_extension, with_format
from optllm_tui.commands import bindings_for
from optllm_tui.formatting import ratio, typed_path, usd
from optllm_tui.screens.base import ModeScreen
from optllm_tui.session import Change, Topic
from optllm_tui.widgets.marks import MarkedRadioButton
from optllm_tui.widgets.path_input import PathInput

#: The radio buttons' formats, in order.
FORMATS = tuple(FORMAT_LABELS)
DEFAULT_NAME = "optllm-allocation"


class ExportScreen(ModeScreen):
    SCOPE = "export"
    BINDINGS = bindings_for("export")
    AUTO_FOCUS = "#format"

    def compose_body(self) -> ComposeResult:
        with Vertical(id="export"):
            yield Static("", id="export-what", markup=False)
            yield Label("Format", classes="heading")
            with RadioSet(id="format"):
                for index, kind in enumerate(FORMATS):
                    yield MarkedRadioButton(FORMAT_LABELS[kind], value=index == 0)
            yield Label("File", classes="heading")
            yield PathInput(os.path.join(self.opt_app.places.folder(),
                                         DEFAULT_NAME + EXTENSIONS[FORMATS[0]]),
                            id="export-path")
            yield Static("e or Enter writes it, whole or not at all; an existing file needs "
                         "a yes.", classes="hint")
            yield Static("", id="export-status", markup=False)

    @property
    def file_format(self) -> str:
        index = self.query_one("#format", RadioSet).pressed_index
        return FORMATS[max(0, index)]

    @on(RadioSet.Changed, "#format")
    def _format_changed(self, event: RadioSet.Changed) -> None:
        """Keep the file extension in step with the chosen format (a field left empty,
        or holding a folder, stays as it is)."""
        path_input = self.query_one("#export-path", Input)
        kind = FORMATS[event.index]
        if path_input.value.strip() and split_extension(path_input.value)[0] != kind:
            path_input.value = with_format(path_input.value, kind)

    @on(Input.Changed, "#export-path")
    def _name_changed(self, event: Input.Changed) -> None:
        """The typed extension decides the format: the radio follows it (the library
        refuses a name and a format that disagree, so the two never drift apart)."""
        kind = split_extension(event.value.strip())[0]
        if kind is not None and kind != self.file_format:
            buttons = self.query_one("#format", RadioSet).query(MarkedRadioButton)
            buttons[FORMATS.index(kind)].value = True

    @on(Input.Submitted, "#export-path")
    def _submitted(self) -> None:
        self.action_export()
        self.action_leave_field()  # so the screen keys (1-7, e) work again

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "export":
            return self.session.front is not None or None
        return True

    def action_export(self) -> None:
        text = self.query_one("#export-path", Input).value.strip()
        if not text:
            self._status("Type a file name first.", "error")
            return
        self.opt_app.export(typed_path(text), self.file_format, force=False)

    def action_leave_field(self) -> None:
        self.query_one("#format", RadioSet).focus()

    def _status(self, text: str, kind: str) -> None:
        status = self.query_one("#export-status", Static)
        status.update(text)
        status.set_classes(kind)

    def redraw(self, change: Change) -> None:
        if change.topic == Topic.EXPORTED:
            self._status(change.text, "ok")
        elif change.topic == Topic.EXPORTING:
            self._status(change.text, "")
        elif change.topic == Topic.FAILED and change.group == "export":
            self._status(change.text, "error")
        elif change.topic in (Topic.ALL, Topic.DATASET, Topic.PREDICTION, Topic.FRONT,
                              Topic.SELECTION):
            self.query_one("#export-what", Static).update(self._what())

    def _what(self) -> str:
        front, k = self.session.shown_front, self.session.selected
        if front is None or k is None:
            return "Nothing to export yet: run the optimiser (screen 3) and pick a point."
        point = (f"The allocation of point {k + 1} of {len(front):,} ({usd(front.cost[k])}, "
                 f"expected accuracy {ratio(front.accuracy[k])})")
        if self.session.limited is not None:
            point += " under the limits, with its summary.json (the limits' report) beside it"
        split = self.session.split
        if split is None:
            return f"{point}: {front.n_queries:,} rows."
        from optllm.config import allocated_rows_note

        return f"{point}: {allocated_rows_note(split.train.size, split.allocate.size)}."
