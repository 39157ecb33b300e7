"""`optllm-tui [DATA]`: parse the command line, build the app with `make_app`, run it."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1; got {value}")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1; got {value}")
    return value


def _seed(text: str) -> int:
    from optllm.config import MAX_SEED

    value = int(text)
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be from 0 to {MAX_SEED}; got {value}")
    return value


def parser() -> argparse.ArgumentParser:
    from optllm.config import RunConfig

    defaults = RunConfig()  # the one definition of the defaults, as the app starts with them
    p = argparse.ArgumentParser(
        prog="optllm-tui",
        description="Assign queries to LLMs interactively: load data, train the success "
                    "predictor, run the optimiser, pick a point on the Pareto front and "
                    "export its allocation. Without DATA the embedded synthetic default "
                    "dataset opens.")
    p.add_argument("data", nargs="?", metavar="DATA",
                   help="dataset file: wide or long CSV / Parquet / JSON Lines")
    p.add_argument("--layout", choices=["wide", "long"], help="override layout detection")
    p.add_argument("--open-run", metavar="FILE",
                   help="open a run saved with F2 (its data file is reloaded)")
    p.add_argument("--no-mouse", action="store_true",
                   help="ignore the mouse (the terminal's own text selection then works)")
    p.add_argument("--bootstraps", type=_positive_int,
                   help=f"bootstrap members in the ensemble (default {defaults.bootstraps}; "
                        "small is fast)")
    p.add_argument("--train-fraction", type=_fraction,
                   help="share of queries in the labelled training sample (default "
                        f"{defaults.train_fraction})")
    p.add_argument("--seed", type=_seed, help=f"random seed (default {defaults.seed})")
    return p


@contextmanager
def native_output_hidden() -> Iterator[None]:
    """File descriptor 1 goes to /dev/null inside, and comes back after.

    The app draws on stderr and captures Python's prints, but native code can write to
    descriptor 1 directly (HiGHS's integer solver, in the limits' repair, prints debug
    lines): on a terminal they would land in the middle of the screen."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    from pathlib import Path

    from optllm_tui.app import make_app
    from optllm_tui.settings import Settings

    run = {name: value for name, value in (("bootstraps", args.bootstraps),
                                           ("train_fraction", args.train_fraction),
                                           ("seed", args.seed)) if value is not None}
    data = str(Path(args.data).expanduser().resolve()) if args.data else None
    app = make_app(Settings(data=data, layout=args.layout, run_file=args.open_run, run=run))
    # Our own loop, not asyncio.run: that would wait, after the app has exited, for every
    # thread of the default executor, including one a quit abandoned.
    loop = asyncio.new_event_loop()
    with native_output_hidden() if os.isatty(1) else nullcontext():
        app.run(mouse=not args.no_mouse, loop=loop)
    if app.jobs.live_threads():
        # A job thread still inside a long library call would keep the process alive after
        # the terminal was restored (Python joins every thread at exit). Nothing is left to
        # save: files are written atomically, and the partial one is removed here.
        app.jobs.remove_partial_writes()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(app.return_code or 0)
    loop.close()


if __name__ == "__main__":
    main()
