"""The optimiser's iteration log: a DataTable that only ever appends rows."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from textual.widgets import DataTable

from optllm_tui.formatting import ratio, usd

if TYPE_CHECKING:
    from optllm.optimizers.api import StepEvent


class RunLog(DataTable[str]):
    """One row per destruct / reconstruct step; the cursor marks the step on the plot."""

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        self.add_columns("step", "side", "phase", "cost", "exp. acc", "changed")

    def append(self, events: Iterable[StepEvent]) -> None:
        for event in events:
            self.add_row(str(event.step), event.side, event.phase, usd(event.cost),
                         ratio(event.accuracy, 4), f"{event.n_changed:,}", key=str(event.step))

    def show_step(self, index: int | None) -> None:
        """Put the cursor on row `index` (None: no rows) and keep it in view."""
        if index is not None and index < self.row_count:
            self.move_cursor(row=index, animate=False, scroll=True)
