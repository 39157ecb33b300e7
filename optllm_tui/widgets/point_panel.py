"""The selected point beside the Pareto plot: cost, accuracies, saving, model shares."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from optllm_tui.formatting import percent, points, ratio, usd
from optllm_tui.session import PointDetails

BAR_WIDTH = 8


def describe(details: PointDetails, n_points: int) -> Text:
    """The panel text (see PointDetails for the band and the baseline)."""
    text = Text()
    text.append(f"Point {details.index + 1} of {n_points:,}\n", style="bold")
    text.append(f"cost      {usd(details.cost)}\n")
    text.append(f"expected  {ratio(details.expected)} +- {ratio(details.band)}\n")
    if details.true_accuracy is None:
        text.append("true      - (unlabelled)\n")
    else:
        text.append(f"true      {ratio(details.true_accuracy)}\n")
    kind = "true acc." if details.baseline_is_true else "expected acc."
    text.append(f"vs best single ({kind}):\n", style="bold")
    text.append(f"  {details.baseline_model}: {usd(details.baseline_cost)}, "
                f"{ratio(details.baseline_accuracy)}\n")
    if details.baseline_cost > 0:
        saving = 1 - details.cost / details.baseline_cost
        word = "saves" if saving >= 0 else "costs"
        text.append(f"  {word} {percent(abs(saving))}", style="green" if saving >= 0 else "red")
        ours = details.true_accuracy if details.baseline_is_true else details.expected
        if ours is not None:
            text.append(f", {points(ours - details.baseline_accuracy)}")
        text.append("\n")
    text.append("queries per model\n", style="bold")
    width = max(len(name) for name, _ in details.shares)
    for name, share in details.shares:
        bar = "#" * round(share * BAR_WIDTH)
        text.append(f"{name:<{width}} {100 * share:5.1f}% {bar}\n")
    if details.singles:
        text.append("single models (cost, expected, true)\n", style="bold")
        for name, cost, expected, true in details.singles:
            text.append(f"{name}\n  {usd(cost)}  {ratio(expected)}  {ratio(true)}\n")
    text.append("(+- : std of the expected accuracy,\n queries taken as independent;\n"
                " pp: percentage points)",
                style="dim")
    return text


class PointPanel(Static):
    def show(self, details: PointDetails | None, n_points: int, empty_text: str) -> None:
        self.update(describe(details, n_points) if details is not None else empty_text)
