"""The Front and Compare plots keep the front readable: the cost axis zooms to it, with
expensive single models drawn at the edge, and `z` cycles to a log and a full axis."""

from __future__ import annotations

import numpy as np
from textual.app import App, ComposeResult

from optllm_tui.app import make_app
from optllm_tui.settings import Settings
from optllm_tui.widgets.compare_plot import ComparePlot, Series
from optllm_tui.widgets.pareto_plot import ParetoPlot, PlotData

from .conftest import run_opened, show

#: A front between $0.45 and $1.76 and one single model at $33, as on logparsing.
FRONT_COST = np.linspace(0.45, 1.76, 40)
FRONT_ACCURACY = np.linspace(0.6, 0.9, 40)
SINGLES = (("cheap", 0.45, 0.6), ("gpt4", 33.0, 0.88))


class PlotApp(App[None]):
    def compose(self) -> ComposeResult:
        yield ParetoPlot(id="pareto")
        yield ComparePlot(id="compare")


def text(plot: ParetoPlot) -> str:
    return "\n".join(strip.text for strip in plot.render_lines(plot.size.region))


def tick_labels(plot: ParetoPlot) -> list[float]:
    """The numbers under the x axis."""
    lines = text(plot).splitlines()
    axis = next(i for i, line in enumerate(lines) if "└" in line)
    return [float(word) for word in lines[axis + 1].split()]


async def test_cost_axis_zooms_to_the_front_and_cycles() -> None:
    app = PlotApp()
    async with app.run_test(size=(100, 60)) as pilot:
        plot = app.query_one("#pareto", ParetoPlot)
        plot.show_data(PlotData(FRONT_COST, FRONT_ACCURACY, singles=SINGLES,
                                marked=(1.0, 0.75)))
        await pilot.pause()
        # The front fills the width: the axis ends near $1.76, not at $33.
        assert max(tick_labels(plot)) < 2
        assert "gpt4 $33.00>" in text(plot)
        assert "zoomed to the front" in text(plot)

        assert plot.cycle_cost_scale() == "log scale"
        await pilot.pause()
        ticks = tick_labels(plot)
        assert max(ticks) >= 33 and "log scale" in text(plot)
        # Logarithmic: the middle tick is near the geometric, not the arithmetic, mean.
        assert ticks[len(ticks) // 2] < 33 / 4

        assert plot.cycle_cost_scale() == "full range"
        await pilot.pause()
        assert max(tick_labels(plot)) >= 33 and "gpt4 $" not in text(plot)
        assert plot.cycle_cost_scale() == "zoomed to the front"


async def test_compare_plot_zooms_past_the_single_models() -> None:
    app = PlotApp()
    async with app.run_test(size=(100, 60)) as pilot:
        plot = app.query_one("#compare", ComparePlot)
        plot.show_series([Series("optllm", FRONT_COST, FRONT_ACCURACY),
                          Series("single", np.array([0.45, 33.0]), np.array([0.6, 0.88]))])
        await pilot.pause()
        assert max(tick_labels(plot)) < 2
        assert "$33.00>" in text(plot)


async def test_z_cycles_the_front_screens_cost_axis(run_settings: Settings) -> None:
    app = make_app(run_settings)
    async with app.run_test(size=(100, 30)) as pilot:
        await run_opened(pilot)
        await show(pilot, "4")
        plot = app.screen.query_one(ParetoPlot)
        assert plot.cost_scale == "front"
        await pilot.press("z")
        assert plot.cost_scale == "log"
        assert "z" in app.screen.active_bindings
