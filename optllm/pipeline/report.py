"""The lines `optllm run` prints from a summary.json dict: what the front offers, the
single-model allocations beside it, the headline measures with what they mean, and the
cost at a chosen quality. Plain text, the library's number formats."""

from __future__ import annotations

from optllm.evaluation import EXPLANATIONS
from optllm.formatting import cost, count, percent, ratio

#: The measures' names as printed.
MEASURE_NAMES = {"igd": "IGD", "spread": "spread", "hypervolume": "hypervolume ratio"}


def front_line(summary: dict) -> str:
    """How many points, and that a cost is the total over the allocated queries."""
    return (f"front: {count(summary['front_points_total'])} points ({summary['method']}); "
            f"each cost is the total for the {count(summary['n_allocated'])} allocated queries")


def single_model_lines(summary: dict) -> list[str]:
    """A table of the single-model allocations (they are choices too, front or not)."""
    unit = summary.get("cost_unit", "usd")
    rows = summary["single_models"]
    width = max(len("model"), *(len(r["model"]) for r in rows))
    lines = ["single models (every query to one model):",
             f"  {'model':<{width}}  {'cost':>16}  {'expected':>8}  {'true':>6}"]
    lines += [f"  {r['model']:<{width}}  {cost(r['cost'], unit):>16}  "
              f"{ratio(r['predicted_accuracy']):>8}  {ratio(r['true_accuracy']):>6}"
              for r in rows]
    return lines


def measure_lines(summary: dict) -> list[str]:
    """Saving and gain against the best single model, then IGD, spread and hypervolume,
    each with a line on what it means."""
    saving = summary["cost_saving_at_best_accuracy"]
    gain = summary["accuracy_gain_at_best_cost"]
    lines = [f"cost saving at its accuracy: {percent(saving) if saving is not None else 'n/a'}",
             "accuracy gain at its cost: "
             + ("n/a" if gain is None else f"{100 * gain:+.1f} percentage points (pp)")]
    lines += [f"{MEASURE_NAMES[name]} {ratio(summary[name], 4)}: {EXPLANATIONS[name]}"
              for name in MEASURE_NAMES]
    return lines


def quality_line(summary: dict) -> str | None:
    """The cost at `--report-at` of the best single model's accuracy, or None."""
    report = summary.get("at_quality")
    if report is None:
        return None
    head = (f"cost at {percent(report['share'])} of {report['reference_model']}'s "
            f"{report['basis']} accuracy ({ratio(report['target_accuracy'])}):")
    if report["cost"] is None:
        return f"{head} not reached by any allocation"
    saving = "" if report["saving"] is None else f", a saving of {percent(report['saving'])}"
    return (f"{head} {cost(report['cost'], summary.get('cost_unit', 'usd'))} "
            f"({report['choice']}, accuracy {ratio(report['accuracy'])}){saving}")


def selected_line(summary: dict) -> str | None:
    """The point chosen by --budget or --target-accuracy, or None."""
    sel = summary.get("selected")
    if sel is None:
        return None
    band = sel.get("predicted_accuracy_std")
    plus = "" if band is None else f" ± {ratio(band)}"
    name = "point" if sel["point"] is None else f"point {sel['point']}"
    return (f"selected {name}: cost {cost(sel['cost'], summary['cost_unit'])}, "
            f"expected accuracy {ratio(sel['predicted_accuracy'])}{plus}")


def choice_lines(summary: dict) -> list[str]:
    """The cost at the chosen quality and the selected point, where asked for."""
    return [line for line in (quality_line(summary), selected_line(summary)) if line is not None]


def feature_columns_line(predictor: dict) -> str:
    """Which extra columns the predictor read, of those it was offered."""
    used = predictor.get("feature_columns") or []
    offered = predictor.get("feature_columns_offered") or []
    if not offered:
        return "feature columns: none (no extra column offered)"
    if not used:
        return (f"feature columns: none used (offered: {', '.join(offered)}; the chosen "
                "learner reads the text only)")
    return f"feature columns: {', '.join(used)}"


def limit_lines(summary: dict) -> list[str]:
    """Each limit with what the chosen point uses of it, which bind and at what price,
    and the stated gap to the integer optimum."""
    limits = summary.get("limits")
    if limits is None:
        return []
    if "limits" not in limits:
        return [f"limits: {limits['note']}"]
    lines = ["limits (at the selected point):"]
    for row in limits["limits"]:
        used = row["realised"]
        shown = {"USD": cost(used), "queries": count(round(used)),
                 "share of queries": percent(used)}.get(row["unit"], ratio(used))
        price = (f"binds: {row['multiplier']:.4g} {row['multiplier_unit']}" if row["binds"]
                 else "slack")
        lines.append(f"  {row['limit']}: {shown} ({price})")
    gap = limits["gap"]
    lines.append(f"  gap to the best whole allocation under the limits: at most "
                 f"{100 * gap['accuracy']:.2g} accuracy points, {cost(gap['usd'])}")
    return lines
