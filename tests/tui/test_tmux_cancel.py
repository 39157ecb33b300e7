"""The real `optllm-tui` in tmux, as a user over SSH: Escape during training leaves the CPU
idle, and ctrl+q ends the process whatever it is doing. The process is watched in /proc
(utime + stime of all its threads).

Bounds are generous (seconds to tens of seconds on a loaded machine) so the test is not
timing-flaky; before the fix the CPU stayed busy for minutes after Escape and ctrl+q left a
blank terminal until training had finished. Precise figures: benchmarks/bench_cancel.py.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .test_tmux_e2e import SCRIPT, Terminal, pytestmark  # noqa: F401  (skips without tmux)

TICK = os.sysconf("SC_CLK_TCK")
#: Far more than the app needs; far less than the minutes training runs on.
BOUND = 30.0


def cpu_seconds(pid: int) -> float | None:
    """CPU time of the whole process, or None once it has ended."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return None
    return None if fields[0] == "Z" else (int(fields[11]) + int(fields[12])) / TICK


class App(Terminal):
    @property
    def pid(self) -> int:
        return int(self.tmux("list-panes", "-t", "e2e", "-F", "#{pane_pid}").split()[0])

    def busy(self, pid: int, seconds: float) -> None:
        """Wait until the process has used `seconds` of CPU: the work is under way."""
        start = cpu_seconds(pid) or 0.0
        deadline = time.monotonic() + 300
        while (cpu_seconds(pid) or 0.0) - start < seconds:
            assert time.monotonic() < deadline, "the work never got going"
            time.sleep(0.05)

    def goes_idle(self, pid: int) -> bool:
        """Whether, within BOUND seconds, a one-second window passes in which the process
        uses under a fifth of a second of CPU."""
        deadline = time.monotonic() + BOUND
        while time.monotonic() < deadline:
            before = cpu_seconds(pid)
            time.sleep(1.0)
            after = cpu_seconds(pid)
            if before is None or after is None or after - before < 0.2:
                return True
        return False

    def ends(self, pid: int) -> bool:
        deadline = time.monotonic() + BOUND
        while cpu_seconds(pid) is not None:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True


#: Queries in the generated dataset: featurising them (TF-IDF fitted on a 100,000-text
#: sample, word+char and SVD) takes tens of seconds, in single library calls that used to
#: run to their end after Escape or ctrl+q.
N_QUERIES = 300_000


@pytest.fixture(scope="module")
def large_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from optllm.data.synthetic import generate
    from optllm.data.tables import write_wide

    return write_wide(generate(N_QUERIES, 8, seed=0),
                      tmp_path_factory.mktemp("large") / "large.csv")


@pytest.fixture
def app(tmp_path: Path, large_csv: Path) -> Iterator[App]:
    with App.started("optllm-cancel", tmp_path, f"{SCRIPT} {large_csv}") as term:
        yield term


def start_training(app: App) -> int:
    app.wait_for("Loaded large.")
    app.keys("2")
    app.wait_for("2 Predictor")
    pid = app.pid
    app.keys("t")
    app.busy(pid, 3.0)  # featurising
    return pid


def test_escape_leaves_the_cpu_idle_and_ctrl_q_ends_the_app(app: App) -> None:
    pid = start_training(app)
    app.keys("Escape")
    assert app.goes_idle(pid), "the CPU stayed busy after Escape"
    assert "cancelled" in app.screen()
    app.keys("C-q")
    assert app.ends(pid), "the app did not exit"


def test_ctrl_q_while_training_ends_the_app(app: App) -> None:
    pid = start_training(app)
    app.keys("C-q")
    assert app.ends(pid), "the app did not exit while training"


def test_ctrl_q_at_start_ends_the_app(app: App) -> None:
    """At first paint the training library is still being imported in a thread."""
    app.wait_for("1 Datasets")
    pid = app.pid
    app.keys("C-q")
    assert app.ends(pid), "the app did not exit during start-up"
