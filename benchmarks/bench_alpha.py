"""Which alpha (robust score S = P + alpha * U) works best on the real data sets?

For overruling.csv and logparsing.csv (from ../shared/datasets beside the repository): fit the
featuriser on all queries, fit the bootstrap predictor on a seeded 2% labelled sample, predict
the other queries, and for each alpha report the mean AUC of S against the true labels and
the hypervolume ratio of the exact hull front of S (re-scored with the true labels, see
docs/algorithm.md, "Measures"), averaged over seeds. Prints a Markdown table.

    python benchmarks/bench_alpha.py [--seeds 5] [--bootstraps 100]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from optllm.evaluation import evaluate
from optllm.optimizers.api import optimize
from optllm.predict.base import robust_score
from optllm.predict.features import make_featuriser
from optllm.predict.xgboost import BootstrapXGBoostPredictor

DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
ALPHAS = (-1.0, -0.5, 0.0, 0.5, 1.0)
TRAIN_FRACTION = 0.02


@dataclass(frozen=True)
class Table:
    """A wide outcome table: queries, model names, cost (N, M) USD and labels (N, M) 0/1."""

    name: str
    queries: pd.Series
    models: list[str]
    cost: np.ndarray
    labels: np.ndarray


def read_wide(path: Path) -> Table:
    """Parse a wide CSV: models are the names m with both `m_cost` and `m` columns."""
    frame = pd.read_csv(path)
    models = [c.removesuffix("_cost") for c in frame.columns
              if c.endswith("_cost") and c.removesuffix("_cost") in frame.columns]
    return Table(path.stem, frame["query"], models,
                 frame[[f"{m}_cost" for m in models]].to_numpy(np.float64),
                 frame[models].to_numpy(np.int8))


def mean_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Mean per-model ROC AUC over the models with both outcomes present."""
    both = (labels.min(axis=0) == 0) & (labels.max(axis=0) == 1)
    return float(np.mean([roc_auc_score(labels[:, j], scores[:, j])
                          for j in np.flatnonzero(both)]))


def run_seed(table: Table, seed: int, n_bootstraps: int) -> list[dict]:
    """One split of one data set: a row per alpha."""
    models, cost, labels = table.models, table.cost, table.labels
    n = len(table.queries)
    rng = np.random.default_rng(seed)
    train = np.sort(rng.choice(n, size=max(2, round(TRAIN_FRACTION * n)), replace=False))
    rest = np.setdiff1d(np.arange(n), train)
    t0 = time.perf_counter()
    X = make_featuriser(random_state=seed).fit_transform(table.queries)
    predictor = BootstrapXGBoostPredictor(n_bootstraps=n_bootstraps, random_state=seed)
    predictor.fit(X[train], labels[train], model_names=models)
    P, U = predictor.predict_mean_std(X[rest])
    seconds = time.perf_counter() - t0
    rows = []
    for alpha in ALPHAS:
        S = robust_score(P, U, alpha)
        front = optimize(S, cost[rest], method="hull")
        ev = evaluate(front, labels[rest], cost[rest], models)
        rows.append({
            "dataset": table.name, "alpha": alpha, "seed": seed, "auc": mean_auc(labels[rest], S),
            "hypervolume": ev.hypervolume,
            "cost_saving": ev.cost_saving_at_best_accuracy,
            "beats_prior": int(predictor.quality_["beats_prior"].sum()),
            "n_models": len(models), "seconds": seconds,
        })
    return rows


def markdown(results: pd.DataFrame) -> str:
    """Mean (sd) over seeds per data set and alpha."""
    grouped = results.groupby(["dataset", "alpha"], sort=True)
    mean, sd = grouped.mean(numeric_only=True), grouped.std(numeric_only=True)
    reached, seeds = grouped["cost_saving"].count(), grouped.size()
    lines = ["| dataset | alpha | AUC | hypervolume ratio | cost saving at best-model accuracy "
             "(seeds reaching it) | models beating prior (OOB) | featurise+fit+predict s |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for (dataset, alpha), m in mean.iterrows():
        s = sd.loc[(dataset, alpha)]
        k = f"{reached[(dataset, alpha)]}/{seeds[(dataset, alpha)]}"
        saving = f"n/a ({k})" if np.isnan(m["cost_saving"]) else f"{m['cost_saving']:.1%} ({k})"
        lines.append(
            f"| {dataset} | {alpha:+.1f} | {m['auc']:.3f} ({s['auc']:.3f}) "
            f"| {m['hypervolume']:.3f} ({s['hypervolume']:.3f}) | {saving} "
            f"| {m['beats_prior']:.1f} / {m['n_models']:.0f} | {m['seconds']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="splits 0..seeds-1 (default 5)")
    parser.add_argument("--bootstraps", type=int, default=100, help="B (default 100)")
    args = parser.parse_args()
    tables = [read_wide(DATASETS / f"{name}.csv") for name in ("overruling", "logparsing")]
    rows = [row for table in tables for seed in range(args.seeds)
            for row in run_seed(table, seed, args.bootstraps)]
    results = pd.DataFrame(rows).astype({"cost_saving": float})
    print(f"{TRAIN_FRACTION:.0%} labelled, B={args.bootstraps}, seeds 0..{args.seeds - 1}; "
          "mean (sd) over seeds; front = exact hull of S = clip(P + alpha U, 0, 1)\n")
    print(markdown(results))


if __name__ == "__main__":
    main()
