"""`optllm datasets list|fetch`: the paper's public outcome datasets."""

from __future__ import annotations

import argparse

from optllm.cli.progress_bar import ProgressBar


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `datasets` subcommand to the `optllm` parser."""
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
    datasets.set_defaults(handler=run)
    return datasets


def run(args: argparse.Namespace) -> int:
    """`optllm datasets list` and `optllm datasets fetch NAME`."""
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
