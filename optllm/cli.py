"""The headless `optllm` command: the whole pipeline from a dataset to exported files."""

from __future__ import annotations

import argparse
import sys
import time

from optllm import compare_cli
from optllm.config import DEFAULT_ALPHA, FEATURISER_CHOICES, LEARNER_CHOICES, RunConfig
from optllm.exceptions import Cancelled, OptLLMError
from optllm.extra_cli import (
    HANDLERS,
    add_parsers,
    add_run_arguments,
    check_out_dir,
    handle_run_batch,
    report_unmet,
    uses_batch_options,
)
from optllm.progress import Progress


class ProgressBar:
    """One line per stage on stderr: redrawn in place on a terminal, printed once when
    the stage ends otherwise (logs stay readable)."""

    def __init__(self, stream=sys.stderr, width: int = 30) -> None:
        self.stream = stream
        self.width = width
        self.tty = stream.isatty()
        self.stage: str | None = None
        self.started = time.perf_counter()
        self.last_draw = 0.0

    def __call__(self, event: Progress) -> None:
        if event.stage != self.stage:
            self.finish()
            self.stage = event.stage
            self.started = time.perf_counter()
        done = event.total is not None and event.done >= event.total
        now = time.perf_counter()
        if self.tty and (done or now - self.last_draw > 0.1):
            self.last_draw = now
            self.stream.write("\r" + self._line(event))
            self.stream.flush()
        self._last = event

    def _line(self, event: Progress) -> str:
        elapsed = time.perf_counter() - self.started
        if event.total:
            filled = int(self.width * min(1.0, event.done / event.total))
            bar = "#" * filled + "-" * (self.width - filled)
            return (f"{event.stage:>9} [{bar}] {event.done}/{event.total} "
                    f"{elapsed:6.1f}s {event.message[:30]:<30}")
        return f"{event.stage:>9} {elapsed:6.1f}s {event.message[:40]:<40}"

    def finish(self) -> None:
        if self.stage is None:
            return
        line = self._line(self._last)
        self.stream.write(("\r" + line + "\n") if self.tty else line + "\n")
        self.stream.flush()
        self.stage = None


def _add_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="train, optimise, evaluate and export",
                       description="Run the whole pipeline on DATA (the embedded synthetic "
                                   "default when omitted) and write the results to --out.")
    p.add_argument("data", nargs="?", help="dataset file: wide or long CSV / Parquet / JSONL")
    p.add_argument("--layout", choices=["wide", "long"], help="override layout detection")
    p.add_argument("--train-fraction", type=float, default=None,
                   help="share of queries in the labelled training sample (default 0.02; "
                        "not with --allocate, which learns from all of DATA)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--bootstraps", type=int, default=30,
                   help="bootstrap refits for the spread (default 30; the paper: 100)")
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
    p.add_argument("--density", type=int, default=10,
                   help="steps from each end of the front (default 10)")
    point = p.add_mutually_exclusive_group()
    point.add_argument("--budget", type=float, help="pick the best point costing <= USD")
    point.add_argument("--target-accuracy", type=float,
                       help="pick the cheapest point with expected accuracy >= X (0..1)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    add_run_arguments(p)


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """The checked run config of `optllm run`'s options (the batch path's too)."""
    fraction = {} if args.train_fraction is None else {"train_fraction": args.train_fraction}
    return RunConfig(
        **fraction, seed=args.seed, bootstraps=args.bootstraps,
        alpha=DEFAULT_ALPHA if args.alpha is None else args.alpha, method=args.method,
        density=args.density, budget=args.budget, target_accuracy=args.target_accuracy,
        learner=args.learner, featuriser=args.featuriser, learning_curve=args.learning_curve,
    ).check()


def _run(args: argparse.Namespace) -> int:
    if uses_batch_options(args):
        return handle_run_batch(args)
    from optllm.default_data import load_default
    from optllm.loading import load_dataset
    from optllm.pipeline import OUTPUT_NAMES, run, write_outputs

    config = config_from_args(args)
    check_out_dir(args.out, OUTPUT_NAMES, force=args.force)
    dataset = (load_dataset(args.data, layout=args.layout) if args.data else load_default())
    print(f"{dataset.title}: {dataset.n_queries} queries x {dataset.n_models} models",
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
    def pct(x: float | None, scale: float = 100.0, unit: str = "%") -> str:
        return "n/a" if x is None else f"{x * scale:+.1f}{unit}"

    def fixed(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.4f}"

    predictor = summary["predictor"]
    print(f"predictor: {predictor['learner']} on {predictor['featuriser']} features")
    print(predictor["verdict"])
    print(f"front: {summary['front_points_total']} points ({summary['method']})")
    if summary["best_single_model"] is not None:
        print(f"best single model: {summary['best_single_model']}")
    if summary["best_single_model"] is not None and summary["igd"] is None:
        print(f"too few allocated queries ({summary['n_allocated']}) with a trade-off to "
              "evaluate the front against the labels")
    elif summary["best_single_model"] is not None:
        print(f"cost saving at its accuracy: {pct(summary['cost_saving_at_best_accuracy'])}")
        gain = pct(summary["accuracy_gain_at_best_cost"], 100, " pp")
        print(f"accuracy gain at its cost: {gain}")
        print(f"IGD {fixed(summary['igd'])}  spread {fixed(summary['delta'])}  "
              f"hypervolume ratio {fixed(summary['hypervolume'])}")
    if "selected" in summary:
        sel = summary["selected"]
        print(f"selected point {sel['point']}: cost ${sel['cost']:.4f}, expected accuracy "
              f"{sel['predicted_accuracy']:.4f}")
    print(f"allocation: {summary['allocation_rows']}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="optllm", description="Optimal assignment of queries "
                                     "to LLMs: a Pareto front from cheapest to most accurate.")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_run(sub)
    add_parsers(sub)
    compare_cli.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"run": _run, "compare": compare_cli.run, **HANDLERS}
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
