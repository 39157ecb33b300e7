"""The Dask engine gives what the in-memory path gives on 200,000 queries: the same routed
rows, the same allocation at a budget or target, front points within 1e-9; bad partitions
are named; a stop cancels the round and writes nothing.

The cluster is a LocalCluster of 2 workers with processes=False (threads in this process):
the tasks, futures, scatter and rounds are the same as with worker processes, which only
add start-up time; the command-line tests reach it through --scheduler, the remote path."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytest.importorskip("distributed", reason="dask is not installed: pip install 'optllm[dask]'")

from optllm.cli import main as cli
from optllm.config import RunConfig
from optllm.data.synthetic import generate
from optllm.data.tables import write_wide
from optllm.exceptions import Cancelled, ConfigError, DatasetError
from optllm.optimizers.constraints import Constraints, Infeasible, constrained_point, meets
from optllm.optimizers.hull import hull_front
from optllm.pipeline.cluster import connect, partitions
from optllm.pipeline.distributed import allocate_partitions, route_partitions, train_policy
from optllm.pipeline.limits import LimitedRun
from optllm.pipeline.routing import choice_table, route_scores

N_QUERIES = 200_000
N_PARTS = 8


@pytest.fixture(scope="module")
def history():
    return generate(600, 12, seed=0)


@pytest.fixture(scope="module")
def policy(history):
    config = RunConfig(learner="logistic", featuriser="tfidf", bootstraps=2)
    trained, _ = train_policy(history, config, token_method="estimate")
    return trained


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    queries = generate(N_QUERIES, 12, seed=2)
    folder = tmp_path_factory.mktemp("batch") / "queries"
    folder.mkdir()
    bounds = np.linspace(0, N_QUERIES, N_PARTS + 1).astype(int)
    for i in range(N_PARTS):
        rows = slice(bounds[i], bounds[i + 1])
        pq.write_table(pa.table({"query_id": queries.query_ids[rows].astype(str),
                                 "query": queries.queries[rows].astype(str)}),
                       folder / f"part-{i:02d}.parquet")
    return folder, queries


@pytest.fixture(scope="module")
def predicted(policy, batch):
    """The in-memory path: every query predicted at once, and its exact hull front."""
    costs, P, U, S = policy.predict(batch[1].queries)
    return (costs, P, U, S), hull_front(S, costs)


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=None) as local:
        yield local


@pytest.fixture(scope="module")
def client(cluster):
    with connect(cluster.scheduler_address) as connected:
        yield connected


def read_parts(files) -> pa.Table:
    return pa.concat_tables([pq.read_table(f) for f in files])


def model_index(table: pa.Table, models) -> np.ndarray:
    lookup = {m: j for j, m in enumerate(models)}
    return np.array([lookup[m] for m in table.column("model").to_pylist()])


def test_routing_partitions_gives_the_in_memory_rows_exactly(client, policy, batch, predicted,
                                                             tmp_path):
    (costs, P, U, S), _ = predicted
    routing = dataclasses.replace(policy, rate=float(np.median(S.max(1) / costs.max(1))))
    events = []
    totals, files = route_partitions(client, routing, partitions(batch[0]), tmp_path / "out",
                                     progress=events.append)
    expected = choice_table(batch[1].query_ids, routing.models,
                            route_scores(S, costs, routing.rate), (costs, P, U, S))
    assert read_parts(files).equals(expected)
    assert [f.name for f in files] == [f"part-{i:02d}.parquet" for i in range(N_PARTS)]
    assert totals.n_queries == N_QUERIES
    assert len(set(totals.counts.nonzero()[0])) > 1  # the rate is a real trade-off
    assert events[-1].done == events[-1].total == N_PARTS


@pytest.mark.parametrize("goal", ["budget", "target"])
def test_allocation_and_front_points_match_the_in_memory_hull(client, policy, batch,
                                                              predicted, tmp_path, goal):
    _, front = predicted
    share = 0.37
    if goal == "budget":
        budget = front.cost[0] + share * (front.cost[-1] - front.cost[0])
        k, kw = front.index_for_budget(budget), {"budget": budget}
    else:
        target = front.accuracy[0] + share * (front.accuracy[-1] - front.accuracy[0])
        k, kw = front.index_for_accuracy(target), {"target": target}
    # A small gather limit makes the walk refine bins over several map-reduce rounds; the
    # target's allocation is not written (one prediction pass less: the same code writes).
    out = tmp_path / "alloc" if goal == "budget" else None
    result = allocate_partitions(client, policy, partitions(batch[0]), out,
                                 gather_limit=2000, **kw)
    assert result.point.cost == pytest.approx(front.cost[k], rel=1e-9)
    assert result.point.score / N_QUERIES == pytest.approx(front.accuracy[k], rel=1e-9)
    if out is not None:
        table = read_parts(result.files)
        assert np.array_equal(model_index(table, policy.models), front.allocation(k))
        assert table.column("query_id").to_pylist() == list(batch[1].query_ids)
        assert result.written.cost == pytest.approx(front.cost[k], rel=1e-9)
    assert len(result.front_cost) > 100
    at = np.searchsorted(front.cost, result.front_cost * (1 - 1e-12)).clip(0, len(front) - 1)
    np.testing.assert_allclose(front.cost[at], result.front_cost, rtol=1e-9)
    np.testing.assert_allclose(front.accuracy[at], result.front_accuracy, rtol=1e-9)
    assert (result.front_cost[0], result.front_cost[-1]) == pytest.approx(
        (front.cost[0], front.cost[-1]), rel=1e-9)


def test_an_empty_folder_and_a_partition_without_the_column_are_named(client, policy, batch,
                                                                      tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match=f"{empty}: no .parquet files"):
        partitions(empty)
    with pytest.raises(DatasetError, match="no file matches"):
        partitions(tmp_path / "nothing-*.parquet")
    folder = tmp_path / "bad"
    folder.mkdir()
    for i in range(3):
        column = "text" if i == 2 else "query"
        pq.write_table(pa.table({column: ["what is 2+2?"] * 10}), folder / f"p{i}.parquet")
    out = tmp_path / "out"
    with pytest.raises(DatasetError, match=r"p2\.parquet: no 'query' column"):
        route_partitions(client, policy, partitions(folder), out)
    with pytest.raises(DatasetError, match=r"p2\.parquet: no 'query' column"):
        allocate_partitions(client, policy, partitions(folder), out, budget=1.0)
    assert not out.exists() and not list(tmp_path.glob(".out*"))


def test_a_stop_cancels_the_round_and_writes_nothing(client, policy, batch, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(Cancelled):
        route_partitions(client, policy, partitions(batch[0]), out, should_stop=lambda: True)
    assert not out.exists() and not list(tmp_path.iterdir())


def test_the_commands_on_the_engine(cluster, policy, batch, tmp_path, capsys):
    """run --engine dask trains, allocates and writes; route --engine dask routes every
    partition; both through --scheduler, with user errors as messages and exit 2."""
    small = tmp_path / "small"
    small.mkdir()
    for src in partitions(batch[0])[:2]:
        pq.write_table(pq.read_table(src).slice(0, 500), small / src.name)
    # Models genai-prices knows (a reloaded synthetic file is priced like real data).
    data = write_wide(generate(600, 6, seed=0), tmp_path / "history.parquet")
    common = ["--learner", "logistic", "--featuriser", "tfidf", "--bootstraps", "2",
              "--tokens", "estimate", "--engine", "dask", "--scheduler",
              cluster.scheduler_address]
    assert cli.main(["run", str(data), "--allocate", str(small), "--budget", "1",
                     "--out", str(tmp_path / "run"), *common]) == 0
    written = read_parts(sorted((tmp_path / "run" / "allocation").iterdir()))
    assert written.num_rows == 1000
    assert {"config.json", "front.csv", "summary.json"} <= {
        p.name for p in (tmp_path / "run").iterdir()}
    assert "selected point" in capsys.readouterr().out
    assert cli.main(["run", str(data), "--allocate", str(small), "--budget", "1e-9",
                     "--out", str(tmp_path / "low"), *common]) == 2
    assert "below the cheapest allocation" in capsys.readouterr().err
    assert not (tmp_path / "low" / "allocation").exists()
    assert cli.main(["run", str(data), "--allocate", str(small), "--save-policy", "p",
                     "--budget", "1", "--out", str(tmp_path / "x"), *common]) == 2
    assert "--save-policy does not apply with --engine dask" in capsys.readouterr().err
    saved = policy.save(tmp_path / "policy.optllm")
    route = ["route", str(saved), str(small / "*.parquet"), "--engine", "dask", "--scheduler",
             cluster.scheduler_address]
    assert cli.main([*route, "--out", str(tmp_path / "routed")]) == 0
    assert read_parts(sorted((tmp_path / "routed").iterdir())).num_rows == 1000
    assert cli.main([*route, "--out", str(tmp_path / "routed")]) == 2
    assert "use --force" in capsys.readouterr().err
    pq.write_table(pa.table({"text": ["hi"]}), small / "zz.parquet")
    assert cli.main([*route, "--out", str(tmp_path / "again"), "--force"]) == 2
    assert "zz.parquet: no 'query' column" in capsys.readouterr().err
    assert not (tmp_path / "again").exists()


def binding_limits(front, costs, models, share=0.4):
    """A budget at `share` of the front's cost range and three per-model limits its
    unconstrained allocation breaks: a cap and a spend limit below what it gives the two
    busiest models, a minimum share above the least used one's."""
    budget = front.cost[0] + share * (front.cost[-1] - front.cost[0])
    k = front.index_for_budget(budget)
    chosen = front.allocation(k)
    counts = np.bincount(chosen, minlength=len(models))
    spend = np.bincount(chosen, weights=costs[np.arange(chosen.size), chosen],
                        minlength=len(models))
    busiest, spender = np.argsort(-counts)[:2]
    least = int(np.argmin(counts))
    return Constraints(float(budget), max_queries={models[busiest]: int(0.7 * counts[busiest])},
                       max_spend={models[spender]: float(0.7 * spend[spender])},
                       min_share={models[least]: counts[least] / chosen.size + 0.02}), k


