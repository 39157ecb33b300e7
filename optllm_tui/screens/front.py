"""Screen 4: the Pareto front; move along it, or jump to a budget or a target accuracy."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll

from optllm.config import parse_accuracy, parse_usd
from optllm.exceptions import ConfigError
from optllm_tui.commands import bindings_for
from optllm_tui.formatting import literal
from optllm_tui.screens.base import ModeScreen
from optllm_tui.screens.modals import ValueModal
from optllm_tui.session import Change, Topic
from optllm_tui.widgets.pareto_plot import MAX_PLOT_POINTS, ParetoPlot, PlotData
from optllm_tui.widgets.point_panel import PointPanel

#: Share of the front's points one PageUp / PageDown moves.
JUMP_SHARE = 0.05


class FrontScreen(ModeScreen):
    SCOPE = "front"
    BINDINGS = bindings_for("front")

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="front"):
            yield ParetoPlot(id="front-plot")
            # Not focusable: its arrow keys would shadow the screen's point keys.
            with VerticalScroll(id="point-box", classes="side", can_focus=False):
                yield PointPanel("", id="point", markup=False)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("move", "jump", "move_to", "budget", "target", "open_allocation",
                      "limits"):
            return self.session.front is not None or None
        return True

    def action_limits(self) -> None:
        """c: the limits editor, one row per model of the data the front allocates."""
        from optllm_tui.screens.limits import LimitsScreen

        allocated = self.session.allocated
        if self.session.front is not None and allocated is not None:
            self.app.push_screen(LimitsScreen(allocated.models, self.session.limits))

    def action_move(self, delta: int) -> None:
        if self.session.selected is not None:
            self.opt_app.select_point(self.session.selected + delta)

    def action_jump(self, direction: int) -> None:
        front = self.session.shown_front
        if front is not None and self.session.selected is not None:
            step = max(1, round(JUMP_SHARE * len(front)))
            self.opt_app.select_point(self.session.selected + direction * step)

    def action_move_to(self, index: int) -> None:
        front = self.session.shown_front
        if front is not None:
            self.opt_app.select_point(index % len(front))

    def action_budget(self) -> None:
        front = self.session.shown_front
        if front is not None:
            self._ask("Budget", f"Budget in USD (the front runs from ${front.cost[0]:,.4f} "
                      f"to ${front.cost[-1]:,.4f})", parse_usd, self.opt_app.select_budget)

    def action_target(self) -> None:
        front = self.session.shown_front
        if front is not None:
            self._ask("Target accuracy", "Target expected accuracy, a fraction (0.85) or a "
                      f"percentage (85%); the front reaches {front.accuracy[-1]:.4f}",
                      parse_accuracy, self.opt_app.select_target)

    def _ask(self, title: str, prompt: str, parse: Callable[[str], float],
             choose: Callable[[float], None]) -> None:
        """Ask for a value in a modal; a typed value that `parse` refuses is reported with
        the library's reason (the command gives the same one)."""
        def entered(text: str | None) -> None:
            if not text:
                return
            try:
                value = parse(text)
            except ConfigError as exc:
                self.opt_app.report_error("front", str(exc))
                return
            choose(value)

        self.app.push_screen(ValueModal(title, prompt, ""), entered)

    def action_open_allocation(self) -> None:
        self.opt_app.show_screen("allocation")

    def redraw(self, change: Change) -> None:
        if change.topic in (Topic.ALL, Topic.DATASET, Topic.PREDICTION, Topic.FRONT,
                            Topic.SELECTION, Topic.DETAILS):
            self._sync()

    def _sync(self) -> None:
        session = self.session
        front, k = session.shown_front, session.selected
        plot = self.query_one(ParetoPlot)
        panel = self.query_one(PointPanel)
        if front is None or k is None:
            plot.show_data(None, "no front yet: run the optimiser (screen 3)")
            plot.border_title = "Pareto front"
            panel.show(None, 0, "Run the optimiser (screen 3) to get a front.")
            return
        unconstrained = session.front
        assert unconstrained is not None
        points = unconstrained.thin(MAX_PLOT_POINTS)
        evaluation = session.evaluation
        hull = session.hull
        hull_points = hull.thin(MAX_PLOT_POINTS) if hull is not None else None
        limited = session.limited
        plot.show_data(PlotData(
            unconstrained.cost[points], unconstrained.accuracy[points],
            # Under limits, the true accuracy of the unconstrained front is no choice.
            evaluation.true_accuracy[points] if evaluation is not None and limited is None
            else None,
            hull.cost[hull_points] if hull is not None else None,
            hull.accuracy[hull_points] if hull is not None else None,
            tuple((s.model, s.cost, s.true_accuracy) for s in evaluation.singles)
            if evaluation is not None else (),
            (float(front.cost[k]), float(front.accuracy[k])), "chosen",
            front.cost if limited is not None else None,
            front.accuracy if limited is not None else None))
        title = f"Pareto front ({unconstrained.method}, {len(unconstrained):,} points)"
        if limited is not None:
            title = f"Front under limits ({unconstrained.method}, {len(front):,} points)"
        plot.border_title = literal(title)
        details = session.details if session.details and session.details.index == k else None
        limits = session.point_limits
        panel.show(details, len(front), f"Point {k + 1} of {len(front):,}\n...",
                   limits[1] if limits is not None and limits[0] == k else None)
