"""Screen 2: training parameters, training progress, and how good the predictor is."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical
from textual.widgets import DataTable, Input, Label, Select, Static

from optllm_tui.commands import bindings_for
from optllm_tui.formatting import ratio, seconds
from optllm_tui.screens.base import Change, ModeScreen
from optllm_tui.widgets.progress_panel import ProgressPanel

if TYPE_CHECKING:
    import pandas as pd

    from optllm.config import RunConfig

#: (RunConfig field, label, Input type) of the numeric fields.
FIELDS = (
    ("train_fraction", "train frac.", "number"),
    ("bootstraps", "bootstraps", "integer"),
    ("alpha", "alpha", "number"),
    ("seed", "seed", "integer"),
)


def verdict(quality: pd.DataFrame) -> str:
    """One plain sentence on whether per-query prediction beats each model's prior."""
    losers = [str(m) for m, beats in zip(quality["model"], quality["beats_prior"], strict=True)
              if not beats]
    if not losers:
        return ("For every model the per-query prediction beats the prior (its Brier score "
                "is lower than that of the model's base rate).")
    if len(losers) == len(quality):
        return ("For no model does the per-query prediction beat the prior: the predictor "
                "has not learnt which queries each model gets right, so the front is no "
                "better than choosing by base rates. More training data may help.")
    return (f"For {', '.join(losers)} the per-query prediction does not beat the prior (the "
            "model's base rate), so allocations cannot tell that model's easy queries from "
            "its hard ones.")


class PredictorScreen(ModeScreen):
    SCOPE = "predictor"
    TITLE = "OptLLM - 2 Predictor"
    BINDINGS = bindings_for("predictor")
    AUTO_FOCUS = "#quality"

    def compose_body(self) -> ComposeResult:
        from optllm.features import FEATURISERS

        config = self.session.config
        with Horizontal(id="predictor"):
            with Vertical(id="params"):
                yield Label("Training parameters", classes="heading")
                with Grid(id="param-grid"):
                    for name, label, kind in FIELDS:
                        yield Label(label)
                        yield Input(str(getattr(config, name)), type=kind, id=name,
                                    compact=True, select_on_focus=False)
                    yield Label("featuriser")
                    yield Select([(f, f) for f in FEATURISERS], value=config.featuriser,
                                 allow_blank=False, id="featuriser", compact=True)
                yield Static("t trains, Esc cancels, Enter applies a field.", classes="hint")
                yield Static("", id="param-status")
            with Vertical(id="results"):
                yield ProgressPanel(show_timings=self.opt_app.settings.show_timings,
                                    id="progress")
                yield Label("Predictor quality (out-of-bag)", classes="heading")
                yield DataTable(id="quality", cursor_type="row", zebra_stripes=True)
                yield Static("", id="verdict")

    def on_mount(self) -> None:
        self.query_one("#quality", DataTable).add_columns(
            "model", "AUC", "Brier", "base rate", "vs prior")
        super().on_mount()

    def read_config(self) -> RunConfig:
        """The parameters as typed, checked; raises ConfigError naming the bad one."""
        from optllm.exceptions import ConfigError

        values: dict[str, object] = {}
        for name, _, kind in FIELDS:
            text = self.query_one(f"#{name}", Input).value.strip()
            try:
                values[name] = int(text) if kind == "integer" else float(text)
            except ValueError:
                word = "a whole number" if kind == "integer" else "a number"
                raise ConfigError(f"{name.replace('_', ' ')} must be {word}; got {text!r}"
                                  ) from None
        if int(values["seed"]) < 0:  # type: ignore[call-overload]
            raise ConfigError(f"seed must be 0 or more; got {values['seed']}")
        values["featuriser"] = str(self.query_one("#featuriser", Select).value)
        return dataclasses.replace(self.session.config, **values).check()

    def _checked_config(self) -> RunConfig | None:
        from optllm.exceptions import ConfigError

        try:
            config = self.read_config()
        except ConfigError as exc:
            self._status(str(exc), "error")
            return None
        self._status("", "")
        return config

    def _status(self, text: str, kind: str) -> None:
        status = self.query_one("#param-status", Static)
        status.update(text)
        status.set_classes(kind)

    @on(Input.Submitted)
    def _apply(self) -> None:
        config = self._checked_config()
        if config is not None:
            self.session.config = config
            self.query_one("#quality", DataTable).focus()

    def action_train(self) -> None:
        config = self._checked_config()
        if config is not None:
            self.opt_app.start_training(config)

    def action_cancel(self) -> None:
        self.opt_app.cancel_training()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel":
            return self.opt_app.jobs.running("train") or None
        if action == "train":
            return self.session.dataset is not None or None
        return True

    def redraw(self, change: Change) -> None:
        panel = self.query_one(ProgressPanel)
        topic = change.topic
        if topic == "training":
            panel.start(self.session.config.bootstraps)
            self._status("", "")
        elif topic == "progress":
            message = change.payload
            panel.report(message.stage, message.done, message.total)
        elif topic == "cancelled" and change.group == "train":
            panel.stop("Training cancelled.")
        elif topic == "failed" and change.group == "train":
            panel.stop("Training failed.")
            self._status(change.text, "error")
        elif topic in ("all", "dataset", "prediction"):
            if change.group == "run":
                self._fill_inputs()
            self._fill_quality(topic == "prediction", change.payload)

    def _fill_inputs(self) -> None:
        config = self.session.config
        for name, _, _ in FIELDS:
            self.query_one(f"#{name}", Input).value = str(getattr(config, name))
        self.query_one("#featuriser", Select).value = config.featuriser

    def _fill_quality(self, just_trained: bool, elapsed: float | None) -> None:
        table = self.query_one("#quality", DataTable)
        table.clear()
        prediction, split = self.session.prediction, self.session.split
        if prediction is None or split is None:
            self.query_one("#verdict", Static).update("")
            if not self.opt_app.jobs.running("train"):
                self.query_one(ProgressPanel).stop("Not trained yet. Press t to train.")
            return
        for row in prediction.quality.itertuples():
            table.add_row(str(row.model), ratio(row.auc), ratio(row.brier),
                          ratio(row.base_rate), "better" if row.beats_prior else "WORSE")
        took = ""
        if just_trained and elapsed is not None and self.opt_app.settings.show_timings:
            took = f" in {seconds(elapsed)}"
        self.query_one(ProgressPanel).finish(
            f"Trained {self.session.config.bootstraps} members{took} on {split.train.size:,} "
            f"labelled queries; {split.allocate.size:,} to allocate.")
        self.query_one("#verdict", Static).update(verdict(prediction.quality))
