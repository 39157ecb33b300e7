"""Methods side by side: valid fronts, the oracle and hull bounds, streaming, the command."""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys

import numpy as np
import pandas as pd
import pytest

from optllm.cli import compare as compare_cli
from optllm.config import RunConfig
from optllm.data.synthetic import generate
from optllm.data.tables import write_wide
from optllm.exceptions import Cancelled, ConfigError, ExportError
from optllm.pipeline.compare import (
    METHODS,
    RUNNERS,
    Comparison,
    FrontUpdate,
    check_methods,
    compare,
    default_methods,
)
from optllm.progress import Progress

CONFIG = RunConfig(train_fraction=0.1, bootstraps=3)
SEEDS = (0, 1, 2)
EVOLUTION = {"pop_size": 20, "generations": 10}


@pytest.fixture(scope="module")
def dataset():
    return generate(300, 5, seed=7)


@pytest.fixture(scope="module")
def comparison(dataset) -> Comparison:
    return compare(dataset, list(METHODS), SEEDS, CONFIG, **EVOLUTION)


def test_every_registered_method_runs_in_a_comparison():
    assert list(RUNNERS) == list(METHODS)


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_gives_a_valid_non_dominated_front(comparison, method):
    for seed in SEEDS:
        run = comparison.run(method, seed)
        trial = comparison.trials[seed]
        n, m = trial.scores.shape
        front = run.front
        assert len(front) >= 1 and front.status == "converged"
        assert np.all(np.diff(front.cost) > 0) and np.all(np.diff(front.accuracy) > 0)
        rows = np.arange(n)
        for k in {0, len(front) // 2, len(front) - 1}:
            alloc = front.allocation(k)
            assert alloc.shape == (n,) and alloc.min() >= 0 and alloc.max() < m
            assert trial.costs[rows, alloc].sum() == pytest.approx(front.cost[k])
            assert trial.scores[rows, alloc].mean() == pytest.approx(run.predicted_accuracy[k])
            assert trial.labels[rows, alloc].mean() == pytest.approx(run.true_accuracy[k])
        assert run.runtime_s >= 0


def test_the_oracle_bounds_every_method_on_true_objectives(comparison):
    for seed in SEEDS:
        oracle = comparison.run("oracle", seed)
        truth = oracle.evaluation.truth
        np.testing.assert_allclose(oracle.front.cost, truth.cost)
        np.testing.assert_allclose(oracle.true_accuracy, truth.accuracy)
        assert oracle.evaluation.igd == 0 and oracle.evaluation.hypervolume == pytest.approx(1)
        for method in METHODS:
            run = comparison.run(method, seed)
            # The true front's step function: best true accuracy at no more than each cost.
            reach = np.searchsorted(truth.cost, run.front.cost * (1 + 1e-9), side="right") - 1
            assert (reach >= 0).all(), method
            assert (run.true_accuracy <= truth.accuracy[reach] + 1e-12).all(), method


def test_the_hull_dominates_optllm_on_predicted_objectives(comparison):
    for seed in SEEDS:
        hull, optllm = comparison.run("hull", seed), comparison.run("optllm", seed)
        assert hull.front.cost[0] == pytest.approx(optllm.front.cost[0])
        upper = np.interp(optllm.front.cost, hull.front.cost, hull.front.accuracy)
        assert (optllm.predicted_accuracy <= upper + 1e-9).all()


def test_table_summary_and_friedman(comparison):
    table = comparison.table()
    assert len(table) == len(METHODS) * len(SEEDS)
    assert list(table["method"].unique()) == list(METHODS)
    summary = comparison.summary()
    assert list(summary["method"]) == list(METHODS)
    oracle = summary.set_index("method").loc["oracle"]
    assert oracle["hypervolume_median"] == pytest.approx(1) and oracle["igd_max"] == 0
    tests = comparison.friedman()
    assert [t.measure for t in tests] == ["igd", "spread", "hypervolume"]
    for t in tests:
        assert 0 <= t.p_value <= 1 and t.n_seeds == 3
        assert "oracle" not in t.mean_rank and len(t.mean_rank) >= 3
    markdown = comparison.to_markdown()
    assert markdown.count("\n| ") == len(METHODS) + 1 and "Friedman tests" in markdown
    picks = re.findall(r"(\w[\w+ -]*) in (\d)/3 seeds", markdown.split("\n")[0])
    assert "predictor auto (" in markdown and sum(int(n) for _, n in picks) == 3


def test_no_friedman_test_below_three_seeds(comparison):
    two = dataclasses.replace(comparison, seeds=(0, 1),
                              runs=tuple(r for r in comparison.runs if r.seed < 2))
    assert two.friedman() == []
    assert "needs at least 3 seeds" in two.to_markdown()


def test_same_seed_same_result(dataset, comparison):
    methods = ["optllm", "random", "nsga2"]
    again = compare(dataset, methods, [1], CONFIG, **EVOLUTION)
    columns = ["points", "igd", "spread", "hypervolume", "best_true_accuracy"]
    first = comparison.table().set_index(["method", "seed"]).loc[
        [(m, 1) for m in methods], columns]
    pd.testing.assert_frame_equal(again.table().set_index(["method", "seed"])[columns], first)


def test_generations_stream_fronts_and_progress_and_can_be_cancelled(dataset):
    updates: list[FrontUpdate] = []
    reports: list[Progress] = []
    compare(dataset, ["hull", "nsga2"], [0], CONFIG, **EVOLUTION, progress=reports.append,
            on_front=updates.append)
    generations = [u for u in updates if u.method == "nsga2" and not u.final]
    assert [u.generation for u in generations] == list(range(1, 11))
    assert all(np.all(np.diff(u.cost) > 0) for u in generations)
    finals = [u for u in updates if u.final]
    assert [u.method for u in finals] == ["hull", "nsga2"]
    for u in generations:  # each generation's front is re-scored with the labels too
        assert u.true_accuracy.shape == u.cost.shape
        assert np.all((u.true_accuracy >= 0) & (u.true_accuracy <= 1))
    last, final = generations[-1], finals[-1]
    np.testing.assert_allclose(last.cost, final.cost)
    np.testing.assert_allclose(last.true_accuracy, final.true_accuracy)
    assert [(p.done, p.total) for p in reports if p.stage == "nsga2"] == [
        (k, 10) for k in range(1, 11)]
    assert [(p.done, p.total) for p in reports if p.stage == "compare"] == [(1, 2), (2, 2)]
    assert all(p.message.startswith("seed 0") for p in reports)

    def stop_after_three_generations() -> bool:
        return sum(p.stage == "nsga2" for p in reports) >= 3

    reports.clear()
    with pytest.raises(Cancelled, match="nsga2"):
        compare(dataset, ["hull", "nsga2"], [0], CONFIG, **EVOLUTION, progress=reports.append,
                should_stop=stop_after_three_generations)
    assert sum(p.stage == "nsga2" for p in reports) == 3


def test_the_vectorised_objective_matches_a_loop():
    from optllm.optimizers.evolutionary import AllocationProblem

    rng = np.random.default_rng(0)
    scores, costs = rng.random((40, 4)), rng.random((40, 4))
    problem = AllocationProblem(scores, costs)
    X = rng.integers(0, 4, (7, 40))
    cost, accuracy = problem.totals(X)
    for x, c, a in zip(X, cost, accuracy, strict=True):
        assert c == pytest.approx(sum(costs[i, j] for i, j in enumerate(x)))
        assert a == pytest.approx(np.mean([scores[i, j] for i, j in enumerate(x)]))
    F = problem.evaluate(X, return_values_of=["F"])
    assert F.shape == (7, 2)
    assert np.all(np.argsort(F[:, 0]) == np.argsort(cost))
    assert np.all(np.argsort(F[:, 1]) == np.argsort(-accuracy))


def test_bad_arguments_are_config_errors(dataset):
    with pytest.raises(ConfigError, match="unknown method 'best'"):
        check_methods(["hull", "best"])
    with pytest.raises(ConfigError, match="no methods"):
        check_methods([])
    with pytest.raises(ConfigError, match="population size"):
        compare(dataset, ["nsga2"], [0], CONFIG, pop_size=1)
    with pytest.raises(ConfigError, match="at least one seed"):
        compare(dataset, ["hull"], [], CONFIG)
    unlabelled = dataclasses.replace(dataset, labelled=np.arange(300) % 2 == 0)
    with pytest.raises(ConfigError, match="150 of 300 have none"):
        compare(unlabelled, ["hull"], [0], CONFIG)


def command(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="optllm")
    compare_cli.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["compare", *argv])


