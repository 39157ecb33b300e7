"""Screen 1: choose the data (embedded default, recent files, a typed path) and preview it;
optionally a second file, a batch of new unlabelled queries to allocate, and a prices TOML
for their costs."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Input, Label, OptionList, Select, Static
from textual.widgets.option_list import Option

from optllm.data.texts import prefix_note
from optllm_tui.commands import bindings_for
from optllm_tui.formatting import display_path, literal, ratio, typed_path, unit_cost
from optllm_tui.screens.base import ModeScreen
from optllm_tui.session import Change, Topic
from optllm_tui.widgets.path_input import PathInput

PREVIEW_ROWS = 200
#: Characters of each query shown in the preview (one line; the full text is in exports).
PREVIEW_CHARS = 80
#: Rows of the batch shown under the dataset preview.
BATCH_PREVIEW_ROWS = 5
DEFAULT_OPTION = "default"


class DatasetsScreen(ModeScreen):
    SCOPE = "datasets"
    BINDINGS = bindings_for("datasets")
    AUTO_FOCUS = "#sources"

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="datasets"):
            with Vertical(id="sources-pane", classes="side"):
                yield Label("Sources", classes="heading")
                yield OptionList(id="sources")
                yield Label("Open a file (o)", classes="heading")
                yield PathInput(placeholder="data.csv / .parquet / .jsonl", id="path",
                                compact=True)
                yield Select([("detect layout", "auto"), ("wide layout", "wide"),
                              ("long layout", "long")], value="auto", allow_blank=False,
                             id="layout", compact=True)
                yield Static("", id="load-status", markup=False)
                yield Label("New queries, optional (a)", classes="heading")
                yield PathInput(placeholder="new queries .csv / .parquet / .jsonl",
                                id="batch-path", compact=True)
                yield PathInput(placeholder="prices .toml, optional (p)", id="prices-path",
                                compact=True)
                yield Static("", id="batch-status", markup=False)
            with Vertical(id="preview"):
                yield Static("", id="dataset-title", classes="heading", markup=False)
                yield DataTable(id="models", cursor_type="row", zebra_stripes=True)
                yield DataTable(id="queries", cursor_type="row", zebra_stripes=True)
                yield Static("", id="batch-preview", markup=False)

    def on_mount(self) -> None:
        # Fixed widths: rows arrive after the first paint, and a column that widens then
        # keeps showing cells cut at its first width.
        models = self.query_one("#models", DataTable)
        for label, width in (("model", 20), ("accuracy", 8), ("mean cost", 10), ("rows", 9)):
            models.add_column(label, width=width)
        queries = self.query_one("#queries", DataTable)
        queries.add_column("query_id", width=12)
        queries.add_column("query", width=PREVIEW_CHARS)
        self.query_one("#batch-preview", Static).display = False
        if self.opt_app.settings.layout:
            self.query_one("#layout", Select).value = self.opt_app.settings.layout

    def redraw(self, change: Change) -> None:
        if change.topic == Topic.LOADING:
            self._status(f"Loading {change.text} ...", "")
        elif change.topic == Topic.FAILED and change.group in ("load", "run"):
            self._status(change.text, "error")
        elif change.topic in (Topic.ALL, Topic.DATASET):
            self._fill_sources()
            self._fill_preview()
            if self.session.dataset is not None:
                self._status(f"Loaded {self.session.dataset.title}.", "ok")
        if change.topic == Topic.BATCH_LOADING:
            self._batch_status(f"Loading {change.text} ...", "")
        elif change.topic == Topic.FAILED and change.group == "batch":
            self._batch_status(change.text, "error")
        elif change.topic in (Topic.ALL, Topic.BATCH, Topic.PREDICTION):
            self._fill_batch()
            if change.topic == Topic.BATCH:
                batch = self.session.batch
                self._batch_status(
                    f"{len(batch[0]):,} queries to allocate." if batch is not None else
                    "No batch: the labelled dataset is split.", "ok")

    def _batch_status(self, text: str, kind: str) -> None:
        status = self.query_one("#batch-status", Static)
        status.update(text)
        status.set_classes(kind)

    def _fill_batch(self) -> None:
        """The batch preview: count, first rows, and where its costs come from."""
        session = self.session
        preview = self.query_one("#batch-preview", Static)
        preview.display = session.batch is not None
        if session.batch is None:
            preview.update("")
            return
        ids, queries, _ = session.batch
        prices = display_path(session.prices) if session.prices else "the bundled price table"
        lines = [f"Batch to allocate: {display_path(session.batch_source or '')}: "
                 f"{len(ids):,} new unlabelled queries. Training uses every labelled row "
                 "above; the batch is allocated.",
                 f"Its costs come from token counts x prices ({prices}), not billed costs; "
                 "no true accuracy can be measured."]
        for qid, text in zip(ids[:BATCH_PREVIEW_ROWS], queries[:BATCH_PREVIEW_ROWS],
                             strict=True):
            lines.append(f"  {str(qid)[:12]:<12} {' '.join(str(text).split())[:PREVIEW_CHARS]}")
        if session.cost_model is not None:
            costs = session.cost_model.as_dict()
            sources = ", ".join(f"{m['model']}: {m['price_source']}" for m in costs["models"])
            lines.append(f"Token counting: {costs['token_counting']}.")
            lines.append(f"Prices: {sources}.")
        preview.update("\n".join(lines))

    def _status(self, text: str, kind: str) -> None:
        status = self.query_one("#load-status", Static)
        status.update(text)
        status.set_classes(kind)

    def _fill_sources(self) -> None:
        sources = self.query_one("#sources", OptionList)
        highlighted = sources.highlighted
        sources.clear_options()
        sources.add_option(Option("Default (synthetic)", id=DEFAULT_OPTION))
        for path in self.opt_app.recent.load():
            sources.add_option(Option(literal(display_path(path)), id=path))
        sources.highlighted = highlighted if highlighted is not None else 0

    def _fill_preview(self) -> None:
        dataset, summary = self.session.dataset, self.session.summary
        title = self.query_one("#dataset-title", Static)
        models = self.query_one("#models", DataTable)
        queries = self.query_one("#queries", DataTable)
        models.clear()
        queries.clear()
        if dataset is None or summary is None:
            title.update("No dataset loaded yet.")
            return
        prefix = dataset.shared_prefix
        note = f"\n{prefix_note(prefix)}" if prefix else ""
        title.update(f"{dataset.title}: {dataset.n_queries:,} queries x {dataset.n_models} "
                     f"models, {dataset.n_labelled:,} labelled{note}")
        for row in summary.itertuples():
            models.add_row(literal(row.model), ratio(row.accuracy), unit_cost(row.mean_cost),
                           f"{row.rows:,}")
        for qid, text in zip(dataset.query_ids[:PREVIEW_ROWS], dataset.queries[:PREVIEW_ROWS],
                             strict=True):
            shown = " ".join(str(text)[len(prefix):].split())
            queries.add_row(literal(qid), literal(shown[:PREVIEW_CHARS]))

    @on(OptionList.OptionSelected, "#sources")
    def _open_source(self, event: OptionList.OptionSelected) -> None:
        source = event.option.id
        self.opt_app.load_source(None if source == DEFAULT_OPTION else source, None)

    @on(Input.Submitted, "#path")
    def _open_path(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            self._status("Type the path of a data file first.", "error")
            return
        layout = self.query_one("#layout", Select).value
        path = typed_path(text)
        self.opt_app.load_source(path, None if layout == "auto" else str(layout))
        self.action_leave_field()  # so the screen keys (1-7, o, d) work again

    @on(Input.Submitted, "#batch-path")
    def _open_batch(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if text:
            self.opt_app.load_batch(typed_path(text))
        else:
            self.opt_app.clear_batch()
        self.action_leave_field()

    @on(Input.Submitted, "#prices-path")
    def _set_prices(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        self.opt_app.set_prices(typed_path(text) if text else None)
        self.action_leave_field()

    def action_focus_batch(self) -> None:
        self.query_one("#batch-path", Input).focus()

    def action_focus_prices(self) -> None:
        self.query_one("#prices-path", Input).focus()

    def action_clear_batch(self) -> None:
        self.query_one("#batch-path", Input).value = ""
        self.opt_app.clear_batch()
        self._batch_status("No batch: the labelled dataset is split.", "")

    def action_focus_path(self) -> None:
        self.query_one("#path", Input).focus()

    def action_load_default(self) -> None:
        self.opt_app.load_source(None, None)

    def action_leave_field(self) -> None:
        self.query_one("#sources", OptionList).focus()
