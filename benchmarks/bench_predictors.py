"""Does `auto` earn its keep? Front quality of the automatically chosen predictor.

For logparsing.csv and overruling.csv (from ../shared/datasets beside the repository, read
as the command reads them) and each labelled fraction: draw a seeded labelled sample, let
`optllm.predict.select.fit_predictor` choose and fit the featuriser and learner on it (with
the extra columns `--feature-columns auto` chooses, as the command does),
predict the other queries, build the exact hull front of P and score it with their true
labels (docs/algorithm.md, "Measures"). The base-rate prior's front on the same split is
shown beside it. Medians over seeds; prints a Markdown table.

Goals at 2% labelled: logparsing HV ratio >= 0.83, cost saving at the best single model's
accuracy >= 59%, accuracy gain at its cost >= +8 pp, mean AUC >= 0.95, predictor time <= 5 s;
overruling never below the prior's front (HV >= 0.85).

    OMP_NUM_THREADS=1 python benchmarks/bench_predictors.py [--seeds 3]
        [--fractions 0.01 0.02 0.05 0.1 0.2] [--datasets logparsing overruling]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
from bench_learners import exam_dataset
from sklearn.metrics import roc_auc_score

from optllm.config import RunConfig
from optllm.data.dataset import Dataset
from optllm.data.default import load_default
from optllm.data.longtext import generate_long
from optllm.data.synthetic import generate
from optllm.data.tables import load_dataset
from optllm.evaluation import evaluate
from optllm.optimizers.api import optimize
from optllm.predict.calibration import coverage, front_band
from optllm.predict.columns import choose_columns, featurise
from optllm.predict.learners import make_learner
from optllm.predict.select import fit_predictor

#: The real data sets: ../shared/datasets beside the repository, or $OPTLLM_DATASETS.
DATASETS = Path(os.environ.get("OPTLLM_DATASETS",
                               Path(__file__).resolve().parents[1].parent / "shared" / "datasets"))


def mean_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Mean per-model ROC AUC over the models with both outcomes present."""
    both = (labels.min(axis=0) == 0) & (labels.max(axis=0) == 1)
    return float(np.mean([roc_auc_score(labels[:, j], scores[:, j])
                          for j in np.flatnonzero(both)]))


def load(name: str) -> Dataset:
    """A named benchmark data set: "default" (the embedded synthetic data), "long"
    (`optllm.data.longtext`, 12,000 texts of ~1,000 characters x 11 models), "short2"
    (`optllm.data.synthetic`, 14,000 short texts x 2 models), "exam" (bench_learners'
    synthetic exam with a `category` column) or a CSV in the shared datasets folder, read
    as the command reads it (extra columns included)."""
    makers = {"default": load_default, "long": generate_long,
              "short2": lambda: generate(14_000, 2), "exam": exam_dataset}
    return makers[name]() if name in makers else load_dataset(DATASETS / f"{name}.csv")


