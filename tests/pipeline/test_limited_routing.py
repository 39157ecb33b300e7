"""A policy saved under per-model limits: its prices reproduce the batch's allocation,
its hard counter keeps every model within its limit over a whole stream (across chunks),
and its limits survive a save/load round trip."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from optllm.config import RunConfig
from optllm.data.synthetic import generate
from optllm.exceptions import ConfigError
from optllm.optimizers.constraints import REPAIR_QUERIES
from optllm.pipeline.batch import run_batch
from optllm.pipeline.routing import Policy, PolicyFileError, policy_from_result, route_file
from optllm.pipeline.stream_limits import StreamCounter


@pytest.fixture(scope="module")
def new_queries():
    return generate(120, 3, seed=1)


@pytest.fixture(scope="module")
def result(new_queries):
    config = RunConfig(bootstraps=3, method="hull", budget=0.6, learner="logistic",
                       limits={"max_queries": {"gpt-4o-mini": 30},
                               "min_share": {"claude-3.5-sonnet": 0.1}})
    return run_batch(generate(150, 3, seed=0), (new_queries.query_ids, new_queries.queries),
                     config, token_method="estimate")


@pytest.fixture(scope="module")
def policy(result):
    return policy_from_result(result)


def test_the_batch_point_meets_its_limits_and_the_policy_carries_them(result, policy):
    allocation = result.front.allocation(result.selected)
    assert np.count_nonzero(allocation == 1) <= 30
    assert np.count_nonzero(allocation == 2) >= 12
    assert policy.limits == {"max_queries": {"gpt-4o-mini": 30},
                             "min_share": {"claude-3.5-sonnet": 0.1}}
    assert policy.model_prices is not None and len(policy.model_prices["offset"]) == 3


def test_routing_the_batch_by_the_prices_reproduces_most_of_its_allocation(result, policy):
    point = result.limits.point
    rows = np.arange(point.allocation.size)
    allocated = result.allocated
    values = policy.values(result.prediction.scores, allocated.cost)
    routed = StreamCounter(policy.models, {}, {}).choose(values, allocated.cost)
    # Only queries the integer repair re-solved may differ: the ones the relaxation left
    # fractional (at most limits + 1) and the REPAIR_QUERIES nearest a tie at the prices.
    top_two = np.sort(values, axis=1)[:, -2:]
    margin = top_two[:, 1] - top_two[:, 0]
    repaired = np.argsort(margin, kind="stable")[:REPAIR_QUERIES + len(point.limits) + 1]
    differ = np.flatnonzero(routed != point.allocation)
    assert np.isin(differ, repaired).all()
    assert differ.size <= 0.05 * rows.size
    assert rows.size == routed.size


def test_the_counter_keeps_every_limit_over_the_stream_in_chunks(policy, new_queries,
                                                                 tmp_path):
    """A stream three times the batch, in chunks of 25: without the counter the capped
    model would take about three times its cap."""
    src = tmp_path / "stream.csv"
    texts = list(new_queries.queries) * 3
    import pandas as pd

    pd.DataFrame({"query_id": range(len(texts)), "query": texts}).to_csv(src, index=False)
    done = route_file(policy, src, tmp_path / "routed.csv", chunk_rows=25)
    assert done.counts["gpt-4o-mini"] == 30
    routed = pd.read_csv(tmp_path / "routed.csv")
    assert (routed["model"] == "gpt-4o-mini").sum() == 30
    # The first 30 queries that prefer the capped model get it; later ones move on.
    free = Policy(policy.featuriser, policy.predictor, policy.cost_model, policy.alpha,
                  policy.rate, policy.point, None, policy.model_prices)
    unlimited = route_file(free, src, tmp_path / "free.csv", chunk_rows=25)
    assert unlimited.counts["gpt-4o-mini"] > 30


def test_the_counter_prefix_and_spend_limits():
    values = np.array([[1.0, 0.5, 0.0]] * 5)
    costs = np.array([[2.0, 1.0, 0.0]] * 5)
    counter = StreamCounter(("a", "b", "c"), {"a": 2}, {"b": 2.0})
    assert counter.choose(values, costs).tolist() == [0, 0, 1, 1, 2]
    assert counter.choose(values[:2], costs[:2]).tolist() == [2, 2]
    assert counter.count.tolist() == [2, 2, 3]
    full = StreamCounter(("a", "b"), {"a": 1, "b": 1}, {})
    with pytest.raises(ConfigError, match="every model's limit is reached at query 3"):
        full.choose(values[:3, :2], costs[:3, :2])


def test_limits_survive_a_round_trip_and_bad_ones_are_refused(policy, tmp_path):
    path = policy.save(tmp_path / "p.policy")
    again = Policy.load(path)
    assert again.limits == policy.limits and again.model_prices == policy.model_prices
    with zipfile.ZipFile(path) as z:
        files = {name: z.read(name) for name in z.namelist()}
    manifest = json.loads(files["manifest.json"])
    for field, bad, words in [("limits", {"max_queries": {"gpt-9": 3}}, "limits/max_queries.gpt-9"),
                              ("limits", {"max_queries": {"gpt-4o": -1}}, "limits"),
                              ("model_prices", {"cost_weight": [1.0], "offset": [0, 0, 0]},
                               "model_prices/cost_weight")]:
        broken = dict(manifest, **{field: bad})
        target = tmp_path / f"bad-{len(words)}-{field}.policy"
        with zipfile.ZipFile(target, "w") as z:
            for name, data in files.items():
                z.writestr(name, json.dumps(broken) if name == "manifest.json" else data)
        with pytest.raises(PolicyFileError, match=words):
            Policy.load(target)
