"""`optllm compare`: methods side by side on the same splits and predictions, as files.

Writes `DIR/comparison.csv` (one row per method and seed), `DIR/comparison.md` (median and
range per method, for docs) and `DIR/fronts/<method>-seed<k>.csv` (cost, predicted and true
accuracy of every point, at most 2,000 evenly by cost), all or nothing: the folder is
replaced in one step (`optllm.data.files.replaced_folder`). Heavy modules are
imported when the command runs, so building the `optllm` parser stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from optllm.cli.common import DEFAULTS, FEATURE_COLUMNS_HELP, check_out_dir
from optllm.cli.progress_bar import ProgressBar
from optllm.config import RunConfig
from optllm.exceptions import ConfigError
from optllm.optimizers.registry import METHODS
from optllm.predict.registry import FEATURISER_CHOICES, LEARNER_CHOICES

#: What `compare` writes into its folder, which it replaces as a whole (fronts of an earlier
#: comparison's other seeds or methods do not linger).
OUTPUT_NAMES = ("comparison.csv", "comparison.md", "fronts")

#: Upper bounds that keep a comparison to hours at most: seeds (each a split, a predictor and
#: every method), and the evolutionary methods' population and generations (100 times the
#: paper's 100 x 200 evaluations at most).
MAX_SEEDS = 100
MAX_POP_SIZE = 1000
MAX_GENERATIONS = 2000


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `compare` subcommand to the `optllm` parser."""
    p = subparsers.add_parser(
        "compare", help="compare methods on the same splits and predicted scores",
        description="For each seed, split DATA (the embedded synthetic default when omitted), "
                    "train one predictor, run every method on its predicted scores and measure "
                    "each front against the true front; write the tables to --out.")
    p.add_argument("data", nargs="?", metavar="DATA",
                   help="dataset file: wide or long CSV / Parquet / JSONL")
    p.add_argument("--seeds", type=int, default=5, metavar="K",
                   help="number of seeds 0..K-1, each its own split and predictor (default 5)")
    p.add_argument("--methods", metavar="M1,M2,...",
                   help=f"comma-separated, from {', '.join(METHODS)} (default: all; "
                        "nsga2, smsemoa and moead only when pymoo is installed)")
    p.add_argument("--train-fraction", type=float, default=DEFAULTS.train_fraction,
                   metavar="F", help="share of queries in the labelled training sample "
                                     f"(default {DEFAULTS.train_fraction})")
    p.add_argument("--learner", choices=LEARNER_CHOICES, default=DEFAULTS.learner,
                   help=f"predictor learner (default {DEFAULTS.learner}; the paper's: xgboost)")
    p.add_argument("--featuriser", choices=FEATURISER_CHOICES, default=DEFAULTS.featuriser,
                   help=f"query text features (default {DEFAULTS.featuriser}; the paper's: "
                        "tfidf-svd)")
    p.add_argument("--feature-columns", default=DEFAULTS.feature_columns, metavar="COLUMNS",
                   help=FEATURE_COLUMNS_HELP)
    p.add_argument("--bootstraps", type=int, default=DEFAULTS.bootstraps, metavar="B",
                   help=f"bootstrap refits for the spread (default {DEFAULTS.bootstraps}, as "
                        "`optllm run`; the paper's: 100)")
    p.add_argument("--pop-size", type=int, default=100, metavar="P",
                   help="population of the evolutionary methods (default 100)")
    p.add_argument("--generations", type=int, default=200, metavar="G",
                   help="generations of the evolutionary methods (default 200)")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    p.set_defaults(handler=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Run the comparison and write its files; errors are `OptLLMError`s."""
    from optllm.data.default import load_default
    from optllm.data.files import atomic_path, replaced_folder, write_table
    from optllm.data.tables import load_dataset
    from optllm.pipeline.compare import check_methods, compare, default_methods

    if not 1 <= args.seeds <= MAX_SEEDS:
        raise ConfigError(f"--seeds must be from 1 to {MAX_SEEDS}; got {args.seeds}")
    if not 2 <= args.pop_size <= MAX_POP_SIZE:
        raise ConfigError(f"--pop-size must be from 2 to {MAX_POP_SIZE}; got {args.pop_size}")
    if not 1 <= args.generations <= MAX_GENERATIONS:
        raise ConfigError(f"--generations must be from 1 to {MAX_GENERATIONS}; "
                          f"got {args.generations}")
    config = RunConfig(train_fraction=args.train_fraction, bootstraps=args.bootstraps,
                       learner=args.learner, featuriser=args.featuriser,
                       feature_columns=args.feature_columns).check()
    methods: Sequence[str]
    if args.methods is None:
        methods = default_methods()
        left_out = [m for m in METHODS if m not in methods]
        if left_out:
            print(f"pymoo is not installed: leaving out {', '.join(left_out)} "
                  "(pip install 'optllm[baselines]')", file=sys.stderr)
    else:
        methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    methods = check_methods(methods)
    seeds = range(args.seeds)
    fronts = {(m, s): Path("fronts") / f"{m}-seed{s}.csv" for m in methods for s in seeds}
    out = check_out_dir(args.out, OUTPUT_NAMES, force=args.force)
    dataset = load_dataset(args.data) if args.data else load_default()
    print(f"{dataset.title}: {dataset.n_queries} queries x {dataset.n_models} models; "
          f"comparing {', '.join(methods)} over {args.seeds} seed(s)", file=sys.stderr)
    bar = ProgressBar()
    comparison = compare(dataset, methods, seeds, config, pop_size=args.pop_size,
                         generations=args.generations, progress=bar)
    bar.finish()

    markdown = comparison.to_markdown()
    with replaced_folder(out, OUTPUT_NAMES, force=args.force) as staging:
        (staging / "fronts").mkdir()
        write_table(comparison.table(), staging / "comparison.csv")
        with atomic_path(staging / "comparison.md") as tmp:
            tmp.write_text(markdown, encoding="utf-8")
        for method_run in comparison.runs:
            write_table(method_run.frame(), staging / fronts[method_run.method, method_run.seed])
    print(markdown)
    print(f"wrote {out / 'comparison.csv'}, {out / 'comparison.md'} and "
          f"{len(comparison.runs)} fronts in {out / 'fronts'}")
    return 0
