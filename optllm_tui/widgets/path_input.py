"""A path field that completes with Tab, as a shell does."""

from __future__ import annotations

import os
from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.suggester import Suggester
from textual.widgets import Input

#: Directory entries read for one completion: a huge folder must not hold up a key.
SCAN_LIMIT = 5_000


def complete_path(text: str) -> str | None:
    """`text` extended as far as the files it can name agree (a folder gets its `/`), or
    None when nothing more can be added. `~` is understood and kept as typed."""
    folder, start = os.path.split(text)
    where = os.path.expanduser(folder) if folder else "."
    names: list[str] = []
    try:
        with os.scandir(where) as entries:
            for count, entry in enumerate(entries):
                if count >= SCAN_LIMIT:
                    break
                if entry.name.startswith(start) and (start.startswith(".")
                                                     or not entry.name.startswith(".")):
                    names.append(entry.name + ("/" if _is_dir(entry) else ""))
    except OSError:
        return None
    if not names:
        return None
    common = os.path.commonprefix(names)  # noqa: RUF071 (names, not paths: by character)
    return text[: len(text) - len(start)] + common if len(common) > len(start) else None


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


class PathSuggester(Suggester):
    """Suggests the completion of a typed path (shown greyed after the cursor)."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)  # files come and go

    async def get_suggestion(self, value: str) -> str | None:
        return complete_path(value)


class PathInput(Input):
    """An Input for a file path: Tab takes the greyed completion, else moves on as usual."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("tab", "complete", "Complete", show=False)]

    def __init__(self, value: str | None = None, **kwargs: object) -> None:
        super().__init__(value, suggester=PathSuggester(), **kwargs)  # type: ignore[arg-type]

    def action_complete(self) -> None:
        completion = complete_path(self.value) if self.cursor_at_end else None
        if completion is None:
            self.screen.focus_next()
            return
        self.value = completion
        self.cursor_position = len(completion)
