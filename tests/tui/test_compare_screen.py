"""Screen 7, Compare: methods side by side on the loaded dataset, their fronts overlaid
(moving generation by generation for the evolutionary ones), cancelling, quitting, errors."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pandas as pd
import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, SelectionList, Static

from optllm.pipeline.compare import pymoo_available
from optllm_tui import jobs
from optllm_tui.app import OptLLMApp, make_app
from optllm_tui.formatting import ratio
from optllm_tui.messages import CompareFront, CompareProgress
from optllm_tui.screens.compare import COLUMNS, DEFAULT_METHODS, NARROW_COLUMNS
from optllm_tui.settings import Settings
from optllm_tui.widgets.compare_plot import MAX_SERIES_POINTS, STYLES, ComparePlot, style

from .conftest import app_of, loaded, quit_stops_work, show, until

NO_PYMOO = "pymoo is not installed (the optllm[baselines] extra): no evolutionary methods"
#: Enough bootstrap members that the comparison is still training when the test acts
#: (about 10 s in all), reached in a fraction of a second (a fixed, cheap learner).
LONG_RUN = {"bootstraps": 3000, "train_fraction": 0.2, "learner": "logistic",
            "featuriser": "tfidf"}


async def choose(pilot: Pilot[None], methods: list[str], seeds: int = 1, pop: int = 10,
                 generations: int = 5) -> None:
    """Open screen 7 on the loaded dataset and set its methods and number fields."""
    app = app_of(pilot)
    await loaded(pilot)
    await show(pilot, "7")
    selection = app.screen.query_one(SelectionList)
    selection.deselect_all()
    for method in methods:
        selection.select(method)
    for field, value in (("seeds", seeds), ("pop", pop), ("gens", generations)):
        app.screen.query_one(f"#compare-{field}", Input).value = str(value)
    await pilot.pause()


async def compared(pilot: Pilot[None]) -> None:
    app = app_of(pilot)
    await pilot.press("c")
    await until(pilot, lambda: app.session.compare_state.phase not in ("idle", "running"),
                "the comparison")


def training_members(messages: list[object]) -> bool:
    return any(isinstance(m, CompareProgress) and m.stage == "train" for m in messages)


def status(app: OptLLMApp) -> str:
    return str(app.screen.query_one("#compare-status", Static).render())


def test_every_method_has_its_own_ascii_marker() -> None:
    from optllm.optimizers.registry import METHODS

    markers = [style(name)[0] for name in METHODS]
    assert set(STYLES) == set(METHODS)
    assert len(set(markers)) == len(markers)
    assert all(len(m) == 1 and m.isascii() and m.isprintable() and m != " " for m in markers)


async def test_compare_shows_table_and_one_series_per_method(app: OptLLMApp) -> None:
    methods = ["optllm", "hull", "single", "oracle"] + (["nsga2"] if pymoo_available() else [])
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        await show(pilot, "7")
        selection = app.screen.query_one(SelectionList)
        assert sorted(selection.selected) == sorted(DEFAULT_METHODS)
        await choose(pilot, methods, seeds=2)
        await compared(pilot)
        session = app.session
        comparison = session.comparison
        assert session.compare_state.phase == "done", session.compare_state.text
        assert comparison is not None
        assert comparison.methods == tuple(methods)
        assert comparison.seeds == (session.config.seed, session.config.seed + 1)

        # The table and the plot are filled from the result's message, a moment later.
        table = app.screen.query_one("#compare-table", DataTable)
        plot = app.screen.query_one(ComparePlot)
        await until(pilot, lambda: table.row_count == len(methods)
                    and plot.methods == tuple(methods), "the table and the plot")
        rows = [table.get_row_at(i) for i in range(table.row_count)]
        assert [row[1] for row in rows] == methods
        assert [row[0] for row in rows] == [style(m)[0] for m in methods]
        summary = comparison.summary().set_index("method")
        for row in rows:
            assert row[2] == ratio(summary.loc[row[1], "hypervolume_median"])
        oracle = next(row for row in rows if row[1] == "oracle")
        assert oracle[2:4] == ["1.000", "0.000"]  # the true front: HV 1, IGD 0

        # One scatter series per method, each with its own marker, thinned (plotext's
        # record of what it draws; every redraw starts a new one).
        monitor = plot.plt.monitor
        assert plot.methods == tuple(methods)
        assert [markers[0] for markers in monitor.marker] == [style(m)[0] for m in methods]
        assert all(0 < len(x) <= MAX_SERIES_POINTS for x in monitor.x)
        assert plot.legend.split(" ")[::2] == [style(m)[0] for m in methods]
        assert "seed 1" in str(plot.border_title)  # the last seed's fronts
        assert "Done" in status(app)

        # m highlights one method after the other (its series drawn last), then none.
        await pilot.press("m")
        assert plot.legend.startswith(f"[{style(methods[0])[0]} {methods[0]}]")
        # drawn as written: brackets are not read as markup (they were, and vanished)
        await pilot.pause()
        drawn = app.export_screenshot().replace("&#160;", " ")
        assert f"[{style(methods[0])[0]}&#160;{methods[0]}]".replace("&#160;", " ") in drawn
        assert plot.plt.monitor.marker[-1][0] == style(methods[0])[0]
        assert table.cursor_row == 0
        await pilot.press("m")
        assert table.cursor_row == 1
        for _ in methods[1:]:
            await pilot.press("m")
        assert "[" not in plot.legend

        # Narrower: the plot redraws smaller and the table keeps only the columns that fit.
        wide_size = plot.size
        assert len(table.columns) == len(COLUMNS)
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert plot.size.width < wide_size.width
        assert len(table.columns) == NARROW_COLUMNS
        assert table.virtual_size.width <= table.size.width
        assert [table.get_row_at(i)[1] for i in range(table.row_count)] == methods
        await pilot.resize_terminal(120, 40)
        await pilot.pause()
        assert len(table.columns) == len(COLUMNS)

        # The fronts re-scored with the labels; the oracle's is the true front. a: predicted.
        assert "true accuracy" in str(plot.border_title)
        truth = comparison.run("oracle", comparison.seeds[-1]).evaluation.truth
        oracle_series = plot.plt.monitor.y[plot.methods.index("oracle")]
        assert max(oracle_series) == pytest.approx(float(truth.accuracy.max()))
        assert max(max(y) for y in plot.plt.monitor.y) == max(oracle_series)
        await pilot.press("a")
        assert "predicted accuracy" in str(plot.border_title)
        hull = comparison.run("hull", comparison.seeds[-1])
        hull_series = plot.plt.monitor.y[plot.methods.index("hull")]
        assert max(hull_series) == pytest.approx(float(hull.predicted_accuracy.max()))


@pytest.mark.skipif(not pymoo_available(), reason=NO_PYMOO)
async def test_evolutionary_front_moves_generation_by_generation(
        app: OptLLMApp, monkeypatch: pytest.MonkeyPatch) -> None:
    legends: list[str] = []
    replot = ComparePlot.replot

    def recording(self: ComparePlot) -> None:
        replot(self)
        legends.append(self.legend)

    from optllm.optimizers.evolutionary import GenerationReport

    notify = GenerationReport.notify

    def slow_generation(self: GenerationReport, algorithm: object) -> None:
        time.sleep(0.05)  # as on real data: the UI draws between two generations
        notify(self, algorithm)

    monkeypatch.setattr(ComparePlot, "replot", recording)
    monkeypatch.setattr(GenerationReport, "notify", slow_generation)
    monkeypatch.setattr(jobs, "REPORT_INTERVAL", 0.0)  # every generation goes through
    messages: list[object] = []
    async with app.run_test(message_hook=messages.append) as pilot:
        await choose(pilot, ["hull", "nsga2"], pop=10, generations=8)
        await compared(pilot)
        assert app.session.compare_state.phase == "done"
        updates = [m.update for m in messages
                   if isinstance(m, CompareFront) and m.update.method == "nsga2"]
        assert [u.generation for u in updates if not u.final] == list(range(1, 9))
        assert updates[-1].final
        # The plot showed the growing front, not only the end.
        shown = {legend.split("nsga2 g")[1] for legend in legends if "nsga2 g" in legend}
        assert len(shown) > 1


@pytest.mark.skipif(not pymoo_available(), reason=NO_PYMOO)
async def test_front_updates_are_throttled(app: OptLLMApp) -> None:
    messages: list[object] = []
    async with app.run_test(message_hook=messages.append) as pilot:
        await choose(pilot, ["nsga2"], pop=10, generations=60)
        started = time.monotonic()
        await compared(pilot)
        elapsed = time.monotonic() - started
        live = [m for m in messages if isinstance(m, CompareFront) and not m.update.final]
        progress = [m for m in messages if isinstance(m, CompareProgress)]
        # The first generation always goes through, then one update per interval at most.
        assert 1 <= len(live) <= 2 + elapsed / jobs.REPORT_INTERVAL
        assert len(live) < 60 or elapsed > 60 * jobs.REPORT_INTERVAL
        assert progress


async def test_escape_cancels_and_the_app_stays_usable(settings: Settings) -> None:
    app = make_app(dataclasses.replace(settings, run=LONG_RUN))
    messages: list[object] = []
    async with app.run_test(message_hook=messages.append) as pilot:
        await choose(pilot, ["hull", "oracle"])
        await pilot.press("c")
        await until(pilot, lambda: training_members(messages), "training members")
        await pilot.press("escape")
        assert app.session.compare_state.phase == "cancelled"
        assert "Cancelled" in status(app)
        assert not app.jobs.running("compare")
        # The thread stops at its next check, between two members (training to the end
        # would take about ten seconds).
        await until(pilot, lambda: app.jobs.live_threads() == 0, "the thread to stop",
                    timeout=5)
        await pilot.pause(0.2)
        assert app.session.comparison is None
        assert "Cancelled" in status(app)

        # Usable: other screens open, and a quick comparison runs to the end.
        await show(pilot, "1")
        await show(pilot, "7")
        app.session.config = dataclasses.replace(app.session.config, bootstraps=2,
                                                 learner="auto", featuriser="auto")
        await compared(pilot)
        assert app.session.compare_state.phase == "done"
        # The screens redraw from the session's signal, on the next callback round.
        table = app.screen.query_one("#compare-table", DataTable)
        await until(pilot, lambda: table.row_count == 2, "the result's table")


async def test_quit_while_comparing_leaves_no_threads(settings: Settings) -> None:
    async def start(pilot: Pilot[None], messages: list[object]) -> None:
        await choose(pilot, ["hull"])
        await pilot.press("c")
        await until(pilot, lambda: training_members(messages), "training members")

    await quit_stops_work(make_app(dataclasses.replace(settings, run=LONG_RUN)), start, 5)


async def test_no_methods_and_bad_fields_are_reported(app: OptLLMApp) -> None:
    async with app.run_test() as pilot:
        await choose(pilot, [])
        await pilot.press("c")
        assert "no methods to compare" in status(app)
        assert not app.jobs.running("compare")

        await choose(pilot, ["hull"], seeds=0)
        await pilot.press("c")
        assert "seeds must be at least 1" in status(app)

        app.screen.query_one("#compare-seeds", Input).value = ""
        await pilot.press("c")
        assert "seeds must be a whole number" in status(app)

        # The library checks the evolutionary budget: reported from the worker.
        await choose(pilot, ["hull"], pop=1)
        await compared(pilot)
        assert app.session.compare_state.phase == "failed"
        assert "population size must be at least 2" in status(app)
        assert app.is_running and app.session.comparison is None


async def test_unlabelled_dataset_is_reported(tmp_path: Path, small_csv: Path,
                                              settings: Settings) -> None:
    frame = pd.read_csv(small_csv)
    models = [c[:-len("_cost")] for c in frame.columns if c.endswith("_cost")]
    frame.loc[:9, models] = None
    partly = tmp_path / "partly.csv"
    frame.to_csv(partly, index=False)
    app = make_app(dataclasses.replace(settings, data=str(partly)))
    async with app.run_test() as pilot:
        await choose(pilot, ["hull", "oracle"])
        assert "10 of 300 queries have no labels" in status(app)
        await compared(pilot)
        assert app.session.compare_state.phase == "failed"
        assert "comparing needs the true labels of every query" in status(app)
        assert app.is_running


async def test_without_pymoo_the_evolutionary_methods_cannot_be_chosen(
        app: OptLLMApp, monkeypatch: pytest.MonkeyPatch) -> None:
    import optllm.pipeline.compare

    monkeypatch.setattr(optllm.pipeline.compare, "pymoo_available", lambda: False)
    async with app.run_test() as pilot:
        await loaded(pilot)
        await show(pilot, "7")
        selection = app.screen.query_one(SelectionList)
        for index in range(selection.option_count):
            option = selection.get_option_at_index(index)
            evolutionary = option.value in ("nsga2", "smsemoa", "moead")
            assert option.disabled == evolutionary
            assert ("no pymoo" in str(option.prompt)) == evolutionary


async def test_compare_after_training_reuses_the_predictor_for_its_seed(app: OptLLMApp
                                                                        ) -> None:
    from .conftest import trained

    messages: list[object] = []
    async with app.run_test(size=(120, 40), message_hook=messages.append) as pilot:
        await trained(pilot)
        await choose(pilot, ["hull", "single"], seeds=2)
        await compared(pilot)
        assert app.session.compare_state.phase == "done"
        texts = [m.text for m in messages if isinstance(m, CompareProgress)]
        seed = app.session.config.seed
        assert any(t.startswith(f"seed {seed}: ") and "reused" in t for t in texts)
        assert not any(t.startswith(f"seed {seed}: ") and m.stage == "choose"
                       for m, t in zip((m for m in messages if isinstance(m, CompareProgress)),
                                       texts, strict=True))
        assert any(t.startswith(f"seed {seed + 1}: ") and "reused" not in t for t in texts)
