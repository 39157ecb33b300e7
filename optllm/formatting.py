"""Number formats shared by the command and the app, so both write money, accuracy and
counts alike: `$` with fixed decimals for costs, fixed decimals for scores, thousands
separators for counts, and percentage points spelled out where first used.

>>> usd(0.01234), usd(1234.5), cost(1234.4, "calls")
('$0.0123', '$1,234.50', '1,234 paid calls')
>>> ratio(0.8333), percent(0.125), points(-0.031), seconds(125)
('0.833', '12.5%', '-3.1 pp', '2 min 05 s')
>>> usd(float("nan"))  # a missing value reads as a dash everywhere
'-'
>>> rounded(0.00008939999999999999)  # written files carry no float noise
8.94e-05
"""

from __future__ import annotations

import math

import numpy as np

#: Significant digits kept when a cost or score is written to CSV or JSON: float sums such
#: as 0.00008939999999999999 become 0.0000894 (far below any price's precision).
WRITTEN_DIGITS = 10


def usd(value: float) -> str:
    """Dollars with 4 decimals for small sums, cents for large ones, thousands separated."""
    if not math.isfinite(value):
        return "-"
    return f"${value:,.2f}" if abs(value) >= 100 else f"${value:,.4f}"


def unit_cost(value: float) -> str:
    """A per-query cost: often fractions of a cent."""
    return "-" if not math.isfinite(value) else f"${value:.6f}"


def cost(value: float, unit: str = "usd") -> str:
    """A total cost in the run's cost unit: dollars, or a count of paid calls."""
    if unit == "calls":
        return "-" if not math.isfinite(value) else f"{round(value):,} paid calls"
    return usd(value)


def ratio(value: float | None, digits: int = 3) -> str:
    """An accuracy, AUC or Brier score in 0..1, with fixed decimals."""
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.{digits}f}"


def percent(value: float | None, signed: bool = False) -> str:
    """A share in 0..1 as a percentage with one decimal."""
    if value is None or not math.isfinite(value):
        return "-"
    return f"{100 * value:+.1f}%" if signed else f"{100 * value:.1f}%"


def points(value: float | None) -> str:
    """A difference of two accuracies in percentage points ("pp"), signed."""
    if value is None or not math.isfinite(value):
        return "-"
    return f"{100 * value:+.1f} pp"


def count(value: int) -> str:
    """A whole number with thousands separators."""
    return f"{value:,}"


def seconds(value: float) -> str:
    """A duration: seconds below two minutes, else minutes and seconds."""
    if value < 120:
        return f"{value:.1f} s"
    minutes, secs = divmod(round(value), 60)
    return f"{minutes} min {secs:02d} s"


def rounded(value: float) -> float:
    """`value` to `WRITTEN_DIGITS` significant digits, for written files (no float noise)."""
    if not math.isfinite(value) or value == 0:
        return value
    return float(f"{value:.{WRITTEN_DIGITS}g}")


def rounded_array(values: np.ndarray) -> np.ndarray:
    """`rounded` over an array, vectorised: the integer of the leading digits divided (or
    multiplied) by an exact power of ten gives the float nearest the short decimal."""
    values = np.asarray(values, dtype=np.float64)
    out = values.copy()
    keep = np.isfinite(values) & (values != 0)
    v = values[keep]
    exponent = WRITTEN_DIGITS - 1 - np.floor(np.log10(np.abs(v)))
    up = exponent >= 0
    power = 10.0 ** np.abs(exponent)
    v = np.where(up, np.round(v * np.where(up, power, 1.0)) / np.where(up, power, 1.0),
                 np.round(v / power) * power)
    # Powers of ten above 1e22 are not exact floats: the few values below 1e-13 or above
    # 1e32 (no real cost or score) go through the decimal string instead.
    inexact = np.flatnonzero(np.abs(exponent) > 22)
    v[inexact] = [rounded(float(x)) for x in values[keep][inexact]]
    out[keep] = v
    return out
