"""Methods side by side on the real data: overruling.csv and logparsing.csv.

Run: python benchmarks/bench_compare.py [--seeds 5] [--learner auto] [--featuriser auto]
         [--bootstraps 100] [--pop-size 100] [--generations 200]
         [--datasets overruling,logparsing] [--out DIR]

For each dataset and seed: one split (2% labelled by default), one prediction (the `auto`
predictor by default; `--learner xgboost --featuriser tfidf-svd` is the paper's), then every
method (the pymoo ones when pymoo is installed) on the same scores.
Prints one Markdown table per dataset, median [min, max] over seeds, with the Friedman tests;
with --out, also writes each dataset's per-run table as `<dataset>.csv` there.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


def main() -> None:
    from optllm.cli.progress_bar import ProgressBar
    from optllm.config import RunConfig
    from optllm.data.files import write_table
    from optllm.data.tables import load_dataset
    from optllm.pipeline.compare import compare, default_methods
    from optllm.predict.registry import FEATURISER_CHOICES, LEARNER_CHOICES

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--train-fraction", type=float, default=0.02)
    parser.add_argument("--learner", choices=LEARNER_CHOICES, default="auto")
    parser.add_argument("--featuriser", choices=FEATURISER_CHOICES, default="auto")
    parser.add_argument("--bootstraps", type=int, default=100)
    parser.add_argument("--pop-size", type=int, default=100)
    parser.add_argument("--generations", type=int, default=200)
    parser.add_argument("--datasets", default="overruling,logparsing")
    parser.add_argument("--out", type=Path, help="directory for the per-run CSV tables")
    args = parser.parse_args()
    config = RunConfig(train_fraction=args.train_fraction, bootstraps=args.bootstraps,
                       learner=args.learner, featuriser=args.featuriser)
    methods = default_methods()
    for name in args.datasets.split(","):
        path = SHARED / f"{name}.csv"
        if not path.exists():
            print(f"(skipping {name}: {path} not found)")
            continue
        dataset = load_dataset(path)
        bar = ProgressBar()
        t0 = time.perf_counter()
        comparison = compare(dataset, methods, range(args.seeds), config,
                             pop_size=args.pop_size, generations=args.generations,
                             progress=bar)
        bar.finish()
        print(f"{name}: {time.perf_counter() - t0:.0f} s in all", file=sys.stderr)
        print(comparison.to_markdown(), flush=True)
        if args.out is not None:
            args.out.mkdir(parents=True, exist_ok=True)
            write_table(comparison.table(), args.out / f"{name}.csv", force=True)


if __name__ == "__main__":
    main()
