"""`optllm run`: train, optimise, evaluate and export; with --allocate, a batch of new queries."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from optllm.cli.common import (
    DEFAULTS,
    FEATURE_COLUMNS_HELP,
    add_query_column,
    check_out_dir,
    check_out_file,
    report_unmet,
)
from optllm.cli.distributed import add_engine_arguments, check_engine, run_dask
from optllm.cli.limits import add_limit_arguments, limits_from_args
from optllm.cli.progress_bar import ProgressBar
from optllm.config import COST_UNITS, DEFAULT_ALPHA, RunConfig, parse_accuracy, parse_usd
from optllm.exceptions import ConfigError
from optllm.optimizers.registry import RUN_METHODS
from optllm.predict.registry import FEATURISER_CHOICES, LEARNER_CHOICES

if TYPE_CHECKING:
    from optllm.data.dataset import Dataset


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `run` subcommand to the `optllm` parser."""
    p = sub.add_parser("run", help="train, optimise, evaluate and export",
                       description="Run the whole pipeline on DATA (the embedded synthetic "
                                   "default when omitted) and write the results to --out.")
    p.add_argument("data", nargs="?", help="dataset file: wide or long CSV / Parquet / JSONL")
    p.add_argument("--layout", choices=["wide", "long"], help="override layout detection")
    p.add_argument("--train-fraction", type=float, default=None,
                   help="share of queries in the labelled training sample (default "
                        f"{DEFAULTS.train_fraction}; "
                        "not with --allocate, which learns from all of DATA)")
    p.add_argument("--seed", type=int, default=DEFAULTS.seed,
                   help=f"random seed (default {DEFAULTS.seed})")
    p.add_argument("--bootstraps", type=int, default=DEFAULTS.bootstraps,
                   help=f"bootstrap refits for the spread (default {DEFAULTS.bootstraps}; "
                        "the paper: 100)")
    p.add_argument("--learner", choices=LEARNER_CHOICES, default="auto",
                   help="auto (default: chosen by cross-validated log-loss, falling back to "
                        "the per-model prior), or xgboost (the paper's), logistic, knn, prior")
    p.add_argument("--featuriser", choices=FEATURISER_CHOICES, default="auto",
                   help="query text features (default auto; the paper's: tfidf-svd)")
    p.add_argument("--feature-columns", default=DEFAULTS.feature_columns, metavar="COLUMNS",
                   help=FEATURE_COLUMNS_HELP)
    p.add_argument("--learning-curve", action="store_true",
                   help="also estimate how the front would improve with more labels")
    p.add_argument("--alpha", type=float, default=None,
                   help="robust score = mean + alpha * std (default: the measured best)")
    p.add_argument("--method", choices=RUN_METHODS, default=DEFAULTS.method,
                   help="optllm: the paper's search; hull: the exact supported front")
    p.add_argument("--density", type=int, default=DEFAULTS.density,
                   help=f"steps from each end of the front (default {DEFAULTS.density})")
    p.add_argument("--cost-unit", choices=COST_UNITS, default="usd",
                   help="what the front's cost counts: usd (default), or calls to the paid "
                        "models (every model dearer than the cheapest costs 1 per query)")
    p.add_argument("--report-at", type=float, metavar="SHARE",
                   help="also report the cheapest allocation reaching SHARE of the best "
                        "single model's accuracy (0.95 = 95%%)")
    point = p.add_mutually_exclusive_group()
    # Parsed by the library's parsers in config_from_args, as the app parses them.
    point.add_argument("--budget",
                       help="pick the most accurate point whose total cost for all the "
                            "allocated queries is at most this (USD, or calls with "
                            "--cost-unit calls)")
    point.add_argument("--target-accuracy",
                       help="pick the cheapest point with expected accuracy >= X "
                            "(a fraction, 0.85, or a percentage, 85%%)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    add_limit_arguments(p)
    _add_batch_arguments(p)
    add_query_column(p)
    p.set_defaults(handler=run)
    return p


def _add_batch_arguments(run_parser: argparse.ArgumentParser) -> None:
    """The options of `optllm run` for allocating a batch of new, unlabelled queries."""
    group = run_parser.add_argument_group(
        "new queries", "Allocate a batch of new queries, learning from DATA as the labelled "
        "history; their costs come from token counts and prices.")
    group.add_argument("--allocate", metavar="BATCH",
                       help="file of new queries: a 'query' column and optionally 'query_id' "
                            "(CSV, Parquet or JSON Lines)")
    group.add_argument("--prices", metavar="FILE.toml",
                       help='price overrides: [models."name"] input_per_mtok = ..., '
                            "output_per_mtok = ... (see docs/pricing.md)")
    group.add_argument("--output-tokens", metavar="MODEL=N,...",
                       help="expected output tokens per model (default: learnt from DATA)")
    group.add_argument("--tokens", metavar="METHOD",
                       help="how input tokens are counted: auto (default: exact where "
                            "available offline, else the estimate), estimate or cl100k_base")
    group.add_argument("--save-policy", metavar="FILE",
                       help="save the chosen point (--budget / --target-accuracy) as a "
                            "routing policy for `optllm route`")
    add_engine_arguments(group)


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """The checked run config of `optllm run`'s options (the batch path's too)."""
    fraction = {} if args.train_fraction is None else {"train_fraction": args.train_fraction}
    return RunConfig(
        **fraction, seed=args.seed, bootstraps=args.bootstraps,
        alpha=DEFAULT_ALPHA if args.alpha is None else args.alpha, method=args.method,
        density=args.density,
        budget=None if args.budget is None else parse_usd(args.budget),
        target_accuracy=None if args.target_accuracy is None else parse_accuracy(
            args.target_accuracy),
        learner=args.learner, featuriser=args.featuriser, learning_curve=args.learning_curve,
        cost_unit=args.cost_unit, report_at=args.report_at, limits=limits_from_args(args),
        feature_columns=args.feature_columns,
    ).check()


def load_run_data(args: argparse.Namespace) -> Dataset:
    """DATA of `optllm run` (the embedded default when omitted); with --prices,
    --output-tokens or --tokens, the models they name that have labels but no `<m>_cost`
    column are priced from token counts."""
    from optllm.data.default import load_default
    from optllm.data.tables import load_dataset
    from optllm.pricing.prices import load_priced, parse_output_tokens

    pricing = (args.prices, args.output_tokens, args.tokens)
    if args.data is None:
        if any(option is not None for option in pricing):
            raise ConfigError("--prices, --output-tokens and --tokens without --allocate "
                              "price the models of DATA; give a DATA file")
        return load_default()
    if all(option is None for option in pricing):
        return load_dataset(args.data, layout=args.layout, query_column=args.query_column)
    output_tokens = parse_output_tokens(args.output_tokens) if args.output_tokens else None
    dataset, _ = load_priced(args.data, layout=args.layout, query_column=args.query_column,
                             prices=args.prices, output_tokens=output_tokens,
                             token_method=args.tokens or "auto")
    return dataset


def uses_batch_options(args: argparse.Namespace) -> bool:
    """Whether a `run` asked for the batch path (so `run_batch` should take it)."""
    return args.allocate is not None or args.save_policy is not None or check_engine(args)


def run(args: argparse.Namespace) -> int:
    """`optllm run`: the whole pipeline on DATA, or on a batch with --allocate."""
    if uses_batch_options(args):
        return run_batch(args)
    from optllm.pipeline.run import OUTPUT_NAMES, run, write_outputs

    config = config_from_args(args)
    check_out_dir(args.out, OUTPUT_NAMES, force=args.force)
    dataset = load_run_data(args)
    print(f"{dataset.title}: {dataset.n_queries:,} queries x {dataset.n_models} models",
          file=sys.stderr)
    bar = ProgressBar()
    result = run(dataset, config, progress=bar)
    bar.finish()
    written = write_outputs(result, args.out, force=args.force)
    print_summary(result.summary())
    for path in written:
        print(f"wrote {path}")
    return report_unmet(result)


def run_batch(args: argparse.Namespace) -> int:
    """`optllm run HISTORY --allocate BATCH ...`: train, allocate, write, maybe save a policy."""
    from optllm.data.default import load_default
    from optllm.data.tables import load_dataset
    from optllm.pipeline.batch import run_batch
    from optllm.pipeline.routing import policy_from_result
    from optllm.pipeline.run import OUTPUT_NAMES, write_outputs
    from optllm.pricing.prices import parse_output_tokens

    if check_engine(args):
        return run_dask(args, config_from_args(args))
    if args.allocate is None:
        raise ConfigError("--save-policy applies only with --allocate BATCH")
    if args.train_fraction is not None:
        raise ConfigError("--train-fraction does not apply with --allocate: the predictor "
                          "learns from every labelled query of DATA")
    config = config_from_args(args)
    check_out_dir(args.out, OUTPUT_NAMES, force=args.force)
    if args.save_policy is not None:
        if args.budget is None and args.target_accuracy is None:
            raise ConfigError("--save-policy needs a chosen point: give --budget or "
                              "--target-accuracy")
        check_out_file(args.save_policy, force=args.force, option="--save-policy")
    output_tokens = parse_output_tokens(args.output_tokens) if args.output_tokens else None
    history = (load_dataset(args.data, layout=args.layout, query_column=args.query_column)
               if args.data else load_default())
    print(f"history {history.title}: {history.n_labelled:,} labelled queries x "
          f"{history.n_models} models", file=sys.stderr)
    bar = ProgressBar()
    result = run_batch(history, args.allocate, config, prices=args.prices,
                       output_tokens=output_tokens, token_method=args.tokens or "auto",
                       progress=bar, query_column=args.query_column)
    bar.finish()
    policy = (policy_from_result(result)
              if args.save_policy is not None and result.selected is not None else None)
    written = write_outputs(result, args.out, force=args.force)
    if policy is not None:
        written.append(policy.save(args.save_policy, force=args.force))
    print_batch_summary(result.summary())
    for path in written:
        print(f"wrote {path}")
    return report_unmet(result)


def print_summary(summary: dict) -> None:
    """The predictor, the front, the measures and the chosen point of a run, on stdout."""
    from optllm.pipeline import report as summary_text

    predictor = summary["predictor"]
    print(f"predictor: {predictor['learner']} on {predictor['featuriser']} features")
    print(summary_text.feature_columns_line(predictor))
    print(predictor["verdict"])
    print(summary_text.front_line(summary))
    lines = summary_text.single_model_lines(summary)
    if summary["best_single_model"] is not None:
        lines.append(f"best single model: {summary['best_single_model']}")
    if summary["best_single_model"] is not None and summary["igd"] is None:
        lines.append(f"too few allocated queries ({summary['n_allocated']:,}) with a trade-off "
                     "to evaluate the front against the labels")
    elif summary["best_single_model"] is not None:
        lines += summary_text.measure_lines(summary)
    lines += summary_text.choice_lines(summary)
    lines += summary_text.limit_lines(summary)
    lines.append(f"allocation: {summary['allocation_rows']}")
    print("\n".join(lines))


def print_batch_summary(summary: dict) -> None:
    """The cost basis, the front and the chosen point of a batch run, on stdout."""
    from optllm.pipeline import report as summary_text

    costs = summary["costs"]
    print(f"batch: {summary['n_allocated']:,} queries, {costs['batch_input_tokens']:,} input "
          f"tokens ({costs['token_counting']})")
    print(f"{'model':<24} {'$/M in':>9} {'$/M out':>9} {'out tokens':>10}  price source")
    for row in costs["models"]:
        print(f"{row['model']:<24} {row['input_per_mtok']:>9.4g} {row['output_per_mtok']:>9.4g} "
              f"{row['output_tokens']:>10.1f}  {row['price_source']}")
    print(summary_text.front_line(summary) + "; expected accuracy only (the batch has no "
          "labels)")
    lines = summary_text.single_model_lines(summary)
    lines += summary_text.choice_lines(summary)
    print("\n".join(lines))
