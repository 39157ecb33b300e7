"""Messages the jobs post to the app; the only way background work talks to the UI.

Every message carries the worker that sent it, so a handler can drop results of work that
was cancelled or superseded meanwhile (`JobMessage.stale`): cancelling and handling both
happen on the UI thread, so the check is exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual.message import Message

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    from textual.worker import Worker

    from optllm.config import RunConfig
    from optllm.data.dataset import Dataset, Split
    from optllm.evaluation import Evaluation
    from optllm.optimizers.api import StepEvent
    from optllm.optimizers.front import Front
    from optllm.pipeline.compare import Comparison, FrontUpdate
    from optllm.pipeline.limits import LimitedRun
    from optllm.pipeline.run import Prediction
    from optllm.pipeline.views import PointDetails
    from optllm.pricing.prices import CostModel
    from optllm_tui.session import AllocationView, Stepper


@dataclass(eq=False)
class JobMessage(Message):
    worker: Worker[Any]

    @property
    def stale(self) -> bool:
        """True when the sending worker was cancelled (superseded) before this arrived."""
        return self.worker.is_cancelled


@dataclass(eq=False)
class JobFailed(JobMessage):
    """A job stopped on an error; `text` is the library's message (file, row, column...)."""

    group: str
    text: str


@dataclass(eq=False)
class LibraryReady(JobMessage):
    """The training pipeline (xgboost, scikit-learn) has been imported in the background."""


@dataclass(eq=False)
class DatasetLoaded(JobMessage):
    dataset: Dataset
    source: str | None
    summary: pd.DataFrame


@dataclass(eq=False)
class BatchLoaded(JobMessage):
    """A batch of new unlabelled queries to allocate, read by `optllm.data.queries.load_batch`."""

    source: str
    ids: np.ndarray
    queries: np.ndarray
    #: The batch's other columns (the predictor may use those the history shares).
    columns: pd.DataFrame


@dataclass(eq=False)
class ProgressMessage(JobMessage):
    """A library progress report, throttled by the job (about 10 a second); a queued one
    is replaced by the next of the same kind."""

    stage: str
    done: int
    total: int | None
    text: str

    def can_replace(self, message: Message) -> bool:
        return type(message) is type(self)


@dataclass(eq=False)
class TrainingProgress(ProgressMessage):
    """Training: featurising, each bootstrap member, predicting, the hull."""


@dataclass(eq=False)
class LabellingProgress(ProgressMessage):
    """Choosing the queries to label next: training on the labelled ones, clustering."""


@dataclass(eq=False)
class LabelsChosen(JobMessage):
    """The queries to label next, as the file to fill in (`labelling.picks_table`)."""

    table: pa.Table


@dataclass(eq=False)
class PicksWritten(JobMessage):
    path: str
    rows: int


@dataclass(eq=False)
class LabelsMerged(JobMessage):
    """The dataset with the labels of a filled-in file merged; `gained` newly labelled."""

    dataset: Dataset
    summary: pd.DataFrame
    path: str
    gained: int


@dataclass(eq=False)
class TrainingFinished(JobMessage):
    config: RunConfig
    split: Split
    allocated: Dataset
    prediction: Prediction
    hull: Front
    elapsed_s: float
    #: Batch runs: the combined history + batch dataset and the batch's cost model.
    dataset: Dataset | None = None
    cost_model: CostModel | None = None


@dataclass(eq=False)
class StepsTaken(JobMessage):
    """Optimiser steps, batched to at most about 10 messages a second. Never stale: the
    generator has advanced, so the steps belong in the history even after a pause."""

    stepper: Stepper
    events: list[StepEvent]


@dataclass(eq=False)
class OptimiseFinished(JobMessage):
    stepper: Stepper
    front: Front
    evaluation: Evaluation | None


@dataclass(eq=False)
class OptimiseStopped(JobMessage):
    """A run to the end was paused (the generator stays where it is)."""

    stepper: Stepper


@dataclass(eq=False)
class PointDetailsReady(JobMessage):
    details: PointDetails
    #: The limits' report at the point (prices, binding limits, gap) when limits are set.
    limits: LimitedRun | None = None


@dataclass(eq=False)
class LimitsProgress(ProgressMessage):
    """Putting the front under the limits: each point repaired or solved."""


@dataclass(eq=False)
class LimitsApplied(JobMessage):
    """The front put under `limits` (`optllm.pipeline.limits.limited_front`), for the
    unconstrained `source` front it was computed from."""

    limits: dict[str, dict[str, float]]
    source: Front
    front: Front
    evaluation: Evaluation | None


@dataclass(eq=False)
class AllocationReady(JobMessage):
    base: pa.Table
    view: AllocationView


@dataclass(eq=False)
class ExportExists(JobMessage):
    """The target exists: the UI asks before overwriting."""

    path: str
    file_format: str


@dataclass(eq=False)
class ExportDone(JobMessage):
    path: str
    rows: int


@dataclass(eq=False)
class RunSaved(JobMessage):
    path: str


@dataclass(eq=False)
class RunSaveExists(JobMessage):
    path: str


@dataclass(eq=False)
class RunOpened(JobMessage):
    path: str
    dataset: Dataset
    source: str | None
    summary: pd.DataFrame
    config: RunConfig
    split: Split
    allocated: Dataset
    prediction: Prediction
    hull: Front
    front: Front
    evaluation: Evaluation | None
    selected: int | None


@dataclass(eq=False)
class CompareProgress(ProgressMessage):
    """A comparison: the pipeline's stages per seed, each generation of an evolutionary
    method (stage = its name) and ("compare", runs done, runs total); texts start with the
    seed ("seed 0: ...")."""


@dataclass(eq=False)
class CompareFront(JobMessage):
    """A method's front while it evolves (one generation, throttled with the progress) or
    when it is done (`update.final`, never dropped)."""

    update: FrontUpdate


@dataclass(eq=False)
class CompareDone(JobMessage):
    comparison: Comparison