def test_limits_hold_exactly_on_the_dask_allocation_within_the_stated_gap(
        client, policy, batch, predicted, tmp_path):
    """Every limit holds on the written allocation; its accuracy is within the stated gap
    of the in-memory constrained point's, the gap is below 1/N of the score range, and
    summary.json's "limits" has the in-memory shape. (A target under limits takes the same
    rounds: tests/optimizers/test_limit_search.py.)"""
    (costs, _, _, S), front = predicted
    models = policy.models
    limits, _ = binding_limits(front, costs, models)
    result = allocate_partitions(client, policy, partitions(batch[0]), tmp_path / "alloc",
                                 constraints=limits, budget=limits.budget)
    table = read_parts(result.files)
    chosen = model_index(table, models)
    assert table.column("query_id").to_pylist() == list(batch[1].query_ids)
    assert meets(chosen, S, costs, limits, models)
    written = table.column("cost").to_numpy()
    assert written.sum() <= limits.budget
    for name, usd in limits.max_spend.items():
        assert written[chosen == models.index(name)].sum() <= usd
    point = result.limits.point
    reference = constrained_point(S, costs, limits, models)
    assert point.binding.sum() >= 2
    assert reference.accuracy - point.accuracy <= point.gap_accuracy + 1e-12
    assert point.accuracy - reference.accuracy <= reference.gap_accuracy + 1e-12
    assert point.gap_accuracy <= np.ptp(S) / N_QUERIES
    assert point.cost == pytest.approx(written.sum(), rel=1e-9)
    in_memory = LimitedRun(limits, models, reference, (0.0,) * len(models), tuple(
        np.bincount(reference.allocation, minlength=len(models)).tolist())).as_dict()
    shown = result.limits.as_dict()
    assert shown.keys() == in_memory.keys()
    assert [row.keys() for row in shown["limits"]] == [row.keys() for row in in_memory["limits"]]
    assert [row["queries"] for row in shown["per_model"]] == np.bincount(
        chosen, minlength=len(models)).tolist()


