"""The Dask engine on N queries x 12 models from Parquet: routed with a policy, and a budget
point of the exact hull front found; wall time, queries per second and the peak memory of
all processes (this one and the local cluster's workers, RSS summed), against the in-memory
path where it fits.

The batch is synthetic (`optllm.data.synthetic`), written once as Parquet partitions under
--dir (not in the repository) and reused while N and the partitions stay the same. The policy
is logistic regression on TF-IDF features (or, with --learner prior, the per-model base rate:
no featurising, so the engine's own cost shows) trained on 2,000 labelled queries; its rate
and the budget come from a 20,000-query sample, near the middle of its front.

    python benchmarks/bench_dask.py --queries 20000000 [--partitions 40] [--workers 2]
        [--memory-limit 3e9] [--in-memory-max 2000000] [--dir /tmp/optllm-bench-dask]
        [--learner logistic|prior] [--generate-only]
"""

from __future__ import annotations

import argparse
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.parquet as pq

from optllm.config import RunConfig
from optllm.data.synthetic import generate
from optllm.optimizers.hull import hull_front
from optllm.pipeline.cluster import connect, partitions
from optllm.pipeline.distributed import allocate_partitions, route_partitions, train_policy
from optllm.pipeline.routing import Policy, rate_for_point, route_scores
from optllm.progress import Progress

T = TypeVar("T")
N_MODELS = 12


class PeakMemory:
    """The largest sum of RSS over this process and its children, sampled every 0.1 s."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.wait(0.1):
            total = 0
            for process in [me, *me.children(recursive=True)]:
                try:
                    total += process.memory_info().rss
                except psutil.Error:
                    continue
            self.peak = max(self.peak, total)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def measured(label: str, n: int, run: Callable[[], T]) -> tuple[T, dict]:
    """Run `run`, timing it and sampling the memory of every process meanwhile."""
    with PeakMemory() as memory:
        t0 = time.perf_counter()
        value = run()
        seconds = time.perf_counter() - t0
    row = {"stage": label, "queries": n, "seconds": seconds, "qps": n / seconds,
           "peak_gb": memory.peak / 1e9}
    print(f"{label}: {seconds:.1f} s, {n / seconds:,.0f} queries/s, "
          f"peak {memory.peak / 1e9:.2f} GB", flush=True)
    return value, row


def log_partitions(event: Progress) -> None:
    """Print each partition finished, with the time, so a long run shows where it is."""
    if event.done and event.stage != "front":
        print(f"{time.strftime('%H:%M:%S')} {event.stage} {event.message}", flush=True)


def write_batch(folder: Path, n: int, n_parts: int) -> None:
    """N synthetic queries as `n_parts` Parquet files (query_id, query), unless already there."""
    marker = folder / f".complete-{n}-{n_parts}"
    if marker.exists():
        return
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    bounds = np.linspace(0, n, n_parts + 1).astype(np.int64)
    for i in range(n_parts):
        size = int(bounds[i + 1] - bounds[i])
        part = generate(size, N_MODELS, seed=1000 + i)
        ids = np.char.add(f"p{i:04d}-", part.query_ids.astype(str))
        pq.write_table(pa.table({"query_id": ids, "query": part.queries.astype(str)}),
                       folder / f"part-{i:04d}.parquet")
        print(f"wrote partition {i + 1}/{n_parts}", flush=True)
    marker.touch()


def policy_and_budget(n: int, learner: str) -> tuple[Policy, float]:
    """The policy, its rate at the middle of a sample's front, and that point's cost per
    query scaled to n queries."""
    config = RunConfig(learner=learner, featuriser="tfidf" if learner == "logistic" else "auto",
                       bootstraps=2)
    policy, _ = train_policy(generate(2000, N_MODELS, seed=0), config, token_method="estimate")
    sample = generate(20_000, N_MODELS, seed=7).queries
    costs, _, _, scores = policy.predict(sample)
    front = hull_front(scores, costs)
    k = len(front) // 2
    policy.rate = rate_for_point(front, k)
    return policy, float(front.cost[k]) / sample.size * n


def in_memory(folder: Path, policy: Policy, budget: float) -> tuple[int, float]:
    """The in-memory path on the whole batch: predict, route, hull front, budget point."""
    queries = pa.concat_tables([pq.read_table(p, columns=["query"])
                                for p in partitions(folder)]).column("query").to_pylist()
    costs, _, _, scores = policy.predict(queries)
    route_scores(scores, costs, policy.rate)
    front = hull_front(scores, costs)
    k = front.index_for_budget(budget)
    return k, float(front.cost[k])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=20_000_000)
    parser.add_argument("--partitions", type=int, default=None,
                        help="default: one per 500,000 queries")
    parser.add_argument("--workers", type=int, default=None, help="default: one per core")
    parser.add_argument("--memory-limit", type=float, default=3e9,
                        help="bytes per worker before it spills to disk (default 3e9)")
    parser.add_argument("--in-memory-max", type=int, default=2_000_000,
                        help="largest N also run on the in-memory path")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/optllm-bench-dask"))
    parser.add_argument("--learner", choices=["logistic", "prior"], default="logistic",
                        help="logistic on TF-IDF (default), or the per-model prior: no "
                             "features, so the engine itself is measured")
    parser.add_argument("--generate-only", action="store_true",
                        help="write the Parquet batch and stop")
    args = parser.parse_args()
    n = args.queries
    n_parts = args.partitions or max(1, n // 500_000)
    folder = args.dir / "queries"
    write_batch(folder, n, n_parts)
    if args.generate_only:
        return
    policy, budget = policy_and_budget(n, args.learner)
    parts = partitions(folder)
    rows = []
    with connect(None, n_workers=args.workers, memory_limit=int(args.memory_limit)) as client:
        workers = len(client.scheduler_info()["workers"])
        out = args.dir / "routed"
        _, row = measured("dask route", n, lambda: route_partitions(
            client, policy, parts, out, force=True, progress=log_partitions))
        rows.append(row)
        result, row = measured("dask budget point", n, lambda: allocate_partitions(
            client, policy, parts, None, budget=budget, progress=log_partitions))
        rows.append(row)
    assert result.point is not None
    print(f"budget ${budget:,.2f}: point with {result.point.n_moves:,} moves, cost "
          f"${result.point.cost:,.2f}, expected accuracy {result.point.score / n:.4f}; "
          f"{result.n_moves:,} moves in the front; timings {result.timings}")
    if n <= args.in_memory_max:
        (k, cost), row = measured("in-memory route + budget point", n,
                                  lambda: in_memory(folder, policy, budget))
        rows.append(row)
        print(f"in-memory point {k:,}, cost ${cost:,.2f} (dask ${result.point.cost:,.2f})")
    print(f"\n{workers} workers, {n_parts} partitions, memory limit "
          f"{args.memory_limit / 1e9:.1f} GB per worker, {os.cpu_count()} cores")
    print("| queries | stage | seconds | queries/s | peak memory, all processes |")
    print("|---:|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['queries']:,} | {r['stage']} | {r['seconds']:.1f} | {r['qps']:,.0f} | "
              f"{r['peak_gb']:.2f} GB |")


if __name__ == "__main__":
    main()
