"""The headless `optllm` command: the whole pipeline from a dataset to exported files."""

from __future__ import annotations

import argparse
import sys

from optllm.cli import compare as compare_cli
from optllm.cli import label_next as label_next_cli
from optllm.cli import simulate as simulate_cli
from optllm.cli.common import (
    HANDLERS,
    add_parsers,
    add_query_column,
    add_run_arguments,
    check_out_dir,
    handle_run_batch,
    load_run_data,
    report_unmet,
    uses_batch_options,
)
from optllm.cli.progress_bar import ProgressBar
from optllm.config import (
    COST_UNITS,
    DEFAULT_ALPHA,
    FEATURISER_CHOICES,
    LEARNER_CHOICES,
    RunConfig,
    parse_accuracy,
    parse_usd,
)
from optllm.exceptions import Cancelled, OptLLMError

#: The one definition of every run default: `run`, `compare` and the app's help take theirs.
DEFAULTS = RunConfig()


def _add_run(sub: argparse._SubParsersAction) -> None:
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
    p.add_argument("--learning-curve", action="store_true",
                   help="also estimate how the front would improve with more labels")
    p.add_argument("--alpha", type=float, default=None,
                   help="robust score = mean + alpha * std (default: the measured best)")
    p.add_argument("--method", choices=["optllm", "hull"], default="optllm",
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
    add_run_arguments(p)
    add_query_column(p)


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
        cost_unit=args.cost_unit, report_at=args.report_at,
    ).check()


def _run(args: argparse.Namespace) -> int:
    if uses_batch_options(args):
        return handle_run_batch(args)
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
    _print_summary(result.summary())
    for path in written:
        print(f"wrote {path}")
    return report_unmet(result)


def _print_summary(summary: dict) -> None:
    from optllm.pipeline import report as summary_text

    predictor = summary["predictor"]
    print(f"predictor: {predictor['learner']} on {predictor['featuriser']} features")
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
    lines.append(f"allocation: {summary['allocation_rows']}")
    print("\n".join(lines))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="optllm", description="Optimal assignment of queries "
                                     "to LLMs: a Pareto front from cheapest to most accurate.")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_run(sub)
    add_parsers(sub)
    compare_cli.add_parser(sub)
    label_next_cli.add_parser(sub)
    simulate_cli.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"run": _run, "compare": compare_cli.run, "label-next": label_next_cli.run,
                "simulate-labelling": simulate_cli.run, **HANDLERS}
    try:
        return handlers[args.command](args)
    except OptLLMError as exc:
        if isinstance(exc, Cancelled):
            print("\ncancelled", file=sys.stderr)
            return 130
        print(f"optllm: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted; nothing partial was written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
