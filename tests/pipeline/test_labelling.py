"""Choosing the queries to label next (issue 15): strategies, picks file, merge, simulation."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optllm.config import LABELLING_STRATEGIES, RunConfig
from optllm.data.dataset import Dataset
from optllm.data.files import write_table
from optllm.data.synthetic import generate
from optllm.data.tables import load_dataset
from optllm.exceptions import Cancelled, ConfigError, DatasetError
from optllm.pipeline.labelling import (
    N_CLUSTERS,
    STRATEGIES,
    LabellingContext,
    hidden,
    merge_labels,
    pick_next,
    picks_table,
    simulate,
    spread_over_clusters,
)
from optllm.pipeline.run import Prediction

FAST = RunConfig(bootstraps=4, n_jobs=1)


def test_the_registry_and_the_commands_choices_agree():
    assert tuple(STRATEGIES) == LABELLING_STRATEGIES


def planted_clusters(sizes: tuple[int, ...], seed: int = 0) -> tuple[Dataset, np.ndarray]:
    """Queries in clusters of disjoint vocabularies (cluster c uses words w<c>_*), two
    models; and the planted cluster of each query."""
    rng = np.random.default_rng(seed)
    cluster = np.repeat(np.arange(len(sizes)), sizes)
    words = rng.integers(0, 12, size=(cluster.size, 6))
    texts = np.array([" ".join(f"w{c}x{w}" for w in row) for c, row in zip(cluster, words,
                                                                            strict=True)],
                     dtype=object)
    n = cluster.size
    return Dataset("planted", np.array([f"q{i}" for i in range(n)], dtype=object), texts,
                   ("cheap", "dear"), np.tile([0.1, 1.0], (n, 1)),
                   rng.integers(0, 2, size=(n, 2)).astype(np.int8),
                   np.ones(n, dtype=bool)), cluster


def test_diverse_covers_every_planted_cluster_where_random_does_not():
    data, planted = planted_clusters((600, 150, 60, 30, 15))
    labelled = np.zeros(planted.size, dtype=bool)
    labelled[np.flatnonzero(planted == 0)[:20]] = True  # labels only in the big cluster
    seen = {}
    for strategy in ("diverse", "random"):
        context = LabellingContext(hidden(data, labelled), FAST, seed=1)
        picks = pick_next(context, N_CLUSTERS, strategy)
        seen[strategy] = set(planted[picks.rows])
    assert seen["diverse"] == {0, 1, 2, 3, 4}
    assert seen["random"] != {0, 1, 2, 3, 4}  # the 15-query cluster is missed at random


def test_picks_go_first_to_clusters_without_labels_then_by_lowest_labelled_share():
    clusters = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    labelled = np.array([5.0, 0.0, 1.0])
    sizes = np.array([10.0, 4.0, 8.0])
    picked = spread_over_clusters(clusters, labelled, sizes, np.arange(9.0), 4)
    # cluster 1 (no labels) twice (shares 0, 1/4), cluster 2 (1/8 = 0.125, then 0.25 tied
    # with cluster 1's second: the larger cluster first), never cluster 0 (share 1/2)
    assert list(clusters[picked]) == [1, 2, 2, 1]
    assert list(picked) == [3, 5, 6, 4]  # inside a cluster by ascending key


def planted_uncertainty(n: int = 800, seed: int = 0) -> tuple[Dataset, np.ndarray]:
    """Two kinds of query. "routine" (70%): the cheap model is right on all of them.
    "tricky" (30%): each names one of 24 kinds, and the cheap model is right on half of the
    kinds, the dear one always. With a few random labels the predictor has seen few kinds of
    tricky query and is unsure about exactly the choice the front makes there (cheap or
    dear?): uncertainty must go there, and labelling there must pay."""
    rng = np.random.default_rng(seed)
    tricky = rng.random(n) < 0.3
    kind = rng.integers(0, 24, size=n)
    filler = rng.integers(0, 40, size=(n, 5))
    texts = np.array([(f"tricky puzzle kind{k}" if t else "routine task")
                      + " " + " ".join(f"f{w}" for w in row)
                      for t, k, row in zip(tricky, kind, filler, strict=True)], dtype=object)
    labels = np.column_stack((np.where(tricky, kind % 2, 1), np.ones(n))).astype(np.int8)
    cost = np.tile([0.01, 1.0], (n, 1)) * rng.uniform(0.9, 1.1, size=(n, 1))
    return Dataset("planted-uncertainty", np.array([f"q{i}" for i in range(n)], dtype=object),
                   texts, ("cheap", "dear"), cost, labels, np.ones(n, dtype=bool)), tricky


def test_uncertainty_picks_where_the_front_choice_is_unsure_and_that_pays():
    data, tricky = planted_uncertainty()
    rng = np.random.default_rng(3)
    labelled = np.zeros(tricky.size, dtype=bool)
    labelled[rng.choice(np.flatnonzero(~tricky), 30, replace=False)] = True
    labelled[rng.choice(np.flatnonzero(tricky), 10, replace=False)] = True
    context = LabellingContext(hidden(data, labelled), replace(FAST, learner="logistic"),
                               seed=0)
    picks = {s: pick_next(context, 40, s).rows for s in ("uncertainty", "random")}
    assert tricky[picks["uncertainty"]].mean() > 0.7  # against 30% among the candidates
    assert tricky[picks["random"]].mean() < 0.45
    assert "uncertain between cheap, dear" in pick_next(context, 1, "uncertainty").reasons[0]


def test_uncertainty_sampling_gives_a_better_front_than_random_on_planted_data():
    data, _ = planted_uncertainty(seed=2)
    config = replace(FAST, learner="logistic", method="hull")
    rounds = {s: simulate(data, start=0.02, step=0.03, rounds=1, strategy=s, seed=3,
                          config=config, holdout=0.3) for s in ("uncertainty", "random")}
    assert rounds["uncertainty"][0] == rounds["random"][0]  # the same random start
    assert rounds["uncertainty"][1].hypervolume > rounds["random"][1].hypervolume + 0.02


@st.composite
def labelling_problems(draw: st.DrawFn) -> tuple[Dataset, int, str, int]:
    n = draw(st.integers(8, 60))
    labelled = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    labelled[:5] = True  # enough to train
    if labelled.all():
        labelled[-1] = False
    k = draw(st.integers(1, int((~labelled).sum())))
    seed = draw(st.integers(0, 2**16))
    data = replace(generate(n, 3, seed=seed % 7), labelled=labelled)
    return data, k, draw(st.sampled_from(LABELLING_STRATEGIES)), seed


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(labelling_problems())
def test_label_next_never_returns_a_labelled_or_repeated_row(problem):
    data, k, strategy, seed = problem
    context = LabellingContext(data, FAST, seed=seed)
    # The selection logic under test, on arbitrary predictions and clusters (no training).
    rng = np.random.default_rng(seed)
    m = context.unlabelled_rows.size
    mean = rng.random((m, data.n_models))
    context.__dict__["prediction"] = Prediction(
        mean, rng.random((m, data.n_models)) * rng.integers(0, 2), mean, None,
        pd.DataFrame(), None)
    context.__dict__["clusters"] = rng.integers(0, 4, size=data.n_queries)
    picks = pick_next(context, k, strategy)
    assert picks.rows.size == k == len(picks.reasons)
    assert np.unique(picks.rows).size == k
    assert not data.labelled[picks.rows].any()


def test_too_many_none_left_and_too_few_labels_are_refused_clearly():
    data = generate(30, 2, seed=0)
    with pytest.raises(DatasetError, match="every query is labelled"):
        pick_next(LabellingContext(data, FAST), 1, "random")
    partly = replace(data, labelled=np.arange(30) < 25)
    with pytest.raises(ConfigError, match=r"asked for 6 queries.*5 unlabelled"):
        pick_next(LabellingContext(partly, FAST), 6, "random")
    few = replace(data, labelled=np.arange(30) < 3)
    with pytest.raises(ConfigError, match="3 labelled queries are too few"):
        pick_next(LabellingContext(few, FAST), 2, "uncertainty")
    assert pick_next(LabellingContext(few, FAST), 2, "random").rows.size == 2
    with pytest.raises(ConfigError, match="unknown labelling strategy 'best'"):
        pick_next(LabellingContext(partly, FAST), 1, "best")


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_picks_file_round_trips_and_merges_by_query_id(tmp_path, suffix):
    full = generate(60, 3, seed=4)
    data = replace(full, labelled=np.arange(60) < 20)
    picks = pick_next(LabellingContext(data, FAST, seed=0), 5, "random")
    path = write_table(picks_table(data, picks), tmp_path / f"next{suffix}")
    back = load_dataset(path)
    assert list(back.query_ids) == list(data.query_ids[picks.rows])
    assert back.n_labelled == 0 and list(back.metadata["reason"]) == picks.reasons
    np.testing.assert_allclose(back.cost, data.cost[picks.rows])
    judged = replace(back, labels=full.labels[picks.rows][::-1][::-1],
                     labelled=np.array([True, True, True, False, True]))
    merged, gained = merge_labels(data, judged)
    assert gained == 4
    rows = picks.rows[[0, 1, 2, 4]]
    assert merged.labelled[rows].all() and not merged.labelled[picks.rows[3]]
    np.testing.assert_array_equal(merged.labels[rows], full.labels[rows])
    assert merged.n_labelled == 24


def test_merge_refuses_unknown_ids_and_missing_models():
    data = generate(20, 3, seed=0)
    other = replace(data.subset(np.arange(3)), query_ids=np.array(["q01", "zz", "q03"],
                                                                   dtype=object),
                    source="back.csv")
    with pytest.raises(DatasetError, match=r"back\.csv: row 2: query_id 'zz' is not in"):
        merge_labels(data, other)
    fewer = replace(generate(20, 2, seed=0), source="two.csv")
    with pytest.raises(DatasetError, match=r"two\.csv: no label column for 'claude-3\.5-sonnet'"):
        merge_labels(data, fewer)


def test_simulation_rounds_add_the_step_and_stop_on_request():
    data = generate(300, 3, seed=1)
    rounds = simulate(data, start=0.05, step=0.02, rounds=2, strategy="mixed", seed=0,
                      config=FAST, holdout=0.3)
    assert [r.labelled for r in rounds] == [15, 21, 27]
    assert all(r.hypervolume is not None and r.mean_auc is not None for r in rounds)
    stops = iter([False, False, True])
    with pytest.raises(Cancelled):
        simulate(data, start=0.05, step=0.02, rounds=2, strategy="random", config=FAST,
                 should_stop=lambda: next(stops, True))
    with pytest.raises(DatasetError, match="needs every query labelled"):
        simulate(replace(data, labelled=np.arange(300) > 0), start=0.05, step=0.02,
                 rounds=1, strategy="random")
    with pytest.raises(ConfigError, match="leave none"):
        simulate(data, start=0.5, step=0.2, rounds=3, strategy="random")
