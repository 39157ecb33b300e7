"""The limits editor of the Front screen: per model at most N queries, at most USD spent,
at least a share of the queries; Apply puts the front under them in a worker (the same
`optllm.pipeline.limits.limited_front` as `optllm run --cap/--max-spend/--min-share`)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, ClassVar, cast

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from optllm.config import parse_limit
from optllm.exceptions import ConfigError
from optllm_tui.formatting import literal
from optllm_tui.messages import ProgressMessage
from optllm_tui.session import Change, Topic

if TYPE_CHECKING:
    from optllm_tui.app import OptLLMApp

#: The editor's columns: (limit kind, heading, placeholder).
COLUMNS = (("max_queries", "cap (queries)", "no cap"),
           ("max_spend", "max spend (USD)", "no limit"),
           ("min_share", "min share (0-1)", "no minimum"))
#: Seconds between two redraws of the status line while the front is computed, so it
#: moves at least once a second even while the library is inside one long solve.
TICK = 0.5
HINT = ("Blank: no limit. Enter or Apply puts the front under the limits; Escape cancels "
        "(or stops the computation).")


def field_id(row: int, kind: str) -> str:
    return f"limit-{row}-{kind}"


class LimitsScreen(ModalScreen[None]):
    """One row per model of the loaded data; a value the command would refuse is named
    under its row with the command's own message, and Apply waits until none is left."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Cancel")]

    def __init__(self, models: tuple[str, ...],
                 limits: dict[str, dict[str, float]] | None) -> None:
        super().__init__()
        self._models = models
        self._given = limits or {}
        #: The refused fields' messages by field id.
        self.errors: dict[str, str] = {}
        self._started: float | None = None
        self._progress = ""

    @property
    def opt_app(self) -> OptLLMApp:
        return cast("OptLLMApp", self.app)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="limits") as box:
            box.border_title = "Limits"
            with Horizontal(classes="limits-row limits-head"):
                yield Label("model", classes="limits-model")
                for _, heading, _ in COLUMNS:
                    yield Label(heading, classes="limits-heading")
            with VerticalScroll(id="limits-rows"):
                for row, model in enumerate(self._models):
                    with Horizontal(classes="limits-row"):
                        yield Label(literal(model), classes="limits-model")
                        for kind, _, placeholder in COLUMNS:
                            value = self._given.get(kind, {}).get(model)
                            yield Input("" if value is None else f"{value:g}",
                                        placeholder=placeholder, id=field_id(row, kind),
                                        classes="limits-field", compact=True)
                    yield Static("", id=f"limit-{row}-error", classes="limits-error error",
                                 markup=False)
            yield Static(HINT, id="limits-status", classes="hint", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Apply", id="apply", variant="primary", compact=True)
                yield Button("Clear all", id="clear", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.opt_app.session_changed.subscribe(self, self._on_change)
        self.set_interval(TICK, self._tick)
        if self._models:
            self.query_one(f"#{field_id(0, COLUMNS[0][0])}", Input).focus()

    # -------------------------------------------------------------- checking

    @on(Input.Changed, ".limits-field")
    def _changed(self, event: Input.Changed) -> None:
        if event.input.id is not None:
            self._check(event.input.id, event.value)
            self._show_row_errors(int(event.input.id.split("-")[1]))

    def _check(self, field: str, text: str) -> float | None:
        """The field's value (None when blank), or None with its error recorded."""
        _, row, kind = field.split("-", 2)
        self.errors.pop(field, None)
        if not text.strip():
            return None
        try:
            return parse_limit(kind, self._models[int(row)], text.strip())
        except ConfigError as exc:
            self.errors[field] = str(exc)
            return None

    def _show_row_errors(self, row: int) -> None:
        text = "\n".join(self.errors[field_id(row, kind)] for kind, _, _ in COLUMNS
                         if field_id(row, kind) in self.errors)
        error = self.query_one(f"#limit-{row}-error", Static)
        error.update(text)
        error.display = bool(text)

    def limits(self) -> dict[str, dict[str, float]] | None:
        """The typed limits as `RunConfig.limits`, or None when a field is refused (each
        refused field named under its row)."""
        limits: dict[str, dict[str, float]] = {}
        for row, model in enumerate(self._models):
            for kind, _, _ in COLUMNS:
                field = self.query_one(f"#{field_id(row, kind)}", Input)
                value = self._check(field_id(row, kind), field.value)
                if value is not None:
                    limits.setdefault(kind, {})[model] = value
            self._show_row_errors(row)
        return None if self.errors else limits

    # -------------------------------------------------------------- actions

    @on(Input.Submitted)
    @on(Button.Pressed, "#apply")
    def apply(self) -> None:
        if self._started is not None:
            return
        limits = self.limits()
        if limits is None:
            refused = len(self.errors)
            self.status(f"Not applied: {refused} value{'s' if refused > 1 else ''} "
                        "refused (named under the rows). Fix or blank them first.", "error")
            return
        if not limits:
            self.clear()
            return
        if self.opt_app.apply_limits(limits):
            self._started = time.monotonic()
            self._progress = ""
            self._tick()

    @on(Button.Pressed, "#clear")
    def clear(self) -> None:
        """Blank every field and go back to the unconstrained front."""
        for field in self.query(".limits-field").results(Input):
            field.value = ""
        self.opt_app.clear_limits()
        self.dismiss(None)

    @on(Button.Pressed, "#cancel")
    def action_close(self) -> None:
        """Escape: stop a computation under way (the dialog stays), else close."""
        if self._started is not None and self.opt_app.cancel_limits():
            return
        self.dismiss(None)

    # -------------------------------------------------------------- showing

    def status(self, text: str, kind: str = "") -> None:
        status = self.query_one("#limits-status", Static)
        status.update(text)
        status.set_classes(f"hint {kind}".strip())

    def _tick(self) -> None:
        if self._started is None:
            return
        text = f"Putting the front under the limits{self._progress}"
        if self.opt_app.settings.show_timings:
            text += f" ({time.monotonic() - self._started:.0f} s)"
        self.status(f"{text} ... Escape stops it.")

    def _on_change(self, change: Change) -> None:
        if change.topic == Topic.LIMITS_PROGRESS and isinstance(change.payload,
                                                                ProgressMessage):
            progress = change.payload
            self._progress = f": {progress.stage} {progress.done}/{progress.total}"
            self._tick()
        elif change.topic == Topic.LIMITS and self._started is not None:
            self._started = None
            if change.group == "applied":
                self.dismiss(None)
            else:
                self.status(change.text)
        elif change.topic == Topic.FAILED and change.group == "limits":
            self._started = None
            self.status(change.text, "error")