def test_a_pymoo_method_without_pymoo_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pymoo", None)
    assert "nsga2" not in default_methods()
    args = command("--methods", "hull,nsga2", "--out", str(tmp_path / "out"))
    with pytest.raises(ConfigError,
                       match=r"method nsga2 needs pymoo: pip install 'optllm\[baselines\]'"):
        compare_cli.run(args)
    assert not (tmp_path / "out").exists()


def test_the_command_writes_its_files(tmp_path, dataset, capsys):
    data = tmp_path / "data.csv"
    write_wide(dataset, data)
    out = tmp_path / "out"
    argv = [str(data), "--seeds", "1", "--methods", "optllm,hull,random,oracle,moead",
            "--train-fraction", "0.1", "--learner", "logistic", "--featuriser", "tfidf",
            "--bootstraps", "3", "--pop-size", "10", "--generations", "3", "--out", str(out)]
    assert compare_cli.run(command(*argv)) == 0
    table = pd.read_csv(out / "comparison.csv")
    assert len(table) == 5 and {"igd", "spread", "hypervolume", "runtime_s",
                                "cost_saving_at_best_accuracy"} <= set(table.columns)
    markdown = (out / "comparison.md").read_text()
    assert "| moead |" in markdown and "predictor logistic on tfidf," in markdown
    assert markdown in capsys.readouterr().out
    fronts = sorted(p.name for p in (out / "fronts").iterdir())
    assert fronts == [f"{m}-seed0.csv" for m in ("hull", "moead", "optllm", "oracle", "random")]
    front = pd.read_csv(out / "fronts" / "hull-seed0.csv")
    assert list(front.columns) == ["point", "cost", "predicted_accuracy", "true_accuracy"]
    assert front["cost"].is_monotonic_increasing
    with pytest.raises(ExportError, match=r"already holds.*--force"):
        compare_cli.run(command(*argv))


