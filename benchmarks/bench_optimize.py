"""Optimiser speed and memory: optllm and hull on overruling.csv and on 1M x 12 synthetic.

Run: python benchmarks/bench_optimize.py [--queries 1000000] [--repeat 3]
Prints a Markdown table. Each case runs in a fresh process so its peak memory is its own.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import time
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def overruling_problem(seed: int = 0) -> tuple[np.ndarray, np.ndarray, str]:
    """Predicted scores of the 98% allocated queries (2% labelled, B = 20) and their costs."""
    from optllm.data.dataset import split_queries
    from optllm.data.tables import load_dataset
    from optllm.pipeline.run import RunConfig, train_and_predict

    data = load_dataset(SHARED / "overruling.csv")
    config = RunConfig(bootstraps=20, seed=seed)
    split = split_queries(data, config.train_fraction, seed)
    prediction = train_and_predict(data, split, config)
    return prediction.scores, data.cost[split.allocate], "overruling.csv (predicted)"


def synthetic_problem(n_queries: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, str]:
    """Synthetic costs with scores near the labels' per-topic rates (a stand-in predictor)."""
    from optllm.data.synthetic import generate

    data = generate(n_queries, 12, seed)
    rng = np.random.default_rng(seed)
    topic = data.metadata["topic"].to_numpy()
    codes, inverse = np.unique(topic, return_inverse=True)
    rates = np.zeros((codes.size, data.n_models))
    np.add.at(rates, inverse, data.labels)
    rates /= np.bincount(inverse)[:, None]
    scores = np.clip(rates[inverse] + rng.normal(0, 0.05, data.cost.shape), 0, 1)
    return scores, data.cost, f"synthetic {n_queries:,} x 12"


def _case(args: tuple[str, str, int, int], queue: mp.Queue) -> None:
    from optllm import optimize

    problem, method, n_queries, repeat = args
    if problem == "overruling":
        scores, costs, name = overruling_problem()
    else:
        scores, costs, name = synthetic_problem(n_queries)
    before = _rss_mb()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        front = optimize(scores, costs, method=method)
        times.append(time.perf_counter() - t0)
    queue.put((name, method, scores.shape, min(times), len(front), _rss_mb(), before))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--queries", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    cases = []
    if (SHARED / "overruling.csv").exists():
        cases += [("overruling", m, 0, max(args.repeat, 5)) for m in ("optllm", "hull")]
    else:
        print(f"(skipping overruling.csv: not found in {SHARED})")
    cases += [("synthetic", m, args.queries, args.repeat) for m in ("optllm", "hull")]
    print("| input | method | queries x models | time (best of runs) | points | "
          "peak RSS of the process | RSS before optimising |")
    print("|---|---|---|---|---|---|---|")
    ctx = mp.get_context("spawn")
    for case in cases:
        queue = ctx.Queue()
        proc = ctx.Process(target=_case, args=(case, queue))
        proc.start()
        name, method, shape, best, points, peak, before = queue.get()
        proc.join()
        print(f"| {name} | {method} | {shape[0]:,} x {shape[1]} | {best:.3f} s | {points:,} | "
              f"{peak:,.0f} MB | {before:,.0f} MB |")


if __name__ == "__main__":
    main()
