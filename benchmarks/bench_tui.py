"""Terminal app responsiveness: first paint, key latency while training and while
optimising, and a 1,000,000-row allocation shown.

Run: python benchmarks/bench_tui.py [--rows 1000000] [--presses 20]
Prints a Markdown table.

- First paint: a fresh `python` process (interpreter start and imports included) until the
  first frame of the first screen is drawn, headless; and until the default dataset is
  shown (loaded in a worker after that first frame).
- Key latency: in a Pilot run, from pressing a key until the app has handled it and
  redrawn (the screen changed, the plot moved to another step). While training: the
  default dataset (5,000 x 8) with enough bootstrap members to keep training going; while
  comparing: NSGA-II on the default dataset, its front posted as it evolves; while
  optimising: the OptLLM search on `--rows` queries x 8 models with stand-in predictions.
- Allocation: from pressing 5 until the table of `--rows` rows is on screen (building the
  Arrow table, sorting by cost, building the backend, mounting, painting); then a re-sort
  (o) and a model filter (m).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import optllm_tui  # noqa: F401  (passive OpenMP waiting, before xgboost loads)

CHILD = """
import sys, time
t0 = float(sys.argv[1])
from pathlib import Path
from optllm_tui.app import make_app
from optllm_tui.settings import Settings

app = make_app(Settings(config_dir=Path(sys.argv[2]), show_timings=False))
frames = []
display = app._display

def timed_display(screen, renderable):
    if renderable is not None and not frames:
        frames.append(time.time() - t0)
    display(screen, renderable)

app._display = timed_display

async def auto(pilot):
    while app.session.dataset is None:
        await pilot.pause(0.01)
    await pilot.pause()
    print(f"{frames[0]:.4f} {time.time() - t0:.4f}", flush=True)
    app.exit()

