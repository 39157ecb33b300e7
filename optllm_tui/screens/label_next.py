"""The "Label next" dialog of the Predictor screen: which unlabelled queries to label next
and why, exported as a file to fill in; the filled-in file merged back and the predictor
retrained (optllm.pipeline.labelling does the work, in the app's jobs)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Label, Select, Static

from optllm_tui.formatting import literal
from optllm_tui.widgets.path_input import PathInput

if TYPE_CHECKING:
    import pyarrow as pa

    from optllm_tui.app import OptLLMApp

#: Queries chosen unless the user types another number.
DEFAULT_COUNT = 20
#: Characters of a query shown in the table (the whole text is in the exported file).
QUERY_PREVIEW = 60
HINT = ("Enter in a field: choose, export, or merge the filled-in file and retrain. "
        "Escape closes.")


class LabelNextScreen(ModalScreen[None]):
    """Choose, list, export; then merge the labelled file back and retrain."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Close")]

    def __init__(self, export_path: str = "label-next.csv") -> None:
        super().__init__()
        self._export_path = export_path
        self.picks: pa.Table | None = None

    @property
    def opt_app(self) -> OptLLMApp:
        return cast("OptLLMApp", self.app)

    def compose(self) -> ComposeResult:
        from optllm.config import DEFAULT_LABELLING_STRATEGY, LABELLING_STRATEGIES

        with Vertical(classes="dialog", id="label-next") as box:
            box.border_title = "Label next"
            with Grid(id="label-next-form"):
                yield Label("queries")
                yield Input(str(DEFAULT_COUNT), type="integer", id="count", compact=True)
                yield Label("strategy")
                yield Select([(s, s) for s in LABELLING_STRATEGIES],
                             value=DEFAULT_LABELLING_STRATEGY, allow_blank=False,
                             id="strategy", compact=True)
            yield Button("Choose", id="choose", compact=True)
            yield DataTable(id="picks", cursor_type="row", zebra_stripes=True)
            yield Label("export to", classes="field-label")
            yield PathInput(self._export_path, id="export-path", compact=True)
            yield Label("merge the labelled file", classes="field-label")
            yield PathInput("", id="merge-path", compact=True)
            with Horizontal(classes="buttons"):
                yield Button("Export", id="export", compact=True)
                yield Button("Merge and retrain", id="merge", compact=True)
            yield Static(HINT, classes="hint", id="label-status", markup=False)

    def on_mount(self) -> None:
        self.query_one("#picks", DataTable).add_columns("query_id", "why chosen", "query")
        self.query_one("#count", Input).focus()

    def status(self, text: str, kind: str = "") -> None:
        status = self.query_one("#label-status", Static)
        status.update(text)
        status.set_classes(f"hint {kind}".strip())

    def show_picks(self, table: pa.Table) -> None:
        """List the chosen queries with the reason for each."""
        self.picks = table
        picks = self.query_one("#picks", DataTable)
        picks.clear()
        for query_id, reason, query in zip(table["query_id"].to_pylist(),
                                           table["reason"].to_pylist(),
                                           table["query"].to_pylist(), strict=True):
            preview = query if len(query) <= QUERY_PREVIEW else query[:QUERY_PREVIEW] + "..."
            picks.add_row(literal(query_id), literal(reason), literal(preview))
        self.status(f"Chose {table.num_rows:,} queries. Export them, send them to every "
                    "model, judge the answers, fill in the label columns, then merge.")

    @on(Input.Submitted, "#count")
    @on(Button.Pressed, "#choose")
    def _choose(self) -> None:
        text = self.query_one("#count", Input).value.strip()
        try:
            count = int(text)
        except ValueError:
            self.status(f"queries must be a whole number; got {text!r}", "error")
            return
        strategy = str(self.query_one("#strategy", Select).value)
        if self.opt_app.choose_labels(count, strategy):
            self.status(f"Choosing {count:,} queries by {strategy} (training on the labelled "
                        "ones first) ...")

    @on(Input.Submitted, "#export-path")
    @on(Button.Pressed, "#export")
    def _export(self) -> None:
        path = self.query_one("#export-path", Input).value.strip()
        if self.picks is None:
            self.status("Choose the queries first.", "error")
        elif not path:
            self.status("Type the file to export to first.", "error")
        else:
            self.opt_app.export_picks(self.picks, path)

    @on(Input.Submitted, "#merge-path")
    @on(Button.Pressed, "#merge")
    def _merge(self) -> None:
        path = self.query_one("#merge-path", Input).value.strip()
        if not path:
            self.status("Type the path of the file with the labels filled in first.", "error")
            return
        self.opt_app.merge_labels(path)
        self.status(f"Reading {path} ...")

    def action_close(self) -> None:
        self.opt_app.jobs.cancel("label")
        self.dismiss(None)
