"""Runs and comparisons under per-model limits: the command's options, summary.json's
report of the limits, and every written allocation within every limit."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from optllm.cli.main import main
from optllm.config import RunConfig
from optllm.data.synthetic import generate
from optllm.data.tables import write_wide
from optllm.optimizers.constraints import Constraints, meets
from optllm.pipeline.compare import compare

LIMIT_ARGS = ["--cap", "gpt-4o-mini=100", "--max-spend", "claude-3.5-sonnet=0.3",
              "--min-share", "claude-3-haiku=25%"]
LIMITS = Constraints(max_queries={"gpt-4o-mini": 100}, max_spend={"claude-3.5-sonnet": 0.3},
                     min_share={"claude-3-haiku": 0.25})


@pytest.fixture(scope="module")
def dataset():
    return generate(300, 5, seed=7)


@pytest.fixture(scope="module")
def data_file(dataset, tmp_path_factory):
    return str(write_wide(dataset, tmp_path_factory.mktemp("data") / "data.csv"))


@pytest.mark.parametrize("method", ["hull", "optllm"])
def test_run_under_limits_writes_only_allocations_within_them(data_file, tmp_path, capsys,
                                                              method):
    out = tmp_path / "out"
    code = main(["run", data_file, "--learner", "prior", "--bootstraps", "2",
                 "--method", method, *LIMIT_ARGS, "--budget", "0.5", "--out", str(out)])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    limits = summary["limits"]
    assert limits["given"]["max_queries"] == {"gpt-4o-mini": 100}
    by_kind = {row["kind"]: row for row in limits["limits"]}
    assert set(by_kind) == {"budget", "max_queries", "max_spend", "min_share"}
    # The per-model prior rates gpt-4o-mini best: its cap binds, at a price.
    assert by_kind["max_queries"]["binds"] and by_kind["max_queries"]["multiplier"] > 0
    assert by_kind["max_queries"]["realised"] == 100
    assert 0 <= limits["gap"]["accuracy"] <= 1 / summary["n_allocated"]
    allocation = pd.read_csv(out / "allocation.csv")
    counts = allocation["model"].value_counts()
    spend = allocation.groupby("model")["cost"].sum()
    assert counts.get("gpt-4o-mini", 0) <= 100
    assert spend.get("claude-3.5-sonnet", 0.0) <= 0.3
    assert counts.get("claude-3-haiku", 0) >= 0.25 * len(allocation)
    assert allocation["cost"].sum() <= 0.5
    per_model = {row["model"]: row for row in limits["per_model"]}
    assert per_model["gpt-4o-mini"]["queries"] == counts.get("gpt-4o-mini", 0)
    front = pd.read_csv(out / "front.csv")
    assert (front["queries_gpt-4o-mini"] <= 100).all()
    assert (front["queries_claude-3-haiku"] >= 0.25 * len(allocation)).all()
    printed = capsys.readouterr().out
    assert "limits (at the selected point):" in printed
    assert "cap gpt-4o-mini=100 queries: 100 (binds" in printed
    assert "gap to the best whole allocation" in printed


@pytest.mark.parametrize(("args", "message"), [
    (["--cap", "gpt-5=3"], "unknown model 'gpt-5' in the limits; the models are gpt-4o, "),
    (["--cap", "gpt-4o"], "--cap takes MODEL=VALUE; got 'gpt-4o'"),
    (["--cap", "gpt-4o=2.5"], "--cap gpt-4o must be a whole number of queries"),
    (["--min-share", "gpt-4o=150%"], "--min-share gpt-4o must be above 0% and at most 100%"),
    (["--cap", "gpt-4o=2", "--cap", "gpt-4o=3"], "--cap is given twice for model 'gpt-4o'"),
    (["--min-share", "gpt-4o=60%", "--min-share", "gpt-4o-mini=50%"],
     "the minimum shares add up to more than all"),
])
def test_limit_mistakes_exit_2_with_a_message(data_file, tmp_path, capsys, args, message):
    code = main(["run", data_file, "--learner", "prior", "--bootstraps", "2", *args,
                 "--out", str(tmp_path / "out")])
    assert code == 2
    assert message in capsys.readouterr().err


def test_limits_that_conflict_with_the_budget_leave_no_allocation(data_file, tmp_path,
                                                                  capsys):
    out = tmp_path / "out"
    code = main(["run", data_file, "--learner", "prior", "--bootstraps", "2", "--method",
                 "hull", "--min-share", "claude-3.5-sonnet=0.9", "--budget", "0.2",
                 "--out", str(out)])
    summary = json.loads((out / "summary.json").read_text())
    assert "below the cheapest allocation that meets min share claude-3.5-sonnet=0.9" in (
        summary["no_allocation_reason"])
    assert not (out / "allocation.csv").exists()
    assert code != 0 or "no allocation" in capsys.readouterr().out.lower()


def test_compare_puts_every_method_under_the_same_limits(dataset):
    config = RunConfig(train_fraction=0.1, bootstraps=2, learner="prior",
                       limits={"max_queries": {"gpt-4o-mini": 100},
                               "max_spend": {"claude-3.5-sonnet": 0.3},
                               "min_share": {"claude-3-haiku": 0.25}})
    comparison = compare(dataset, ["optllm", "hull", "random", "single", "oracle"], [0],
                         config)
    trial = comparison.trials[0]
    for run in comparison.runs:
        for k in range(len(run.front)):
            assert meets(run.front.allocation(k), trial.scores, trial.costs, LIMITS,
                         dataset.models), (run.method, k)
    plain = compare(dataset, ["random"], [0], RunConfig(train_fraction=0.1, bootstraps=2,
                                                         learner="prior"))
    front = plain.runs[0].front
    assert not all(meets(front.allocation(k), trial.scores, trial.costs, LIMITS,
                         dataset.models) for k in range(len(front)))


def test_a_run_config_with_limits_is_checked():
    with pytest.raises(Exception, match="spend limits are in USD"):
        RunConfig(cost_unit="calls", limits={"max_spend": {"gpt-4o": 1.0}}).check()
    with pytest.raises(Exception, match="unknown kind of limit 'max_calls'"):
        RunConfig(limits={"max_calls": {"gpt-4o": 1.0}}).check()
    assert np.isclose(RunConfig(budget=2.0, limits={"min_share": {"a": 0.5}}).check()
                      .constraints().budget, 2.0)
