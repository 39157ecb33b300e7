"""The Pareto plot: a PlotextPlot subclass fed with numbers and drawn on the UI thread."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from textual_plotext import PlotextPlot

#: Points drawn per series at most; a hull front can have millions.
MAX_PLOT_POINTS = 400


@dataclass(frozen=True)
class PlotData:
    """What to draw, in USD and accuracy (0..1). `true_accuracy` is the front re-scored
    with labels (same costs as the front); `singles` are (model, cost, true accuracy);
    `marked` is the selected point or the optimiser's current allocation."""

    front_cost: np.ndarray
    front_accuracy: np.ndarray
    true_accuracy: np.ndarray | None = None
    hull_cost: np.ndarray | None = None
    hull_accuracy: np.ndarray | None = None
    singles: tuple[tuple[str, float, float], ...] = ()
    marked: tuple[float, float] | None = None
    marked_label: str = "selected"


class ParetoPlot(PlotextPlot):
    """Cost (x) against accuracy (y) with ASCII markers only; the legend is the title.

    Series: the hull front as a dotted reference line, the front ('o'), its true accuracy
    ('*'), single models ('+') and the marked point ('X'). Plotext sizes the plot to the
    widget on every render, so resizing the terminal redraws it.
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._data: PlotData | None = None
        self._empty_text = "no front yet"

    def show_data(self, data: PlotData | None, empty_text: str = "no front yet") -> None:
        self._data = data
        self._empty_text = empty_text
        self.replot()

    def replot(self) -> None:
        plt = self.plt
        plt.clear_figure()
        data = self._data
        if data is None or data.front_cost.size == 0:
            plt.title(self._empty_text)
            self.refresh()
            return
        legend = []
        if data.hull_cost is not None and data.hull_accuracy is not None:
            x, y = thin(data.hull_cost, data.hull_accuracy)
            plt.plot(x, y, marker=".", color="gray")
            legend.append(". hull")
        x, y = thin(data.front_cost, data.front_accuracy)
        plt.scatter(x, y, marker="o", color="blue")
        legend.append("o front")
        if data.true_accuracy is not None:
            x, y = thin(data.front_cost, data.true_accuracy)
            plt.scatter(x, y, marker="*", color="green")
            legend.append("* true")
        if data.singles:
            plt.scatter([s[1] for s in data.singles], [s[2] for s in data.singles],
                        marker="+", color="magenta")
            legend.append("+ single")
        if data.marked is not None:
            plt.scatter([data.marked[0]], [data.marked[1]], marker="X", color="red")
            legend.append(f"X {data.marked_label}")
        plt.title(" ".join(legend))
        plt.xlabel("cost (USD)")
        self.refresh()


def thin(x: np.ndarray, y: np.ndarray, limit: int = MAX_PLOT_POINTS
         ) -> tuple[list[float], list[float]]:
    """At most `limit` points, evenly spaced by index (both ends kept)."""
    if x.size > limit:
        keep = np.unique(np.linspace(0, x.size - 1, limit).round().astype(int))
        x, y = x[keep], y[keep]
    return x.tolist(), y.tolist()
