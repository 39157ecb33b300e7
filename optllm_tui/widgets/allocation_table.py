"""The allocation browser: a textual-fastdatatable table over an Arrow backend.

The backend (and its column widths) is built in a worker; this widget only displays it,
so a million-row allocation costs the UI thread one paint of the visible rows.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual.binding import Binding, BindingType
from textual_fastdatatable import DataTable


class AllocationTable(DataTable):
    """Row cursor, vim-style movement, markup off (query texts are shown literally)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("g", "cursor_table_start", "First row", show=False),
        Binding("G", "cursor_table_end", "Last row", show=False),
    ]

    def __init__(self, backend: Any, *, id: str | None = None) -> None:
        super().__init__(backend=backend, cursor_type="row", max_column_content_width=60,
                         render_markup=False, zebra_stripes=True, id=id)
