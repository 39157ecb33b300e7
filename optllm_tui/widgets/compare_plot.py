"""The Compare screen's plot: every method's front overlaid, one ASCII marker per method."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from optllm_tui.formatting import literal
from optllm_tui.widgets.pareto_plot import ParetoPlot, thin

#: Points drawn per method at most: nine fronts of a few hundred points stay quick to draw.
MAX_SERIES_POINTS = 200
#: (marker, plotext colour) per method, fixed so a method looks the same in every
#: comparison.
STYLES: dict[str, tuple[str, str]] = {
    "optllm": ("o", "blue+"),
    "hull": ("+", "cyan"),
    "single": ("#", "magenta"),
    "random": ("x", "orange"),
    "oracle": ("*", "green+"),
    "prior": ("%", "gray+"),
    "nsga2": ("@", "red+"),
    "smsemoa": ("&", "orange+"),
    "moead": ("$", "magenta+"),
}
#: Markers for methods the registry may gain later (chosen by name).
SPARE_MARKERS = "=~^?"
DIMMED = "gray"
#: The method whose front is the single models alone (off the zoomed axis when expensive).
SINGLE = "single"


def style(method: str) -> tuple[str, str]:
    """The marker and colour of `method`."""
    if method in STYLES:
        return STYLES[method]
    return SPARE_MARKERS[sum(map(ord, method)) % len(SPARE_MARKERS)], "white"


@dataclass(frozen=True)
class Series:
    """One method's front in USD and accuracy (0..1), sorted by cost; `generation` is set
    while an evolutionary method is still running."""

    method: str
    cost: np.ndarray
    accuracy: np.ndarray
    generation: int | None = None


class ComparePlot(ParetoPlot):
    """Cost (x) against accuracy (y), one scatter series per method with its own marker
    (`STYLES`), the legend in the bottom border (a plotext title that does not fit is
    dropped). A highlighted method keeps its colour and is drawn on top; the others are
    dimmed. Resizing redraws it (plotext sizes the plot to the widget on every render)."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._series: tuple[Series, ...] = ()
        self._highlight: str | None = None

    @property
    def methods(self) -> tuple[str, ...]:
        """The methods drawn, one series each, in the legend's order."""
        return tuple(s.method for s in self._series)

    @property
    def legend(self) -> str:
        parts = []
        for s in self._series:
            label = f"{style(s.method)[0]} {s.method}"
            if s.generation is not None:
                label += f" g{s.generation}"
            parts.append(f"[{label}]" if s.method == self._highlight else label)
        return " ".join(parts)

    def show_series(self, series: Sequence[Series], *, highlight: str | None = None,
                    empty_text: str = "nothing to compare yet") -> None:
        self._series = tuple(s for s in series if s.cost.size)
        self._highlight = highlight if highlight in self.methods else None
        self._empty_text = empty_text
        self.replot()

    def replot(self) -> None:
        plt = self.plt
        plt.clear_figure()
        self.border_subtitle = literal(self.legend)
        if not self._series:
            plt.title(self._empty_text)
            self.refresh()
            return
        # Zoomed, the axis spans the allocating methods' fronts: the single models' front
        # reaches the most expensive model and is drawn at the edge beyond that.
        focus = [s.cost for s in self._series if s.method != SINGLE] or [
            s.cost for s in self._series]
        limits = self.set_cost_axis(focus, [s.cost for s in self._series])
        # The highlighted method last, so its markers are not hidden under the others.
        order = sorted(self._series, key=lambda s: s.method == self._highlight)
        for s in order:
            marker, colour = style(s.method)
            if self._highlight is not None and s.method != self._highlight:
                colour = DIMMED
            cost, accuracy = s.cost, s.accuracy
            if limits is not None:
                inside = (cost >= limits[0]) & (cost <= limits[1])
                self.draw_beyond(limits, [""] * cost.size, cost, accuracy, colour)
                cost, accuracy = cost[inside], accuracy[inside]
            if cost.size:
                x, y = thin(cost, accuracy, MAX_SERIES_POINTS)
                plt.scatter(x, y, marker=marker, color=colour)
        self.refresh()
