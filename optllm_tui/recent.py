"""The recent data files list, a small JSON file in the user config directory."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

RECENT_LIMIT = 8


class RecentFiles:
    """Most recently opened data files, newest first; a missing or damaged file reads as
    empty and a failed write is ignored: the list is a convenience, never a reason to fail."""

    def __init__(self, path: Path, limit: int = RECENT_LIMIT) -> None:
        self.path = path
        self.limit = limit

    def load(self) -> list[str]:
        try:
            items = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        if not isinstance(items, list):
            return []
        return [str(item) for item in items if isinstance(item, str)][: self.limit]

    def add(self, source: str) -> list[str]:
        """Put `source` first and save; returns the new list."""
        items = [source, *(item for item in self.load() if item != source)][: self.limit]
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".recent.", suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(items, handle, indent=1)
            os.replace(tmp, self.path)
        except OSError:
            pass
        return items
