"""The only code that starts thread workers.

Each job runs library code off the UI thread and reports back only through Messages posted
to the app (`post_message` is thread-safe). Library progress callbacks are throttled here to
about ten messages a second, and `should_stop` is wired to the worker's cancellation, so
Escape or quitting stops work at the library's next check (a boosting round, a fold, a
batch of texts or rows; the optimiser between its steps).
Heavy modules (the pipeline, hence xgboost and scikit-learn) are imported inside the jobs,
never at app start-up.

Textual's thread workers run in the event loop's default executor, and cancelling one only
cancels the task awaiting it: the thread runs on until its code checks `is_cancelled`. The
library checks it often (every fold, boosting round, batch, round, generation), so a
cancelled job's thread returns within a fraction of a second; `Jobs.stop_all` waits for that.
A thread inside one long C call (an import, a big numpy operation) cannot be stopped, so
quitting does not wait for it: see `OptLLMApp.action_quit` and `optllm_tui.cli.main`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from optllm_tui.messages import (
    AllocationReady,
    BatchLoaded,
    CompareDone,
    CompareFront,
    CompareProgress,
    DatasetLoaded,
    ExportDone,
    ExportExists,
    JobFailed,
    LabellingProgress,
    LabelsChosen,
    LabelsMerged,
    LibraryReady,
    LimitsApplied,
    LimitsProgress,
    OptimiseFinished,
    OptimiseStopped,
    PicksWritten,
    PointDetailsReady,
    ProgressMessage,
    RunOpened,
    RunSaved,
    RunSaveExists,
    StepsTaken,
    TrainingFinished,
    TrainingProgress,
)
from optllm_tui.session import AllocationView, Stepper

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa
    from textual.app import App
    from textual.message import Message
    from textual.worker import Worker

    from optllm.config import RunConfig
    from optllm.data.dataset import Dataset, Split
    from optllm.evaluation import Evaluation
    from optllm.optimizers.api import StepEvent
    from optllm.optimizers.front import Front
    from optllm.pipeline.compare import FrontUpdate, Trained
    from optllm.pipeline.run import Prediction
    from optllm.progress import Progress

#: Seconds between two progress messages (or two batches of optimiser steps).
REPORT_INTERVAL = 0.1

Post = Callable[["Message"], object]


class Throttle:
    """A library progress callback that posts at most one progress message (a
    TrainingProgress unless told otherwise) per interval; the first and last report of
    each stage always go through."""

    def __init__(self, worker: Worker[Any], post: Post, interval: float = REPORT_INTERVAL,
                 message: type[ProgressMessage] = TrainingProgress) -> None:
        self._worker = worker
        self._post = post
        self._interval = interval
        self._message = message
        self._stage = ""
        self._last = 0.0

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        final = progress.total is not None and progress.done >= progress.total
        if progress.stage == self._stage and not final and now - self._last < self._interval:
            return
        self._stage, self._last = progress.stage, now
        self._post(self._message(self._worker, progress.stage, progress.done,
                                 progress.total, progress.message))


class FrontThrottle:
    """An `on_front` callback for `optllm.pipeline.compare.compare` that posts a method's growing
    front at most once per interval (the first generation of each run included) and its
    final front always, so an evolving front visibly moves without flooding the UI."""

    def __init__(self, worker: Worker[Any], post: Post, interval: float = REPORT_INTERVAL
                 ) -> None:
        self._worker = worker
        self._post = post
        self._interval = interval
        self._last = -interval

    def __call__(self, update: FrontUpdate) -> None:
        now = time.monotonic()
        if not update.final and update.generation != 1 and now - self._last < self._interval:
            return
        self._last = now
        self._post(CompareFront(self._worker, update))


class Jobs:
    """Starts the app's thread workers: exclusive per named group, errors reported as
    JobFailed messages instead of ending the app."""

    def __init__(self, app: App[Any], bug_log: Path | None = None) -> None:
        self._app = app
        self._live: set[threading.Event] = set()
        #: Where the tracebacks of unexpected errors (bugs, not user mistakes) go.
        self.bug_log = bug_log
        self._writing: set[Path] = set()

    def _run(self, group: str, description: str,
             work: Callable[[Worker[Any], Post], None]) -> Worker[None]:
        finished = threading.Event()
        self._live.add(finished)
        post = self._app.post_message

        def run() -> None:
            from textual.worker import get_current_worker

            from optllm.exceptions import Cancelled, OptLLMError

            worker = get_current_worker()
            try:
                work(worker, post)
            except Cancelled:
                pass  # the UI said so when it cancelled; nothing is left to report
            except (OptLLMError, OSError) as exc:
                post(JobFailed(worker, group, str(exc)))
            except Exception as exc:
                post(JobFailed(worker, group, bug_message(exc, self.bug_log)))
                raise
            finally:
                finished.set()

        return self._app.run_worker(run, name=group, group=group, description=description,
                                    thread=True, exclusive=True, exit_on_error=False)

    def running(self, group: str) -> bool:
        return any(w.group == group and w.is_running and not w.is_cancelled
                   for w in self._app.workers)

    def cancel(self, group: str) -> bool:
        """Cancel the group's workers; True if one was running (and not yet cancelled)."""
        was_running = self.running(group)
        self._app.workers.cancel_group(self._app, group)
        return was_running

    def live_threads(self) -> int:
        """Threads still running job code, cancelled ones included."""
        self._live = {event for event in self._live if not event.is_set()}
        return len(self._live)

    async def stop_all(self, timeout: float = 10.0) -> bool:
        """Cancel every job and wait until their threads have returned (True) or `timeout`
        seconds have passed (False); the UI stays responsive meanwhile."""
        self._app.workers.cancel_all()
        deadline = time.monotonic() + timeout
        while self.live_threads():
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    def remove_partial_writes(self) -> None:
        """Delete the temporary files of writes still in progress (exports, run files),
        before the process ends without waiting for them: each is written beside its
        target as `.<name>.<random>.tmp` and renamed only when complete, so the target
        itself is never half-written, and this leaves no stray temporary file either."""
        for target in list(self._writing):
            for partial in target.parent.glob(f".{target.name}.*.tmp"):
                partial.unlink(missing_ok=True)

    def _write(self, path: str, write: Callable[[], object]) -> None:
        """Run `write()`, remembering `path` while it runs (see `remove_partial_writes`)."""
        target = Path(path).absolute()
        self._writing.add(target)
        try:
            write()
        finally:
            self._writing.discard(target)

    # ------------------------------------------------------------------ jobs

    def warm_up(self) -> None:
        """Import the pipeline (xgboost, scikit-learn: about a second) and the comparison
        (with pymoo when installed) in the background, so neither the first paint nor a
        key press waits for them."""

        def work(worker: Worker[Any], post: Post) -> None:
            from optllm.pipeline.compare import pymoo_available

            pymoo_available()  # imports pymoo now, not when screen 7 opens
            post(LibraryReady(worker))

        self._run("warmup", "import the training pipeline", work)

    def load(self, source: str | None, layout: str | None) -> None:
        """Load a data file (None: the embedded default) and summarise its models."""

        def work(worker: Worker[Any], post: Post) -> None:
            if source is None:
                from optllm.data.default import load_default

                dataset = load_default()
            else:
                from optllm.data.tables import load_dataset

                dataset = load_dataset(source, layout=layout)
            _ = dataset.shared_prefix  # computed here, off the screen's thread
            post(DatasetLoaded(worker, dataset, source, dataset.model_summary()))

        self._run("load", f"load {source or 'the default dataset'}", work)

    def load_batch(self, source: str) -> None:
        """Read a batch of new unlabelled queries (`optllm.data.queries.load_batch`)."""

        def work(worker: Worker[Any], post: Post) -> None:
            from optllm.data.queries import load_batch_columns

            ids, queries, columns = load_batch_columns(source)
            post(BatchLoaded(worker, source, ids, queries, columns))

        self._run("batch", f"load the batch {source}", work)

    def train(self, dataset: Dataset, config: RunConfig,
              batch: tuple[np.ndarray, np.ndarray, pd.DataFrame] | None = None,
              prices: str | None = None) -> None:
        """Split, featurise, train the ensemble, predict, and compute the exact hull front.

        With a `batch`, as `optllm.pipeline.batch.run_batch` does: every labelled history row
        trains (no split), the batch is allocated with costs from token counts x prices.
        """

        def work(worker: Worker[Any], post: Post) -> None:
            from optllm import optimize
            from optllm.data.dataset import split_queries
            from optllm.pipeline.run import train_split
            from optllm.progress import Progress, check_cancelled

            started = time.perf_counter()
            should_stop = lambda: worker.is_cancelled  # noqa: E731
            throttle = Throttle(worker, post)
            trained, cost_model = dataset, None
            if batch is None:
                split = split_queries(dataset, config.train_fraction, config.seed)
            else:
                from optllm.pipeline.batch import prepare_batch

                prepared = prepare_batch(dataset, batch, prices=prices, progress=throttle)
                trained, split, cost_model = (prepared.dataset, prepared.split,
                                              prepared.cost_model)
            result = train_split(trained, split, config, progress=throttle,
                                 should_stop=should_stop)
            allocated, prediction = result.allocated, result.prediction
            check_cancelled(should_stop, "train")
            throttle(Progress("hull", 0, 1, "exact hull front"))
            hull = optimize(prediction.scores, allocated.cost, method="hull",
                            should_stop=should_stop)
            post(TrainingFinished(worker, config, split, allocated, prediction, hull,
                                  time.perf_counter() - started,
                                  trained if batch is not None else None, cost_model))

        self._run("train", "train the success predictor", work)

    def choose_labels(self, dataset: Dataset, config: RunConfig, count: int,
                      strategy: str) -> None:
        """The `count` unlabelled queries `strategy` would label next, trained on every
        labelled row (`optllm.pipeline.labelling`)."""

        def work(worker: Worker[Any], post: Post) -> None:
            from optllm.pipeline.labelling import LabellingContext, pick_next, picks_table

            context = LabellingContext(
                dataset, config, seed=config.seed,
                progress=Throttle(worker, post, message=LabellingProgress),
                should_stop=lambda: worker.is_cancelled)
            post(LabelsChosen(worker, picks_table(dataset, pick_next(context, count,
                                                                     strategy))))

        self._run("label", "choose the queries to label next", work)

    def write_picks(self, table: pa.Table, path: str, force: bool) -> None:
        """Write the chosen queries (format by the extension, atomically; over an existing
        file only with `force`: it may hold labels already filled in)."""

        def work(worker: Worker[Any], post: Post) -> None:
            from optllm.data.files import write_table

            self._write(path, lambda: write_table(table, path, force=force))
            post(PicksWritten(worker, path, table.num_rows))

        self._run("label-export", f"write {path}", work)

    def merge_labels(self, dataset: Dataset, path: str) -> None:
        """Read a filled-in file and merge its labels into `dataset` by query id."""

        def work(worker: Worker[Any], post: Post) -> None:
            from optllm.data.tables import load_dataset
            from optllm.pipeline.labelling import merge_labels

            merged, gained = merge_labels(dataset, load_dataset(path))
            post(LabelsMerged(worker, merged, merged.model_summary(), path, gained))

        self._run("label-merge", f"merge the labels of {path}", work)

    def advance(self, stepper: Stepper, steps: int | None) -> None:
        """Advance the optimiser `steps` steps (None: to the end) until cancelled (paused);
        steps are posted in batches at most every REPORT_INTERVAL seconds."""

        def work(worker: Worker[Any], post: Post) -> None:
            from optllm.optimizers.front import Front
            from optllm.pipeline.run import evaluate_front

            batch: list[StepEvent] = []
            last = time.monotonic()
            taken = 0
            try:
                while not worker.is_cancelled and (steps is None or taken < steps
                                                   or stepper.at_end):
                    item = stepper.advance()
                    if item is None:
                        return
                    if isinstance(item, Front):
                        if batch:
                            post(StepsTaken(worker, stepper, batch))
                            batch = []
                        evaluation = evaluate_front(item, stepper.allocated)
                        post(OptimiseFinished(worker, stepper, item, evaluation))
                        return
                    batch.append(item)
                    taken += 1
                    if time.monotonic() - last >= REPORT_INTERVAL:
                        post(StepsTaken(worker, stepper, batch))
                        batch, last = [], time.monotonic()
            finally:
                if batch:
                    post(StepsTaken(worker, stepper, batch))
            post(OptimiseStopped(worker, stepper))

        self._run("optimise", "run the optimiser", work)

    def compare(self, dataset: Dataset, methods: tuple[str, ...], seeds: tuple[int, ...],
                config: RunConfig, pop_size: int, generations: int,
                trained: Trained | None = None) -> None:
        """Run `optllm.pipeline.compare.compare`: progress and the fronts of evolving methods
        throttled to about ten messages a second each, finished fronts and the result
        always. Escape (cancelling) stops it between runs and generations. `trained` (the
        session's predictor) is reused for the seed it was trained with."""

        def work(worker: Worker[Any], post: Post) -> None:
            from optllm.pipeline.compare import compare

            comparison = compare(
                dataset, methods, seeds, config, pop_size=pop_size, generations=generations,
                progress=Throttle(worker, post, REPORT_INTERVAL, CompareProgress),
                should_stop=lambda: worker.is_cancelled,
                on_front=FrontThrottle(worker, post, REPORT_INTERVAL), trained=trained)
            post(CompareDone(worker, comparison))

        self._run("compare", f"compare {', '.join(methods)}", work)

    def point_details(self, front: Front, index: int, prediction: Prediction,
                      allocated: Dataset, evaluation: Evaluation | None,
                      limits: RunConfig | None = None) -> None:
        """The point's details; with `limits` (a config carrying them) also the limits'
        report at the point (`optllm.pipeline.limits.limited_point`)."""

        def work(worker: Worker[Any], post: Post) -> None:
            from optllm.pipeline.views import point_details

            details = point_details(front, index, prediction, allocated, evaluation)
            report = None
            if limits is not None:
                from optllm.pipeline.limits import limited_point

                report = limited_point(front.allocation(index), prediction.scores,
                                       allocated.cost, limits, allocated.models,
                                       should_stop=lambda: worker.is_cancelled)
            post(PointDetailsReady(worker, details, report))

        self._run("point", f"describe point {index}", work)

    def allocation(self, base: pa.Table | None, front: Front, index: int, allocated: Dataset,
                   prediction: Prediction, sort: str | None, descending: bool,
                   model: str | None, max_rows: int, text: str | None = None) -> None:
        """Build (or reuse) the point's Arrow table, filter and sort it with pyarrow compute,
        and build the table widget's backend, all off the UI thread."""

        def work(worker: Worker[Any], post: Post) -> None:
            from optllm.pipeline.views import browser_table, table_view

            table = base if base is not None else browser_table(
                allocated, prediction, front.allocation(index))
            shown, rows = table_view(table, sort, descending, model, max_rows, text)
            backend = _backend(shown)
            stripped = (table.schema.metadata or {}).get(b"stripped_prefix", b"").decode()
            post(AllocationReady(worker, table, AllocationView(
                index, sort, descending, model, backend, rows, table.num_rows,
                stripped_prefix=stripped, text=text)))

        self._run("table", f"build the allocation of point {index}", work)

    def apply_limits(self, front: Front, prediction: Prediction, allocated: Dataset,
                     config: RunConfig) -> None:
        """Put `front` under `config.limits` as `optllm run` does
        (`optllm.pipeline.limits.limited_front`: the hull's front becomes the exact
        constrained front, OptLLM-M's points are repaired), and evaluate it."""
        assert config.limits is not None
        limits = config.limits

        def work(worker: Worker[Any], post: Post) -> None:
            from optllm.pipeline.limits import limited_front
            from optllm.pipeline.run import evaluate_front

            limited, _, _ = limited_front(
                front, prediction.scores, allocated.cost, config, allocated.models,
                should_stop=lambda: worker.is_cancelled,
                progress=Throttle(worker, post, message=LimitsProgress))
            post(LimitsApplied(worker, limits, front, limited,
                               evaluate_front(limited, allocated)))

        self._run("limits", "put the front under the limits", work)

    def export(self, front: Front, index: int, allocated: Dataset, prediction: Prediction,
               path: str, file_format: str, force: bool,
               limits: LimitsExport | None = None) -> None:
        """Write the point's whole allocation atomically; an existing file is not touched
        unless `force` (the UI asks first). Under `limits`, also the run's summary.json
        (`RunResult.summary`, with the "limits" section `optllm run` writes) beside it."""

        def work(worker: Worker[Any], post: Post) -> None:
            from optllm.data.files import write_json, write_table
            from optllm.pipeline.run import allocation_table

            targets = [path] if limits is None else [path, summary_path(path)]
            if any(Path(target).exists() for target in targets) and not force:
                post(ExportExists(worker, path, file_format))
                return
            if limits is not None:
                summary = limits.summary(front, index, allocated, prediction,
                                         lambda: worker.is_cancelled)
                self._write(targets[1], lambda: write_json(summary, targets[1], force=force))
            table = allocation_table(allocated, prediction, front.allocation(index))
            self._write(path, lambda: write_table(table, path, file_format=file_format,
                                                  force=force))
            post(ExportDone(worker, path, table.num_rows))

        self._run("export", f"export to {path}", work)

    def save_run(self, path: str, *, source: str | None, dataset: Dataset,
                 config: RunConfig, prediction: Prediction, split: Split, front: Front,
                 selected: int | None, force: bool) -> None:
        def work(worker: Worker[Any], post: Post) -> None:
            from optllm.pipeline.runfile import save_run

            if Path(path).exists() and not force:
                post(RunSaveExists(worker, path))
                return
            self._write(path, lambda: save_run(
                path, dataset_source=source, dataset=dataset, config=config,
                prediction=prediction, split=split, front=front, selected=selected,
                force=force))
            post(RunSaved(worker, path))

        self._run("run", f"save the run to {path}", work)

    def open_run(self, path: str, layout: str | None) -> None:
        """Read a run file, reload its dataset and rebuild everything the screens show."""

        def work(worker: Worker[Any], post: Post) -> None:
            from optllm import optimize
            from optllm.pipeline.run import evaluate_front
            from optllm.pipeline.runfile import load_run

            saved = load_run(path)
            if saved.dataset_source is None:
                from optllm.data.default import load_default

                dataset = load_default()
            else:
                from optllm.data.tables import load_dataset

                dataset = load_dataset(saved.dataset_source, layout=layout)
            saved.check_dataset(dataset)
            allocated = dataset.subset(saved.split.allocate)
            _ = dataset.shared_prefix  # computed here, off the screen's thread
            front = saved.rebuild_front(allocated.cost)
            hull = optimize(saved.scores, allocated.cost, method="hull")
            post(RunOpened(worker, path, dataset, saved.dataset_source,
                           dataset.model_summary(), saved.config, saved.split, allocated,
                           saved.prediction(), hull, front, evaluate_front(front, allocated),
                           saved.selected))

        self._run("run", f"open the run {path}", work)