app.run(headless=True, size=(120, 40), auto_pilot=auto)
"""


def first_paint(runs: int) -> tuple[list[float], list[float]]:
    firsts, shown = [], []
    with tempfile.TemporaryDirectory() as config:
        for _ in range(runs):
            started = time.time()
            out = subprocess.run([sys.executable, "-c", CHILD, repr(started), config],
                                 capture_output=True, text=True, check=True, timeout=120)
            first, data = (float(x) for x in out.stdout.split()[-2:])
            firsts.append(first)
            shown.append(data)
    return firsts, shown


async def until(pilot, predicate: Callable[[], object], timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark state never reached")
        await pilot.pause(0.005)


def record_frames(app) -> list[float]:
    """Time stamps of the frames the app draws (headless too: the compositor still runs
    and hands each update to `_display`)."""
    frames: list[float] = []
    display = app._display

    def timed_display(screen, renderable) -> None:
        if renderable is not None:
            frames.append(time.perf_counter())
        display(screen, renderable)

    app._display = timed_display
    return frames


async def timed(pilot, keys: tuple[str, ...], done: Callable[[], object]) -> float:
    """Seconds from a key arriving (posted as the terminal driver posts it) until `done()`
    holds and a frame has been drawn after that. Pilot.press is not used: it also waits
    for the whole app to go idle, which never happens while a worker keeps reporting."""
    from textual import events

    app = pilot.app
    frames = app.benchmark_frames
    started = time.perf_counter()
    for key in keys:
        app.post_message(events.Key(key, {"left_square_bracket": "[",
                                          "right_square_bracket": "]"}.get(key, key)))
    deadline = started + 60
    while not done():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"key {keys} had no effect")
        await asyncio.sleep(0.001)
    changed = time.perf_counter()
    while not frames or frames[-1] < changed:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"no frame after key {keys}")
        await asyncio.sleep(0.001)
    return frames[-1] - started


async def latency_while_training(presses: int
                                 ) -> tuple[list[float], int, float, list[float]]:
    """Screen switches while training; before training starts, the first visit of the
    Front screen (composing it) and switches with nothing running, for comparison."""
    from optllm_tui.messages import TrainingProgress

    async with bench_app(bootstraps=400) as (app, pilot, messages):
        await until(pilot, lambda: app.session.dataset is not None)
        first_visit = await timed(pilot, ("4",), lambda: app.screen.SCOPE == "front")
        await until(pilot, lambda: app.library_ready)
        await timed(pilot, ("2",), lambda: app.screen.SCOPE == "predictor")  # composed
        idle = await switches(pilot, presses)
        await pilot.press("2", "t")
        await until(pilot, lambda: any(isinstance(m, TrainingProgress)
                                       and m.stage == "train" for m in messages))
        times = await switches(pilot, presses)
        assert app.jobs.running("train"), "training ended before the measurement"
        progress = sum(isinstance(m, TrainingProgress) for m in messages)
    return times, progress, first_visit, idle


@contextlib.asynccontextmanager
async def bench_app(**run: object) -> AsyncIterator[tuple[Any, Any, list[object]]]:
    """A Pilot run of the app on the default dataset with `run` parameters: (app, pilot,
    messages seen); every job is stopped at the end."""
    from optllm_tui.app import make_app
    from optllm_tui.settings import Settings

    messages: list[object] = []
    with tempfile.TemporaryDirectory() as config:
        app = make_app(Settings(config_dir=Path(config), show_timings=False, run=run))
        app.benchmark_frames = record_frames(app)
        async with app.run_test(size=(120, 40), message_hook=messages.append) as pilot:
            yield app, pilot, messages
            await app.jobs.stop_all()


async def first_visits(train: bool = True) -> dict[str, float]:
    """The first visit of every screen (composing it) while the predictor trains on the
    default dataset (from its choice of learner on), each screen by its key; with
    `train` False, with nothing running, for comparison."""
    from optllm_tui.commands import SCREENS
    from optllm_tui.messages import TrainingProgress

    async with bench_app(bootstraps=400) as (app, pilot, messages):
        await until(pilot, lambda: app.session.dataset is not None and app.library_ready)
        await timed(pilot, ("2",), lambda: app.screen.SCOPE == "predictor")
        if train:
            await pilot.press("t")
            await until(pilot, lambda: any(isinstance(m, TrainingProgress) for m in messages))
        visits = {}
        for mode, key, _ in SCREENS:
            if mode in ("predictor", "datasets"):
                continue  # already composed (the first screen, and the one training)
            visits[mode] = await timed(pilot, (key,), lambda m=mode: app.screen.SCOPE == m)
        assert app.jobs.running("train") == train, "training ended before the measurement"
    return visits


async def switches(pilot, presses: int) -> list[float]:
    """Alternate between the Front and the Predictor screen."""
    app = pilot.app
    times = []
    for _ in range(presses):
        key, scope = ("2", "predictor") if app.screen.SCOPE == "front" else ("4", "front")
        times.append(await timed(pilot, (key,), lambda s=scope: app.screen.SCOPE == s))
    return times


async def latency_while_comparing(presses: int) -> list[float]:
    """Screen switches (Front and Compare) while NSGA-II runs on the default dataset: the
    evolutionary baselines are Python-heavy and post a front up to ten times a second."""
    from optllm_tui.app import make_app
    from optllm_tui.messages import CompareFront
    from optllm_tui.settings import Settings

    messages: list[object] = []
    with tempfile.TemporaryDirectory() as config:
        app = make_app(Settings(config_dir=Path(config), show_timings=False))
        app.benchmark_frames = record_frames(app)
        async with app.run_test(size=(120, 40), message_hook=messages.append) as pilot:
            await until(pilot, lambda: app.session.dataset is not None and app.library_ready)
            await pilot.press("7")
            await until(pilot, lambda: app.screen.SCOPE == "compare")
            methods = app.screen.query_one("SelectionList")
            methods.deselect_all()
            methods.select("hull")
            methods.select("nsga2")
            app.screen.query_one("#compare-gens").value = "5000"  # outlasts the measurement
            await pilot.press("4", "7", "c")  # both screens composed before measuring
            await until(pilot, lambda: any(isinstance(m, CompareFront)
                                           and m.update.method == "nsga2" for m in messages))
            times = []
            for _ in range(presses):
                key, scope = ("7", "compare") if app.screen.SCOPE == "front" else ("4", "front")
                times.append(await timed(pilot, (key,), lambda s=scope: app.screen.SCOPE == s))
            assert app.jobs.running("compare"), "the comparison ended before the measurement"
            await app.jobs.stop_all()
    return times


def large_session(app, rows: int) -> None:
    """Put a `rows` x 8 problem with stand-in predictions into the app, as a finished
    training would (the benchmark is about the UI, not the predictor)."""
    import numpy as np
    import pandas as pd

    from optllm import optimize
    from optllm.data.dataset import Split
    from optllm.data.synthetic import generate
    from optllm.pipeline.run import Prediction
    from optllm_tui.session import Topic

    dataset = generate(rows, 8, seed=0)
    rng = np.random.default_rng(0)
    mean = np.clip(0.5 + 0.3 * dataset.labels + 0.2 * rng.standard_normal(dataset.cost.shape),
                   0, 1)
    spread = 0.05 * rng.random(mean.shape)
    quality = pd.DataFrame({"model": list(dataset.models), "auc": np.nan, "brier": np.nan,
                            "base_rate": np.nan, "prior_brier": np.nan, "beats_prior": False})
    prediction = Prediction(mean, spread, mean, None, quality, None)
    split = Split(np.empty(0, dtype=np.int64), np.arange(rows))
    app.session.set_dataset(dataset, None, dataset.model_summary())
    app.session.set_prediction(split, dataset, prediction,
                               optimize(mean, dataset.cost, method="hull"))
    app.publish(Topic.ALL)


async def optimise_and_table(rows: int, presses: int) -> dict[str, list[float]]:
    from optllm_tui.app import make_app
    from optllm_tui.settings import Settings
    from optllm_tui.widgets.allocation_table import AllocationTable

    with tempfile.TemporaryDirectory() as config:
        app = make_app(Settings(config_dir=Path(config), show_timings=False))
        app.benchmark_frames = record_frames(app)
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: app.session.dataset is not None and app.library_ready)
            large_session(app, rows)
            session = app.session
            await pilot.press("4", "3", "r")  # both screens composed before measuring
            await until(pilot, lambda: len(session.events) >= 3)
            browse = []
            for i in range(presses):
                if session.front is not None:
                    break
                key = "left_square_bracket" if i % 2 == 0 else "right_square_bracket"
                before = session.view_step
                browse.append(await timed(pilot, (key,),
                                          lambda b=before: session.view_step != b))
            switch = []
            for i in range(presses):
                if session.front is not None:
                    break
                key, scope = ("4", "front") if i % 2 == 0 else ("3", "optimise")
                switch.append(await timed(pilot, (key,), lambda s=scope: app.screen.SCOPE == s))
            if not browse or not switch:
                raise RuntimeError("the optimiser finished before the keys were measured; "
                                   "use more --rows")
            await until(pilot, lambda: session.front is not None)
            await pilot.press("4")
            await until(pilot, lambda: session.details is not None)

            def table_shown(sort: str | None, model: str | None) -> Callable[[], bool]:
                def shown() -> bool:
                    view = session.allocation_view
                    return (view is not None and view.sort == sort and view.model == model
                            and any(t.backend is view.backend
                                    for t in app.screen.query(AllocationTable)))
                return shown

            table = [await timed(pilot, ("5",), table_shown("cost", None))]
            assert session.allocation_view.rows == rows
            resort = [await timed(pilot, ("o",), table_shown("score", None))]
            first_model = session.dataset.models[0]
            refilter = [await timed(pilot, ("m",), table_shown("score", first_model))]
            await app.jobs.stop_all()
    return {"browse": browse, "switch": switch, "table": table, "resort": resort,
            "filter": refilter}


def row(what: str, values: list[float], target: str) -> str:
    ms = [1000 * v for v in values]
    median = statistics.median(ms)
    p90 = statistics.quantiles(ms, n=10, method="inclusive")[-1] if len(ms) > 1 else ms[0]
    return f"| {what} | {len(ms)} | {median:.0f} | {p90:.0f} | {max(ms):.0f} | {target} |"


def print_visits(training: dict[str, float], idle: dict[str, float]) -> None:
    for mode, seconds in training.items():
        print(row(f"first visit of {mode} while training", [seconds], "<= 300"))
        print(row(f"first visit of {mode}, nothing running", [idle[mode]], "-"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--presses", type=int, default=20)
    parser.add_argument("--paint-runs", type=int, default=5)
    parser.add_argument("--only-visits", action="store_true",
                        help="only the first visits of the screens while training")
    args = parser.parse_args()

    visits = asyncio.run(first_visits())
    idle_visits = asyncio.run(first_visits(train=False))
    if args.only_visits:
        print("| measure | n | median ms | p90 ms | max ms | target |")
        print("|---|---|---|---|---|---|")
        print_visits(visits, idle_visits)
        return

    firsts, shown = first_paint(args.paint_runs)
    training, progress, first_visit, idle = asyncio.run(latency_while_training(args.presses))
    comparing = asyncio.run(latency_while_comparing(args.presses))
    results = asyncio.run(optimise_and_table(args.rows, args.presses))
    n = f"{args.rows:,}"
    print("| measure | n | median ms | p90 ms | max ms | target |")
    print("|---|---|---|---|---|---|")
    print(row("first paint (process start to first screen)", firsts, "<= 1500"))
    print(row("default dataset (5,000 x 8) shown", shown, "-"))
    print(row("first visit of a screen (composing it), idle", [first_visit], "-"))
    print_visits(visits, idle_visits)
    print(row("key with nothing running: switch screen", idle, "<= 100"))
    print(row("key while training: switch screen", training, "<= 100"))
    print(row("key while comparing (NSGA-II on the default): switch screen", comparing,
              "<= 100"))
    print(row(f"key while optimising {n} queries: browse steps [ ]", results["browse"],
              "<= 100"))
    print(row(f"key while optimising {n} queries: switch screen", results["switch"],
              "<= 100"))
    print(row(f"allocation of {n} rows shown (5)", results["table"], "<= 1000"))
    print(row(f"allocation of {n} rows re-sorted (o)", results["resort"], "-"))
    print(row(f"allocation of {n} rows filtered by model (m)", results["filter"], "-"))
    print(f"\n{progress} progress messages reached the UI during the training measurement.")


if __name__ == "__main__":
    main()
