"""The selected point beside the Pareto plot: cost, accuracies, saving, model shares."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from rich.text import Text
from textual.widgets import Static

from optllm_tui.formatting import percent, points, ratio, usd

if TYPE_CHECKING:
    from optllm.pipeline.limits import LimitedRun
    from optllm.pipeline.views import PointDetails

#: The widest a share bar gets, and the narrowest a name is cut to before the bar shrinks.
BAR_WIDTH = 8
MIN_NAME_WIDTH = 8
#: The share column between name and bar: " 100.0% ".
SHARE_WIDTH = 8


def describe(details: PointDetails, n_points: int, width: int,
             limits: LimitedRun | None = None) -> Text:
    """The panel text (see PointDetails for the band and the baseline). The share lines
    fit in `width` columns: a long model name is cut, then the bar shortened, so a bar
    never wraps onto a line of its own. Under `limits`, what they do at the point too."""
    text = Text()
    text.append(f"Point {details.index + 1} of {n_points:,}\n", style="bold")
    text.append(f"cost      {usd(details.cost)}\n")
    text.append(f"expected  {ratio(details.expected)} +- {ratio(details.band)}\n")
    if details.true_accuracy is None:
        text.append("true      - (unlabelled)\n")
    else:
        text.append(f"true      {ratio(details.true_accuracy)}\n")
    if limits is not None:
        describe_limits(text, limits)
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
    longest = max(len(name) for name, _ in details.shares)
    name_width = max(MIN_NAME_WIDTH, min(longest, width - SHARE_WIDTH - BAR_WIDTH))
    bar_width = max(0, min(BAR_WIDTH, width - SHARE_WIDTH - name_width))
    for name, share in details.shares:
        if len(name) > name_width:
            name = name[:name_width - 1] + "~"
        bar = "#" * round(share * bar_width)
        text.append(f"{name:<{name_width}} {100 * share:5.1f}% {bar}".rstrip() + "\n")
    if details.singles:
        text.append("single models (cost, expected, true)\n", style="bold")
        for name, cost, expected, true in details.singles:
            text.append(f"{name}\n  {usd(cost)}  {ratio(expected)}  {ratio(true)}\n")
    text.append("(+- : std of the expected accuracy, queries taken as independent;"
                " pp: percentage points)",
                style="dim")
    return text


def describe_limits(text: Text, report: LimitedRun) -> None:
    """Each limit at the point (realised value, whether it binds and its price, as in
    summary.json's "limits"), the stated gap, and the queries and spend of each model
    with a limit."""
    summary = report.as_dict()
    text.append("limits (use, price)\n", style="bold")
    for row in cast("list[dict[str, Any]]", summary["limits"]):
        realised = row["realised"]
        shown = (usd(realised) if row["unit"] == "USD" else
                 f"{realised:.3f}" if row["kind"] == "min_share" else f"{realised:,.0f}")
        price = f"{row['multiplier']:.3g} {row['multiplier_unit']}".replace(
            " accuracy per ", "/")
        text.append(f"{row['limit']}\n")
        text.append(f"  {shown}, " + (f"binds {price}" if row["binds"] else "slack")
                    + "\n", style="yellow" if row["binds"] else "")
    gap = cast("dict[str, float]", summary["gap"])
    text.append(f"gap <= {100 * gap['accuracy']:.2f} pp, {usd(gap['usd'])}\n")
    limited = {model for kind, values in report.constraints.as_dict().items()
               if kind != "budget" for model in cast("dict[str, float]", values or {})}
    for row in cast("list[dict[str, Any]]", summary["per_model"]):
        if row["model"] in limited:
            text.append(f"  {row['model']}: {row['queries']:,} q, {usd(row['spend'])}\n")


class PointPanel(Static):
    """Redrawn at its new width when resized, so the share bars keep fitting."""

    _shown: tuple[PointDetails | None, int, str, LimitedRun | None] = (None, 0, "", None)

    def show(self, details: PointDetails | None, n_points: int, empty_text: str,
             limits: LimitedRun | None = None) -> None:
        self._shown = (details, n_points, empty_text, limits)
        self._render_shown()

    def on_resize(self) -> None:
        self._render_shown()

    def _render_shown(self) -> None:
        details, n_points, empty_text, limits = self._shown
        width = self.content_size.width or BAR_WIDTH + SHARE_WIDTH + MIN_NAME_WIDTH
        self.update(describe(details, n_points, width, limits) if details is not None
                    else empty_text)
