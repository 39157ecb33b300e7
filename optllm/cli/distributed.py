"""`--engine dask` for `optllm route` and `optllm run --allocate`: the same commands on
partitioned Parquet, run by a Dask cluster (a local one sized to this machine when no
`--scheduler` is given). See docs/scaling.md."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from optllm.exceptions import ConfigError

if TYPE_CHECKING:
    from optllm.config import RunConfig

ENGINES = ("memory", "dask")
#: What `run --engine dask` writes into --out (the allocation is a folder of partitions).
OUTPUT_NAMES = ("config.json", "front.csv", "summary.json", "allocation")


def add_engine_arguments(parser: argparse._ActionsContainer) -> None:
    """--engine and --scheduler."""
    parser.add_argument("--engine", choices=ENGINES, default="memory",
                        help="memory (default): in this process; dask: partition by "
                             "partition of a Parquet folder or glob on a Dask cluster, "
                             "writing one Parquet file per partition (run: on the exact "
                             "hull front)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="Dask scheduler (tcp://host:8786) for --engine dask; default: "
                             "a local cluster sized to this machine")


def check_engine(args: argparse.Namespace) -> bool:
    """Whether the command runs on Dask; --scheduler without it is refused."""
    if args.scheduler is not None and args.engine != "dask":
        raise ConfigError("--scheduler applies only with --engine dask")
    return bool(args.engine == "dask")


def route_dask(args: argparse.Namespace) -> int:
    """`optllm route POLICY QUERIES --engine dask --out DIR`."""
    from optllm.cli.common import check_out_dir
    from optllm.cli.progress_bar import ProgressBar
    from optllm.formatting import ratio, usd
    from optllm.pipeline.cluster import connect, partitions, require_dask
    from optllm.pipeline.distributed import owned_names, route_partitions
    from optllm.pipeline.routing import Policy

    require_dask()
    parts = partitions(args.queries)
    out = check_out_dir(args.out, owned_names(Path(args.out), parts), force=args.force)
    policy = Policy.load(args.policy)
    bar = ProgressBar()
    with connect(args.scheduler) as client:
        totals, files = route_partitions(client, policy, parts, out, force=args.force,
                                         chunk_rows=args.chunk_rows,
                                         query_column=args.query_column, progress=bar)
    bar.finish()
    shares = ", ".join(f"{m} {n:,}" for m, n in zip(policy.models, totals.counts.tolist(),
                                                     strict=True) if n)
    print(f"routed {totals.n_queries:,} queries at rate {policy.rate:.6g} per $: expected "
          f"cost {usd(totals.cost)}, expected accuracy "
          f"{ratio(totals.score / totals.n_queries)}")
    print(f"models: {shares}")
    print(f"wrote {len(files)} Parquet files in {out}")
    return 0


def _refuse_unsupported(args: argparse.Namespace) -> None:
    """Options the in-memory run has and the Dask engine does not."""
    if args.allocate is None:
        raise ConfigError("--engine dask allocates a batch: give --allocate BATCH (a Parquet "
                          "folder, glob or file)")
    unsupported = {"--save-policy": args.save_policy is not None,
                   "--learning-curve": args.learning_curve,
                   "--report-at": args.report_at is not None,
                   "--cost-unit calls": args.cost_unit != "usd",
                   "--train-fraction": args.train_fraction is not None}
    for option, given in unsupported.items():
        if given:
            raise ConfigError(f"{option} does not apply with --engine dask")


def run_dask(args: argparse.Namespace, config: RunConfig) -> int:
    """`optllm run HISTORY --allocate BATCH --engine dask ...`: train here, score, find the
    front and the point, and write the allocation on the cluster."""
    from optllm.cli.common import check_out_dir
    from optllm.cli.progress_bar import ProgressBar
    from optllm.data.default import load_default
    from optllm.data.files import replaced_folder, write_json, write_table
    from optllm.data.tables import load_dataset
    from optllm.pipeline.cluster import connect, partitions, require_dask
    from optllm.pipeline.distributed import (
        allocate_partitions,
        check_limits_goal,
        engine_columns,
        train_policy,
    )
    from optllm.pipeline.distributed_summary import front_table, print_summary, summary
    from optllm.pipeline.limits import check_limit_models
    from optllm.pricing.prices import parse_output_tokens

    require_dask()
    _refuse_unsupported(args)
    parts = partitions(args.allocate)
    out = check_out_dir(args.out, OUTPUT_NAMES, force=args.force)
    history = (load_dataset(args.data, layout=args.layout, query_column=args.query_column)
               if args.data else load_default())
    print(f"history {history.title}: {history.n_labelled:,} labelled queries x "
          f"{history.n_models} models; batch: {len(parts)} partitions", file=sys.stderr)
    check_limit_models(config, history.models, 1)
    constraints = config.constraints()
    check_limits_goal(constraints, config.target_accuracy)
    offered = engine_columns(history, config.feature_columns, parts, args.query_column)
    bar = ProgressBar()
    policy, choice = train_policy(
        history, config, columns=offered, prices=args.prices,
        output_tokens=parse_output_tokens(args.output_tokens) if args.output_tokens else None,
        token_method=args.tokens or "auto", progress=bar)
    with replaced_folder(out, OUTPUT_NAMES, force=args.force) as staging, \
            connect(args.scheduler) as client:
        result = allocate_partitions(client, policy, parts, staging / "allocation",
                                     budget=config.budget, target=config.target_accuracy,
                                     constraints=constraints,
                                     query_column=args.query_column, progress=bar)
        bar.finish()
        content = summary(result, config, policy, choice, history, args.allocate, offered)
        write_json({"dataset": history.source or history.title, "batch": args.allocate,
                    "engine": "dask", **config.as_dict()}, staging / "config.json")
        write_table(front_table(result), staging / "front.csv")
        write_json(content, staging / "summary.json")
    print_summary(content)
    for name in OUTPUT_NAMES if result.files else OUTPUT_NAMES[:3]:
        print(f"wrote {out / name}")
    if result.unmet is not None:
        print(f"optllm: no allocation written: {result.unmet}", file=sys.stderr)
        return 2
    return 0