def test_the_engine_refuses_or_explains_limits_as_the_in_memory_path(client, policy, batch,
                                                                    predicted, tmp_path):
    """Limits without a goal are refused; infeasible limits get the in-memory message."""
    (costs, _, _, S), _ = predicted
    models = policy.models
    with pytest.raises(ConfigError, match="need --budget or --target-accuracy"):
        allocate_partitions(client, policy, partitions(batch[0]), None,
                            constraints=Constraints(max_queries={models[0]: 10}))
    cheap = int(np.argmin(costs.sum(axis=0)))
    fifty = float(np.sort(costs[:, cheap])[:50].sum())
    conflicting = Constraints(1e9, max_spend={models[cheap]: fifty},
                              min_share={models[cheap]: 0.5})
    result = allocate_partitions(client, policy, partitions(batch[0]), tmp_path / "no",
                                 constraints=conflicting)
    with pytest.raises(Infeasible) as in_memory:
        constrained_point(S, costs, conflicting, models)
    assert result.unmet == str(in_memory.value)
    assert "can take at most 50 queries" in result.unmet
    assert result.limits is None and not (tmp_path / "no").exists()


def test_the_command_keeps_limits_on_the_engine(cluster, batch, tmp_path, capsys):
    """run --engine dask with --cap/--min-share and a budget writes an allocation that keeps
    them and summary.json's "limits"; limits without a goal are refused (exit 2)."""
    small = tmp_path / "small"
    small.mkdir()
    for src in partitions(batch[0])[:2]:
        pq.write_table(pq.read_table(src).slice(0, 1000), small / src.name)
    history = generate(600, 6, seed=0)
    data = write_wide(history, tmp_path / "history.parquet")
    common = ["run", str(data), "--allocate", str(small), "--learner", "logistic",
              "--featuriser", "tfidf", "--bootstraps", "2", "--tokens", "estimate",
              "--engine", "dask", "--scheduler", cluster.scheduler_address]
    first, last = history.models[0], history.models[-1]
    limits = ["--cap", f"{last}=100", "--min-share", f"{first}=0.3"]
    assert cli.main([*common, *limits, "--budget", "10", "--out", str(tmp_path / "run")]) == 0
    printed = capsys.readouterr().out
    assert "limits (at the selected point):" in printed
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    chosen = read_parts(sorted((tmp_path / "run" / "allocation").iterdir())).column(
        "model").to_pylist()
    assert chosen.count(last) <= 100 and chosen.count(first) >= 0.3 * 2000
    assert {row["limit"] for row in summary["limits"]["limits"]} >= {
        f"cap {last}=100 queries", "budget $10"}
    assert summary["selected"]["cost"] <= 10
    assert cli.main([*common, *limits, "--out", str(tmp_path / "nogoal")]) == 2
    assert "need --budget or --target-accuracy" in capsys.readouterr().err


