"""Small dialogs: ask for one value, or confirm an overwrite. Each answers once, however
fast keys arrive (see `textual_fixes`)."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label

from optllm_tui.widgets.path_input import PathInput


class ValueModal(ModalScreen[str | None]):
    """One line of input; Enter returns it, Escape returns None. With `required` (what to
    type, e.g. "a file path"), Enter on an empty field says so and the dialog stays; with
    `path`, Tab completes file names."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, prompt: str, value: str, required: str = "",
                 path: bool = False) -> None:
        super().__init__()
        self._title, self._prompt, self._value = title, prompt, value
        self._required, self._path = required, path

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as box:
            box.border_title = self._title
            yield Label(self._prompt, markup=False)
            yield (PathInput if self._path else Input)(self._value, id="value")
            hint = "Tab completes, " if self._path else ""
            yield Label(f"{hint}Enter accepts, Escape cancels.", classes="hint",
                        id="value-hint")

    @on(Input.Submitted)
    def _accept(self, event: Input.Submitted) -> None:
        if self._required and not event.value.strip():
            hint = self.query_one("#value-hint", Label)
            hint.update(f"Type {self._required} first (Escape cancels).")
            hint.set_classes("error")
            return
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmModal(ModalScreen[bool]):
    """A yes/no question; y or Enter on Yes confirms, n or Escape declines."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, title: str, question: str) -> None:
        super().__init__()
        self._title, self._question = title, question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as box:
            box.border_title = self._title
            yield Label(self._question, markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Yes (y)", id="yes", variant="warning")
                yield Button("No (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)
