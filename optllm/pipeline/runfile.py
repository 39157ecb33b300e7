"""Save a run (config, predictions, split, front, chosen point) and reopen it later.

A run file is a saved file (`optllm.data.savefile`: a zip of `manifest.json` and plain numeric
arrays, never pickle, so opening a file from elsewhere runs no code from it). It is written
atomically (temporary file beside the target, then rename), so a crash or a full disk never
leaves half a run behind, and every field is checked on load (shapes, ranges, finiteness,
consistency), so a damaged or edited file raises `RunFileError` naming the file and field.

The dataset itself is not copied: the header names its source (a file path, or None for the
embedded default) and its shape, and `SavedRun.rebuild_front` checks that the reloaded data
still gives the saved front's costs. The fitted ensemble and featuriser are not saved
either; their predictions are. A front is kept as at most `MAX_SAVED_POINTS` allocations
spread evenly by cost (plus the chosen point), since an exact hull front can have millions
of points.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optllm.config import RunConfig
from optllm.data.dataset import Dataset, Split
from optllm.data.savefile import Fields, Spec, Stored, read_saved, write_saved
from optllm.exceptions import ConfigError, SavedFileError
from optllm.optimizers.front import Front
from optllm.pipeline.run import Prediction
from optllm.predict.columns import ColumnFeaturiser
from optllm.predict.state import load_quality, quality_arrays

FILE_FORMAT = "optllm-run"
FILE_VERSION = 2
MAX_SAVED_POINTS = 256
#: Run parameters added after run files of this version were first written; a file without
#: one takes the default (the behaviour the run had then).
ADDED_PARAMETERS = ("feature_columns",)


class RunFileError(SavedFileError):
    """A run file is unreadable, corrupt, of another format, or no longer matches its data."""

    KIND = "run file"


@dataclass(frozen=True)
class SavedRun:
    """The contents of a run file; `rebuild_front` and `prediction` turn it back into
    the objects the pipeline works with."""

    dataset_source: str | None
    dataset_name: str
    models: tuple[str, ...]
    n_queries: int
    config: RunConfig
    split: Split
    mean: np.ndarray
    spread: np.ndarray
    scores: np.ndarray
    quality: pd.DataFrame
    front_method: str
    front_status: str
    front_cost: np.ndarray
    front_accuracy: np.ndarray
    front_allocations: np.ndarray
    selected: int | None
    #: The extra columns the predictor read, and each one's levels (as text).
    feature_columns: tuple[str, ...] = ()
    feature_levels: tuple[tuple[str, ...], ...] = ()

    def prediction(self) -> Prediction:
        """The saved predictions; the fitted ensemble and featuriser are not kept, so
        `predictor` and `featuriser` are None."""
        return Prediction(self.mean, self.spread, self.scores, None, self.quality, None,
                          feature_columns=list(self.feature_columns))

    def check_dataset(self, dataset: Dataset) -> None:
        """Raise RunFileError when `dataset` is not the one the run was made on."""
        if dataset.models != self.models or dataset.n_queries != self.n_queries:
            raise RunFileError(
                f"the run was made on {self.n_queries} queries x {len(self.models)} models "
                f"({', '.join(self.models)}); {dataset.title} has {dataset.n_queries} x "
                f"{dataset.n_models} ({', '.join(dataset.models)})")

    def rebuild_front(self, allocated_cost: np.ndarray) -> Front:
        """The saved front, re-scored on the allocated queries' costs (N, M); raises
        RunFileError when those costs no longer give the saved totals (the data changed)."""
        front = Front.from_allocations(self.front_allocations, self.scores, allocated_cost,
                                       method=self.front_method, status=self.front_status)
        if len(front) != self.front_cost.size or not np.allclose(
                front.cost, self.front_cost, rtol=1e-9, atol=1e-12):
            raise RunFileError("the dataset's costs differ from those the run was saved "
                               "with; was the data file changed?")
        return front


def save_run(path: str | os.PathLike[str], *, dataset_source: str | None, dataset: Dataset,
             config: RunConfig, prediction: Prediction, split: Split, front: Front,
             selected: int | None, force: bool = False) -> Path:
    """Write a run file atomically; `dataset_source` is the data file (None: the default).

    Raises ExportError (existing file without `force`, missing directory, unwritable path,
    disk full); nothing partial is left behind.
    """
    points = front.thin(MAX_SAVED_POINTS)
    if selected is not None:
        points = np.union1d(points, [selected])
    small = np.int16 if dataset.n_models < 2**15 else np.int32
    stored = Stored({
        "dataset_source": dataset_source,
        "dataset_name": dataset.name,
        "models": list(dataset.models),
        "n_queries": dataset.n_queries,
        "config": config.as_dict(),
        "front_method": front.method,
        "front_status": front.status,
        "selected": None if selected is None else int(np.searchsorted(points, selected)),
        "feature_columns": feature_levels(prediction.featuriser),
    }, {
        "train": split.train,
        "allocate": split.allocate,
        "mean": prediction.mean,
        "spread": prediction.spread,
        "scores": prediction.scores,
        "front_cost": front.cost[points],
        "front_accuracy": front.accuracy[points],
        "front_allocations": np.stack([front.allocation(int(k)) for k in points]).astype(small),
    } | quality_arrays(prediction.quality))
    return write_saved(path, stored, file_format=FILE_FORMAT, version=FILE_VERSION,
                       force=force)


def load_run(path: str | os.PathLike[str]) -> SavedRun:
    """Read and check a run file; every problem raises RunFileError naming the file and
    the field."""
    stored = read_saved(path, RunFileError, FILE_FORMAT, FILE_VERSION)
    fields = Fields(path, RunFileError, stored)
    header = stored.manifest
    models = fields.strings(header, "models", "M", unique=True)
    n_queries = fields.value(header, "n_queries", int, low=2, high=2**40)
    config = _load_config(fields, fields.value(header, "config", dict))
    index = Spec(("n",), kind="i", low=0, high=n_queries - 1)
    train = fields.array("train", Spec(("T",), kind="i", low=0, high=n_queries - 1))
    allocate = fields.array("allocate", index)
    if train.size + allocate.size != n_queries or np.unique(
            np.concatenate([train, allocate])).size != n_queries:
        raise fields.fail("allocate", f"with train, must hold each of the {n_queries} "
                          "queries once")
    probability = Spec(("n", "M"), low=0.0, high=1.0)
    mean, spread, scores = (fields.array(name, probability)
                            for name in ("mean", "spread", "scores"))
    front_cost = fields.array("front_cost", Spec(("P",), low=0.0))
    front_accuracy = fields.array("front_accuracy", Spec(("P",), low=0.0, high=1.0))
    allocations = fields.array("front_allocations",
                               Spec(("P", "n"), kind="i", low=0, high=len(models) - 1))
    if front_cost.size == 0:
        raise fields.fail("front_cost", "the front is empty")
    selected = fields.value(header, "selected", int, low=0, high=front_cost.size - 1,
                            optional=True)
    source = fields.value(header, "dataset_source", str, optional=True)
    return SavedRun(
        dataset_source=source, dataset_name=fields.value(header, "dataset_name", str),
        models=tuple(models), n_queries=n_queries, config=config,
        split=Split(train, allocate), mean=mean, spread=spread, scores=scores,
        quality=load_quality(fields, models),
        **_load_feature_columns(fields, header),
        front_method=fields.value(header, "front_method", str),
        front_status=fields.value(header, "front_status", str),
        front_cost=front_cost, front_accuracy=front_accuracy,
        front_allocations=allocations, selected=selected)


def feature_levels(featuriser: object) -> dict[str, list[str]]:
    """Each extra column the featuriser reads with its levels, in its order."""
    if not isinstance(featuriser, ColumnFeaturiser):
        return {}
    return dict(zip(featuriser.encoder.columns, featuriser.encoder.levels_, strict=True))


def _load_feature_columns(fields: Fields, header: dict) -> dict[str, tuple]:
    """The saved feature columns and their levels (absent in files of runs without any)."""
    data = fields.value(header, "feature_columns", dict) if "feature_columns" in header else {}
    part = fields.part("feature_columns")
    levels = tuple(tuple(part.strings(data, name, unique=True)) for name in data)
    return {"feature_columns": tuple(data), "feature_levels": levels}


def _load_config(fields: Fields, data: dict) -> RunConfig:
    """The run's parameters: each field of RunConfig with its type, then its own checks."""
    part = fields.part("config")
    kinds = {"float": float, "int": int, "str": str, "bool": bool}
    # Each value is checked against its field's declared type, which mypy cannot follow.
    values: dict[str, Any] = {}
    for spec in dataclasses.fields(RunConfig):
        if spec.name in ADDED_PARAMETERS and spec.name not in data:
            continue  # a file from before the parameter existed: its default applies
        kind = str(spec.type).removesuffix(" | None")
        values[spec.name] = part.value(data, spec.name, kinds[kind],
                                       optional=str(spec.type).endswith("| None"))
    if set(data) - {spec.name for spec in dataclasses.fields(RunConfig)}:
        raise part.fail(sorted(set(data) - set(values))[0], "is not a run parameter")
    try:
        return RunConfig(**values).check()
    except ConfigError as exc:
        raise part.fail("", str(exc)) from None
