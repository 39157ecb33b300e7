"""Each learner on its own, against the prior: front quality at a few labelled fractions.

For each data set, fraction and seed: draw a seeded labelled sample, fit the learner (fixed,
not `auto`; its usual featuriser; the data's extra columns chosen by `--feature-columns
auto`) with `optllm.predict.select.fit_predictor`, predict the other queries, build the exact
hull front of P and score it with their true labels (hypervolume ratio, cost saving at the
best single model's accuracy, accuracy gain at its cost). Medians over seeds; a Markdown
table.

Data: logparsing.csv and overruling.csv (../shared/datasets beside the repository), and
"exam": a synthetic stand-in for a multiple-choice exam table, 12,000 questions x 11 models,
~1,000-character texts and a `category` column (40 categories) whose per-category,
per-model effects drive success (`exam_dataset`).

    OMP_NUM_THREADS=1 python benchmarks/bench_learners.py [--seeds 3]
        [--fractions 0.01 0.02 0.05] [--datasets exam logparsing overruling]
        [--learners prior logistic group-rate cluster-rate] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from optllm.data.dataset import Dataset
from optllm.data.tables import load_dataset
from optllm.evaluation import evaluate
from optllm.optimizers.api import optimize
from optllm.predict.columns import choose_columns, featurise
from optllm.predict.select import fit_predictor

DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
#: The featuriser each learner is measured with (the rate learner on columns needs none).
FEATURISER = {"prior": "auto", "logistic": "word+char", "knn": "word+char",
              "group-rate": "auto", "cluster-rate": "tfidf"}


def exam_dataset(n: int = 12_000, n_models: int = 11, n_categories: int = 40,
                 seed: int = 0) -> Dataset:
    """A synthetic exam: per model an ability, per (category, model) an effect, per question
    a difficulty shared by all models, per (question, model) noise; success ~
    Bernoulli(sigmoid(sum)). Texts are ~1,000
    characters: a question and four options, words drawn mostly from a shared vocabulary and
    a fifth from the category's own. Cost grows with the model's price and the text length."""
    rng = np.random.default_rng(seed)
    category = rng.integers(0, n_categories, n)
    ability = np.linspace(-0.8, 1.6, n_models)
    effect = rng.normal(0.0, 1.0, (n_categories, n_models))
    difficulty = rng.normal(0.0, 2.0, n)
    logit = (ability + effect[category] - difficulty[:, None]
             + rng.normal(0.0, 2.0, (n, n_models)))  # what neither category nor text explains
    labels = (rng.random((n, n_models)) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    shared = np.array([f"w{i}" for i in range(5000)], dtype=object)
    own = np.array([f"c{c}t{i}" for c in range(n_categories) for i in range(200)],
                   dtype=object).reshape(n_categories, 200)
    n_words = 150
    words = shared[rng.integers(0, shared.size, (n, n_words))]
    mask = rng.random((n, n_words)) < 0.2
    words[mask] = own[np.repeat(category, n_words).reshape(n, n_words)[mask],
                      rng.integers(0, 200, mask.sum())]
    texts = np.array([f"Question: {' '.join(w[:90])}? A) {' '.join(w[90:105])} "
                      f"B) {' '.join(w[105:120])} C) {' '.join(w[120:135])} "
                      f"D) {' '.join(w[135:])}" for w in words], dtype=object)
    price = np.geomspace(0.1, 30.0, n_models)  # USD per million characters, roughly
    cost = np.outer([len(t) for t in texts], price) / 1e6
    models = tuple(f"model{j:02d}" for j in range(n_models))
    meta = pd.DataFrame({"category": [f"cat{c:02d}" for c in category]})
    return Dataset("exam", np.arange(n).astype(str).astype(object), texts, models, cost,
                   labels, np.ones(n, bool), meta, synthetic=True)


def load(name: str, folder: Path = DATASETS) -> Dataset:
    return exam_dataset() if name == "exam" else load_dataset(folder / f"{name}.csv")


def run(data: Dataset, learner: str, fraction: float, seed: int) -> dict:
    """One split, one learner: its front scored on the queries not labelled."""
    n = data.n_queries
    train = np.sort(np.random.default_rng(seed).choice(n, size=max(5, round(fraction * n)),
                                                       replace=False))
    rest = np.setdiff1d(np.arange(n), train)
    chosen = choose_columns(data.metadata, data.models, "auto")
    columns = data.metadata[chosen] if chosen else None
    t0 = time.perf_counter()
    featuriser, predictor, _ = fit_predictor(
        data.queries, train, data.labels[train], featuriser=FEATURISER[learner],
        learner=learner, n_bootstraps=0, model_names=list(data.models), random_state=seed,
        columns=columns)
    P, _ = predictor.predict_mean_std(featurise(
        featuriser, data.queries[rest], None if columns is None else columns.iloc[rest]))
    seconds = time.perf_counter() - t0
    ev = evaluate(optimize(P, data.cost[rest], method="hull"), data.labels[rest],
                  data.cost[rest], data.models)
    return {"dataset": data.name, "learner": learner, "fraction": fraction, "seed": seed,
            "n_train": train.size, "columns": ",".join(chosen) or "-",
            "hypervolume": ev.hypervolume, "cost_saving": ev.cost_saving_at_best_accuracy,
            "accuracy_gain": ev.accuracy_gain_at_best_cost, "seconds": seconds}


def markdown(results: pd.DataFrame) -> str:
    """Medians over seeds per data set, fraction and learner."""
    lines = ["| dataset | labelled | learner | HV ratio (median) | HV per seed | cost saving "
             "(seeds reaching) | accuracy gain | s |",
             "|---|---:|---|---:|---|---:|---:|---:|"]
    for (dataset, fraction, learner), g in results.groupby(
            ["dataset", "fraction", "learner"], sort=False):
        saving = g["cost_saving"].astype(float)
        reached = f"({saving.count()}/{len(g)})"
        saved = f"{saving.median():.1%} {reached}" if saving.count() else f"n/a {reached}"
        lines.append(f"| {dataset} | {fraction:.0%} | {learner} | {g['hypervolume'].median():.3f} "
                     f"| {' '.join(f'{v:.3f}' for v in g['hypervolume'])} | {saved} "
                     f"| {g['accuracy_gain'].median() * 100:+.1f} pp "
                     f"| {g['seconds'].median():.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, default=DATASETS,
                        help=f"folder of logparsing.csv and overruling.csv (default {DATASETS})")
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.01, 0.02, 0.05])
    parser.add_argument("--datasets", nargs="+", default=["exam", "logparsing", "overruling"])
    parser.add_argument("--learners", nargs="+",
                        default=["prior", "logistic", "group-rate", "cluster-rate"])
    args = parser.parse_args()
    rows = []
    for name in args.datasets:
        data = load(name, args.data_dir)
        for fraction in args.fractions:
            for learner in args.learners:
                if learner == "group-rate" and not choose_columns(data.metadata, data.models,
                                                                  "auto"):
                    continue
                for seed in range(args.seeds):
                    rows.append(run(data, learner, fraction, seed))
                    print(rows[-1], flush=True)
    print(f"\nlearners fixed, medians over seeds 0..{args.seeds - 1}; front = exact hull of "
          "P; s = fit (with the choice of its hyper-parameters) + predict\n")
    print(markdown(pd.DataFrame(rows)))


if __name__ == "__main__":
    main()
