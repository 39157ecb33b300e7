"""Routing by a rate taken from the exact front reproduces that front's allocation; policies
survive a save/load round trip, refuse corrupt files, and stream files chunk by chunk."""

from __future__ import annotations

import argparse
import dataclasses
import zipfile

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from optllm.cli import route as route_command
from optllm.cli import run as run_command
from optllm.config import RunConfig
from optllm.data.synthetic import generate
from optllm.exceptions import DatasetError, ExportError
from optllm.optimizers.api import optimize
from optllm.pipeline.batch import run_batch
from optllm.pipeline.routing import (
    Policy,
    PolicyFileError,
    hull_rates,
    policy_from_result,
    rate_for_point,
    rate_interval,
    reproducible_point,
    route_file,
    route_queries,
    route_scores,
)


@pytest.fixture(scope="module")
def new_queries():
    return generate(80, 3, seed=1)


@pytest.fixture(scope="module")
def result(new_queries):
    # A per-query learner: the rate learners tie whole groups, whose inner points no rate
    # reproduces (test_tied_moves_route_to_the_point_before_them).
    config = RunConfig(bootstraps=3, method="hull", budget=0.1, learner="logistic")
    return run_batch(generate(150, 3, seed=0), (new_queries.query_ids, new_queries.queries),
                     config, token_method="estimate")


@pytest.fixture(scope="module")
def policy(result):
    return policy_from_result(result)


def model_indices(table, models) -> np.ndarray:
    lookup = {m: j for j, m in enumerate(models)}
    return np.array([lookup[m] for m in table.column("model").to_pylist()])


# ----------------------------------------------------------------------------- the rule


@pytest.mark.parametrize("seed", range(5))
def test_every_hull_point_is_reproduced_by_its_rate(seed):
    rng = np.random.default_rng(seed)
    scores, costs = rng.random((40, 4)), rng.random((40, 4))
    costs[:, 0] = costs[:, 1]  # equal costs: the higher score must win, as on the front
    front = optimize(scores, costs, method="hull")
    rates = hull_rates(front)
    assert np.all(np.diff(rates) <= 1e-9)  # rates fall along the front
    for k in range(len(front)):
        low, high = rate_interval(front, k)
        assert low <= rate_for_point(front, k) <= high
        np.testing.assert_array_equal(route_scores(scores, costs, rate_for_point(front, k)),
                                      front.allocation(k))


@pytest.mark.parametrize("seed", range(5))
def test_tied_moves_route_to_the_point_before_them(seed):
    """Group-level scores (the rate learners) tie whole groups of moves; every point then
    maps to one a rate reproduces, no dearer."""
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 4, 60)
    scores, costs = rng.random((4, 3))[group], np.tile(rng.random(3), (60, 1))
    front = optimize(scores, costs, method="hull")
    for k in range(len(front)):
        j = reproducible_point(front, k)
        assert j <= k
        np.testing.assert_array_equal(route_scores(scores, costs, rate_for_point(front, j)),
                                      front.allocation(j))


def test_a_single_point_front_routes_to_the_best_model_at_rate_zero():
    scores, costs = np.array([[0.2, 0.9]]), np.array([[3.0, 1.0]])
    front = optimize(scores, costs, method="hull")
    assert len(front) == 1 and rate_for_point(front, 0) == 0.0
    assert route_scores(scores, costs, 0.0).tolist() == [1]


def test_routing_the_batch_reproduces_its_hull_allocation(result, policy, new_queries):
    k = result.selected
    assert 0 < k < len(result.front) - 1  # a point inside the front, not an extreme
    table = route_queries(policy, new_queries.query_ids, new_queries.queries)[0]
    assert table.column("query_id").to_pylist() == list(new_queries.query_ids)
    np.testing.assert_array_equal(model_indices(table, policy.models), result.front.allocation(k))
    assert sum(table.column("cost").to_pylist()) == pytest.approx(result.front.cost[k])
    assert policy.point["point"] == k and policy.point["n_queries"] == 80
    assert policy.point["rate_low"] < policy.rate < policy.point["rate_high"]


def test_a_point_of_the_heuristic_front_routes_like_the_hull_point_below_it(result, new_queries):
    scores, costs = result.prediction.scores, result.allocated.cost
    heuristic = optimize(scores, costs, method="optllm", density=5)
    k = len(heuristic) // 2
    chosen = dataclasses.replace(result, front=heuristic, selected=k)
    policy = policy_from_result(chosen)
    hull = optimize(scores, costs, method="hull")
    h = hull.index_for_budget(heuristic.cost[k] * (1 + 1e-12))
    routed = route_scores(scores, costs, policy.rate)
    np.testing.assert_array_equal(routed, hull.allocation(h))
    assert costs[np.arange(costs.shape[0]), routed].sum() <= heuristic.cost[k] * (1 + 1e-9)


# ----------------------------------------------------------------------------- policy files


def test_policy_save_load_round_trip(policy, new_queries, tmp_path):
    path = policy.save(tmp_path / "p.policy")
    assert [p.name for p in tmp_path.iterdir()] == ["p.policy"]  # no temporary file left
    again = Policy.load(path)
    assert (again.rate, again.alpha, again.point, again.models) == (
        policy.rate, policy.alpha, policy.point, policy.models)
    assert again.cost_model.as_dict() == policy.cost_model.as_dict()
    assert route_queries(again, new_queries.query_ids, new_queries.queries)[0].equals(
        route_queries(policy, new_queries.query_ids, new_queries.queries)[0])
    with pytest.raises(ExportError, match="already exists"):
        policy.save(path)


