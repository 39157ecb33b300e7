"""Screen 2: training parameters, training progress, and how good the predictor is."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Literal

from textual import on
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical
from textual.widgets import DataTable, Input, Label, Select, SelectionList, Static

from optllm_tui.commands import bindings_for
from optllm_tui.formatting import literal, ratio, seconds
from optllm_tui.screens.base import ModeScreen
from optllm_tui.session import Change, Topic
from optllm_tui.widgets.progress_panel import ProgressPanel

if TYPE_CHECKING:
    from optllm.config import RunConfig
    from optllm.pipeline.run import Prediction

#: (RunConfig field, label, Input type) of the numeric fields.
FIELDS: tuple[tuple[str, str, Literal["integer", "number"]], ...] = (
    ("train_fraction", "train frac.", "number"),
    ("bootstraps", "bootstraps", "integer"),
    ("alpha", "alpha", "number"),
    ("seed", "seed", "integer"),
)

TRAIN_HINT = "t trains, Esc cancels, Enter applies a field."


def explain(prediction: Prediction) -> str:
    """Which learner was used and why, every candidate's cross-validated log-loss, and
    the plain verdict on whether per-query prediction beats the prior."""
    from optllm.predict.select import verdict

    lines = []
    choice = prediction.choice
    if choice is not None:
        lines.append(f"Chose {choice.candidate.name}: {choice.reason.rstrip('.')}.")
        scores = ", ".join(f"{row.candidate} {row.log_loss:.3f}"
                           for row in choice.scores.itertuples())
        lines.append(f"Cross-validated log-loss: {scores}.")
    lines.append(verdict(prediction.quality))
    curve = prediction.learning_curve
    if curve is not None:
        points = ", ".join(f"{row.n_labelled:.0f} labels: AUC {row.auc:.3f}, "
                           f"HV {row.hypervolume:.3f}" for row in curve.itertuples())
        lines.append(f"Learning curve ({curve['candidate'].iloc[0]}, held-out folds): "
                     f"{points}. Still rising at the end means more labels would pay.")
    return "\n".join(lines)


class PredictorScreen(ModeScreen):
    SCOPE = "predictor"
    BINDINGS = bindings_for("predictor")
    AUTO_FOCUS = "#quality"
    _hint = TRAIN_HINT
    #: The dataset whose extra columns the list shows (refilled when another is loaded).
    _columns_of: object = None

    def compose_body(self) -> ComposeResult:
        from optllm.predict.registry import FEATURISER_CHOICES, LEARNER_CHOICES

        config = self.session.config
        with Horizontal(id="predictor"):
            with Vertical(id="params"):
                yield Label("Training parameters", classes="heading")
                with Grid(id="param-grid"):
                    for name, label, kind in FIELDS:
                        yield Label(label)
                        yield Input(str(getattr(config, name)), type=kind, id=name,
                                    compact=True, select_on_focus=False)
                    yield Label("learner")
                    yield Select([(f, f) for f in LEARNER_CHOICES], value=config.learner,
                                 allow_blank=False, id="learner", compact=True)
                    yield Label("featuriser")
                    yield Select([(f, f) for f in FEATURISER_CHOICES], value=config.featuriser,
                                 allow_blank=False, id="featuriser", compact=True)
                    yield Label("learn. curve")
                    yield Select([("off", False), ("on", True)], value=config.learning_curve,
                                 allow_blank=False, id="learning_curve", compact=True)
                yield Label("feature columns", id="feature-columns-label")
                yield SelectionList[str](id="feature-columns", compact=True)
                yield Static(TRAIN_HINT, classes="hint", id="train-hint", markup=False)
                yield Static("", id="param-status", markup=False)
            with Vertical(id="results"):
                yield ProgressPanel(show_timings=self.opt_app.settings.show_timings,
                                    id="progress")
                yield Label("Predictor quality (out-of-bag)", classes="heading")
                yield DataTable(id="quality", cursor_type="row", zebra_stripes=True)
                yield Static("", id="verdict", markup=False)

    def on_mount(self) -> None:
        self.query_one("#quality", DataTable).add_columns(
            "model", "AUC", "Brier", "base rate", "vs prior")

    def read_config(self) -> RunConfig:
        """The parameters as typed, checked; raises ConfigError naming the bad one."""
        from optllm.exceptions import ConfigError

        values: dict[str, float] = {}  # an "integer" field holds an int
        for name, _, kind in FIELDS:
            text = self.query_one(f"#{name}", Input).value.strip()
            try:
                values[name] = int(text) if kind == "integer" else float(text)
            except ValueError:
                word = "a whole number" if kind == "integer" else "a number"
                raise ConfigError(f"{name.replace('_', ' ')} must be {word}; got {text!r}"
                                  ) from None
        if values["seed"] < 0:
            raise ConfigError(f"seed must be 0 or more; got {values['seed']}")
        return dataclasses.replace(
            self.session.config, train_fraction=values["train_fraction"],
            bootstraps=int(values["bootstraps"]), alpha=values["alpha"],
            seed=int(values["seed"]),
            featuriser=str(self.query_one("#featuriser", Select).value),
            learner=str(self.query_one("#learner", Select).value),
            learning_curve=bool(self.query_one("#learning_curve", Select).value),
            feature_columns=self._ticked_columns()).check()

    def _ticked_columns(self) -> str:
        """The ticked extra columns as `RunConfig.feature_columns`: "auto" while they are
        the automatic choice, "none" when none is ticked, else their names."""
        from optllm.predict.columns import auto_columns

        ticked = list(self.query_one("#feature-columns", SelectionList).selected)
        dataset = self.session.dataset
        if dataset is None:
            return self.session.config.feature_columns
        if set(ticked) == set(auto_columns(dataset.metadata, dataset.models)):
            return "auto"
        return ",".join(ticked) if ticked else "none"

    def _fill_columns(self) -> None:
        """The dataset's extra columns (a model's own never), ticked as the config says;
        a choice the dataset cannot honour (another file's columns) falls back to auto."""
        from optllm.exceptions import ConfigError
        from optllm.predict.columns import auto_columns, candidate_columns, choose_columns

        widget = self.query_one("#feature-columns", SelectionList)
        dataset = self._columns_of = self.session.dataset
        widget.clear_options()
        if dataset is None:
            return
        try:
            ticked = choose_columns(dataset.metadata, dataset.models,
                                    self.session.config.feature_columns)
        except ConfigError:
            ticked = auto_columns(dataset.metadata, dataset.models)
        widget.add_options([(literal(name), name, name in ticked)
                            for name in candidate_columns(dataset.metadata, dataset.models)])
        if widget.option_count:
            widget.highlighted = 0  # space ticks at once, without a first arrow key

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

    @on(SelectionList.SelectedChanged)
    def _apply_ticks(self) -> None:
        """A tick applies at once (as Enter does in a field), so it survives a screen
        switch; a field typed wrong is left to Enter or training to report."""
        from optllm.exceptions import ConfigError

        try:
            self.session.config = dataclasses.replace(
                self.session.config, feature_columns=self._ticked_columns()).check()
        except ConfigError:
            pass

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
        if topic == Topic.TRAINING:
            panel.start()
            self._status("", "")
            # the old predictor's table and verdict would read as the new one's
            self.query_one("#quality", DataTable).clear()
            self.query_one("#verdict", Static).update("")
        elif topic == Topic.PROGRESS:
            message = change.payload
            panel.report(message.stage, message.done, message.total, message.text)
        elif topic == Topic.CANCELLED and change.group == "train":
            panel.stop("Training cancelled.")
        elif topic == Topic.FAILED and change.group == "train":
            panel.stop("Training failed.")
            self._status(change.text, "error")
        elif topic in (Topic.ALL, Topic.DATASET, Topic.BATCH, Topic.PREDICTION):
            if topic != Topic.ALL:  # an error about the data or run before is now stale
                self._status("", "")
            self._fill_hint()
            if change.group == "run":
                self._fill_inputs()
            if change.group == "run" or self._columns_of is not self.session.dataset:
                self._fill_columns()
            self._fill_quality(topic == Topic.PREDICTION, change.payload)

    def _fill_hint(self) -> None:
        """With a batch set, say that all labelled history rows train (no train fraction)."""
        session = self.session
        text = TRAIN_HINT
        if session.batch is not None and session.dataset is not None:
            text = (f"Batch of {len(session.batch[0]):,} new queries set (screen 1): training "
                    f"uses all {session.dataset.n_labelled:,} labelled history rows; train "
                    f"frac. is not used.\n{TRAIN_HINT}")
        if text != self._hint:
            self._hint = text
            self.query_one("#train-hint", Static).update(text)

    def _fill_inputs(self) -> None:
        config = self.session.config
        for name, _, _ in FIELDS:
            self.query_one(f"#{name}", Input).value = str(getattr(config, name))
        self.query_one("#featuriser", Select).value = config.featuriser
        self.query_one("#learner", Select).value = config.learner
        self.query_one("#learning_curve", Select).value = config.learning_curve

    def _fill_quality(self, just_trained: bool, elapsed: float | None) -> None:
        table = self.query_one("#quality", DataTable)
        table.clear()
        prediction, split = self.session.prediction, self.session.split
        if prediction is None or split is None:
            self.query_one("#verdict", Static).update("")
            if not self.opt_app.jobs.running("train"):
                self.query_one(ProgressPanel).stop(
                    "Not trained yet. Press t to train." if self.session.dataset is not None
                    else "Not trained yet. Load a dataset first (screen 1).")
            return
        from optllm.predict.base import vs_prior

        quality = prediction.quality
        verdicts = vs_prior(quality["auc"], quality["brier"], quality["prior_brier"])
        for row, versus in zip(quality.itertuples(), verdicts, strict=True):
            table.add_row(literal(row.model), ratio(row.auc), ratio(row.brier),
                          ratio(row.base_rate), versus)
        took = ""
        if just_trained and elapsed is not None and self.opt_app.settings.show_timings:
            took = f" in {seconds(elapsed)}"
        self.query_one(ProgressPanel).finish(
            f"Trained {self.session.config.bootstraps} members{took} on {split.train.size:,} "
            f"labelled queries; {split.allocate.size:,} to allocate.")
        self.query_one("#verdict", Static).update(explain(prediction))
