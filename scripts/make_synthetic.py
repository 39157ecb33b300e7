"""Write a synthetic dataset of any size, e.g. the 1,000,000-query benchmark file.

    python scripts/make_synthetic.py 1000000 benchmarks/synthetic-1m.parquet --models 12

The format follows the extension (.csv, .csv.gz, .parquet, .jsonl); Parquet is the fast one.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from optllm.data.synthetic import MODELS, generate
from optllm.data.tables import write_wide


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n_queries", type=int, help="number of queries")
    parser.add_argument("out", type=Path, help="output file (.csv, .csv.gz, .parquet, .jsonl)")
    parser.add_argument("--models", type=int, default=8,
                        help=f"number of models, 2..{len(MODELS)} (default 8)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    dataset = generate(args.n_queries, args.models, args.seed)
    generated = time.perf_counter()
    write_wide(dataset, args.out)
    done = time.perf_counter()
    print(f"{args.out}: {dataset.n_queries} queries x {dataset.n_models} models "
          f"(generated in {generated - start:.1f} s, written in {done - generated:.1f} s)")


if __name__ == "__main__":
    main()
