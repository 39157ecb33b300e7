"""Command-line pieces for new queries: `run --allocate`, `route` and `datasets`.

`optllm.cli.main` wires them in: `add_run_arguments` extends its `run` parser, `add_parsers`
adds the `route` and `datasets` commands, and `HANDLERS` maps those commands to handlers.
Errors are raised as `OptLLMError`s, which `optllm.cli.main.main` prints and turns into exit 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from optllm.cli.distributed import (
    add_engine_arguments,
    check_engine,
    handle_route_dask,
    handle_run_dask,
)
from optllm.exceptions import ConfigError, ExportError

if TYPE_CHECKING:
    from optllm.data.dataset import Dataset
    from optllm.pipeline.run import RunResult


def _writable_ancestor(path: Path, option: str) -> None:
    """Raise ExportError unless the nearest existing folder above `path` is a writable
    folder (the rest of the way can be created)."""
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ExportError(f"{option} {path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ExportError(f"{option} {path}: cannot write in {parent} (permission denied)")


def check_out_dir(out: str, names: Sequence[str], *, force: bool,
                  option: str = "--out") -> Path:
    """Check before any work that the folder `out` can receive `names` (see
    `optllm.data.files.check_replaceable`) and can be created, so a run never fails at its end
    on a bad output path."""
    from optllm.data.files import check_replaceable

    if not out.strip():
        raise ConfigError(f"{option} must name a folder; got an empty string")
    folder = Path(out)
    check_replaceable(folder, names, force=force)
    _writable_ancestor(folder, option)
    return folder


def check_out_file(path: str, *, force: bool, option: str) -> Path:
    """Check before any work that the file `path` can be written: not empty, not a folder,
    new unless `force`, in an existing writable folder."""
    if not path.strip():
        raise ConfigError(f"{option} must name a file; got an empty string")
    target = Path(path)
    if target.is_dir():
        raise ExportError(f"{option} {target} is a folder, not a file")
    if target.exists() and not force:
        raise ExportError(f"{target} already exists; use --force to overwrite it")
    if not target.parent.is_dir():
        raise ExportError(f"{option} {target}: the folder {target.parent} does not exist")
    _writable_ancestor(target, option)
    return target


def add_run_arguments(run_parser: argparse.ArgumentParser) -> None:
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


def add_query_column(parser: argparse.ArgumentParser) -> None:
    """--query-column: the column of query text when it is not called `query`."""
    parser.add_argument("--query-column", default="query", metavar="NAME",
                        help="the column holding the query text, in the data and in batches "
                             "(default: query)")


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
    """Whether a `run` asked for the batch path (so `handle_run_batch` should take it)."""
    return args.allocate is not None or args.save_policy is not None or check_engine(args)


def handle_run_batch(args: argparse.Namespace) -> int:
    """`optllm run HISTORY --allocate BATCH ...`: train, allocate, write, maybe save a policy."""
    from optllm.cli.main import ProgressBar, config_from_args
    from optllm.data.default import load_default
    from optllm.data.tables import load_dataset
    from optllm.pipeline.batch import run_batch
    from optllm.pipeline.routing import policy_from_result
    from optllm.pipeline.run import OUTPUT_NAMES, write_outputs
    from optllm.pricing.prices import parse_output_tokens

    if check_engine(args):
        return handle_run_dask(args)
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


def report_unmet(result: RunResult) -> int:
    """Exit code 2, saying why, when the budget or target was out of the front's reach (the
    front and summary were written, no allocation); else 0."""
    if result.unmet is None:
        return 0
    print(f"optllm: no allocation written: {result.unmet}", file=sys.stderr)
    return 2


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


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    """The `route` and `datasets` commands."""
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

    datasets = subparsers.add_parser(
        "datasets", help="list or download the paper's public outcome datasets",
        description="The public outcome datasets of the OptLLM paper, downloaded, checked "
                    "against their SHA-256 and converted to the wide layout.")
    actions = datasets.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="the datasets and whether they are fetched")
    fetch = actions.add_parser("fetch", help="download, verify and convert one dataset")
    fetch.add_argument("name", help="dataset name (see `optllm datasets list`)")
    fetch.add_argument("--url", help="base URL of a mirror (default $OPTLLM_DATASETS_URL, "
                                     "else the original repository)")
    fetch.add_argument("--force", action="store_true", help="download and convert again")
    fetch.add_argument("--deadline", type=float, metavar="SECONDS",
                       help="stop the downloads after this long in all (default: "
                            "optllm.data.public.DEFAULT_DEADLINE, 30 minutes)")
    for parser in (listing, fetch):
        parser.add_argument("--data-dir", help="where datasets are kept (default: the "
                                               "user data directory)")


def handle_route(args: argparse.Namespace) -> int:
    """`optllm route POLICY QUERIES --out FILE`."""
    from optllm.cli.main import ProgressBar
    from optllm.data.formats import output_format
    from optllm.pipeline.routing import Policy, route_file

    if check_engine(args):
        return handle_route_dask(args)
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
    print(f"wrote {done.path}")
    return 0


def handle_datasets(args: argparse.Namespace) -> int:
    """`optllm datasets list` and `optllm datasets fetch NAME`."""
    from optllm.cli.main import ProgressBar
    from optllm.data.public import fetch, list_datasets

    if args.action == "list":
        table = list_datasets(args.data_dir)
        for row in table.itertuples():
            state = f"fetched: {row.path}" if row.fetched else "not fetched"
            print(f"{row.name:<12} {row.description} ({row.files} files, {row.megabytes} MB); "
                  f"{state}")
        return 0
    bar = ProgressBar()
    path = fetch(args.name, directory=args.data_dir, url=args.url, force=args.force,
                 progress=bar, **({} if args.deadline is None else {"deadline": args.deadline}))
    bar.finish()
    print(f"{args.name}: {path}")
    return 0


HANDLERS = {"route": handle_route, "datasets": handle_datasets}