@dataclasses.dataclass(frozen=True)
class LimitsExport:
    """What an export under limits needs besides the point to write the run's
    summary.json: the config carrying the limits, the data the split indexes, the split,
    and the evaluation of the front under the limits."""

    config: RunConfig
    dataset: Dataset
    split: Split
    evaluation: Evaluation | None

    def summary(self, front: Front, index: int, allocated: Dataset, prediction: Prediction,
                should_stop: Callable[[], bool]) -> dict[str, Any]:
        """summary.json of the point as `optllm run` writes it (`RunResult.summary`)."""
        from optllm.pipeline.limits import limited_point
        from optllm.pipeline.run import RunResult, in_cost_unit

        report = limited_point(front.allocation(index), prediction.scores, allocated.cost,
                               self.config, allocated.models, should_stop=should_stop)
        result = RunResult(in_cost_unit(self.dataset, self.config.cost_unit), self.config,
                           self.split, prediction, front, self.evaluation, index,
                           band=prediction.band(front), limits=report)
        return result.summary()


def summary_path(path: str) -> str:
    """Where an export under limits writes its summary.json: beside the allocation, named
    after it (`alloc.csv.gz` -> `alloc.summary.json`)."""
    from optllm.data.formats import with_format

    return str(Path(with_format(path, "csv")).with_suffix(".summary.json"))


def bug_message(exc: Exception, log: Path | None) -> str:
    """What the user sees of an unexpected error (a bug: every mistake a user can make
    arrives as an OptLLMError); its traceback is appended to `log` for the bug report."""
    text = f"unexpected error: {type(exc).__name__}: {exc}"
    if log is None:
        return text
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a", encoding="utf-8") as handle:
            handle.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
            handle.write("".join(traceback.format_exception(exc)))
    except OSError:
        return text
    return f"{text} (a bug; the traceback is in {log})"


def _backend(view: pa.Table) -> Any:
    """An ArrowBackend with its column widths measured here rather than on the UI thread
    at first paint."""
    from textual_fastdatatable import ArrowBackend

    backend = ArrowBackend(view)
    backend.render_markup = False
    _ = backend.column_content_widths
    return backend
