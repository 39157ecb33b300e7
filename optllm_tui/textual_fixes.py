"""Guards around Textual bugs that a key press can reach (textual 8.2.8); each one says
what it prevents, so it can go when Textual fixes it. `apply` installs them once."""

from __future__ import annotations

import asyncio
from typing import Any

from textual.await_complete import AwaitComplete
from textual.screen import Screen
from textual.widgets import OptionList


def apply() -> None:
    """Install the guards (once; calling again does nothing)."""
    if getattr(Screen.dismiss, "guarded", False):
        return
    dismiss: Any = Screen.dismiss
    move_page: Any = OptionList._move_page

    def guarded_dismiss(self: Screen[Any], result: Any = None) -> AwaitComplete:
        # Two Enters (or Enter then Escape) typed quickly both reach a dialog or the
        # command palette before it has gone: the second dismiss ran the answer again and
        # popped whatever screen was then on top, the app's last one included
        # (ScreenStackError, the app ended). A screen answers once, while it is on top.
        if not self.is_active:
            return AwaitComplete(asyncio.sleep(0))
        return dismiss(self, result)

    def guarded_move_page(self: OptionList, direction: Any) -> None:
        # PageUp/PageDown on an OptionList that has options but no size yet (the command
        # palette's list just after ctrl+p, a Select's overlay as it opens) looked up the
        # highlighted option's line before any line was laid out: KeyError, app ended.
        # With no lines there is no page to move by, so the highlight stays.
        if (self.highlighted or 0) not in self._index_to_line:
            return
        move_page(self, direction)

    guarded_dismiss.guarded = True  # type: ignore[attr-defined]
    Screen.dismiss = guarded_dismiss  # type: ignore[method-assign]
    OptionList._move_page = guarded_move_page  # type: ignore[method-assign]
