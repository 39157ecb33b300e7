"""The OptLLM app: seven screens as Textual modes over one Session, with the jobs that fill it.

Message handlers here are the only code that changes the session; after a change they
publish a `Change` on `session_changed`, and each screen redraws what it shows.
"""

from __future__ import annotations

import dataclasses
import gc
import importlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import App
from textual.signal import Signal

from optllm_tui.commands import SCREENS, CommandProvider, bindings_for
from optllm_tui.formatting import display_path, seconds, typed_path
from optllm_tui.jobs import Jobs, LimitsExport, summary_path
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
    RunOpened,
    RunSaved,
    RunSaveExists,
    StepsTaken,
    TrainingFinished,
    TrainingProgress,
)
from optllm_tui.recent import Places, RecentFiles
from optllm_tui.screens.base import ModeScreen
from optllm_tui.screens.help import HelpScreen
from optllm_tui.screens.label_next import LabelNextScreen
from optllm_tui.screens.modals import ConfirmModal, ValueModal, WaitModal
from optllm_tui.session import Change, CompareState, LimitedFront, Session, Stepper, Topic
from optllm_tui.settings import Settings
from optllm_tui.textual_fixes import apply as apply_textual_fixes

if TYPE_CHECKING:
    import pyarrow as pa

    from optllm.config import RunConfig
    from optllm.optimizers.front import Front

DEFAULT_RUN_FILE = "optllm-run.optllm"
#: In the config directory: tracebacks of unexpected errors, for bug reports.
BUG_LOG = "errors.log"
#: Seconds quitting waits for cancelled jobs to return at their next check before it exits
#: anyway (a thread inside one long C call, an import or a numpy operation, cannot stop).
QUIT_GRACE = 0.3
#: Screens whose forms show the run config, hence need the pipeline module imported.
NEEDS_LIBRARY = ("predictor", "optimise", "compare")