def run(name: str, fraction: float, seed: int) -> dict:
    """One split: auto's front and the prior's, scored on the allocated queries, and how
    honest auto's expected accuracy was (band coverage over the front, and the gap at the
    best single model's cost)."""
    data = load(name)
    queries, models, cost, labels = data.queries, list(data.models), data.cost, data.labels
    n = len(queries)
    rng = np.random.default_rng(seed)
    train = np.sort(rng.choice(n, size=max(2, round(fraction * n)), replace=False))
    rest = np.setdiff1d(np.arange(n), train)
    chosen = choose_columns(data.metadata, data.models, "auto")  # the command's default
    columns = data.metadata[chosen] if chosen else None
    timings: dict[str, float] = {}
    features: dict = {}  # all texts' rows, kept from fitting, as the pipeline uses them
    featuriser, predictor, choice = fit_predictor(queries, train, labels[train],
                                                  costs_train=cost[train], model_names=models,
                                                  random_state=seed, timings=timings,
                                                  n_jobs=RunConfig().n_jobs,
                                                  features_out=features, columns=columns)
    t0 = time.perf_counter()
    X = (features["all"][rest] if "all" in features else featurise(
        featuriser, queries[rest], None if columns is None else columns.iloc[rest]))
    P, U = predictor.predict_mean_std(X)
    timings["predict"] = time.perf_counter() - t0
    front = optimize(P, cost[rest], method="hull")
    ev = evaluate(front, labels[rest], cost[rest], models)
    assert choice.calibration is not None
    band = front_band(front, choice.calibration.apply(P), U, choice.gap)
    honest = coverage(band, ev.true_accuracy)
    at = front.index_for_budget(ev.best_single.cost)
    prior = make_learner("prior").fit(np.zeros((train.size, 0)), labels[train])
    P0, _ = prior.predict_mean_std(np.zeros((rest.size, 0)))
    ev0 = evaluate(optimize(P0, cost[rest], method="hull"), labels[rest], cost[rest], models)
    return {"dataset": name, "fraction": fraction, "seed": seed, "n_train": train.size,
            "columns": ",".join(chosen) or "-",
            "choice": choice.candidate.name, "auc": mean_auc(labels[rest], P),
            "hypervolume": ev.hypervolume, "cost_saving": ev.cost_saving_at_best_accuracy,
            "accuracy_gain": ev.accuracy_gain_at_best_cost, "prior_hypervolume": ev0.hypervolume,
            "prior_cost_saving": ev0.cost_saving_at_best_accuracy,
            "calibration": choice.calibration.method, "coverage": honest["coverage"],
            "mean_gap": honest["mean_gap"],
            "gap_at_budget": float(band.expected[at] - ev.true_accuracy[at]),
            "choose_s": timings["choose"], "train_s": timings["train"],
            "predict_s": timings["predict"], "total_s": sum(timings.values())}


def _saving(values: pd.Series) -> str:
    """Median cost saving over the seeds that reach the best model's accuracy, and how many."""
    reached = f"({values.count()}/{len(values)})"
    return f"{values.median():.1%} {reached}" if values.count() else f"n/a {reached}"


def markdown(results: pd.DataFrame) -> str:
    """Medians over seeds per data set and fraction (cost savings: over the seeds whose
    front reaches the best single model's accuracy); the choices of all seeds."""
    lines = ["| dataset | labelled | n | columns offered | chosen (per seed) | AUC | HV ratio "
             "| seeds HV >= prior "
             "| cost saving (seeds reaching) | accuracy gain | prior HV "
             "| prior saving (seeds reaching) | band coverage | mean gap | abs gap at budget "
             "| choose s | train s | predict s | total s |",
             "|---|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
             "---:|---:|"]
    for (dataset, fraction), g in results.groupby(["dataset", "fraction"], sort=True):
        med = g.median(numeric_only=True)

        at_least_prior = int((g["hypervolume"] >= g["prior_hypervolume"] - 1e-12).sum())

        lines.append(
            f"| {dataset} | {fraction:.0%} | {med['n_train']:.0f} | {g['columns'].iloc[0]} "
            f"| {'; '.join(g['choice'])} "
            f"| {med['auc']:.3f} | {med['hypervolume']:.3f} | {at_least_prior}/{len(g)} "
            f"| {_saving(g['cost_saving'])} | {med['accuracy_gain'] * 100:+.1f} pp "
            f"| {med['prior_hypervolume']:.3f} | {_saving(g['prior_cost_saving'])} "
            f"| {med['coverage']:.0%} | {med['mean_gap'] * 100:+.1f} pp "
            f"| {g['gap_at_budget'].abs().median() * 100:.1f} pp "
            f"| {med['choose_s']:.1f} | {med['train_s']:.1f} "
            f"| {med['predict_s']:.1f} | {med['total_s']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="splits 0..seeds-1 (default 3)")
    parser.add_argument("--fractions", type=float, nargs="+",
                        default=[0.01, 0.02, 0.05, 0.1, 0.2])
    parser.add_argument("--datasets", nargs="+",
                        default=["logparsing", "overruling", "default"])
    args = parser.parse_args()
    rows = []
    for name in args.datasets:
        for fraction in args.fractions:
            for seed in range(args.seeds):
                rows.append(run(name, fraction, seed))
                print(rows[-1], flush=True)
    results = pd.DataFrame(rows).astype({"cost_saving": float, "prior_cost_saving": float})
    print(f"\nauto predictor, medians over seeds 0..{args.seeds - 1}; front = exact hull of P; "
          "choose s = fit featurisers on all texts + score candidates; train s = refit the "
          "choice with its spread; predict s = featurise + predict the other queries\n")
    print(markdown(results))


if __name__ == "__main__":
    main()
