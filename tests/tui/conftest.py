"""Fixtures for the app tests: tiny seeded data, a saved run to start from, and helpers that
wait for the app's state instead of sleeping."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import cast

import pytest
from textual.pilot import Pilot

from optllm_tui.app import OptLLMApp, make_app
from optllm_tui.commands import SCREENS
from optllm_tui.settings import Settings

#: 300 queries x 4 models, seed 1: trains in about a second with 3 members.
N_QUERIES, N_MODELS, DATA_SEED = 300, 4, 1
RUN = {"bootstraps": 3, "train_fraction": 0.2}
TIMEOUT = 90.0


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from optllm.data.synthetic import generate
    from optllm.data.tables import write_wide

    folder = tmp_path_factory.mktemp("data")
    write_wide(generate(N_QUERIES, N_MODELS, DATA_SEED), folder / "small.csv")
    return folder


@pytest.fixture(scope="session")
def small_csv(data_dir: Path) -> Path:
    return data_dir / "small.csv"


@pytest.fixture(scope="session")
def run_file(data_dir: Path, small_csv: Path) -> Path:
    """A run saved by the library itself (trained, optimised, middle point chosen), so
    tests that need a front start from it instead of training through the UI."""
    from optllm import optimize
    from optllm.data.dataset import split_queries
    from optllm.data.tables import load_dataset
    from optllm.pipeline.run import RunConfig, train_and_predict
    from optllm.pipeline.runfile import save_run

    dataset = load_dataset(small_csv)
    config = RunConfig(**RUN).check()
    split = split_queries(dataset, config.train_fraction, config.seed)
    allocated = dataset.subset(split.allocate)
    prediction = train_and_predict(dataset, split, config)
    front = optimize(prediction.scores, allocated.cost, config.method, config.density)
    path = data_dir / "small-run.npz"
    save_run(path, dataset_source=str(small_csv), dataset=dataset, config=config,
             prediction=prediction, split=split, front=front, selected=len(front) // 2)
    return path


@pytest.fixture
def settings(tmp_path: Path, small_csv: Path) -> Settings:
    return Settings(data=str(small_csv), run=dict(RUN), config_dir=tmp_path / "config",
                    show_timings=False)


@pytest.fixture
def run_settings(tmp_path: Path, run_file: Path) -> Settings:
    return Settings(run_file=str(run_file), run=dict(RUN), config_dir=tmp_path / "config",
                    show_timings=False)


@pytest.fixture
def app(settings: Settings) -> OptLLMApp:
    return make_app(settings)


def app_of(pilot: Pilot[None]) -> OptLLMApp:
    return cast(OptLLMApp, pilot.app)


async def until(pilot: Pilot[None], predicate: Callable[[], object], what: str = "",
                timeout: float = TIMEOUT) -> None:
    """Let the app run until `predicate()` holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what or predicate}")
        await pilot.pause(0.02)


async def show(pilot: Pilot[None], key: str) -> None:
    """Press a screen key (1-7) and wait for that screen: the Predictor and Optimise
    screens open once the training library has been imported in the background."""
    app = app_of(pilot)
    mode = next(mode for mode, screen_key, _ in SCREENS if screen_key == key)
    await pilot.press(key)
    await until(pilot, lambda: getattr(app.screen, "SCOPE", None) == mode, f"screen {mode}")


async def loaded(pilot: Pilot[None]) -> None:
    app = app_of(pilot)
    await until(pilot, lambda: app.session.dataset is not None, "the dataset")


async def trained(pilot: Pilot[None]) -> None:
    """Train from the Predictor screen with the settings' small config."""
    app = app_of(pilot)
    await loaded(pilot)
    await show(pilot, "2")
    await pilot.press("t")
    await until(pilot, lambda: app.session.prediction is not None, "training")


async def run_opened(pilot: Pilot[None]) -> None:
    """Wait for the start-up run file to be open and the chosen point described."""
    app = app_of(pilot)
    await until(pilot, lambda: app.session.details is not None, "the saved run")


async def quit_stops_work(app: OptLLMApp,
                          start: Callable[[Pilot[None], list[object]], Awaitable[None]],
                          within: float) -> None:
    """Start work with `start(pilot, messages)`, press ctrl+q, and check that the app
    exits within `within` seconds and that every thread it used has returned."""
    before = set(threading.enumerate())
    messages: list[object] = []
    async with app.run_test(message_hook=messages.append) as pilot:
        await start(pilot, messages)
        started = time.monotonic()
        await pilot.press("ctrl+q")
        await until(pilot, lambda: not app.is_running, "the app to exit", timeout=20)
    assert time.monotonic() - started < within
    # Shutting the executor down joins every thread the app used.
    await asyncio.wait_for(asyncio.get_running_loop().shutdown_default_executor(), 10)
    assert set(threading.enumerate()) - before == set()
