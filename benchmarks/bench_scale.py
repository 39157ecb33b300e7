"""Time and memory of each pipeline stage at 10,000, 100,000 and 1,000,000 queries x 12 models.

Run: python benchmarks/bench_scale.py [--sizes 10000,100000,1000000] [--bootstraps 100]
         [--train-fraction 0.02]

Synthetic data (`optllm.data.synthetic.generate`, seed 0; its generation is not timed), 2% of the
queries labelled for training. Stages: features (TF-IDF + SVD of all query texts), train (the
bootstrap XGBoost ensemble), predict (mean and spread for the queries to allocate), optllm and
hull (the two fronts), evaluate (both fronts against the true labels). Each size runs in a
fresh process so its memory is its own. Memory per stage is the peak resident set size above
the RSS at the stage's start (sampled every 5 ms from /proc, so native allocations of XGBoost
and BLAS count too), and "RSS after" what the process holds once the stage is done.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import threading
import time
from collections.abc import Callable

_PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * _PAGE


class PeakRSS:
    """Peak RSS while the block runs, by a thread polling /proc/self/statm."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval

    def __enter__(self) -> PeakRSS:
        self.start = self.peak = _rss_bytes()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self) -> None:
        while not self._done.wait(self.interval):
            self.peak = max(self.peak, _rss_bytes())

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        self.end = _rss_bytes()
        self.peak = max(self.peak, self.end)


def _measure(rows: list[tuple], stage: str, work: Callable[[], object]) -> object:
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        result = work()
        seconds = time.perf_counter() - t0
    rows.append((stage, seconds, (mem.peak - mem.start) / 2**20, mem.end / 2**20))
    return result


def _size(n_queries: int, bootstraps: int, train_fraction: float, queue: mp.Queue) -> None:
    from optllm import optimize
    from optllm.data.dataset import split_queries
    from optllm.data.synthetic import generate
    from optllm.evaluation import evaluate
    from optllm.predict.features import make_featuriser
    from optllm.predict.xgboost import BootstrapXGBoostPredictor

    data = generate(n_queries, 12, 0)
    split = split_queries(data, train_fraction, 0)
    allocated = data.subset(split.allocate)
    rows: list[tuple] = []
    features = _measure(rows, "features", lambda: make_featuriser(random_state=0)
                        .fit_transform(data.queries))
    predictor = BootstrapXGBoostPredictor(n_bootstraps=bootstraps, random_state=0)
    _measure(rows, "train", lambda: predictor.fit(features[split.train],
                                                  data.labels[split.train]))
    scores, _ = _measure(rows, "predict",
                         lambda: predictor.predict_mean_std(features[split.allocate]))
    fronts = [_measure(rows, method, lambda m=method: optimize(scores, allocated.cost, m))
              for method in ("optllm", "hull")]
    _measure(rows, "evaluate", lambda: [evaluate(f, allocated.labels, allocated.cost,
                                                 allocated.models) for f in fronts])
    queue.put((split.train.size, [len(f) for f in fronts], rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--bootstraps", type=int, default=100)
    parser.add_argument("--train-fraction", type=float, default=0.02)
    args = parser.parse_args()
    print(f"B = {args.bootstraps} bootstraps, {args.train_fraction:g} of the queries labelled, "
          f"12 models, {os.cpu_count()} CPUs\n")
    print("| queries | stage | seconds | peak RSS above stage start | RSS after |")
    print("|---:|---|---:|---:|---:|")
    ctx = mp.get_context("spawn")
    for n in (int(s) for s in args.sizes.split(",")):
        queue = ctx.Queue()
        proc = ctx.Process(target=_size, args=(n, args.bootstraps, args.train_fraction, queue))
        proc.start()
        n_train, points, rows = queue.get()
        proc.join()
        for stage, seconds, peak, after in rows:
            print(f"| {n:,} | {stage} | {seconds:.2f} | {peak:,.0f} MB | {after:,.0f} MB |")
        total = sum(r[1] for r in rows)
        print(f"| {n:,} | all ({n_train:,} trained; fronts: optllm {points[0]:,}, hull "
              f"{points[1]:,} points) | {total:.2f} | | |", flush=True)


if __name__ == "__main__":
    main()