def test_front_csv_has_the_in_memory_columns(cluster, batch, tmp_path):
    """One front.csv format: the Dask run's header is the in-memory run's, in order."""
    small = tmp_path / "small"
    small.mkdir()
    src = partitions(batch[0])[0]
    pq.write_table(pq.read_table(src).slice(0, 500), small / src.name)
    data = write_wide(generate(600, 6, seed=0), tmp_path / "history.parquet")
    common = ["run", str(data), "--allocate", str(small / src.name), "--learner", "logistic",
              "--featuriser", "tfidf", "--bootstraps", "2", "--tokens", "estimate",
              "--budget", "10"]
    assert cli.main([*common, "--out", str(tmp_path / "memory")]) == 0
    assert cli.main([*common, "--engine", "dask", "--scheduler", cluster.scheduler_address,
                     "--out", str(tmp_path / "dask")]) == 0
    memory = pd.read_csv(tmp_path / "memory" / "front.csv")
    dask = pd.read_csv(tmp_path / "dask" / "front.csv")
    assert list(dask.columns) == list(memory.columns)
    assert dask["cost"].iloc[-1] == pytest.approx(memory["cost"].iloc[-1], rel=0.5)


def test_feature_columns_give_the_in_memory_allocation(cluster, tmp_path, capsys):
    """The engine trains with the chosen feature columns, read from each partition: on a
    table with a category column, a learner of that column gives the in-memory batch
    run's allocation; a partition without the column is named."""
    history = write_wide(generate(600, 6, seed=0), tmp_path / "history.parquet")
    queries = generate(2000, 6, seed=3)
    table = pa.table({"query_id": queries.query_ids.astype(str),
                      "query": queries.queries.astype(str),
                      "topic": queries.metadata["topic"].astype(str).to_numpy()})
    folder = tmp_path / "batch"
    folder.mkdir()
    pq.write_table(table.slice(0, 1200), folder / "a.parquet")
    pq.write_table(table.slice(1200), folder / "b.parquet")
    pq.write_table(table, tmp_path / "whole.parquet")
    common = ["run", str(history), "--learner", "group-rate",
              "--feature-columns", "topic", "--method", "hull", "--tokens", "estimate",
              "--budget", "2"]
    assert cli.main([*common, "--allocate", str(tmp_path / "whole.parquet"),
                     "--out", str(tmp_path / "memory")]) == 0
    dask = [*common, "--allocate", str(folder), "--engine", "dask", "--scheduler",
            cluster.scheduler_address]
    assert cli.main([*dask, "--out", str(tmp_path / "dask")]) == 0
    memory = pd.read_csv(tmp_path / "memory" / "allocation.csv", dtype={"query_id": str})
    engine = read_parts(sorted((tmp_path / "dask" / "allocation").iterdir())).to_pandas()
    assert engine["query_id"].tolist() == memory["query_id"].tolist()
    assert engine["model"].tolist() == memory["model"].tolist()
    assert engine["model"].nunique() > 1
    summary = json.loads((tmp_path / "dask" / "summary.json").read_text())
    assert summary["predictor"]["feature_columns"] == ["topic"]
    pq.write_table(table.drop(["topic"]).slice(0, 10), folder / "c.parquet")
    capsys.readouterr()
    assert cli.main([*dask, "--out", str(tmp_path / "again")]) == 2
    assert "c.parquet: no feature column 'topic'" in capsys.readouterr().err
    assert not (tmp_path / "again").exists()
