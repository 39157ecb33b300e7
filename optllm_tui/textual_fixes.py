"""Guards around Textual bugs that a key press can reach (textual 8.2.8); each one names
the bug, so it can go when Textual fixes it."""

from __future__ import annotations

from typing import Any

from textual.widgets import OptionList


def apply() -> None:
    """Install the guards (once; calling again does nothing)."""
    move_page: Any = OptionList._move_page
    if getattr(move_page, "guarded", False):
        return

    def guarded_move_page(self: OptionList, direction: Any) -> None:
        # PageUp/PageDown on an OptionList that has options but no size yet (the command
        # palette's list just after ctrl+p, a Select's overlay as it opens) looked up the
        # highlighted option's line before any line was laid out: KeyError, app ended.
        # With no lines there is no page to move by, so the highlight stays.
        if (self.highlighted or 0) not in self._index_to_line:
            return
        move_page(self, direction)

    guarded_move_page.guarded = True  # type: ignore[attr-defined]
    OptionList._move_page = guarded_move_page  # type: ignore[method-assign]
