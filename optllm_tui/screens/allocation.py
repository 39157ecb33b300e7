"""Screen 5: the chosen point's allocation, one row per query, sortable and filterable.

Sorting and filtering happen with pyarrow compute in a worker; this screen only swaps in
the finished table.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Container
from textual.widgets import Input, Static

from optllm.data.texts import prefix_note
from optllm_tui.commands import bindings_for
from optllm_tui.formatting import ratio, usd
from optllm_tui.screens.base import ModeScreen
from optllm_tui.screens.modals import PickModal
from optllm_tui.session import Change, Topic
from optllm_tui.widgets.allocation_table import AllocationTable

SORTS: tuple[str | None, ...] = ("cost", "score", "uncertainty", None)
#: The most of a model name or filter text the header shows, so it fits 100 columns.
TITLE_NAME_WIDTH = 18


class AllocationScreen(ModeScreen):
    SCOPE = "allocation"
    BINDINGS = bindings_for("allocation")

    def __init__(self) -> None:
        super().__init__()
        self.sort: str | None = "cost"
        self.descending = False
        self.model: str | None = None
        #: Rows shown are those whose query text contains this (ignoring case).
        self.text: str | None = None

    def compose_body(self) -> ComposeResult:
        yield Static("", id="alloc-title", markup=False)
        yield Container(id="alloc-box")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("cycle_sort", "reverse", "cycle_model", "pick_model", "filter"):
            return self.session.front is not None or None
        if action == "clear_filter":
            return (self.text is not None or bool(self.query("#alloc-filter"))) or None
        return True

    def action_filter(self) -> None:
        """Open the filter field (mounted only while in use, so it never takes the focus
        from the table by itself)."""
        fields = self.query("#alloc-filter")
        if fields:
            fields.first().focus()
            return
        field = Input(self.text or "", placeholder="filter by query text: Enter applies, "
                      "Escape clears", id="alloc-filter", compact=True)
        self.query_one("#body").mount(field, after="#alloc-title")
        field.focus()
        self.refresh_bindings()

    @on(Input.Submitted, "#alloc-filter")
    def _apply_filter(self, event: Input.Submitted) -> None:
        # The header shows the filter in force; `/` brings the field back to change it.
        self.text = event.value.strip() or None
        event.input.remove()
        self._focus_table()
        self._request()

    def action_clear_filter(self) -> None:
        self.query("#alloc-filter").remove()
        self._focus_table()
        if self.text is not None:
            self.text = None
            self._request()
        self.refresh_bindings()

    def _focus_table(self) -> None:
        tables = self.query(AllocationTable)
        if tables:
            tables.first().focus()

    def action_pick_model(self) -> None:
        dataset = self.session.dataset
        if dataset is None:
            return
        choices: list[str | None] = [None, *dataset.models]

        def picked(index: int | None) -> None:
            if index is not None:
                self.model = choices[index]
                self._request()

        self.app.push_screen(PickModal("Show the queries of", ["all models", *dataset.models],
                                       choices.index(self.model)), picked)

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

    def _wanted(self) -> tuple[int | None, str | None, bool, str | None, str | None]:
        return (self.session.selected, self.sort, self.descending, self.model, self.text)

    def _request(self) -> None:
        if self.opt_app.request_allocation(self.sort, self.descending, self.model, self.text):
            self.query_one("#alloc-title", Static).update(self._title("building the table ..."))

    def redraw(self, change: Change) -> None:
        if change.topic not in (Topic.ALL, Topic.DATASET, Topic.PREDICTION, Topic.FRONT,
                                Topic.SELECTION, Topic.ALLOCATION):
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
        if view is None or (view.point, view.sort, view.descending, view.model,
                            view.text) != self._wanted():
            if change.topic != Topic.ALLOCATION:
                self._request()
            return
        box.remove_children()
        table = AllocationTable(view.backend)
        box.mount(table)
        if self.focused is None or not self.focused.is_attached:
            self.call_after_refresh(table.focus)
        shown = view.backend.row_count
        rows = f"{view.rows:,}" if view.rows == view.all_rows else (
            f"{view.rows:,} of {view.all_rows:,}")
        rows += " rows" if shown == view.rows else f" rows, first {shown:,} shown"
        note = f"\n{prefix_note(view.stripped_prefix)}" if view.stripped_prefix else ""
        title.update(self._title(rows) + note)

    def _title(self, rows: str) -> str:
        """One line at 100 columns (the footer names the keys): point, rows, order and
        the filters in force."""
        session = self.session
        front, k = session.shown_front, session.selected
        assert front is not None and k is not None
        order = "unsorted" if self.sort is None else (
            f"{self.sort} {'desc' if self.descending else 'asc'}")
        title = (f"Point {k + 1}/{len(front):,}: {usd(front.cost[k])}, exp. "
                 f"{ratio(front.accuracy[k])} | {rows} | {order} | "
                 f"model: {clip(self.model or 'all', TITLE_NAME_WIDTH)}")
        if self.text is not None:
            title += f' | text: "{clip(self.text, TITLE_NAME_WIDTH)}"'
        return title


def clip(text: str, width: int) -> str:
    """`text` cut to `width` characters, a final "~" marking the cut."""
    return text if len(text) <= width else text[:width - 1] + "~"