def settle_heap() -> None:
    """Collect once, then leave everything alive out of later collections. A full
    collection of the heap that the libraries and a loaded dataset leave takes 100-200 ms
    of the UI thread, enough to hold up a key press; after big allocations it is done
    here, once, while the user waits for the load anyway."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def screen_class(mode: str) -> type[ModeScreen]:
    """The screen of `mode`: the ModeScreen in `optllm_tui/screens/<mode>.py` whose SCOPE
    is `mode`."""
    module = importlib.import_module(f"optllm_tui.screens.{mode}")
    return next(value for value in vars(module).values()
                if isinstance(value, type) and issubclass(value, ModeScreen)
                and value.SCOPE == mode)


class OptLLMApp(App[None]):
    """Datasets -> Predictor -> Optimise -> Front -> Allocation -> Export, keys 1-6, and
    Compare (key 7): methods side by side on the dataset."""

    CSS_PATH = "app.tcss"
    TITLE = "OptLLM"
    #: One screen per entry of the registry (`optllm_tui.commands.SCREENS`).
    MODES: ClassVar[dict[str, Any]] = {mode: screen_class(mode) for mode, _, _ in SCREENS}
    DEFAULT_MODE = "datasets"
    BINDINGS = bindings_for("app")
    COMMANDS = App.COMMANDS | {CommandProvider}
    # Textual declares these `ClassVar[...] | None`, which mypy reads as instance variables.
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [  # type: ignore[misc]
        (0, "-tiny-width"), (60, "-narrow"), (120, "-wide")]
    VERTICAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [  # type: ignore[misc]
        (0, "-tiny-height"), (18, "-short"), (36, "-tall")]

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings
        self.session = Session(run_defaults=dict(settings.run))
        self.jobs = Jobs(self, bug_log=settings.config_dir / BUG_LOG)
        self.recent = RecentFiles(settings.config_dir / "recent.json")
        self.places = Places(settings.config_dir / "places.json")
        self.session_changed: Signal[Change] = Signal(self, "session-changed")
        self.library_ready = False
        self._waiting: WaitModal | None = None
        #: A palette command to run on the screen being waited for.
        self._waiting_action: str | None = None
        self._asking_to_quit = False
        self._saving: tuple[Any, Any] | None = None

    def on_mount(self) -> None:
        self.jobs.warm_up()
        if self.settings.run_file:
            self._open_run(self.settings.run_file)
        else:
            self.load_source(self.settings.data, self.settings.layout)

    def publish(self, topic: Topic, **fields: Any) -> None:
        self.session_changed.publish(Change(topic, **fields))

    def report_error(self, group: str, text: str) -> None:
        """Show an error on the screen it belongs to and as a notification."""
        self.notify(text, title="Error", severity="error", timeout=8, markup=False)
        self.publish(Topic.FAILED, group=group, text=text)

    # ------------------------------------------------------------- app actions

    def action_show_screen(self, mode: str) -> None:
        """Switch screens; a screen that needs the training library while it is still
        being imported opens once it is there, so the key never freezes the UI."""
        if mode in NEEDS_LIBRARY and not self.library_ready:
            self._wait_for_library(mode)
            return
        self._waiting_action = None
        self.show_screen(mode)

    def _wait_for_library(self, mode: str) -> None:
        """Open `mode` once the library is imported; until then a dialog keeps the keys
        typed for it (`t` meant for the Predictor must not act on the Datasets screen)."""
        if self._waiting is not None:
            return

        def opened(keys: tuple[str, ...] | None) -> None:
            self._waiting = None
            action, self._waiting_action = self._waiting_action, None
            if keys is None:
                return
            self.show_screen(mode)
            if action is not None:
                self.call_later(self.run_screen_command, mode, action)
            for key in keys:
                self.call_after_refresh(self.simulate_key, key)

        title = next(title for name, _, title in SCREENS if name == mode)
        self._waiting = WaitModal(f"Opening {title}")
        self.push_screen(self._waiting, opened)

    async def run_screen_command(self, mode: str, action: str) -> None:
        """A screen's command picked in the palette elsewhere: switch to that screen, then
        run it there (once the training library is in, for the screens that need it)."""
        if self.current_mode != mode:
            if mode in NEEDS_LIBRARY and not self.library_ready:
                self._waiting_action = action
                self.action_show_screen(mode)  # opens when the library is in
                return
            self._waiting_action = None
            await self.switch_mode(mode)
        await self.screen.run_action(action)

    def on_library_ready(self, message: LibraryReady) -> None:
        self.library_ready = True
        settle_heap()
        if self._waiting is not None:
            self._waiting.release()

    def show_screen(self, mode: str) -> None:
        self.switch_mode(mode)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_screenshot(self, filename: str | None = None, path: str | None = None
                          ) -> None:
        """F8: an SVG of the screen in the current folder (Textual's default, the
        Downloads folder, may not exist over SSH), and say where it went."""
        try:
            saved = Path(self.save_screenshot(filename, path or ".")).absolute()
        except OSError as exc:
            self.report_error("screenshot", f"screenshot not saved: {exc}")
            return
        self.notify(f"Screenshot saved to {saved}", timeout=6, markup=False)

    def action_next_theme(self) -> None:
        names = sorted(self.available_themes)
        self.theme = names[(names.index(self.theme) + 1) % len(names)]
        self.notify(f"Theme: {self.theme}", timeout=2)

    async def action_quit(self) -> None:
        """q: quit, after a yes when a trained predictor or front is not saved (q again
        while asked quits). ctrl+q (`action_quit_now`) never asks."""
        lost = self.session.unsaved_work
        if lost is None or self._asking_to_quit:
            await self.action_quit_now()
            return
        self._asking_to_quit = True

        async def answered(yes: bool | None) -> None:
            self._asking_to_quit = False
            if yes:
                await self.action_quit_now()

        self.push_screen(ConfirmModal("Quit", f"Quit and lose {lost}? It is not saved "
                                      f"({self._how_to_keep()}). ctrl+q quits at once."),
                         answered)

    async def action_quit_now(self) -> None:
        """ctrl+q: quit at once, whatever is running: cancel every job, give the threads
        `QUIT_GRACE` seconds to return at their next check, and exit. A thread still
        running then is abandoned: `optllm_tui.cli.main` ends the process once Textual has
        restored the terminal, and removes the temporary file of an unfinished export
        (the target is only ever replaced by a complete file)."""
        await self.jobs.stop_all(timeout=QUIT_GRACE)
        self.exit()

    def confirm_discard(self, doing: str, proceed: Callable[[], None]) -> None:
        """Run `proceed` at once, or after a yes when it would throw away a trained
        predictor or front that is not saved (one key must not lose minutes of work)."""
        lost = self.session.unsaved_work
        if lost is None:
            proceed()
            return
        self.push_screen(ConfirmModal("Unsaved work", f"{doing} throws away {lost}, which "
                                      f"is not saved ({self._how_to_keep()}). Go on?"),
                         lambda yes: proceed() if yes else None)

    def _how_to_keep(self) -> str:
        if self.session.trained_dataset is not None:
            return "export the allocation on screen 6 to keep it"
        return "F2 saves the run" if self.session.front is not None else (
            "optimise, then F2 saves the run")

    def action_save_run(self) -> None:
        if self.session.front is None:
            self.report_error("run", "Nothing to save yet: train and run the optimiser first.")
            return
        if self.session.trained_dataset is not None:
            self.report_error("run", "A run on a batch of new queries cannot be saved as a run "
                              "file; export its allocation instead (screen 6).")
            return
        self.push_screen(ValueModal("Save run", "Save the run to (.optllm)", self._run_path(),
                                    required="a file path", path=True),
                         lambda path: self.save_run(path, force=False))

    def action_open_run(self) -> None:
        self.push_screen(ValueModal("Open run", "Open the run file", self._run_path(),
                                    required="a file path", path=True),
                         self._open_run)

    def _run_path(self) -> str:
        """What F2 and F3 offer: the run file last saved or opened, else a new name in the
        folder last written to; always absolute, so it is clear where it goes."""
        return self.places.last_run() or os.path.join(self.places.folder(), DEFAULT_RUN_FILE)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "save_run":
            session = self.session
            return (session.front is not None and session.trained_dataset is None) or None
        return True

    # ---------------------------------------------------------------- datasets

    def load_source(self, source: str | None, layout: str | None) -> None:
        """Load a data file (None: the embedded default) in a worker, after a yes when
        that would throw away unsaved work."""
        self.confirm_discard("Opening other data",
                             lambda: self._load_source(source, layout))

    def _load_source(self, source: str | None, layout: str | None) -> None:
        self.jobs.load(source, layout)
        self.publish(Topic.LOADING, text=display_path(source) if source else "the default dataset")

    def on_dataset_loaded(self, message: DatasetLoaded) -> None:
        if message.stale:
            return
        self.jobs.cancel("train")
        self.jobs.cancel("optimise")
        self.jobs.cancel("compare")
        self.session.set_dataset(message.dataset, message.source, message.summary)
        if message.source is not None:
            self.recent.add(message.source)
        dataset = message.dataset
        self.sub_title = f"{dataset.title}: {dataset.n_queries:,} x {dataset.n_models}"
        self.publish(Topic.DATASET)
        settle_heap()

    def load_batch(self, source: str) -> None:
        """Read a batch of new unlabelled queries to allocate, in a worker (after a yes
        when the trained predictor it replaces is not saved)."""
        self.confirm_discard("A new batch", lambda: self._load_batch(source))

    def _load_batch(self, source: str) -> None:
        self.jobs.load_batch(source)
        self.publish(Topic.BATCH_LOADING, text=display_path(source))

    def on_batch_loaded(self, message: BatchLoaded) -> None:
        if message.stale:
            return
        self.jobs.cancel("train")
        self.jobs.cancel("optimise")
        self.session.set_batch(message.source, (message.ids, message.queries, message.columns))
        self.publish(Topic.BATCH)

    def clear_batch(self) -> None:
        """Back to splitting the labelled dataset: no batch to allocate."""
        self.jobs.cancel("batch")
        if self.session.batch is None:
            return
        self.confirm_discard("Dropping the batch", self._clear_batch)

    def _clear_batch(self) -> None:
        self.jobs.cancel("train")
        self.jobs.cancel("optimise")
        self.session.set_batch(None, None)
        self.publish(Topic.BATCH)

    def set_prices(self, path: str | None) -> None:
        """A prices TOML for the batch's costs (None: the bundled price table)."""
        self.session.prices = path
        self.publish(Topic.BATCH)

    def on_job_failed(self, message: JobFailed) -> None:
        if message.stale:
            return
        dialog = self._label_dialog()
        if dialog is not None and message.group.startswith("label"):
            dialog.status(message.text, "error")
        if message.group == "optimise":
            self.session.running = False
            self.publish(Topic.OPTIMISER)
        elif message.group == "compare":
            state = self.session.compare_state
            self.session.compare_state = dataclasses.replace(state, phase="failed",
                                                             text=message.text)
            self.publish(Topic.COMPARE)
        self.report_error(message.group, message.text)

    # ---------------------------------------------------------------- training

    def start_training(self, config: RunConfig) -> None:
        dataset = self.session.dataset
        if dataset is None:
            self.report_error("train", "Load a dataset first (screen 1).")
            return
        self.jobs.cancel("optimise")
        self.session.config = config
        self.jobs.train(dataset, config, self.session.batch, self.session.prices)
        self.publish(Topic.TRAINING)

    # -------------------------------------------------------------- label next

    def _label_dialog(self) -> LabelNextScreen | None:
        return self.screen if isinstance(self.screen, LabelNextScreen) else None

    def choose_labels(self, count: int, strategy: str) -> bool:
        """Choose the queries to label next in a worker; False (and the error shown)
        when there is no dataset."""
        dataset = self.session.dataset
        if dataset is None:
            self.report_error("label", "Load a dataset first (screen 1).")
            return False
        self.jobs.choose_labels(dataset, self.session.config, count, strategy)
        return True

    def on_labelling_progress(self, message: LabellingProgress) -> None:
        dialog = self._label_dialog()
        if not message.stale and dialog is not None:
            dialog.status(f"{message.stage}: {message.text or f'{message.done}/{message.total}'}")

    def on_labels_chosen(self, message: LabelsChosen) -> None:
        dialog = self._label_dialog()
        if not message.stale and dialog is not None:
            dialog.show_picks(message.table)

    def export_picks(self, table: pa.Table, path: str, force: bool = False) -> None:
        """Write the chosen queries to `path`, asking before replacing a file."""
        target = typed_path(path)
        if Path(target).exists() and not force:
            self.push_screen(
                ConfirmModal("File exists", f"{display_path(target)} exists (it may hold "
                             "labels already filled in). Overwrite it?"),
                lambda overwrite: self.export_picks(table, path, True) if overwrite else None)
            return
        self.jobs.write_picks(table, target, force)

    def on_picks_written(self, message: PicksWritten) -> None:
        self.places.wrote(message.path)
        text = (f"Wrote {message.rows:,} queries to {display_path(message.path)}; fill in the "
                "label columns, then merge the file.")
        self.notify(text, timeout=4, markup=False)
        dialog = self._label_dialog()
        if dialog is not None:
            dialog.status(text)

    def merge_labels(self, path: str) -> None:
        dataset = self.session.dataset
        if dataset is None:
            self.report_error("label-merge", "Load a dataset first (screen 1).")
            return
        self.jobs.merge_labels(dataset, typed_path(path))

    def on_labels_merged(self, message: LabelsMerged) -> None:
        """Merged labels replace the dataset (the source file is not changed) and the
        predictor retrains on every labelled query."""
        if message.stale:
            return
        dataset = message.dataset
        self.jobs.cancel("train")
        self.jobs.cancel("optimise")
        self.session.set_dataset(dataset, self.session.source, message.summary)
        self.publish(Topic.DATASET)
        config = self.session.config
        share = dataset.n_labelled / dataset.n_queries
        if share < 1 and self.session.batch is None:
            config = dataclasses.replace(config, train_fraction=share)
        text = (f"Merged {message.gained:,} newly labelled queries from "
                f"{display_path(message.path)}; {dataset.n_labelled:,} labelled in all. "
                "Retraining on them (the data file itself is unchanged).")
        self.notify(text, timeout=6, markup=False)
        dialog = self._label_dialog()
        if dialog is not None:
            dialog.dismiss(None)
        self.start_training(config)

    def cancel_training(self) -> None:
        """Escape: the thread stops at its next check (a boosting round, a fold, a batch);
        its result, if it still arrives, is dropped as stale."""
        if self.jobs.cancel("train"):
            self.publish(Topic.CANCELLED, group="train")
            self.notify("Training cancelled.", timeout=3)

    def on_training_progress(self, message: TrainingProgress) -> None:
        if not message.stale:
            self.publish(Topic.PROGRESS, payload=message)

    def on_training_finished(self, message: TrainingFinished) -> None:
        if message.stale:
            return
        self.session.config = message.config
        self.session.set_prediction(message.split, message.allocated, message.prediction,
                                    message.hull, message.dataset, message.cost_model)
        self.publish(Topic.PREDICTION, payload=message.elapsed_s)
        settle_heap()
        took = f" in {seconds(message.elapsed_s)}" if self.settings.show_timings else ""
        self.notify(f"Predictor trained{took}. Press 3 to optimise.", timeout=4)

    # --------------------------------------------------------------- optimiser

    def set_optimiser_params(self, **changes: Any) -> bool:
        """Change method or density (checked); the optimiser restarts with them."""
        from optllm.exceptions import ConfigError

        try:
            config = dataclasses.replace(self.session.config, **changes).check()
        except ConfigError as exc:
            self.report_error("optimise", str(exc))
            return False
        self.session.config = config
        session = self.session
        if session.events or session.stepper is not None or session.front is not None:
            self.optimiser_reset()
            self.notify("Optimiser reset with the new settings.", timeout=3)
        return True

    def optimiser_advance(self, steps: int | None) -> None:
        """One step (steps=1) or to the end (None), in a worker, from where it stands."""
        session = self.session
        if session.prediction is None or session.allocated is None:
            self.report_error("optimise", "Train the predictor first (screen 2).")
            return
        if session.front is not None:
            return
        if self.jobs.running("optimise") and steps is not None:
            # Pressed while a step is computed: queued, never dropped (or said why not).
            if session.running:
                self.notify("s ignored: the optimiser is already running to the end "
                            "(p pauses).", timeout=3)
            else:
                session.queued_steps += steps
                self.publish(Topic.OPTIMISER)
            return
        if session.stepper is None:
            session.stepper = Stepper(session.prediction, session.allocated, session.config)
        session.running = steps is None
        session.queued_steps = 0
        session.view_step = None
        self.jobs.advance(session.stepper, steps)
        self.publish(Topic.OPTIMISER)

    def optimiser_pause(self) -> None:
        if self.jobs.cancel("optimise"):
            self.session.running = False
            self.session.queued_steps = 0
            self.publish(Topic.OPTIMISER)

    def optimiser_reset(self) -> None:
        self.jobs.cancel("optimise")
        self.session.clear_optimiser()
        self.publish(Topic.FRONT)

    def on_steps_taken(self, message: StepsTaken) -> None:
        if message.stepper is self.session.stepper:
            self.session.events.extend(message.events)
            self.publish(Topic.STEPS)

    def on_optimise_stopped(self, message: OptimiseStopped) -> None:
        session = self.session
        if message.stepper is not session.stepper or message.stale:
            return
        session.running = False
        queued, session.queued_steps = session.queued_steps, 0
        if queued:
            session.view_step = None
            self.jobs.advance(message.stepper, queued)
        self.publish(Topic.OPTIMISER)

    def on_optimise_finished(self, message: OptimiseFinished) -> None:
        if message.stepper is not self.session.stepper:
            return
        self.session.running = False
        self.session.set_front(message.front, message.evaluation)
        self.publish(Topic.FRONT)
        self._describe_selected()
        if self.session.limits:
            self.apply_limits(self.session.limits)  # the new front goes under them too

    # ----------------------------------------------------------------- compare

    def start_compare(self, methods: Sequence[str], n_seeds: int, pop_size: int,
                      generations: int) -> None:
        """Compare `methods` on the dataset over `n_seeds` seeds from the run config's seed
        on, with the run config (train fraction, learner, bootstraps ...), in a worker."""
        from optllm.exceptions import ConfigError
        from optllm.pipeline.compare import check_methods

        session = self.session
        dataset = session.dataset
        if dataset is None:
            self.report_error("compare", "Load a dataset first (screen 1).")
            return
        try:
            names = check_methods(methods)
            if n_seeds < 1:
                raise ConfigError(f"seeds must be at least 1; got {n_seeds}")
        except ConfigError as exc:
            self.report_error("compare", str(exc))
            return
        config = session.config
        seeds = tuple(range(config.seed, config.seed + n_seeds))
        session.clear_comparison(CompareState("running", "starting", 0,
                                              len(names) * len(seeds)))
        self.jobs.compare(dataset, names, seeds, config, pop_size, generations,
                          session.reusable())
        self.publish(Topic.COMPARE)

    def cancel_compare(self) -> None:
        """Escape: the thread stops at its next check (a generation, a boosting round, a
        fold, a batch); what it still sends is dropped as stale."""
        if self.jobs.cancel("compare"):
            state = self.session.compare_state
            self.session.compare_state = dataclasses.replace(
                state, phase="cancelled", text="Comparison cancelled.")
            self.publish(Topic.COMPARE)
            self.notify("Comparison cancelled.", timeout=3)

    def on_compare_progress(self, message: CompareProgress) -> None:
        if message.stale:
            return
        state = self.session.compare_state
        text = (f"{message.text} done" if message.stage == "compare"
                else f"{message.text} [{message.stage} {message.done}/{message.total}]")
        self.session.compare_state = dataclasses.replace(
            state, text=text,
            runs_done=message.done if message.stage == "compare" else state.runs_done)
        self.publish(Topic.COMPARE_PROGRESS)

    def on_compare_front(self, message: CompareFront) -> None:
        if message.stale:
            return
        fronts = self.session.compare_fronts
        update = message.update
        if any(shown.seed != update.seed for shown in fronts.values()):
            fronts.clear()  # a new seed: its fronts replace the last seed's
        fronts[update.method] = update
        self.publish(Topic.COMPARE_FRONT)

    def on_compare_done(self, message: CompareDone) -> None:
        """The last seed's final fronts are in `compare_fronts` already: every final
        `CompareFront` is posted, before this message."""
        if message.stale:
            return
        comparison = message.comparison
        session = self.session
        session.comparison = comparison
        runs = len(comparison.runs)
        session.compare_state = CompareState("done", f"Done: {runs} runs.", runs, runs)
        self.publish(Topic.COMPARE)
        self.notify("Comparison done.", timeout=3)

    # ------------------------------------------------------------------- front

    def select_point(self, index: int) -> None:
        front = self.session.shown_front
        if front is None:
            return
        index = max(0, min(len(front) - 1, index))
        if index == self.session.selected:
            return
        self.session.selected = index
        self.publish(Topic.SELECTION)
        self._describe_selected()

    def select_budget(self, budget: float) -> None:
        self._select_by(lambda front: front.index_for_budget(budget))

    def select_target(self, accuracy: float) -> None:
        prediction = self.session.prediction  # the honest expected accuracy decides
        self._select_by(lambda front: front.index_for_accuracy(
            accuracy, None if prediction is None else prediction.band(front).expected))

    def _select_by(self, find: Callable[[Front], int]) -> None:
        from optllm.exceptions import ConfigError

        front = self.session.shown_front
        if front is None:
            return
        try:
            index = find(front)
        except ConfigError as exc:
            self.report_error("front", str(exc))
            return
        self.select_point(index)

    def _describe_selected(self) -> None:
        session = self.session
        front = session.shown_front
        if (front is None or session.selected is None or session.prediction is None
                or session.allocated is None):
            return
        limited = session.limited
        self.jobs.point_details(front, session.selected, session.prediction,
                                session.allocated, session.shown_evaluation,
                                None if limited is None else self.limits_config(limited.limits))

    def on_point_details_ready(self, message: PointDetailsReady) -> None:
        if not message.stale and message.details.index == self.session.selected:
            self.session.details = message.details
            self.session.point_limits = (None if message.limits is None
                                         else (message.details.index, message.limits))
            self.publish(Topic.DETAILS)

    # ------------------------------------------------------------------ limits

    def limits_config(self, limits: dict[str, dict[str, float]]) -> RunConfig:
        """The config the front was made with, carrying `limits` and no budget or target
        (the app chooses points on the front itself); ConfigError when the limits do not
        suit it (spend limits with cost unit calls)."""
        session = self.session
        return dataclasses.replace(session.trained_config or session.config, limits=limits,
                                   budget=None, target_accuracy=None).check()

    def apply_limits(self, limits: dict[str, dict[str, float]]) -> bool:
        """Put the front under `limits` in a worker (empty: clear them); False (and the
        error shown) when there is no front or the limits do not suit the run."""
        from optllm.exceptions import ConfigError

        session = self.session
        if not any(limits.values()):
            self.clear_limits()
            return True
        if session.front is None or session.prediction is None or session.allocated is None:
            self.report_error("limits", "Run the optimiser first (screen 3): limits apply "
                              "to its front.")
            return False
        try:
            config = self.limits_config(limits)
            constraints = config.constraints()
            assert constraints is not None
            constraints.limits(session.allocated.models, session.allocated.n_queries)
        except ConfigError as exc:
            self.report_error("limits", str(exc))
            return False
        self.jobs.apply_limits(session.front, session.prediction, session.allocated, config)
        self.publish(Topic.LIMITS_PROGRESS, text="Putting the front under the limits ...")
        return True

    def cancel_limits(self) -> bool:
        """Escape while the front under limits is computed: it stops at the library's next
        check and what was shown stays."""
        if self.jobs.cancel("limits"):
            self.publish(Topic.LIMITS, group="cancelled",
                         text="Cancelled: what was shown before is kept.")
            self.notify("Limits not applied (cancelled).", timeout=3)
            return True
        return False

    def clear_limits(self) -> None:
        """Back to the unconstrained front and the point chosen on it before."""
        self.jobs.cancel("limits")
        session = self.session
        session.limits = None
        if session.limited is not None:
            session.set_limited(None, session.limited.unconstrained_selected)
            self.publish(Topic.FRONT)
            self._describe_selected()
        self.publish(Topic.LIMITS, group="cleared", text="No limits.")

    def on_limits_progress(self, message: LimitsProgress) -> None:
        if not message.stale:
            self.publish(Topic.LIMITS_PROGRESS, payload=message)

    def on_limits_applied(self, message: LimitsApplied) -> None:
        """The front under the limits replaces what the Front screen moves along; the
        chosen point becomes the most accurate one spending no more than the point chosen
        before (the cheapest when every one costs more)."""
        session = self.session
        if message.stale or message.source is not session.front:
            return
        from optllm.exceptions import ConfigError

        front = session.shown_front
        unconstrained = (session.limited.unconstrained_selected if session.limited is not None
                         else session.selected)
        selected = 0
        if front is not None and session.selected is not None:
            try:
                selected = message.front.index_for_budget(float(front.cost[session.selected]))
            except ConfigError:
                selected = 0
        session.limits = message.limits
        session.set_limited(LimitedFront(message.limits, message.front, message.evaluation,
                                         unconstrained), selected)
        self.publish(Topic.FRONT)
        self.publish(Topic.LIMITS, group="applied",
                     text=f"Limits applied: {len(message.front):,} points under them.")
        self._describe_selected()

    # -------------------------------------------------------------- allocation

    def request_allocation(self, sort: str | None, descending: bool, model: str | None,
                           text: str | None = None) -> bool:
        """Build the selected point's table sorted and filtered as asked, in a worker."""
        session = self.session
        front = session.shown_front
        if (front is None or session.selected is None or session.prediction is None
                or session.allocated is None):
            return False
        cached = session.allocation_base
        base = cached[1] if cached is not None and cached[0] == session.selected else None
        self.jobs.allocation(base, front, session.selected, session.allocated,
                             session.prediction, sort, descending, model,
                             self.settings.max_table_rows, text)
        return True

    def on_allocation_ready(self, message: AllocationReady) -> None:
        if message.stale or message.view.point != self.session.selected:
            return
        self.session.allocation_base = (message.view.point, message.base)
        self.session.allocation_view = message.view
        self.publish(Topic.ALLOCATION)

    # ------------------------------------------------------------------ export

    def export(self, path: str, file_format: str, force: bool) -> bool:
        session = self.session
        front = session.shown_front
        if (front is None or session.selected is None or session.prediction is None
                or session.allocated is None):
            self.report_error("export", "Nothing to export yet: run the optimiser first.")
            return False
        limits = None
        if (session.limited is not None and session.split is not None
                and session.dataset is not None):
            limits = LimitsExport(self.limits_config(session.limited.limits),
                                  session.trained_dataset or session.dataset, session.split,
                                  session.limited.evaluation)
        self.jobs.export(front, session.selected, session.allocated, session.prediction,
                         path, file_format, force, limits)
        self.publish(Topic.EXPORTING, text=f"Writing {display_path(path)} ...")
        return True

    def on_export_exists(self, message: ExportExists) -> None:
        if message.stale:
            return

        def answered(overwrite: bool | None) -> None:
            if overwrite:
                self.export(message.path, message.file_format, force=True)
            else:
                self.publish(Topic.FAILED, group="export",
                             text=f"Not written: {display_path(message.path)} exists.")

        shown = display_path(message.path)
        if self.session.limited is not None:
            shown += f" or its summary {display_path(summary_path(message.path))}"
        self.publish(Topic.EXPORTING, text=f"{shown} exists: overwrite it? (answer above)")
        self.push_screen(ConfirmModal("File exists", f"{shown} exists. Overwrite it?"), answered)

    def on_export_done(self, message: ExportDone) -> None:
        self.places.wrote(message.path)
        text = f"Wrote {message.rows:,} rows to {display_path(message.path)}."
        self.notify(text, timeout=4, markup=False)
        self.publish(Topic.EXPORTED, text=text)

    # -------------------------------------------------------------------- runs

    def save_run(self, path: str | None, force: bool) -> None:
        session = self.session
        if (not path or session.front is None or session.dataset is None
                or session.prediction is None or session.split is None):
            return
        self._saving = (session.prediction, session.front)
        # A run file keeps the unconstrained front and the point chosen on it.
        selected = (session.selected if session.limited is None
                    else session.limited.unconstrained_selected)
        self.jobs.save_run(typed_path(path), source=session.source,
                           dataset=session.dataset, config=session.config,
                           prediction=session.prediction, split=session.split,
                           front=session.front, selected=selected, force=force)

    def on_run_save_exists(self, message: RunSaveExists) -> None:
        self.push_screen(
            ConfirmModal("File exists", f"{display_path(message.path)} exists. Overwrite it?"),
            lambda overwrite: self.save_run(message.path, force=True) if overwrite else None)

    def on_run_saved(self, message: RunSaved) -> None:
        self.session.saved = self._saving
        self.places.wrote(message.path, run=True)
        self.notify(f"Run saved to {display_path(message.path)}.", timeout=4, markup=False)

    def _open_run(self, path: str | None) -> None:
        if path:
            path = typed_path(path)
            self.confirm_discard("Opening a run", lambda: self._read_run(path))

    def _read_run(self, path: str) -> None:
        self.jobs.open_run(path, self.settings.layout)
        self.publish(Topic.LOADING, text=display_path(path))

    def on_run_opened(self, message: RunOpened) -> None:
        if message.stale:
            return
        self.jobs.cancel("train")
        self.jobs.cancel("optimise")
        self.jobs.cancel("compare")
        session = self.session
        session.set_dataset(message.dataset, message.source, message.summary)
        session.config = message.config
        session.set_prediction(message.split, message.allocated, message.prediction,
                               message.hull)
        session.set_front(message.front, message.evaluation, message.selected)
        session.saved = (message.prediction, message.front)
        self.places.wrote(message.path, run=True)
        dataset = message.dataset
        self.sub_title = f"{dataset.title}: {dataset.n_queries:,} x {dataset.n_models}"
        self.publish(Topic.ALL, group="run")
        self.notify(f"Opened the run {display_path(message.path)}.", timeout=4, markup=False)
        self._describe_selected()
        settle_heap()


def make_app(settings: Settings | None = None) -> OptLLMApp:
    """The one way to build the app: the CLI, the tests and the benchmarks all use it."""
    apply_textual_fixes()
    return OptLLMApp(settings or Settings())

