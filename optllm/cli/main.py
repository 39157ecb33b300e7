"""The headless `optllm` command: the whole pipeline from a dataset to exported files.

One module per subcommand, each with `add_parser` (which sets its handler) and `run`;
`SUBCOMMANDS` lists them in the order `optllm --help` shows. Heavy modules are imported
when a subcommand runs, so building the parser stays fast.
"""

from __future__ import annotations

import argparse
import sys

from optllm.cli import compare, datasets, route
from optllm.cli import run as run_command
from optllm.exceptions import Cancelled, OptLLMError

SUBCOMMANDS = (run_command, route, datasets, compare)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="optllm", description="Optimal assignment of queries "
                                     "to LLMs: a Pareto front from cheapest to most accurate.")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in SUBCOMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
        return code
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
