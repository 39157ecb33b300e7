"""The real `optllm-tui` console script in tmux, driven by keys like a user over SSH:
load, train, run, choose a point, export, quit. Polls the screen; no fixed sleeps.

Runs with `--bootstraps 3 --train-fraction 0.2` on a 300-query file, and keeps the recent
files list in a temporary OPTLLM_CONFIG_DIR. Skipped when tmux is not installed.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Self

import pandas as pd
import pytest

TMUX = shutil.which("tmux")
SCRIPT = Path(sys.executable).with_name("optllm-tui")
pytestmark = [
    pytest.mark.skipif(TMUX is None, reason="tmux is not installed (apt-get install tmux)"),
    pytest.mark.skipif(not SCRIPT.exists(), reason="the optllm-tui script is not installed "
                       "(pip install -e .)"),
]
DEADLINE = 120.0


class Terminal:
    """One tmux session on a private server socket, so no user session is touched."""

    #: Numbers the servers: one still shutting down could take the next session on its
    #: socket with it.
    servers = itertools.count()

    def __init__(self, socket: str) -> None:
        self.socket = socket

    @classmethod
    @contextlib.contextmanager
    def started(cls, name: str, cwd: Path, command: str) -> Iterator[Self]:
        """`command` in a 120 x 40 session of a new server, run in `cwd` with the app's
        config in `cwd/config`; the server is killed on leaving."""
        term = cls(f"{name}-{os.getpid()}-{next(cls.servers)}")
        term.tmux("new-session", "-d", "-s", "e2e", "-x", "120", "-y", "40", "-c", str(cwd),
                  "-e", f"OPTLLM_CONFIG_DIR={cwd / 'config'}", command)
        try:
            yield term
        finally:
            term.tmux("kill-server")

    def tmux(self, *args: str) -> str:
        done = subprocess.run([str(TMUX), "-L", self.socket, *args], capture_output=True,
                              text=True, check=False)
        return done.stdout

    def keys(self, *keys: str) -> None:
        for key in keys:
            self.tmux("send-keys", "-t", "e2e", key)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-t", "e2e", "-p")

    def wait_for(self, text: str, timeout: float = DEADLINE) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.1)
        pytest.fail(f"{text!r} never appeared; the screen was:\n{self.screen()}")

    def alive(self) -> bool:
        return bool(self.tmux("list-sessions"))


@pytest.fixture
def terminal(tmp_path: Path, small_csv: Path) -> Iterator[Terminal]:
    shutil.copy(small_csv, tmp_path / "small.csv")
    with Terminal.started("optllm-e2e", tmp_path,
                          f"{SCRIPT} small.csv --bootstraps 3 --train-fraction 0.2") as term:
        yield term


def test_load_train_run_select_export(terminal: Terminal, tmp_path: Path) -> None:
    terminal.wait_for("Loaded small.")
    # After a screen key, wait for the screen: a key typed in the same instant would still
    # go to the old screen (as it would for a person typing that fast).
    terminal.keys("2")
    terminal.wait_for("2 Predictor")
    terminal.keys("t")
    terminal.wait_for("Trained 3 members")
    terminal.keys("3")
    terminal.wait_for("3 Optimise")
    terminal.keys("r")
    terminal.wait_for("Done: 37 steps")
    terminal.keys("4")
    terminal.wait_for("4 Front")
    terminal.keys("Right")
    screen = terminal.wait_for("queries per model")
    assert "Pareto front (optllm" in screen
    terminal.keys("5")
    terminal.wait_for("240 rows")
    terminal.keys("6")
    terminal.wait_for("6 Export")
    terminal.keys("e")
    terminal.wait_for("Wrote 240 rows to optllm-allocation.csv")
    frame = pd.read_csv(tmp_path / "optllm-allocation.csv")
    assert len(frame) == 240 and {"query_id", "model", "cost"} <= set(frame)
    assert (tmp_path / "config" / "recent.json").exists()
    terminal.keys("q")  # the trained run is not saved: q asks first (ctrl+q would not)
    terminal.wait_for("Quit and lose")
    terminal.keys("y")
    deadline = time.monotonic() + 30
    while terminal.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not terminal.alive()


def test_compare_methods(terminal: Terminal) -> None:
    """Screen 7 on the same file: the default methods side by side, then quit."""
    terminal.wait_for("Loaded small.")
    terminal.keys("7")
    terminal.wait_for("7 Compare")
    terminal.keys("c")
    terminal.wait_for("Done: 6 runs")
    rows: dict[str, tuple[str, str]] = {}
    deadline = time.monotonic() + DEADLINE
    while len(rows) < 6 and time.monotonic() < deadline:  # until the notices are gone
        screen = terminal.screen()
        rows = {m.group(2): m.group(3, 4) for m in re.finditer(
            r"\s([o+#x*%])\s+(\w+)\s+(\d\.\d{3})\s+(\d\.\d{3})\s", screen)}
        time.sleep(0.2)
    assert set(rows) == {"optllm", "hull", "single", "random", "oracle", "prior"}
    assert rows["oracle"] == ("1.000", "0.000")  # HV and IGD of the true front itself
    assert "true accuracy" in screen and "* oracle" in screen
    terminal.keys("C-q")
    deadline = time.monotonic() + 30
    while terminal.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not terminal.alive()