def test_corrupt_or_foreign_policy_files_are_refused(policy, tmp_path):
    good = policy.save(tmp_path / "good.policy").read_bytes()
    cases = {"garbage.policy": b"not a zip at all",
             "truncated.policy": good[: len(good) // 2]}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    with zipfile.ZipFile(tmp_path / "future.policy", "w") as zf:
        zf.writestr("manifest.json", '{"format": "optllm.Policy", "version": 99}')
    for name in [*cases, "future.policy"]:
        with pytest.raises(PolicyFileError, match=f"{name}") as info:
            Policy.load(tmp_path / name)
        assert "version 99" in str(info.value) or "not a readable policy" in str(info.value)
    with pytest.raises(PolicyFileError, match="file not found"):
        Policy.load(tmp_path / "missing.policy")


# ----------------------------------------------------------------------------- streaming


def test_route_file_streams_in_chunks_to_every_format(policy, new_queries, tmp_path):
    src = tmp_path / "queries.csv"
    pd.DataFrame({"query_id": new_queries.query_ids, "query": new_queries.queries}).to_csv(
        src, index=False)
    whole = route_queries(policy, new_queries.query_ids, new_queries.queries)[0].to_pandas()
    done = route_file(policy, src, tmp_path / "out.csv", chunk_rows=7)
    assert done.n_queries == 80 and sum(done.counts.values()) == 80
    assert done.cost == pytest.approx(whole["cost"].sum())
    csv = pd.read_csv(tmp_path / "out.csv", dtype={"query_id": str})
    pd.testing.assert_frame_equal(csv, whole, check_exact=False, rtol=1e-12)
    route_file(policy, src, tmp_path / "out.parquet", chunk_rows=30)
    pd.testing.assert_frame_equal(pq.read_table(tmp_path / "out.parquet").to_pandas(), whole)
    route_file(policy, src, tmp_path / "out.jsonl", chunk_rows=50)
    jsonl = pd.read_json(tmp_path / "out.jsonl", lines=True, dtype={"query_id": str})
    assert jsonl["model"].tolist() == whole["model"].tolist()


def test_a_bad_row_late_in_the_stream_leaves_nothing_behind(policy, tmp_path):
    texts = [f"question {i} about python code" for i in range(30)]
    texts[22] = ""
    src = tmp_path / "queries.csv"
    pd.DataFrame({"query": texts}).to_csv(src, index=False)
    with pytest.raises(DatasetError, match="row 23, column 'query': empty value"):
        route_file(policy, src, tmp_path / "out.csv", chunk_rows=5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["queries.csv"]


def test_route_on_the_command_line(policy, new_queries, tmp_path, capsys):
    policy.save(tmp_path / "p.policy")
    pd.DataFrame({"query": new_queries.queries}).to_parquet(tmp_path / "q.parquet")
    top = argparse.ArgumentParser(prog="optllm")
    sub = top.add_subparsers(dest="command", required=True)
    run_command.add_parser(sub)
    route_command.add_parser(sub)
    args = top.parse_args(["route", str(tmp_path / "p.policy"), str(tmp_path / "q.parquet"),
                           "--out", str(tmp_path / "routed.csv")])
    assert route_command.run(args) == 0
    out = capsys.readouterr().out
    assert "routed 80 queries" in out and "expected accuracy" in out
    routed = pd.read_csv(tmp_path / "routed.csv")
    assert routed["query_id"].tolist() == list(range(1, 81))


def test_route_file_writes_gzipped_csv_and_jsonl(policy, new_queries, tmp_path):
    src = tmp_path / "queries.csv"
    pd.DataFrame({"query_id": new_queries.query_ids, "query": new_queries.queries}).to_csv(
        src, index=False)
    whole = route_queries(policy, new_queries.query_ids, new_queries.queries)[0].to_pandas()
    route_file(policy, src, tmp_path / "out.csv.gz", chunk_rows=7)
    csv = pd.read_csv(tmp_path / "out.csv.gz", dtype={"query_id": str})
    pd.testing.assert_frame_equal(csv, whole, check_exact=False, rtol=1e-12)
    route_file(policy, src, tmp_path / "out.jsonl.gz", chunk_rows=30)
    jsonl = pd.read_json(tmp_path / "out.jsonl.gz", lines=True, dtype={"query_id": str})
    assert jsonl["model"].tolist() == whole["model"].tolist()


@pytest.fixture(scope="module")
def group_policy(new_queries):
    config = RunConfig(bootstraps=2, method="hull", budget=0.1, learner="group-rate",
                       feature_columns="topic")
    result = run_batch(generate(150, 3, seed=0),
                       (new_queries.query_ids, new_queries.queries, new_queries.metadata),
                       config, token_method="estimate")
    return policy_from_result(result)


def test_routing_needs_the_feature_columns(group_policy, new_queries, tmp_path):
    assert group_policy.feature_columns == ["topic"]
    src = tmp_path / "new.csv"
    pd.DataFrame({"query": new_queries.queries, "lang": "en"}).to_csv(src, index=False)
    with pytest.raises(DatasetError, match=r"new.csv: no column 'topic'.*'lang'"):
        route_file(group_policy, src, tmp_path / "out.csv")
    pd.DataFrame({"query": new_queries.queries, "topic": new_queries.metadata["topic"]}
                 ).to_csv(src, index=False)
    summary = route_file(group_policy, src, tmp_path / "out.csv")
    assert summary.n_queries == new_queries.n_queries


def test_an_unseen_level_gets_the_models_overall_rate(group_policy, new_queries):
    unseen = pd.DataFrame({"topic": ["a topic never seen"] * 3})
    _, P, _, _ = group_policy.predict(new_queries.queries[:3], unseen)
    np.testing.assert_allclose(P, np.tile(group_policy.predictor.rate_, (3, 1)))
