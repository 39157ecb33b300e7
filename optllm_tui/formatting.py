"""Number formats shared by the screens, so every screen writes money and accuracy alike;
`literal` for every text that comes from a file or the user; paths as users type and
read them."""

from __future__ import annotations

import math
from pathlib import Path

from rich.text import Text


def literal(text: object) -> Text:
    """`text` shown exactly as it is, never read as markup.

    Query texts, model names, paths and error messages come from users' files: `[/INST]`
    (a chat template) or `he[/she]` as markup ends the app with a MarkupError, and
    `[client 1.2.3.4]` or `[link=...]` would silently vanish or turn into styles. Table
    cells, options and border titles take this; Static and Label widgets that show such
    text are built with `markup=False` instead, so every later `update` is literal too.
    A Rich Text, not a Textual Content: the DataTable measures only the former."""
    return Text(str(text))


def usd(value: float) -> str:
    """Dollars with 4 significant decimals for small sums, cents for large ones."""
    if not math.isfinite(value):
        return "-"
    return f"${value:,.2f}" if abs(value) >= 100 else f"${value:,.4f}"


def unit_cost(value: float) -> str:
    """A per-query cost: often fractions of a cent."""
    return "-" if not math.isfinite(value) else f"${value:.6f}"


def ratio(value: float | None, digits: int = 3) -> str:
    """An accuracy, AUC or Brier score in 0..1."""
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.{digits}f}"


def percent(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{100 * value:.1f}%"


def seconds(value: float) -> str:
    """A duration: seconds below two minutes, else minutes and seconds."""
    if value < 120:
        return f"{value:.1f} s"
    minutes, secs = divmod(round(value), 60)
    return f"{minutes} min {secs:02d} s"


def display_path(path: str) -> str:
    """A path as short as it can be said: relative to the working directory, or to ~."""
    p = Path(path)
    for base, prefix in ((Path.cwd(), ""), (Path.home(), "~/")):
        try:
            return prefix + str(p.relative_to(base))
        except ValueError:
            continue
    return path


def typed_path(text: str) -> str:
    """A path typed by the user, made absolute with `~` expanded. What cannot be expanded
    or resolved (`~nobody/x.csv`, a NUL byte) is kept as typed: the job that opens it then
    reports the file by that name, instead of the key press ending the app."""
    path = Path(text)
    try:
        return str(path.expanduser().resolve())
    except (RuntimeError, ValueError, OSError):
        return text


def plural(count: int, noun: str) -> str:
    """"1 step", "2 steps": a count with its noun agreeing."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"
