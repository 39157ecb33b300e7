"""Cancel and quit mean stop: after Escape the job's threads end, and ctrl+q exits at once
even while a thread is inside a call that cannot be interrupted (an import, one long
library call); the console script then ends the process without waiting for it."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

import pytest
from textual.pilot import Pilot

from optllm_tui import cli
from optllm_tui.app import OptLLMApp, make_app
from optllm_tui.messages import CompareProgress
from optllm_tui.settings import Settings

from .conftest import loaded, run_opened, show, until
from .test_compare_screen import choose

#: The paper's XGBoost ensemble with enough members that training is still running when
#: the test acts on it.
LONG_RUN = {"bootstraps": 400, "train_fraction": 0.2, "learner": "xgboost",
            "featuriser": "tfidf-svd"}
#: Generous on a loaded machine, and still half of the 10 s quitting used to wait for
#: threads (quitting now waits 0.3 s).
PROMPTLY = 5.0


def job_threads(before: set[threading.Thread]) -> set[threading.Thread]:
    """Threads started since `before`, other than the event loop's idle executor workers
    (`asyncio_N`, which Textual runs thread workers in and which outlive them)."""
    return {t for t in threading.enumerate()
            if t not in before and not t.name.startswith("asyncio_")}


class Stuck:
    """A stand-in for a call that ignores cancellation: it sets `entered` and blocks until
    `release` is set, which leaving the `with` block always does (before the event loop's
    teardown, which waits for every executor thread)."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, *args: object, **kw: object) -> bool:
        self.entered.set()
        self.release.wait()
        return True

    def __enter__(self) -> Stuck:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()


async def escape_ends_the_threads(pilot: Pilot[None], before: set[threading.Thread]) -> None:
    app = pilot.app
    assert isinstance(app, OptLLMApp)
    await pilot.press("escape")
    await until(pilot, lambda: app.jobs.live_threads() == 0, "the job to return",
                timeout=PROMPTLY)
    await until(pilot, lambda: not job_threads(before), "its threads to end",
                timeout=PROMPTLY)


async def quits_promptly(pilot: Pilot[None]) -> None:
    """ctrl+q, then the app has exited within PROMPTLY seconds of the key (the key press
    itself lasts as long as quitting waits, so the clock starts before it)."""
    started = time.monotonic()
    await pilot.press("ctrl+q")
    await until(pilot, lambda: not pilot.app.is_running, "the app to exit", timeout=PROMPTLY)
    assert time.monotonic() - started < PROMPTLY


async def test_escape_stops_training_inside_a_member(settings: Settings) -> None:
    """The ensemble's member threads and the job's thread all end: running members stop
    within a boosting round, and the others never start."""
    app = make_app(dataclasses.replace(settings, run=LONG_RUN))
    async with app.run_test() as pilot:
        await loaded(pilot)
        await show(pilot, "2")
        await until(pilot, lambda: app.jobs.live_threads() == 0, "the warm-up")
        before = set(threading.enumerate())
        await pilot.press("t")
        await until(pilot, lambda: any(t.name.startswith("ThreadPoolExecutor")
                                       for t in job_threads(before)), "the first members")
        await escape_ends_the_threads(pilot, before)
        assert app.session.prediction is None


async def test_escape_stops_an_evolving_comparison(settings: Settings) -> None:
    app = make_app(dataclasses.replace(settings, run={**settings.run, "bootstraps": 2}))
    messages: list[object] = []
    async with app.run_test(message_hook=messages.append) as pilot:
        await choose(pilot, ["nsga2"], pop=40, generations=100_000)
        await until(pilot, lambda: app.jobs.live_threads() == 0, "the warm-up")
        before = set(threading.enumerate())
        await pilot.press("c")
        await until(pilot, lambda: any(isinstance(m, CompareProgress) and m.stage == "nsga2"
                                       for m in messages), "the first generation")
        await escape_ends_the_threads(pilot, before)
        assert app.session.compare_state.phase == "cancelled"


async def test_quit_does_not_wait_for_the_warm_up_import(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Right after start the training library is still being imported in a thread, which
    nothing can interrupt: quitting leaves it behind instead of waiting."""
    import optllm.pipeline.compare

    with Stuck() as importing:
        monkeypatch.setattr(optllm.pipeline.compare, "pymoo_available", importing)
        app = make_app(settings)
        async with app.run_test() as pilot:
            await until(pilot, importing.entered.is_set, "the warm-up")
            await quits_promptly(pilot)
        assert app.jobs.live_threads() == 1  # the import, still under way


async def test_quit_does_not_wait_for_a_job_stuck_in_one_call(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    import optllm.pipeline.run

    with Stuck() as training:
        monkeypatch.setattr(optllm.pipeline.run, "train_and_predict", training)
        app = make_app(settings)
        async with app.run_test() as pilot:
            await loaded(pilot)
            await show(pilot, "2")
            await pilot.press("t")
            await until(pilot, training.entered.is_set, "the training call")
            await quits_promptly(pilot)
        assert app.jobs.live_threads() == 1


async def test_an_abandoned_export_leaves_no_partial_file(
        run_settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An export cut short by quitting: the target never appears half-written, and the
    temporary file it was being written to is removed."""
    import optllm.data.files

    target = tmp_path / "out.csv"
    with Stuck() as writing:
        def half_written(table: object, path: str, **kw: object) -> None:
            with optllm.data.files.atomic_path(path, force=True) as tmp:
                tmp.write_text("query_id,model\n1,a\n")
                writing()

        monkeypatch.setattr(optllm.data.files, "write_table", half_written)
        app = make_app(run_settings)
        async with app.run_test() as pilot:
            await run_opened(pilot)
            app.export(str(target), "csv", force=False)
            await until(pilot, writing.entered.is_set, "the export")
            assert list(tmp_path.glob(".out.csv.*.tmp"))
            app.jobs.remove_partial_writes()
            assert not list(tmp_path.glob(".out.csv.*.tmp"))
            assert not target.exists()


class FinishedApp:
    """What `cli.main` sees of an app after `run` returned: its jobs, `live` threads left."""

    def __init__(self, live: int) -> None:
        self.live = live
        self.removed = False
        self.return_code = 0
        self.jobs = self

    def run(self, **kw: object) -> None:
        pass

    def live_threads(self) -> int:
        return self.live

    def remove_partial_writes(self) -> None:
        self.removed = True


@pytest.mark.parametrize("live", [0, 1])
def test_the_script_ends_the_process_when_a_thread_is_left(
        live: int, monkeypatch: pytest.MonkeyPatch) -> None:
    import optllm_tui.app

    app = FinishedApp(live)
    exits: list[int] = []
    monkeypatch.setattr(optllm_tui.app, "make_app", lambda settings: app)
    monkeypatch.setattr(cli.os, "_exit", exits.append)
    cli.main([])
    assert exits == ([0] if live else [])
    assert app.removed == bool(live)


def test_native_output_to_descriptor_1_never_reaches_the_screen(capfd: pytest.CaptureFixture
                                                                 ) -> None:
    """The app draws on stderr; what native code writes to descriptor 1 while it runs
    (HiGHS's debug lines) is dropped, and descriptor 1 works again afterwards."""
    import os

    with cli.native_output_hidden():
        os.write(1, b"HighsMipSolverData::transformNewIntegerFeasibleSolution\n")
    os.write(1, b"after\n")
    assert capfd.readouterr().out == "after\n"
