"""The Pareto plot: a PlotextPlot subclass fed with numbers and drawn on the UI thread."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from textual_plotext import PlotextPlot

#: Points drawn per series at most; a hull front can have millions.
MAX_PLOT_POINTS = 400
#: The cost axis views `z` cycles through: zoomed to the front (single models beyond it
#: drawn at the edge with their cost written), logarithmic over everything, and linear
#: over everything.
COST_SCALES = ("front", "log", "full")
COST_SCALE_LABELS = {"front": "zoomed to the front", "log": "log scale", "full": "full range"}
#: Share of the zoomed range left empty on each side, so edge points stay visible.
ZOOM_MARGIN = 0.04


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
    #: The front under the user's limits (cost, accuracy), drawn beside the front.
    limited_cost: np.ndarray | None = None
    limited_accuracy: np.ndarray | None = None


class ParetoPlot(PlotextPlot):
    """Cost (x) against accuracy (y) with ASCII markers only; the legend is the title.

    Series: the hull front as a dotted reference line, the front ('o'), its true accuracy
    ('*'), the front under limits ('@', when set), single models ('+') and the marked
    point ('X'). Plotext sizes the plot to the
    widget on every render, so resizing the terminal redraws it.
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._data: PlotData | None = None
        self._empty_text = "no front yet"
        self.cost_scale = COST_SCALES[0]

    def cycle_cost_scale(self) -> str:
        """Show the next cost axis view; returns its description."""
        self.cost_scale = COST_SCALES[(COST_SCALES.index(self.cost_scale) + 1)
                                      % len(COST_SCALES)]
        self.replot()
        return COST_SCALE_LABELS[self.cost_scale]

    def set_cost_axis(self, focus: list[np.ndarray], others: list[np.ndarray]
                      ) -> tuple[float, float] | None:
        """Set the cost axis for `cost_scale`. Zoomed, the axis spans the `focus` costs
        only, since a single model costing 20 times the front would squeeze the front into
        a couple of columns; the range is returned so the caller can draw what lies beyond
        at the edge. None when every cost fits (or on the log and full views)."""
        costs = np.concatenate([np.ravel(c) for c in (*focus, *others)])
        if self.cost_scale == "log" and costs.size and costs.min() > 0:
            self.plt.xscale("log")
            self.plt.xlabel(f"cost (USD, {COST_SCALE_LABELS['log']}; z: next view)")
            return None
        if self.cost_scale == "log":
            self.plt.xlabel("cost (USD; no log scale: a cost is 0; z: next view)")
            return None
        zoom = np.concatenate([np.ravel(c) for c in focus]) if focus else costs
        low, high = float(zoom.min()), float(zoom.max())
        outside = (costs < low) | (costs > high)
        if self.cost_scale == "full" or not outside.any():
            self.plt.xlabel("cost (USD; z: next view)")
            return None
        margin = ZOOM_MARGIN * (high - low) or ZOOM_MARGIN * abs(high) or 1.0
        # Costs are never negative: the margin must not put a negative tick on the axis.
        low, high = max(low - margin, min(low, 0.0)), high + margin
        self.plt.xlim(low, high)
        self.plt.xlabel(f"cost (USD, {COST_SCALE_LABELS['front']}; z: next view)")
        return low, high

    def draw_beyond(self, limits: tuple[float, float], labels: list[str],
                    cost: np.ndarray, accuracy: np.ndarray, colour: str) -> None:
        """Points outside the zoomed cost range, drawn at its edge ('<' or '>') with their
        label and cost written beside them, so nothing silently leaves the plot."""
        low, high = limits
        edges: tuple[tuple[float, np.ndarray, str, Literal["left", "right"]], ...] = (
            (low, cost < low, "<", "left"), (high, cost > high, ">", "right"))
        for side, mask, marker, align in edges:
            if not mask.any():
                continue
            self.plt.scatter([side] * int(mask.sum()), accuracy[mask].tolist(), marker=marker,
                             color=colour)
            for label, c, a in zip(np.asarray(labels, dtype=object)[mask], cost[mask],
                                   accuracy[mask], strict=True):
                text = f"{label} ${c:,.2f}" if label else f"${c:,.2f}"
                self.plt.text(f"{marker}{text}" if align == "left" else f"{text}{marker}",
                              side, float(a), color=colour, alignment=align)

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
        focus = [data.front_cost] + ([data.hull_cost] if data.hull_cost is not None else [])
        if data.limited_cost is not None and data.limited_accuracy is not None:
            x, y = thin(data.limited_cost, data.limited_accuracy)
            plt.scatter(x, y, marker="@", color="yellow")
            legend.append("@ limited")
            focus.append(data.limited_cost)
        single_cost = np.array([s[1] for s in data.singles], dtype=float)
        single_accuracy = np.array([s[2] for s in data.singles], dtype=float)
        limits = self.set_cost_axis(focus, [single_cost])
        if data.singles:
            inside = np.ones(single_cost.size, dtype=bool) if limits is None else (
                (single_cost >= limits[0]) & (single_cost <= limits[1]))
            if inside.any():
                plt.scatter(single_cost[inside].tolist(), single_accuracy[inside].tolist(),
                            marker="+", color="magenta")
            if limits is not None:
                self.draw_beyond(limits, [s[0] for s in data.singles], single_cost,
                                 single_accuracy, "magenta")
            legend.append("+ single")
        if data.marked is not None:
            plt.scatter([data.marked[0]], [data.marked[1]], marker="X", color="red")
            legend.append(f"X {data.marked_label}")
        plt.title(" ".join(legend))
        self.refresh()


def thin(x: np.ndarray, y: np.ndarray, limit: int = MAX_PLOT_POINTS
         ) -> tuple[list[float], list[float]]:
    """At most `limit` points, evenly spaced by index (both ends kept)."""
    if x.size > limit:
        keep = np.unique(np.linspace(0, x.size - 1, limit).round().astype(int))
        x, y = x[keep], y[keep]
    return x.tolist(), y.tolist()