def test_the_command_runs_on_the_embedded_default(tmp_path):
    args = command("--seeds", "1", "--methods", "hull,oracle", "--bootstraps", "2",
                   "--out", str(tmp_path))
    assert compare_cli.run(args) == 0
    assert "synthetic" in (tmp_path / "comparison.md").read_text()


def test_a_predictor_already_trained_is_reused_for_its_seed_only(dataset, comparison,
                                                                monkeypatch):
    """The app's Compare after training: the seed trained with the same split and
    parameters takes the session's prediction (same result, no training); other seeds,
    or a changed parameter, train."""
    import optllm.pipeline.compare as compare_module
    from optllm.data.dataset import split_queries
    from optllm.pipeline.compare import Trained
    from optllm.pipeline.run import train_and_predict

    seed_config = dataclasses.replace(CONFIG, seed=1)
    split = split_queries(dataset, CONFIG.train_fraction, 1)
    trained = Trained(seed_config, split, train_and_predict(dataset, split, seed_config))
    trainings: list[int] = []

    def counting(data, split, config, **kw):
        trainings.append(config.seed)
        return train_and_predict(data, split, config, **kw)

    monkeypatch.setattr(compare_module, "train_and_predict", counting)
    again = compare(dataset, ["optllm", "hull"], [1, 2], CONFIG, trained=trained)
    assert trainings == [2]
    columns = ["points", "igd", "hypervolume"]
    first = comparison.table().set_index(["method", "seed"]).loc[
        [("optllm", 1), ("hull", 1)], columns]
    pd.testing.assert_frame_equal(
        again.table().set_index(["method", "seed"]).loc[[("optllm", 1), ("hull", 1)], columns],
        first)
    trainings.clear()
    other = Trained(dataclasses.replace(seed_config, bootstraps=4), split, trained.prediction)
    compare(dataset, ["hull"], [1], CONFIG, trained=other)
    assert trainings == [1]
