"""The state of one app session as a plain dataclass, changed only on the UI thread.

Screens read it; message handlers in the app change it and then publish what changed.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    from textual_fastdatatable import ArrowBackend

    from optllm.config import RunConfig
    from optllm.data.dataset import Dataset, Split
    from optllm.evaluation import Evaluation
    from optllm.optimizers.api import StepEvent
    from optllm.optimizers.front import Front
    from optllm.pipeline.compare import Comparison, FrontUpdate, Trained
    from optllm.pipeline.limits import LimitedRun
    from optllm.pipeline.run import Prediction
    from optllm.pipeline.views import PointDetails
    from optllm.pricing.prices import CostModel


class Topic(StrEnum):
    """What changed in the session: the screens redraw what shows it."""

    ALL = "all"
    DATASET = "dataset"
    LOADING = "loading"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TRAINING = "training"
    PROGRESS = "progress"
    PREDICTION = "prediction"
    OPTIMISER = "optimiser"
    STEPS = "steps"
    FRONT = "front"
    SELECTION = "selection"
    DETAILS = "details"
    ALLOCATION = "allocation"
    EXPORTING = "exporting"
    EXPORTED = "exported"
    COMPARE = "compare"
    COMPARE_PROGRESS = "compare-progress"
    COMPARE_FRONT = "compare-front"
    BATCH = "batch"
    BATCH_LOADING = "batch-loading"
    #: The limits editor's work: `LIMITS` when the front under limits is in or gone,
    #: `LIMITS_PROGRESS` while it is computed.
    LIMITS = "limits"
    LIMITS_PROGRESS = "limits-progress"


@dataclass(frozen=True)
class Change:
    """A change of the session, published by the app to every screen. `Topic.ALL` with
    group "run" means a saved run was opened: forms refill too."""

    topic: Topic
    group: str = ""
    text: str = ""
    payload: Any = None


class Stepper:
    """The optimiser's generator, kept alive across key presses so that one press really
    advances it one step. The lock stops two workers advancing it at once (a paused run's
    thread may still be finishing its step when the next step is asked for)."""

    def __init__(self, prediction: Prediction, allocated: Dataset, config: RunConfig) -> None:
        from optllm.pipeline.run import n_steps, optimise_steps

        self.allocated = allocated
        self.total = n_steps(config)
        self.taken = 0
        self._steps = optimise_steps(prediction, allocated, config)
        self._lock = threading.Lock()
        self._done = False

    @property
    def at_end(self) -> bool:
        """Every step is taken: only the Front is left, which the last step's press
        should deliver (a paused "step 37 of 37" is no state a user can act on)."""
        return self.taken >= self.total and not self._done

    def advance(self) -> StepEvent | Front | None:
        """The next step, or the final Front; None once the Front has been returned."""
        from optllm.optimizers.front import Front

        with self._lock:
            if self._done:
                return None
            item = next(self._steps)
            self._done = isinstance(item, Front)
            self.taken += not self._done
            return item



@dataclass(frozen=True)
class AllocationView:
    """One built allocation table: which point, order and filter, and the Arrow backend."""

    point: int
    sort: str | None
    descending: bool
    model: str | None
    backend: ArrowBackend
    rows: int
    all_rows: int
    #: The prefix every query shares, left out of the query column ("" when none).
    stripped_prefix: str = ""
    #: Shown rows' query text contains this (case-insensitive); None: no text filter.
    text: str | None = None


@dataclass(frozen=True)
class CompareState:
    """Where the Compare screen's run stands: `phase` is "idle", "running", "done",
    "cancelled" or "failed"; while running, `runs_done` of `runs_total` (method, seed) runs
    are finished and `text` is the latest progress report; otherwise `text` says why."""

    phase: str
    text: str = ""
    runs_done: int = 0
    runs_total: int = 0


@dataclass(frozen=True)
class LimitedFront:
    """The front put under the limits (`optllm.pipeline.limits.limited_front`), its
    evaluation, and the point that was chosen on the unconstrained front before, to go
    back to when the limits are cleared."""

    limits: dict[str, dict[str, float]]
    front: Front
    evaluation: Evaluation | None
    unconstrained_selected: int | None


@dataclass
class Session:
    """Everything known about the current run. `config` is created on first use, so the
    pipeline module (and xgboost behind it) is not imported before the first paint."""

    run_defaults: dict[str, Any] = field(default_factory=dict)
    dataset: Dataset | None = None
    source: str | None = None
    summary: pd.DataFrame | None = None
    split: Split | None = None
    allocated: Dataset | None = None
    prediction: Prediction | None = None
    hull: Front | None = None
    stepper: Stepper | None = None
    events: list[StepEvent] = field(default_factory=list)
    view_step: int | None = None
    running: bool = False
    #: Steps asked for (s pressed) while a step was being computed, taken next in order.
    queued_steps: int = 0
    front: Front | None = None
    evaluation: Evaluation | None = None
    selected: int | None = None
    details: PointDetails | None = None
    #: The limits' report at the chosen point (prices, binding limits, gap), while limits
    #: are set: the point's index and the report.
    point_limits: tuple[int, LimitedRun] | None = None
    #: The per-model limits the user set in the editor ({kind: {model: value}}, as
    #: `RunConfig.limits`), kept for the next front until cleared or other data loads.
    limits: dict[str, dict[str, float]] | None = None
    #: The front under the limits while limits are set; the Front screen then moves along
    #: it, and the allocation browser and export take its points (`shown_front`).
    limited: LimitedFront | None = None
    allocation_base: tuple[int, pa.Table] | None = None
    allocation_view: AllocationView | None = None
    #: The batch of new unlabelled queries to allocate (Datasets screen), if any: its
    #: source path and (query_ids, queries); `prices` is an optional prices TOML path.
    batch_source: str | None = None
    batch: tuple[np.ndarray, np.ndarray, pd.DataFrame] | None = None
    prices: str | None = None
    #: Set by a batch run: history + batch rows (what `split` indexes) and the cost model.
    trained_dataset: Dataset | None = None
    cost_model: CostModel | None = None
    #: The Compare screen's run: the newest front of each method for the seed running (or
    #: the last seed, once done), the finished comparison, and where the run stands.
    compare_fronts: dict[str, FrontUpdate] = field(default_factory=dict)
    comparison: Comparison | None = None
    compare_state: CompareState = field(default_factory=lambda: CompareState("idle"))
    #: The (prediction, front) last saved to or opened from a run file: what is already
    #: kept on disk, so losing it needs no question.
    saved: tuple[Prediction | None, Front | None] | None = None
    _config: RunConfig | None = None
    #: The config `prediction` was made with (`config` may have been edited since).
    trained_config: RunConfig | None = None

    @property
    def config(self) -> RunConfig:
        if self._config is None:
            from optllm.config import RunConfig

            self._config = RunConfig(**self.run_defaults).check()
        return self._config

    @config.setter
    def config(self, value: RunConfig) -> None:
        self._config = value

    def set_dataset(self, dataset: Dataset, source: str | None, summary: pd.DataFrame) -> None:
        """A new dataset: everything learnt from the old one goes."""
        self.dataset, self.source, self.summary = dataset, source, summary
        self.limits = None
        self.split = self.allocated = self.prediction = self.hull = None
        self.trained_dataset = self.cost_model = None
        self.clear_optimiser()
        self.clear_comparison(CompareState("idle"))

    def clear_comparison(self, state: CompareState) -> None:
        self.compare_fronts = {}
        self.comparison = None
        self.compare_state = state

    def set_batch(self, source: str | None,
                  batch: tuple[np.ndarray, np.ndarray, pd.DataFrame] | None
                  ) -> None:
        """A new batch (or none): a prediction made with the old one no longer applies."""
        self.batch_source, self.batch = source, batch
        self.split = self.allocated = self.prediction = self.hull = None
        self.trained_dataset = self.cost_model = None
        self.clear_optimiser()

    def set_prediction(self, split: Split, allocated: Dataset, prediction: Prediction,
                       hull: Front, trained_dataset: Dataset | None = None,
                       cost_model: CostModel | None = None) -> None:
        self.split, self.allocated, self.prediction, self.hull = (
            split, allocated, prediction, hull)
        self.trained_config = self.config  # the caller sets the config first
        self.trained_dataset, self.cost_model = trained_dataset, cost_model
        self.clear_optimiser()

    def reusable(self) -> Trained | None:
        """The prediction for `optllm.pipeline.compare.compare` to reuse (made on `dataset`, so not
        a batch run's, which trained on history + batch rows), or None."""
        if (self.prediction is None or self.split is None or self.trained_config is None
                or self.batch is not None or self.trained_dataset is not None):
            return None
        from optllm.pipeline.compare import Trained

        return Trained(self.trained_config, self.split, self.prediction)

    def clear_optimiser(self) -> None:
        self.stepper = None
        self.events = []
        self.view_step = None
        self.running = False
        self.queued_steps = 0
        self.front = self.evaluation = None
        self.selected = None
        self.details = None
        self.point_limits = None
        self.limited = None
        self.allocation_base = self.allocation_view = None

    def set_front(self, front: Front, evaluation: Evaluation | None,
                  selected: int | None = None) -> None:
        self.front, self.evaluation = front, evaluation
        self.selected = len(front) // 2 if selected is None else selected
        self.details = None
        self.point_limits = None
        self.limited = None
        self.allocation_base = self.allocation_view = None

    def set_limited(self, limited: LimitedFront | None, selected: int | None) -> None:
        """Limits set (`limited`) or cleared (None): the chosen point moves to `selected`
        on the front now shown."""
        self.limited = limited
        self.selected = selected
        self.details = None
        self.point_limits = None
        self.allocation_base = self.allocation_view = None

    @property
    def shown_front(self) -> Front | None:
        """The front the chosen point is on: the one under the limits while they are set."""
        return self.limited.front if self.limited is not None else self.front

    @property
    def shown_evaluation(self) -> Evaluation | None:
        return self.limited.evaluation if self.limited is not None else self.evaluation

    @property
    def unsaved_work(self) -> str | None:
        """What loading other data or quitting would throw away unasked (a trained
        predictor, a front), or None when there is nothing or it is saved."""
        if self.prediction is None:
            return None
        saved_prediction, saved_front = self.saved or (None, None)
        if self.prediction is not saved_prediction:
            return ("the trained predictor and its front" if self.front is not None
                    else "the trained predictor")
        if self.front is not None and self.front is not saved_front:
            return "the new front"
        return None

    @property
    def shown_step(self) -> int | None:
        """Index into `events` of the step on screen: the newest one when following live."""
        if not self.events:
            return None
        return len(self.events) - 1 if self.view_step is None else self.view_step
