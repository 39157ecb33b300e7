"""Save a run (config, predictions, split, front, chosen point) and reopen it later.

A run file is one `.npz` archive (NumPy's zip of arrays, read back with `allow_pickle=False`,
so opening a file from elsewhere cannot run code): a JSON header plus the arrays. It is
written atomically (temporary file beside the target, then rename), so a crash or a full disk
never leaves half a run behind.

The dataset itself is not copied: the header names its source (a file path, or None for the
embedded default) and its shape, and `SavedRun.rebuild_front` checks that the reloaded data
still gives the saved front's costs. The fitted ensemble and featuriser are not saved
either; their predictions are. A front is kept as at most `MAX_SAVED_POINTS` allocations
spread evenly by cost (plus the chosen point), since an exact hull front can have millions
of points.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from optllm.config import RunConfig, Split
from optllm.dataset import Dataset
from optllm.exceptions import ConfigError, SavedFileError
from optllm.export import atomic_path
from optllm.front import Front
from optllm.pipeline import Prediction

FILE_FORMAT = "optllm-run"
FILE_VERSION = 1
MAX_SAVED_POINTS = 256
_ARRAYS = ("train", "allocate", "mean", "spread", "scores", "front_cost", "front_accuracy",
           "front_allocations")


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

    def prediction(self) -> Prediction:
        """The saved predictions; the fitted ensemble and featuriser are not kept, so
        `predictor` and `featuriser` are None."""
        return Prediction(self.mean, self.spread, self.scores, None, self.quality, None)

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
    header = {
        "format": FILE_FORMAT,
        "version": FILE_VERSION,
        "dataset_source": dataset_source,
        "dataset_name": dataset.name,
        "models": list(dataset.models),
        "n_queries": dataset.n_queries,
        "config": config.as_dict(),
        "quality": json.loads(prediction.quality.to_json(orient="records")),
        "front_method": front.method,
        "front_status": front.status,
        "selected": None if selected is None else int(np.searchsorted(points, selected)),
    }
    small = np.int16 if dataset.n_models < 2**15 else np.int32
    arrays = {
        "header": np.array(json.dumps(header)),
        "train": split.train,
        "allocate": split.allocate,
        "mean": prediction.mean,
        "spread": prediction.spread,
        "scores": prediction.scores,
        "front_cost": front.cost[points],
        "front_accuracy": front.accuracy[points],
        "front_allocations": np.stack([front.allocation(int(k)) for k in points]).astype(small),
    }
    with atomic_path(path, force=force) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, **arrays)
    return Path(path)


def load_run(path: str | os.PathLike[str]) -> SavedRun:
    """Read and check a run file; every problem raises RunFileError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise RunFileError(f"{path}: file not found")
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [name for name in ("header", *_ARRAYS) if name not in archive.files]
            if missing:
                raise RunFileError(f"{path}: not an OptLLM run file (missing "
                                   f"{', '.join(missing)})")
            header = json.loads(str(archive["header"]))
            arrays = {name: archive[name] for name in _ARRAYS}
    except RunFileError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise RunFileError(f"{path}: not a readable run file ({exc})") from exc
    return _checked(path, header, arrays)


def _checked(path: Path, header: dict, arrays: dict[str, np.ndarray]) -> SavedRun:
    """Validate the header and array shapes so a damaged file fails here, not later."""
    RunFileError.check_header(path, header, FILE_FORMAT, FILE_VERSION)
    try:
        config = RunConfig(**header["config"]).check()
        models = tuple(str(m) for m in header["models"])
        n_queries = int(header["n_queries"])
        quality = pd.DataFrame.from_records(header["quality"])
        selected = header["selected"]
        method, status = str(header["front_method"]), str(header["front_status"])
        source, name = header["dataset_source"], str(header["dataset_name"])
    except (KeyError, TypeError, ValueError, ConfigError) as exc:
        raise RunFileError(f"{path}: damaged run header ({exc})") from exc
    train, allocate = arrays["train"], arrays["allocate"]
    n, m = allocate.size, len(models)
    allocations = arrays["front_allocations"]
    points = arrays["front_cost"].size
    problems = [
        f"{name} has shape {arrays[name].shape}, expected {(n, m)}"
        for name in ("mean", "spread", "scores") if arrays[name].shape != (n, m)
    ]
    if train.size + n != n_queries:
        problems.append(f"the split covers {train.size + n} queries, expected {n_queries}")
    if allocations.shape != (points, n) or arrays["front_accuracy"].size != points:
        problems.append(f"front arrays disagree: {allocations.shape} allocations for "
                        f"{points} points of {n} queries")
    elif allocations.size and not (0 <= allocations.min() and allocations.max() < m):
        problems.append("front allocations name models that do not exist")
    if points == 0:
        problems.append("the front is empty")
    if selected is not None and not (isinstance(selected, int) and 0 <= selected < points):
        problems.append(f"selected point {selected!r} is not on the saved front")
    if problems:
        raise RunFileError(f"{path}: damaged run file: {'; '.join(problems)}")
    return SavedRun(
        dataset_source=source, dataset_name=name, models=models, n_queries=n_queries,
        config=config, split=Split(train, allocate), mean=arrays["mean"],
        spread=arrays["spread"], scores=arrays["scores"], quality=quality,
        front_method=method, front_status=status, front_cost=arrays["front_cost"],
        front_accuracy=arrays["front_accuracy"], front_allocations=allocations,
        selected=selected)
