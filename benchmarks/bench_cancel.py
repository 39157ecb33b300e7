"""Cancel and quit: how soon the CPU is idle after Escape, and the process gone after
ctrl+q, in every state of the app.

Run: python benchmarks/bench_cancel.py [--rows 1000000] [--repeats 3]
Needs tmux and the shared datasets (/work/shared/datasets, or --data DIR). Prints a Markdown
table (median and worst over the repeats).

Each measurement starts the real app (`python -m optllm_tui.cli`) in a private tmux server,
drives it with keys like a user, and watches the process in /proc:

- Escape -> CPU idle: from sending Escape until the first 100 ms window in which the
  process (all its threads) used under 10 ms of CPU.
- ctrl+q -> exit: from sending ctrl+q until the process is gone.

States: starting (ctrl+q as soon as the first screen is drawn: the training library is
still being imported), loading (a `--rows` x 8 Parquet file), training (logparsing,
16,000 x 8, the default `auto` predictor with 2% and with 50% labelled, when XGBoost is
among the candidates; and `--rows` generated queries, while featurising), optimising (the
OptLLM search on `--rows` queries with stand-in predictions, from a saved run; Escape
pauses it), comparing (the default methods on logparsing: Escape lands while the shared
predictor is trained), exporting (the `--rows` allocation to CSV).
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
IDLE_WINDOW = 0.1
IDLE_CPU = 0.01


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of the whole process (every thread), or None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    if fields[0] == "Z":
        return None
    return (int(fields[11]) + int(fields[12])) / TICK


class App:
    """The app in a private tmux server, one per app: a server being killed can still
    take the next session on its socket with it."""

    started = itertools.count()

    def __init__(self, args: list[str], cwd: Path, config: Path) -> None:
        self.socket = f"bench-cancel-{os.getpid()}-{next(self.started)}"
        command = " ".join(["exec", sys.executable, "-m", "optllm_tui.cli", *args])
        self.tmux("new-session", "-d", "-s", "b", "-x", "120", "-y", "40", "-c", str(cwd),
                  "-e", f"OPTLLM_CONFIG_DIR={config}", command)
        panes = self.tmux("list-panes", "-t", "b", "-F", "#{pane_pid}").split()
        if not panes:
            raise RuntimeError(f"the app did not start: {command}")
        self.pid = int(panes[0])

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True,
                              text=True, check=False).stdout

    def keys(self, *keys: str) -> None:
        for key in keys:
            self.tmux("send-keys", "-t", "b", key)

    def wait_for(self, text: str, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.tmux("capture-pane", "-t", "b", "-p"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{text!r} never appeared")
            time.sleep(0.05)

    def busy(self, seconds: float = 0.5) -> None:
        """Wait until the process has used CPU for a while (the work is under way)."""
        start = cpu_seconds(self.pid) or 0.0
        while (cpu_seconds(self.pid) or 0.0) - start < seconds:
            time.sleep(0.02)

    def until_idle(self) -> float:
        started = time.monotonic()
        while True:
            window = time.monotonic()
            before = cpu_seconds(self.pid)
            time.sleep(IDLE_WINDOW)
            after = cpu_seconds(self.pid)
            if before is None or after is None or after - before < IDLE_CPU:
                return window - started
            if window - started > 600:
                raise TimeoutError("the CPU never went idle")

    def escape_to_idle(self) -> float:
        self.keys("Escape")
        return self.until_idle()

    def quit_to_exit(self) -> float:
        started = time.monotonic()
        self.keys("C-q")
        while cpu_seconds(self.pid) is not None:
            if time.monotonic() - started > 600:
                raise TimeoutError("the app never exited")
            time.sleep(0.005)
        return time.monotonic() - started

    def close(self) -> None:
        self.tmux("kill-server")


def make_large(folder: Path, rows: int) -> tuple[Path, Path]:
    """A `rows` x 8 synthetic Parquet file and a saved run on it with stand-in predictions
    (the benchmark is about stopping, not about the predictor)."""
    import numpy as np
    import pandas as pd

    from optllm import optimize
    from optllm.config import RunConfig
    from optllm.data.dataset import Split
    from optllm.data.synthetic import generate
    from optllm.data.tables import write_wide
    from optllm.pipeline.run import Prediction
    from optllm.pipeline.runfile import save_run

    data = folder / f"large-{rows}.parquet"
    dataset = generate(rows, 8, seed=0)
    write_wide(dataset, data)
    rng = np.random.default_rng(0)
    mean = np.clip(0.5 + 0.3 * dataset.labels + 0.2 * rng.standard_normal(dataset.cost.shape),
                   0, 1)
    spread = 0.05 * rng.random(mean.shape)
    quality = pd.DataFrame({"model": list(dataset.models), "auc": np.nan, "brier": np.nan,
                            "base_rate": np.nan, "prior_brier": np.nan, "beats_prior": False,
                            "n_oob": 0})
    prediction = Prediction(mean, spread, mean, None, quality, None)
    split = Split(np.arange(0), np.arange(rows))
    front = optimize(mean, dataset.cost, method="hull")
    run = folder / f"large-{rows}.npz"
    save_run(run, dataset_source=str(data), dataset=dataset, config=RunConfig(),
             prediction=prediction, split=split, front=front, selected=len(front) // 2)
    return data, run


Scenario = Callable[[App], None]


def measure(args: list[str], folder: Path, config: Path, reach: Scenario,
            escape: bool) -> float:
    """One fresh app in a fresh working directory (so an export never finds its file)."""
    app = App(args, Path(tempfile.mkdtemp(dir=folder)), config)
    try:
        reach(app)
        return app.escape_to_idle() if escape else app.quit_to_exit()
    finally:
        app.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data", type=Path, default=Path("/work/shared/datasets"))
    parser.add_argument("--only", nargs="*", default=[""], metavar="WORD",
                        help="measure only the states whose name has one of these words")
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        sys.exit("needs tmux")
    logparsing = str(args.data / "logparsing.csv")

    def started(app: App) -> None:
        app.wait_for("1 Datasets", 60)

    def loading(app: App) -> None:
        app.wait_for("Loading", 60)
        app.busy(0.3)

    def at(ready: str, screen: str, keys: tuple[str, ...], cpu: float,
           under_way: str = "") -> Scenario:
        """Wait for `ready` and a quiet CPU, open `screen` (its first character is its
        key), press `keys`, then wait for `under_way` and `cpu` seconds of CPU used."""
        def reach(app: App) -> None:
            app.wait_for(ready, 600)
            app.until_idle()
            app.keys(screen[0])
            app.wait_for(screen, 60)
            app.until_idle()  # the screen has taken focus: keys reach its widgets
            app.keys(*keys)
            if under_way:
                app.wait_for(under_way, 600)
            app.busy(cpu)
        return reach

    training = at("Loaded", "2 Predictor", ("t",), 2.0)
    optimising = at("Opened the run", "3 Optimise", ("x", "r"), 2.0)  # reset, run
    comparing = at("Loaded", "7 Compare", ("c",), 2.0, "Running")
    exporting = at("Opened the run", "6 Export", ("e",), 0.3)

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = folder / "config"
        data, run = make_large(folder, args.rows)
        print(f"`python benchmarks/bench_cancel.py --rows {args.rows} --repeats "
              f"{args.repeats}`\n")
        n = f"{args.rows:,}"
        half = ["--train-fraction", "0.5"]
        states: list[tuple[str, list[str], Scenario, bool]] = [
            ("starting (library import under way)", [logparsing], started, False),
            (f"loading {n} x 8 (Parquet)", [str(data)], loading, False),
            ("training, logparsing, auto predictor", [logparsing], training, True),
            ("training, logparsing 50% labelled (XGBoost scored)", [logparsing, *half],
             training, True),
            (f"training, {n} queries (featurising)", [str(data)], training, True),
            (f"optimising {n} queries (OptLLM search)", ["--open-run", str(run)],
             optimising, True),
            ("comparing, logparsing (default methods)", [logparsing], comparing, True),
            (f"exporting {n} rows (CSV)", ["--open-run", str(run)], exporting, False),
        ]
        print("| state | Escape -> CPU idle (s) | ctrl+q -> exit (s) |")
        print("|---|---:|---:|")
        for name, app_args, reach, escapable in states:
            if not any(word in name for word in args.only):
                continue
            cells = []
            for escape in (True, False):
                if escape and not escapable:
                    cells.append("n/a")
                    continue
                times = [measure(app_args, folder, config, reach, escape)
                         for _ in range(args.repeats)]
                cells.append(f"{statistics.median(times):.2f} (worst {max(times):.2f})")
            print(f"| {name} | {cells[0]} | {cells[1]} |", flush=True)


if __name__ == "__main__":
    main()
