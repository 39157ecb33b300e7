"""`optllm simulate-labelling`: replay labelling rounds on a fully labelled dataset.

Hides the labels, labels a random start share, then adds a share per round chosen by a
strategy, retraining each round; writes `DIR/rounds.json` (atomically, at the end) and
prints a table and a terminal plot of the hypervolume ratio per round. Ctrl+C stops
between two units of work and writes nothing.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from optllm.cli.common import add_query_column, check_out_dir
from optllm.cli.label_next import add_strategy_arguments, strategy_config
from optllm.exceptions import ConfigError
from optllm.optimizers.registry import RUN_METHODS

if TYPE_CHECKING:
    from optllm.pipeline.labelling import Round

OUTPUT_NAMES = ("rounds.json",)
#: Share of queries set aside to score every round on: the same rows for every round and
#: strategy. Scored on the still-unlabelled rows instead, uncertainty sampling looked worse
#: than random on planted data where it was better on a fixed set (it takes the hard rows
#: out of the evaluation).
DEFAULT_HOLDOUT = 0.2
#: Rounds a simulation runs at most: each retrains the predictor (seconds to minutes).
MAX_ROUNDS = 200


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `simulate-labelling` subcommand to the `optllm` parser."""
    p = subparsers.add_parser(
        "simulate-labelling", help="replay labelling rounds on fully labelled data",
        description="On fully labelled DATA, hide the labels, start from a random --start "
                    "share of labelled queries, then add a --step share per round chosen by "
                    "--strategy and retrain; write DIR/rounds.json and print the rounds.")
    p.add_argument("data", metavar="DATA", help="fully labelled dataset file")
    p.add_argument("--start", type=float, default=0.01, metavar="F0",
                   help="share of queries labelled at random before the first round "
                        "(default 0.01)")
    p.add_argument("--step", type=float, default=0.01, metavar="F",
                   help="share of queries added per round (default 0.01)")
    p.add_argument("--rounds", type=int, default=3, metavar="R", help="rounds (default 3)")
    p.add_argument("--holdout", type=float, default=DEFAULT_HOLDOUT, metavar="SHARE",
                   help="score every round on this random share of queries, set aside and "
                        f"never labelled (default {DEFAULT_HOLDOUT}; 0: on the queries still "
                        "unlabelled, which depend on what the strategy took)")
    p.add_argument("--method", choices=RUN_METHODS, default="hull",
                   help="optimiser of each round's front (default hull: the exact front, so "
                        "the rounds differ by their labels only, not by the search's noise)")
    p.add_argument("--layout", choices=["wide", "long"], help="override layout detection")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--force", action="store_true", help="overwrite DIR/rounds.json")
    add_strategy_arguments(p)
    add_query_column(p)
    p.set_defaults(handler=run)
    return p


def _number(value: float | None, scale: float = 1.0, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value * scale:.{digits}f}"


def table_lines(rounds: list[Round]) -> list[str]:
    """One line per round: labelled count and share, the measures, the predictor."""
    lines = [f"{'round':>5} {'labelled':>8} {'share':>6} {'HV ratio':>8} {'saving':>7} "
             f"{'gain pp':>7} {'AUC':>5}  predictor"]
    for r in rounds:
        lines.append(f"{r.round:>5} {r.labelled:>8,} {r.share:>6.1%} "
                     f"{_number(r.hypervolume):>8} {_number(r.cost_saving_at_best_accuracy):>7} "
                     f"{_number(r.accuracy_gain_at_best_cost, 100, 1):>7} "
                     f"{_number(r.mean_auc, digits=2):>5}  {r.predictor}")
    return lines


def plot_text(rounds: list[Round], title: str, width: int, height: int = 15) -> str:
    """The hypervolume ratio against the labelled share, as terminal text."""
    import plotext as plt

    points = [(r.share * 100, r.hypervolume) for r in rounds if r.hypervolume is not None]
    plt.clear_figure()
    plt.plotsize(width, height)
    plt.theme("clear")
    if points:
        plt.plot([x for x, _ in points], [y for _, y in points], marker="dot")
    plt.title(title)
    plt.xlabel("labelled %")
    plt.ylabel("HV ratio")
    return str(plt.build())


def run(args: argparse.Namespace) -> int:
    """`optllm simulate-labelling DATA ... --out DIR`."""
    from optllm.cli.progress_bar import ProgressBar
    from optllm.data.files import replaced_folder, write_json
    from optllm.data.tables import load_dataset
    from optllm.pipeline.labelling import simulate

    config = replace(strategy_config(args), method=args.method)
    if not 0 <= args.rounds <= MAX_ROUNDS:
        raise ConfigError(f"rounds must be from 0 to {MAX_ROUNDS}; got {args.rounds}")
    check_out_dir(args.out, OUTPUT_NAMES, force=args.force)
    dataset = load_dataset(args.data, layout=args.layout, query_column=args.query_column)
    bar = ProgressBar()
    rounds = simulate(dataset, start=args.start, step=args.step, rounds=args.rounds,
                      strategy=args.strategy, seed=args.seed, config=config,
                      holdout=args.holdout, progress=bar)
    bar.finish()
    with replaced_folder(Path(args.out), OUTPUT_NAMES, force=args.force) as staging:
        write_json({"dataset": dataset.source or dataset.title, "strategy": args.strategy,
                    "seed": args.seed, "start": args.start, "step": args.step,
                    "holdout": args.holdout, "evaluated_on": (
                        "a fixed random holdout" if args.holdout else
                        "the queries unlabelled in that round"),
                    "config": config.as_dict(),
                    "rounds": [r.as_dict() for r in rounds]}, staging / "rounds.json")
    print("\n".join(table_lines(rounds)))
    width = min(100, shutil.get_terminal_size((80, 24)).columns)
    print(plot_text(rounds, f"{dataset.title}: {args.strategy}", width))
    print(f"wrote {Path(args.out) / 'rounds.json'}", file=sys.stdout)
    return 0
