"""How close does routing query by query with a saved policy come to allocating a batch?

For each data set, a seeded split gives a labelled history (to learn from), a batch B and a
set C of new queries. `run_batch` learns from the history and allocates B on the exact (hull)
front with costs from token counts and prices; at three points of that front (25%, 50% and
75% of its cost range) a policy is made. Each policy then routes every query of C on its
own, and is compared with the batch allocation of C at the same budget per query, made on
the same predictions (the hull point of C's front costing at most that budget): cost per
1,000 queries (estimated from tokens, and as billed in the data), expected accuracy and true
accuracy. "same on B" is the share of B's queries that routing gives the same model as the
batch allocation of B (100% up to ties, by construction).

Prices: logparsing uses the list prices of its README, the default its generator's; for
OVERRULING (no model of it is in the price table) input prices are fitted to its recorded
costs, the J1 models' per-request fee becomes output tokens. Expected output tokens are
learnt from the history's costs. Prints a Markdown table.

    OMP_NUM_THREADS=1 python benchmarks/bench_routing.py [--history 0.1] [--bootstraps 20]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from optllm.config import RunConfig
from optllm.data.dataset import Dataset
from optllm.data.default import load_default
from optllm.data.synthetic import MODELS
from optllm.data.tables import load_dataset
from optllm.optimizers.api import optimize
from optllm.pipeline.batch import run_batch
from optllm.pipeline.routing import policy_from_result, route_scores
from optllm.pricing.prices import parse_overrides

DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
SHARES = (0.25, 0.5, 0.75)

LOG_PRICES = {"j2_mid": 10.0, "j2_ultra": 15.0, "Mixtral_8x7B": 0.6, "llama2_7b": 0.2,
              "llama2_13b": 0.225, "llama2_70b": 0.9, "Yi_34B": 0.8, "Yi_6B": 0.2}
# USD per 1M tokens (input, output): OpenAI's list prices where the recorded costs confirm
# them, else the per-input-token slope of the recorded costs; J1 bills per request.
OVERRULING_PRICES = {
    "gptneox_20B": (1.33, 1.33), "gptj_6B": (0.19, 0.19), "fairseq_gpt_13B": (0.58, 0.58),
    "text-davinci-002": (20.0, 20.0), "text-curie-001": (2.0, 2.0),
    "gpt-3.5-turbo": (2.0, 2.0), "gpt-4": (30.0, 60.0), "j1-jumbo": (0.0, 10.0),
    "j1-grande": (0.0, 10.0), "j1-large": (0.0, 10.0), "xlarge": (8.64, 8.64),
    "medium": (8.64, 8.64),
}


def prices_for(name: str) -> dict[str, dict[str, float]]:
    if name == "logparsing":
        table = {m: (p, p) for m, p in LOG_PRICES.items()}
    elif name == "overruling":
        table = OVERRULING_PRICES
    else:
        table = {s.name: (s.input_price, s.output_price) for s in MODELS}
    return {m: {"input_per_mtok": i, "output_per_mtok": o} for m, (i, o) in table.items()}


def split(n: int, history: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded history / batch B / new queries C (B and C: halves of the rest)."""
    order = np.random.default_rng(seed).permutation(n)
    h = max(2, round(history * n))
    half = h + (n - h) // 2
    return np.sort(order[:h]), np.sort(order[h:half]), np.sort(order[half:])


def evaluate(dataset: Dataset, alloc: np.ndarray, est_cost: np.ndarray,
             scores: np.ndarray) -> dict[str, float]:
    rows = np.arange(alloc.size)
    per_k = 1000 / alloc.size
    return {"cost": est_cost[rows, alloc].sum() * per_k,
            "billed": dataset.cost[rows, alloc].sum() * per_k,
            "expected": scores[rows, alloc].mean(),
            "true": dataset.labels[rows, alloc].mean()}


def bench(name: str, dataset: Dataset, history: float, bootstraps: int, seed: int) -> list[dict]:
    hist, b, c = split(dataset.n_queries, history, seed)
    batch, new = dataset.subset(b), dataset.subset(c)
    config = RunConfig(bootstraps=bootstraps, seed=seed, method="hull")
    result = run_batch(dataset.subset(hist), (batch.query_ids, batch.queries), config,
                       prices=parse_overrides(prices_for(name), "benchmark prices"),
                       token_method="estimate")
    front = result.front
    rows = []
    for share in SHARES:
        k = front.index_for_budget(front.cost[0] + share * (front.cost[-1] - front.cost[0]))
        policy = policy_from_result(result, k)
        same_b = np.mean(route_scores(result.prediction.scores, result.allocated.cost,
                                      policy.rate) == front.allocation(k))
        costs, _, _, scores = policy.predict(new.queries)
        routed = route_scores(scores, costs, policy.rate)
        budget = front.cost[k] / batch.n_queries * new.n_queries
        hull_c = optimize(scores, costs, method="hull")
        batched = hull_c.allocation(hull_c.index_for_budget(budget))
        rows.append({"dataset": name, "share": share, "budget": front.cost[k] / batch.n_queries
                     * 1000, "same_b": same_b,
                     "batch": evaluate(new, batched, costs, scores),
                     "routed": evaluate(new, routed, costs, scores)})
    return rows


def markdown(rows: list[dict]) -> str:
    head = ("| dataset | point | budget $/1k | batch $/1k (billed) | batch exp / true acc | "
            "routed $/1k (billed) | routed exp / true acc | Δ cost | Δ true acc | same on B |\n"
            "|---|---|---|---|---|---|---|---|---|---|\n")
    lines = []
    for r in rows:
        b, o = r["batch"], r["routed"]
        lines.append(
            f"| {r['dataset']} | {r['share']:.0%} | {r['budget']:.4f} | "
            f"{b['cost']:.4f} ({b['billed']:.4f}) | {b['expected']:.3f} / {b['true']:.3f} | "
            f"{o['cost']:.4f} ({o['billed']:.4f}) | {o['expected']:.3f} / {o['true']:.3f} | "
            f"{(o['cost'] / b['cost'] - 1):+.1%} | {(o['true'] - b['true']) * 100:+.1f} pp | "
            f"{r['same_b']:.1%} |")
    return head + "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--history", type=float, default=0.1,
                        help="share of queries in the labelled history (default 0.1)")
    parser.add_argument("--bootstraps", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sources = {"overruling": lambda: load_dataset(DATASETS / "overruling.csv"),
               "logparsing": lambda: load_dataset(DATASETS / "logparsing.csv"),
               "default": load_default}
    rows = []
    for name, load in sources.items():
        t0 = time.perf_counter()
        rows += bench(name, load(), args.history, args.bootstraps, args.seed)
        print(f"{name}: {time.perf_counter() - t0:.1f} s", flush=True)
    print(markdown(rows))


if __name__ == "__main__":
    main()
