"""Number formats shared by the screens (from optllm.formatting, shared with the command);
`literal` for every text that comes from a file or the user; paths as users type and
read them."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text

# The number formats live in the library, shared with the command.
from optllm.formatting import cost, count, percent, points, ratio, seconds, unit_cost, usd

__all__ = ["cost", "count", "display_path", "literal", "percent", "points", "ratio",
           "seconds", "typed_path", "unit_cost", "usd"]


def literal(text: object) -> Text:
    """`text` shown exactly as it is, never read as markup.

    Query texts, model names, paths and error messages come from users' files: `[/INST]`
    (a chat template) or `he[/she]` as markup ends the app with a MarkupError, and
    `[client 1.2.3.4]` or `[link=...]` would silently vanish or turn into styles. Table
    cells, options and border titles take this; Static and Label widgets that show such
    text are built with `markup=False` instead, so every later `update` is literal too.
    A Rich Text, not a Textual Content: the DataTable measures only the former."""
    return Text(str(text))


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
