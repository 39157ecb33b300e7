"""The commands' progress line on stderr, ticking even while the library is silent."""

from __future__ import annotations

import shutil
import sys
import threading
import time
from typing import TextIO

from optllm.progress import Progress, StageClock

#: Seconds between two redraws of the line while no report arrives.
TICK = 0.5


class ProgressBar:
    """One line per stage on stderr: on a terminal redrawn in place at every report and
    every `TICK` seconds (elapsed time and time left keep moving through a long silent
    fit), fitted to the terminal's width so that it never wraps; printed once when the
    stage ends otherwise (logs stay readable)."""

    def __init__(self, stream: TextIO = sys.stderr, width: int = 16) -> None:
        self.stream = stream
        self.width = width
        self.tty = stream.isatty()
        self.clock = StageClock()
        self._lock = threading.Lock()
        self._ticking = threading.Event()
        self._ticker: threading.Thread | None = None
        self._drawn = 0.0

    def __call__(self, event: Progress) -> None:
        with self._lock:
            if self.clock.event is not None and event.stage != self.clock.event.stage:
                self._end_line()
            self.clock.update(event)
            final = event.total is not None and event.done >= event.total
            if self.tty and (final or time.monotonic() - self._drawn > 0.1):
                self._draw()
        if self.tty and self._ticker is None:
            self._ticking.clear()
            self._ticker = threading.Thread(target=self._tick, daemon=True)
            self._ticker.start()

    def _tick(self) -> None:
        while not self._ticking.wait(TICK):
            with self._lock:
                if self.clock.event is not None:
                    self._draw()

    def line(self) -> str:
        """The current stage's line: bar, count, elapsed, time left, what runs."""
        event = self.clock.event
        assert event is not None
        parts = [f"{event.stage:>9}"]
        if event.total:
            filled = int(self.width * min(1.0, event.done / event.total))
            parts.append(f"[{'#' * filled}{'-' * (self.width - filled)}] "
                         f"{event.done}/{event.total}")
        parts.append(f"{self.clock.elapsed():.1f}s")
        left = self.clock.left()
        if left is not None:
            parts.append(f"{left:.0f}s left")
        if event.message:
            parts.append(event.message)
        return " ".join(parts)

    def _draw(self) -> None:
        self._drawn = time.monotonic()
        columns = shutil.get_terminal_size((80, 24)).columns - 1
        self.stream.write("\r" + self.line()[:columns].ljust(columns))
        self.stream.flush()

    def _end_line(self) -> None:
        line = self.line()
        if self.tty:
            self._draw()
            self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def finish(self) -> None:
        """End the current stage's line and stop ticking."""
        if self._ticker is not None:
            self._ticking.set()
            self._ticker.join()
            self._ticker = None
        with self._lock:
            if self.clock.event is not None:
                self._end_line()
                self.clock.event = None
