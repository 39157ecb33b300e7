"""Screen 3: run the optimiser step by step, watch its log and the front growing, and step
back through the recorded steps."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Container, Horizontal
from textual.widgets import Input, Label, Select, Static

from optllm.optimizers.registry import METHODS as REGISTERED
from optllm.optimizers.registry import RUN_METHODS
from optllm_tui.commands import bindings_for
from optllm_tui.formatting import plural
from optllm_tui.screens.base import ModeScreen
from optllm_tui.session import Change, Topic
from optllm_tui.widgets.pareto_plot import MAX_PLOT_POINTS, ParetoPlot, PlotData
from optllm_tui.widgets.run_log import RunLog

#: (label, name) of every method a run takes, from the registry.
METHODS = tuple((f"{name} ({REGISTERED[name].short})", name) for name in RUN_METHODS)


class OptimiseScreen(ModeScreen):
    SCOPE = "optimise"
    BINDINGS = bindings_for("optimise")
    AUTO_FOCUS = "#log"

    def __init__(self) -> None:
        super().__init__()
        self._plotted: object = None

    def compose_body(self) -> ComposeResult:
        config = self.session.config
        with Horizontal(id="opt-params"):
            yield Label("method")
            yield Select(METHODS, value=config.method, allow_blank=False, id="method",
                         compact=True)
            yield Label("density")
            yield Input(str(config.density), type="integer", id="density", compact=True)
        yield Static("", id="opt-status", markup=False)
        with Container(id="opt-main"):
            yield RunLog(id="log")
            yield ParetoPlot(id="live-plot")

    @on(Select.Changed, "#method")
    def _method(self, event: Select.Changed) -> None:
        if event.value != self.session.config.method:
            self.opt_app.set_optimiser_params(method=str(event.value))

    @on(Input.Submitted, "#density")
    def _density(self, event: Input.Submitted) -> None:
        try:
            density = int(event.value)
        except ValueError:
            self.opt_app.report_error("optimise",
                                      f"density must be a whole number; got {event.value!r}")
            return
        if self.opt_app.set_optimiser_params(density=density):
            self.query_one(RunLog).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        session = self.session
        shown = session.shown_step
        finished = session.front is not None
        if action in ("step", "run"):
            return (session.prediction is not None and not finished) or None
        if action == "pause":
            return (session.running or session.queued_steps > 0) or None
        if action == "reset":
            return (bool(session.events) or finished) or None
        if action == "back":
            return (shown is not None and shown > 0) or None
        if action == "forward":
            return (shown is not None and shown < len(session.events) - 1) or None
        if action == "follow":
            return session.view_step is not None or None
        return True

    def action_step(self) -> None:
        self.opt_app.optimiser_advance(1)

    def action_run(self) -> None:
        self.opt_app.optimiser_advance(None)

    def action_pause(self) -> None:
        self.opt_app.optimiser_pause()

    def action_reset(self) -> None:
        self.opt_app.optimiser_reset()

    def action_back(self) -> None:
        self._view(-1)

    def action_forward(self) -> None:
        self._view(1)

    def action_follow(self) -> None:
        self.session.view_step = None
        self._sync()
        self.refresh_bindings()

    def _view(self, delta: int) -> None:
        """Step through the recorded steps; reaching the newest one follows live again."""
        shown = self.session.shown_step
        if shown is None:
            return
        target = max(0, min(len(self.session.events) - 1, shown + delta))
        self.session.view_step = None if target == len(self.session.events) - 1 else target
        self._sync()
        self.refresh_bindings()

    def redraw(self, change: Change) -> None:
        if change.topic == Topic.FAILED and change.group == "optimise":
            status = self.query_one("#opt-status", Static)
            status.update(change.text)
            status.set_classes("error")
        elif change.topic in (Topic.ALL, Topic.DATASET, Topic.PREDICTION, Topic.OPTIMISER,
                              Topic.STEPS, Topic.FRONT):
            if change.group == "run":
                self.query_one("#method", Select).value = self.session.config.method
                self.query_one("#density", Input).value = str(self.session.config.density)
            self._sync()

    def _sync(self) -> None:
        session = self.session
        log = self.query_one(RunLog)
        if log.row_count > len(session.events):
            log.clear()
        log.append(session.events[log.row_count:])
        shown = session.shown_step
        log.show_step(shown)
        status = self.query_one("#opt-status", Static)
        status.update(self._status_text())
        status.set_classes("")
        plot = self.query_one(ParetoPlot)
        if shown is None:
            # No step to show (reset, or a run opened without its steps): no step's title.
            self._plotted = None
            plot.show_data(None, "no steps yet" if session.prediction else "train first")
            plot.border_title = ""
            return
        event = session.events[shown]
        if self._plotted is event:  # new steps arrived while an older one is on show
            return
        self._plotted = event
        hull_cost = hull_accuracy = None
        if session.hull is not None:
            points = session.hull.thin(MAX_PLOT_POINTS)
            hull_cost, hull_accuracy = session.hull.cost[points], session.hull.accuracy[points]
        plot.show_data(PlotData(event.front_cost, event.front_accuracy, None, hull_cost,
                                hull_accuracy, (), (event.cost, event.accuracy),
                                f"step {event.step}"))
        plot.border_title = f"step {event.step}: {event.side} {event.phase}"

    def _status_text(self) -> str:
        session = self.session
        if session.prediction is None:
            return "Train the predictor first (screen 2)."
        total = session.stepper.total if session.stepper is not None else None
        done = len(session.events)
        if session.front is not None and not done:
            text = (f"Front of {len(session.front):,} points from a run file; x clears it "
                    "to run again.")
        elif session.front is not None:
            text = (f"Done: {plural(done, 'step')}, {len(session.front):,} points on the front "
                    f"({session.front.status}).")
        elif session.running:
            text = f"Running: step {done} of {total}. p pauses."
        elif self.opt_app.jobs.running("optimise"):
            text = f"Stepping: step {done} of {total} done"
            if session.queued_steps:
                text += (f", {plural(session.queued_steps, 'more step')} queued"
                         " (p cancels them)")
            text += "."
        elif done:
            text = f"Paused at step {done} of {total}."
        else:
            text = "Ready: s takes a step, r runs to the end."
        if session.view_step is not None:
            text += f" Viewing step {session.view_step + 1} (f: live)."
        return text
