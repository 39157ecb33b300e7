"""`optllm label-next`: the queries whose labels should come next, as a file to fill in.

The file is in the wide input layout (`query_id`, `query`, `reason`, each model's cost and
an empty label column per model), so once the answers are judged it reads back with the
dataset's loader and merges by query id (the app's "Label next" does both).
"""

from __future__ import annotations

import argparse
import sys

from optllm.cli.common import add_query_column, check_out_file
from optllm.config import (
    DEFAULT_LABELLING_STRATEGY,
    LABELLING_STRATEGIES,
    LEARNER_CHOICES,
    MAX_SEED,
    RunConfig,
)
from optllm.exceptions import ConfigError

DEFAULTS = RunConfig()


def add_strategy_arguments(parser: argparse.ArgumentParser) -> None:
    """--strategy, --seed, --learner and --bootstraps: what picks, shared with
    `simulate-labelling`."""
    parser.add_argument("--strategy", choices=LABELLING_STRATEGIES,
                        default=DEFAULT_LABELLING_STRATEGY,
                        help="random; uncertainty (where the predictor is least sure about the "
                             "models the front chooses between); diverse (clusters of the "
                             "query texts with the fewest labels); mixed (default: clusters "
                             "first, the most uncertain inside each)")
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed,
                        help=f"random seed (default {DEFAULTS.seed})")
    parser.add_argument("--learner", choices=LEARNER_CHOICES, default=DEFAULTS.learner,
                        help=f"predictor learner (default {DEFAULTS.learner})")
    parser.add_argument("--bootstraps", type=int, default=DEFAULTS.bootstraps,
                        help="bootstrap refits for the predictor's spread (default "
                             f"{DEFAULTS.bootstraps})")


def strategy_config(args: argparse.Namespace) -> RunConfig:
    """The checked run config the predictor of a labelling command is trained with."""
    if not 0 <= args.seed <= MAX_SEED:
        raise ConfigError(f"seed must be a whole number from 0 to {MAX_SEED}; got {args.seed}")
    return RunConfig(seed=args.seed, bootstraps=args.bootstraps, learner=args.learner).check()


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `label-next` subcommand to the `optllm` parser."""
    p = subparsers.add_parser(
        "label-next", help="choose the unlabelled queries to label next",
        description="From the labelled rows of DATA, choose K unlabelled queries whose labels "
                    "should most improve the front, and write them (query_id, query, reason, "
                    "costs, empty label columns) to --out in the input layout.")
    p.add_argument("data", metavar="DATA", help="dataset file with labelled and unlabelled "
                                                 "rows: wide or long CSV / Parquet / JSONL")
    p.add_argument("--n", type=int, required=True, metavar="K", help="queries to choose")
    p.add_argument("--out", required=True, metavar="FILE",
                   help="output file; the extension sets the format (.csv, .parquet, "
                        ".jsonl; .csv.gz or .jsonl.gz gzipped), written atomically")
    p.add_argument("--layout", choices=["wide", "long"], help="override layout detection")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    add_strategy_arguments(p)
    add_query_column(p)
    p.set_defaults(handler=run)
    return p


def run(args: argparse.Namespace) -> int:
    """`optllm label-next DATA --n K --out FILE`."""
    from optllm.cli.progress_bar import ProgressBar
    from optllm.data.files import write_table
    from optllm.data.formats import output_format
    from optllm.data.tables import load_dataset
    from optllm.pipeline.labelling import LabellingContext, check_strategy, pick_next, picks_table

    config = strategy_config(args)
    check_strategy(args.strategy)
    check_out_file(args.out, force=args.force, option="--out")
    output_format(args.out)  # an unknown extension is refused before any training
    dataset = load_dataset(args.data, layout=args.layout, query_column=args.query_column)
    print(f"{dataset.title}: {dataset.n_labelled:,} of {dataset.n_queries:,} queries labelled",
          file=sys.stderr)
    bar = ProgressBar()
    context = LabellingContext(dataset, config, seed=args.seed, progress=bar)
    picks = pick_next(context, args.n, args.strategy)
    bar.finish()
    path = write_table(picks_table(dataset, picks), args.out, force=args.force)
    print(f"chose {picks.rows.size:,} queries by {picks.strategy}; fill in the label columns "
          "and merge them into the dataset")
    print(f"wrote {path}")
    return 0
