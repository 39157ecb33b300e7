"""Screen 7: methods side by side on the loaded dataset (`optllm.pipeline.compare`): their fronts
overlaid on one plot, moving generation by generation for the evolutionary ones, and a
table of how close each comes to the true front."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from textual import events, on
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical
from textual.widgets import DataTable, Input, Label, SelectionList, Static
from textual.widgets.selection_list import Selection

from optllm_tui.commands import bindings_for
from optllm_tui.formatting import percent, ratio, seconds
from optllm_tui.screens.base import ModeScreen
from optllm_tui.session import Change, Topic
from optllm_tui.widgets.compare_plot import ComparePlot, Series, style
from optllm_tui.widgets.marks import MarkedSelectionList

if TYPE_CHECKING:
    import pandas as pd

#: Selected when the screen opens: every method that needs no pymoo.
DEFAULT_METHODS = ("optllm", "hull", "single", "random", "oracle", "prior")
#: The app's budget for the evolutionary methods: a few seconds on 16,000 queries
#: (the library's default, the paper's 100 x 200, takes 15 to 25 s a run).
DEFAULT_POP_SIZE = 40
DEFAULT_GENERATIONS = 50
#: (id, label, default) of the number fields.
FIELDS = (
    ("compare-seeds", "seeds", 1),
    ("compare-pop", "population", DEFAULT_POP_SIZE),
    ("compare-gens", "generations", DEFAULT_GENERATIONS),
)
#: (label, width, summary column or None, how to write it) of the table's columns; below
#: WIDE terminal columns only the first NARROW_COLUMNS are shown, so none is cut.
WIDE = 120
NARROW_COLUMNS = 7
COLUMNS: tuple[tuple[str, int, str | None, Callable[[float], str]], ...] = (
    ("", 1, None, str),
    ("method", 8, None, str),
    ("HV", 5, "hypervolume", ratio),
    ("IGD", 6, "igd", ratio),
    ("saving", 6, "cost_saving_at_best_accuracy", percent),
    ("best acc", 8, "best_true_accuracy", ratio),
    ("points", 7, "points", lambda x: f"{x:,.0f}"),
    ("spread", 6, "spread", ratio),
    ("acc gain", 8, "accuracy_gain_at_best_cost", lambda x: f"{100 * x:+.1f}pp"),
)
TIME_COLUMN = ("time", 7, "runtime_s", seconds)


def _cell(value: float, write: Callable[[float], str]) -> str:
    return "-" if math.isnan(value) else write(value)


class CompareScreen(ModeScreen):
    SCOPE = "compare"
    BINDINGS = bindings_for("compare")
    AUTO_FOCUS = "#compare-methods"
    IGNORES: ClassVar[frozenset[Topic]] = frozenset(
        {Topic.PROGRESS, Topic.STEPS, Topic.SELECTION, Topic.DETAILS, Topic.ALLOCATION})

    def __init__(self) -> None:
        super().__init__()
        self.highlight: str | None = None
        self.true_axis = True
        self._tabled: tuple[object, ...] | None = None

    def compose_body(self) -> ComposeResult:
        from optllm.optimizers.registry import METHODS
        from optllm.pipeline.compare import pymoo_available

        with_pymoo = pymoo_available()
        selections = []
        for name, method in METHODS.items():
            missing = method.needs_pymoo and not with_pymoo
            selections.append(Selection(f"{name} (no pymoo)" if missing else name, name,
                                        name in DEFAULT_METHODS, disabled=missing))
        with Horizontal(id="compare"):
            with Vertical(id="compare-side"):
                yield Label("Methods (space)", classes="heading")
                yield MarkedSelectionList(*selections, id="compare-methods", compact=True)
                with Grid(id="compare-grid"):
                    for field_id, label, default in FIELDS:
                        yield Label(label)
                        yield Input(str(default), type="integer", id=field_id, compact=True,
                                    select_on_focus=False)
                yield Static("", id="compare-about", classes="hint", markup=False)
            with Vertical(id="compare-main"):
                yield Static("", id="compare-status", markup=False)
                yield ComparePlot(id="compare-plot")
                yield DataTable(id="compare-table", cursor_type="row", zebra_stripes=True)

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        self._show_status()  # the run config may have changed on screen 2

    def on_resize(self) -> None:
        self._show_table()  # the columns that fit the width

    @on(SelectionList.SelectionHighlighted, "#compare-methods")
    def _describe(self, event: SelectionList.SelectionHighlighted) -> None:
        from optllm.optimizers.registry import METHODS

        name = event.selection.value
        self.query_one("#compare-about", Static).update(
            f"{name}: {METHODS[name].description}.")

    @on(Input.Submitted)
    def _leave_field(self) -> None:
        self.query_one(SelectionList).focus()

    # ------------------------------------------------------------------ keys

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        running = self.session.compare_state.phase == "running"
        if action == "run":
            return (self.session.dataset is not None and not running) or None
        if action == "cancel":
            return running or None
        if action == "cycle_highlight":
            return bool(self.session.compare_fronts) or None
        return True

    def action_run(self) -> None:
        from optllm.optimizers.registry import METHODS

        values = []
        for field_id, label, _ in FIELDS:
            text = self.query_one(f"#{field_id}", Input).value.strip()
            try:
                values.append(int(text))
            except ValueError:
                self.opt_app.report_error(
                    "compare", f"{label} must be a whole number; got {text!r}")
                return
        chosen = set(self.query_one(SelectionList).selected)
        self.highlight = None
        self.opt_app.start_compare([name for name in METHODS if name in chosen], *values)

    def action_cancel(self) -> None:
        self.opt_app.cancel_compare()

    def action_cycle_highlight(self) -> None:
        choices: list[str | None] = [None, *self.session.compare_fronts]
        current = choices.index(self.highlight) if self.highlight in choices else 0
        self.highlight = choices[(current + 1) % len(choices)]
        self._show_plot()
        self._point_table()

    def action_toggle_axis(self) -> None:
        self.true_axis = not self.true_axis
        self._show_plot()

    # ---------------------------------------------------------------- redraw

    def redraw(self, change: Change) -> None:
        topic = change.topic
        if topic == Topic.FAILED and change.group == "compare":
            self._say(change.text, "error")
        elif topic == Topic.COMPARE_PROGRESS:
            self._show_status()
        elif topic == Topic.COMPARE_FRONT:
            self._show_plot()
        elif topic in (Topic.ALL, Topic.DATASET, Topic.COMPARE):
            self._show_status()
            self._show_plot()
            self._show_table()

    def _say(self, text: str, kind: str = "") -> None:
        status = self.query_one("#compare-status", Static)
        status.update(text)
        status.set_classes(kind)

    def _show_status(self) -> None:
        session = self.session
        state = session.compare_state
        dataset = session.dataset
        if state.phase == "running":
            self._say(f"Running, {state.runs_done}/{state.runs_total} runs done: {state.text}. "
                      "Esc cancels.")
        elif state.phase == "failed":
            self._say(state.text, "error")
        elif state.phase == "cancelled":
            self._say(f"Cancelled after {state.runs_done} of {state.runs_total} runs.")
        elif state.phase == "done" and session.comparison is not None:
            c = session.comparison
            seeds = (f"seed {c.seeds[0]}" if len(c.seeds) == 1 else
                     f"{len(c.seeds)} seeds from {c.seeds[0]} (table: medians; plot: "
                     f"seed {c.seeds[-1]})")
            self._say(f"Done: {len(c.runs)} runs on {c.n_allocated:,} queries x "
                      f"{len(c.models)} models, {seeds}.", "ok")
        elif dataset is None:
            self._say("Load a dataset first (screen 1).")
        elif not dataset.labelled.all():
            self._say(f"{dataset.title}: {dataset.n_queries - dataset.n_labelled:,} of "
                      f"{dataset.n_queries:,} queries have no labels; comparing needs every "
                      "label (the true front).", "error")
        else:
            config = session.config
            self._say(f"Ready: c compares the chosen methods on {dataset.title}, with screen "
                      f"2's settings (train frac. {config.train_fraction:g}, "
                      f"{config.bootstraps} bootstraps, seed {config.seed}).")

    def _show_plot(self) -> None:
        fronts = self.session.compare_fronts
        series = [Series(update.method, update.cost,
                         update.true_accuracy if self.true_axis else update.predicted_accuracy,
                         None if update.final else update.generation)
                  for update in fronts.values()]
        axis = "true" if self.true_axis else "predicted"
        plot = self.query_one(ComparePlot)
        plot.show_series(series, highlight=self.highlight,
                         empty_text="no fronts yet: c compares")
        seed = next(iter(fronts.values())).seed if fronts else None
        plot.border_title = (f"Fronts, {axis} accuracy (a)"
                             + (f", seed {seed}" if seed is not None else ""))

    def _columns(self) -> tuple[tuple[str, int, str | None, Callable[[float], str]], ...]:
        if self.app.size.width < WIDE:
            return COLUMNS[:NARROW_COLUMNS]
        return COLUMNS + ((TIME_COLUMN,) if self.opt_app.settings.show_timings else ())

    def _show_table(self) -> None:
        comparison, columns = self.session.comparison, self._columns()
        if self._tabled == (comparison, columns):
            return
        new_columns = self._tabled is None or self._tabled[1] != columns
        self._tabled = (comparison, columns)
        table = self.query_one("#compare-table", DataTable)
        table.clear(columns=new_columns)
        if new_columns:
            for label, width, _, _ in columns:
                table.add_column(label, width=width)
        if comparison is None:
            return
        summary: pd.DataFrame = comparison.summary()
        for row in summary.itertuples(index=False):
            method = str(row.method)
            cells = [style(method)[0], method]
            cells += [_cell(float(getattr(row, f"{column}_median")), write)
                      for _, _, column, write in columns[2:]]
            table.add_row(*cells, key=method)
        self._point_table()

    def _point_table(self) -> None:
        """Put the table's cursor on the highlighted method's row."""
        table = self.query_one("#compare-table", DataTable)
        if self.highlight is None or self.session.comparison is None:
            return
        methods = self.session.comparison.methods
        if self.highlight in methods:
            table.move_cursor(row=methods.index(self.highlight), animate=False)
