"""Small state kept between sessions in the user config directory: the recent data files,
the folder last written to and the run file last saved or opened."""

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
        _save(self.path, items)
        return items


class Places:
    """The folder files were last written to (the default for new outputs, instead of
    wherever the app was started) and the run file last saved or opened (what F3 offers).
    Damaged or missing state reads as none, like `RecentFiles`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _load(self) -> dict[str, str]:
        try:
            items = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(items, dict):
            return {}
        return {str(k): v for k, v in items.items() if isinstance(v, str)}

    def folder(self) -> str:
        """The last folder written to while it still exists, else the working directory."""
        folder = self._load().get("folder")
        return folder if folder and os.path.isdir(folder) else os.getcwd()

    def last_run(self) -> str | None:
        return self._load().get("run")

    def wrote(self, path: str, *, run: bool = False) -> None:
        """Remember the folder of `path` (absolute), and `path` itself as the last run."""
        items = self._load()
        items["folder"] = os.path.dirname(path)
        if run:
            items["run"] = path
        _save(self.path, items)


def _save(path: Path, data: object) -> None:
    """Write `data` as JSON atomically; a failure is ignored (convenience state only)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1)
        os.replace(tmp, path)
    except OSError:
        pass
