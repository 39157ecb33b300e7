"""Small dialogs: ask for one value, or confirm an overwrite. Each answers once, however
fast keys arrive (see `textual_fixes`)."""

from __future__ import annotations

from typing import ClassVar

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList

from optllm_tui.formatting import literal
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


class PickModal(ModalScreen[int | None]):
    """Pick one of `choices` from a list (arrows or typing j/k, Enter); returns its index,
    or None on Escape."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, choices: list[str], current: int) -> None:
        super().__init__()
        self._title, self._choices, self._current = title, choices, current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as box:
            box.border_title = self._title
            yield OptionList(*(literal(choice) for choice in self._choices), id="choices")
            yield Label("Enter picks, Escape cancels.", classes="hint")

    def on_mount(self) -> None:
        choices = self.query_one(OptionList)
        choices.highlighted = self._current
        choices.focus()

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option_index)

    def action_cancel(self) -> None:
        self.dismiss(None)


class WaitModal(ModalScreen[tuple[str, ...] | None]):
    """Shown while a screen waits for the training library: the keys typed meanwhile are
    kept for that screen (returned in order when `release` is called) instead of acting
    on the screen below. Escape gives up waiting (returns None)."""

    def __init__(self, title: str) -> None:
        super().__init__()
        self._title = title
        self._keys: list[str] = []

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as box:
            box.border_title = self._title
            yield Label("Loading the training library (a few seconds the first time); the "
                        "screen opens when it is ready.", markup=False)
            yield Label("Keys typed now are kept for it. Escape stays here.", classes="hint",
                        id="wait-keys")

    def on_key(self, event: events.Key) -> None:
        event.stop()
        event.prevent_default()
        if event.key == "escape":
            self.dismiss(None)
            return
        self._keys.append(event.key)
        self.query_one("#wait-keys", Label).update(
            f"Kept for the screen: {' '.join(self._keys)} (Escape stays here).")

    def release(self) -> None:
        """The library is there: close, handing over the keys typed meanwhile."""
        self.dismiss(tuple(self._keys))
