"""Progress on long work: stages count from their start, time left, a line that ticks, and
reports that name what runs (candidate, model, fold) and explain their totals."""

from __future__ import annotations

import io
import itertools
import os
import threading

import numpy as np

from optllm.cli import progress_bar
from optllm.cli.progress_bar import ProgressBar
from optllm.predict.learners import LogisticPredictor
from optllm.predict.select import choose_predictor
from optllm.progress import Progress, StageClock

WORDS = [f"w{i}" for i in range(40)]


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_stage_counts_from_the_previous_stage_end_and_counts_down_its_time_left() -> None:
    clock = FakeClock()
    stages = StageClock(clock)
    clock.now += 2
    stages.update(Progress("features", 1, 1))
    clock.now += 30  # the first member's report arrives when it is done
    stages.update(Progress("train", 1, 4))
    assert stages.elapsed() == 30  # not 0: the stage began when features ended
    assert stages.left() == 90     # 30 s a member, 3 to go
    clock.now += 10                # no report for 10 s: the estimate counts down
    assert stages.elapsed() == 40
    assert stages.left() == 80
    stages.update(Progress("optimize", 0, 10))
    assert stages.left() is None   # nothing done yet: no estimate
    stages.update(Progress("route", 5, None))
    assert stages.left() is None   # unknown total


class TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_command_line_ticks_without_reports_and_fits_the_terminal(monkeypatch) -> None:
    monkeypatch.setattr(progress_bar, "TICK", 0.01)
    monkeypatch.setattr(progress_bar.shutil, "get_terminal_size",
                        lambda *a: os.terminal_size((60, 24)))
    stream = TTY()
    bar = ProgressBar(stream)
    bar(Progress("choose", 0, 4, "cross-validating logistic on word+char, model 3/8, "
                                 "fold 2/5 at C 1"))
    drawn = threading.Event()
    for _ in range(500):  # redrawn by the ticker alone
        if stream.getvalue().count("\r") >= 3:
            drawn.set()
            break
        drawn.wait(0.01)
    bar.finish()
    assert drawn.is_set(), "the line was not redrawn while no report arrived"
    lines = [line for line in stream.getvalue().replace("\n", "\r").split("\r") if line]
    assert all(len(line) <= 59 for line in lines)
    assert "choose" in lines[-1] and "0/4" in lines[-1]


def test_the_command_line_without_a_terminal_prints_each_stage_once() -> None:
    stream = io.StringIO()
    bar = ProgressBar(stream)
    for done in range(5):
        bar(Progress("train", done, 4, "bootstrap members"))
    bar(Progress("predict", 1, 1))
    bar.finish()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and "4/4" in lines[0] and "predict" in lines[1]


def test_choosing_reports_each_candidate_and_fold_before_it_is_done() -> None:
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(WORDS, 6)) for _ in range(120)]
    Y = (rng.random((120, 3)) < 0.5).astype(float)
    events: list[Progress] = []
    choose_predictor(texts[:60], Y[:60], texts, costs=np.tile([1.0, 2.0, 3.0], (60, 1)),
                     progress=events.append)
    assert {e.stage for e in events} == {"choose"}
    assert events[0].done == 0 and "features" in events[0].message  # before any work
    messages = [e.message for e in events]
    assert "cross-validating logistic on word+char, model 2/3, fold 3/5 at C 1" in messages
    assert any(m.startswith("cross-validating knn on word+char") for m in messages)
    # the count says which candidate runs; it never goes back
    assert all(b.done >= a.done for a, b in itertools.pairwise(events))


def test_training_reports_explain_the_total() -> None:
    rng = np.random.default_rng(0)
    X, Y = rng.random((40, 5)), (rng.random((40, 3)) < 0.5).astype(float)
    events: list[Progress] = []
    LogisticPredictor(n_bootstraps=4, random_state=0).fit(X, Y, progress=events.append)
    assert events[0] == Progress("train", 0, 15, "3 models x (1 fit + 4 bootstraps)")
    assert events[-1].done == 15
    assert "bootstrap 4/4" in events[-1].message
