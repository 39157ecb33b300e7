"""`optllm route POLICY QUERIES --out FILE`: route new queries with a saved policy."""

from __future__ import annotations

import argparse

from optllm.cli.common import add_query_column, check_out_file
from optllm.cli.distributed import add_engine_arguments, check_engine, route_dask
from optllm.cli.progress_bar import ProgressBar


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `route` subcommand to the `optllm` parser."""
    route = subparsers.add_parser(
        "route", help="route new queries with a saved policy",
        description="Give each query of QUERIES the model maximising score - rate x cost, "
                    "with the policy saved by `optllm run ... --save-policy`; streams files "
                    "larger than memory.")
    route.add_argument("policy", help="policy file")
    route.add_argument("queries", help="file of queries: 'query' and optionally 'query_id' "
                                       "(with --engine dask: a Parquet folder or glob too)")
    route.add_argument("--out", required=True,
                       help="output file (.csv, .parquet or .jsonl; .csv.gz or .jsonl.gz "
                            "gzipped), written atomically; with --engine dask a folder of "
                            "one Parquet file per partition")
    route.add_argument("--chunk-rows", type=int, default=50_000,
                       help="queries per chunk (default 50000)")
    route.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    add_query_column(route)
    add_engine_arguments(route)
    route.set_defaults(handler=run)
    return route


def run(args: argparse.Namespace) -> int:
    """`optllm route POLICY QUERIES --out FILE`."""
    from optllm.data.formats import output_format
    from optllm.pipeline.routing import Policy, route_file

    if check_engine(args):
        return route_dask(args)
    check_out_file(args.out, force=args.force, option="--out")
    output_format(args.out)  # an unknown extension is refused before the policy loads
    policy = Policy.load(args.policy)
    bar = ProgressBar()
    done = route_file(policy, args.queries, args.out, chunk_rows=args.chunk_rows,
                      force=args.force, progress=bar, query_column=args.query_column)
    bar.finish()
    from optllm.formatting import ratio, usd

    shares = ", ".join(f"{m} {n:,}" for m, n in done.counts.items() if n)
    print(f"routed {done.n_queries:,} queries at rate {policy.rate:.6g} per $: expected cost "
          f"{usd(done.cost)}, expected accuracy {ratio(done.expected_accuracy)}")
    print(f"models: {shares}")
    if policy.limits:
        caps = policy.limits.get("max_queries", {})
        spends = policy.limits.get("max_spend", {})
        held = [f"{m} {done.counts[m]:,} of {int(cap):,} queries" for m, cap in caps.items()]
        held += [f"{m} {usd(done.spend[m])} of {usd(cap)}" for m, cap in spends.items()]
        if held:
            print(f"limits over the stream: {', '.join(held)}")
    print(f"wrote {done.path}")
    return 0
