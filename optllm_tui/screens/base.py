"""What every one of the seven screens shares: header, footer, too-small notice, and
redrawing from the session when it changes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, cast

from textual import events
from textual.app import ComposeResult
from textual.containers import Container
from textual.screen import Screen
from textual.widgets import Header, Static

from optllm_tui.commands import SCREENS
from optllm_tui.session import Change, Topic
from optllm_tui.widgets.key_footer import KeyFooter

if TYPE_CHECKING:
    from optllm_tui.app import OptLLMApp
    from optllm_tui.session import Session

TOO_SMALL = "The terminal is too small for OptLLM.\nPlease make it at least 60 x 18."


class ModeScreen(Screen[None]):
    """Base of the seven screens. Changes that arrive while another screen is shown are
    kept and drawn when this one comes back (no work for screens nobody looks at), except
    those of topics in IGNORES: the screen draws nothing for them.

    Subclasses' own `on_mount` and `on_screen_resume` must not call `super()`: Textual
    calls the handler of every class in the MRO, the subclass's first."""

    SCOPE: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """The title from the screen registry (`optllm_tui.commands.SCREENS`) by SCOPE."""
        super().__init_subclass__(**kwargs)
        cls.TITLE = next(f"OptLLM - {key} {title}" for mode, key, title in SCREENS
                         if mode == cls.SCOPE)
    IGNORES: ClassVar[frozenset[Topic]] = frozenset(
        {Topic.COMPARE, Topic.COMPARE_PROGRESS, Topic.COMPARE_FRONT, Topic.LIMITS_PROGRESS})

    def __init__(self) -> None:
        super().__init__()
        self._pending: list[Change] = []

    @property
    def opt_app(self) -> OptLLMApp:
        return cast("OptLLMApp", self.app)

    @property
    def session(self) -> Session:
        return self.opt_app.session

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="")
        with Container(id="body"):
            yield from self.compose_body()
        yield Static(TOO_SMALL, id="too-small")
        yield KeyFooter(compact=True)

    def compose_body(self) -> ComposeResult:
        raise NotImplementedError

    def on_mount(self) -> None:
        self.opt_app.session_changed.subscribe(self, self._on_change)
        self.redraw(Change(Topic.ALL))

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        # Textual's own handler (run after this one) re-applies the whole stylesheet to
        # every widget of a resumed screen: a third of a screen switch. Nothing it would
        # change can go stale here: class changes apply at once, suspended or not, and a
        # new theme or resize is applied by the switch itself.
        event.refresh_styles = False
        pending, self._pending = self._pending, []
        if any(change.topic not in (Topic.PROGRESS, Topic.FAILED) for change in pending):
            opened = any(change.group == "run" for change in pending)
            self.redraw(Change(Topic.ALL, group="run" if opened else ""))
        for change in pending:
            if change.topic == Topic.FAILED:
                self.redraw(change)
        # Textual's handler then refreshes the bindings, hence the footer's keys

    def _on_change(self, change: Change) -> None:
        if self.is_current:
            self.redraw(change)
            self.refresh_bindings()  # keys may turn on or off (KeyFooter redraws only then)
        elif change.topic not in self.IGNORES:
            self._pending.append(change)

    def action_cycle_cost_scale(self) -> None:
        """`z` on the screens with a cost plot (Optimise, Front, Compare)."""
        from optllm_tui.widgets.pareto_plot import ParetoPlot

        self.notify(f"Cost axis: {self.query_one(ParetoPlot).cycle_cost_scale()}", timeout=3)

    def redraw(self, change: Change) -> None:
        """Bring the widgets up to date with the session for `change`."""
        raise NotImplementedError
