"""Screen 5: the chosen point's allocation, one row per query, sortable and filterable.

Sorting and filtering happen with pyarrow compute in a worker; this screen only swaps in
the finished table.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Container
from textual.widgets import Static

from optllm.texts import prefix_note
from optllm_tui.commands import bindings_for
from optllm_tui.formatting import ratio, usd
from optllm_tui.screens.base import Change, ModeScreen
from optllm_tui.widgets.allocation_table import AllocationTable

SORTS: tuple[str | None, ...] = ("cost", "score", "uncertainty", None)


class AllocationScreen(ModeScreen):
    SCOPE = "allocation"
    TITLE = "OptLLM - 5 Allocation"
    BINDINGS = bindings_for("allocation")

    def __init__(self) -> None:
        super().__init__()
        self.sort: str | None = "cost"
        self.descending = False
        self.model: str | None = None

    def compose_body(self) -> ComposeResult:
        yield Static("", id="alloc-title", markup=False)
        yield Container(id="alloc-box")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("cycle_sort", "reverse", "cycle_model"):
            return self.session.front is not None or None
        return True

    def action_cycle_sort(self) -> None:
        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        self._request()

    def action_reverse(self) -> None:
        self.descending = not self.descending
        self._request()

    def action_cycle_model(self) -> None:
        dataset = self.session.dataset
        if dataset is None:
            return
        choices: list[str | None] = [None, *dataset.models]
        self.model = choices[(choices.index(self.model) + 1) % len(choices)]
        self._request()

    def _wanted(self) -> tuple[int | None, str | None, bool, str | None]:
        return (self.session.selected, self.sort, self.descending, self.model)

    def _request(self) -> None:
        if self.opt_app.request_allocation(self.sort, self.descending, self.model):
            self.query_one("#alloc-title", Static).update(self._title("building the table ..."))

    def redraw(self, change: Change) -> None:
        if change.topic not in ("all", "dataset", "prediction", "front", "selection",
                                "allocation"):
            return
        session = self.session
        view = session.allocation_view
        box = self.query_one("#alloc-box", Container)
        title = self.query_one("#alloc-title", Static)
        if session.front is None or session.selected is None:
            box.remove_children()
            title.update("No allocation yet: run the optimiser (screen 3), then pick a "
                         "point (screen 4).")
            return
        if view is None or (view.point, view.sort, view.descending, view.model) != self._wanted():
            if change.topic != "allocation":
                self._request()
            return
        box.remove_children()
        table = AllocationTable(view.backend)
        box.mount(table)
        if self.focused is None or not self.focused.is_attached:
            self.call_after_refresh(table.focus)
        shown = view.backend.row_count
        rows = f"{view.rows:,} rows" if shown == view.rows else (
            f"showing the first {shown:,} of {view.rows:,} rows")
        if view.model is not None:
            rows += f" (model {view.model}, of {view.all_rows:,})"
        note = f"\n{prefix_note(view.stripped_prefix)}" if view.stripped_prefix else ""
        title.update(self._title(rows) + note)

    def _title(self, rows: str) -> str:
        session = self.session
        front, k = session.front, session.selected
        assert front is not None and k is not None
        order = "unsorted" if self.sort is None else (
            f"by {self.sort} {'desc' if self.descending else 'asc'}")
        return (f"Point {k + 1} of {len(front):,}: {usd(front.cost[k])}, expected "
                f"{ratio(front.accuracy[k])} | {rows} | {order} (o, r) | "
                f"model: {self.model or 'all'} (m)")
