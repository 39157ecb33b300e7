"""The synthetic generator and the embedded default dataset built from it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

from optllm.data import default as default_data
from optllm.data.dataset import Dataset
from optllm.data.default import default_dataset_path, load_default
from optllm.data.synthetic import MODELS, SKILL, TOPICS, generate
from optllm.data.tables import load_dataset
from optllm.exceptions import ConfigError


@pytest.fixture(scope="module")
def default_like() -> Dataset:
    return generate(5000, 8, 0)


def assert_same(got: Dataset, want: Dataset) -> None:
    assert got.models == want.models
    np.testing.assert_array_equal(got.query_ids, want.query_ids)
    np.testing.assert_array_equal(got.queries, want.queries)
    np.testing.assert_allclose(got.cost, want.cost, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(got.labels, want.labels)
    np.testing.assert_array_equal(got.labelled, want.labelled)
    pd.testing.assert_frame_equal(got.metadata, want.metadata)


def test_same_seed_same_data_other_seed_other_data() -> None:
    assert_same(generate(300, 5, seed=3), generate(300, 5, seed=3))
    other = generate(300, 5, seed=4)
    assert not np.array_equal(other.labels, generate(300, 5, seed=3).labels)
    assert not np.array_equal(other.queries, generate(300, 5, seed=3).queries)


@pytest.mark.parametrize("n_models", [2, 8, 12])
def test_shapes_and_types(n_models: int) -> None:
    ds = generate(400, n_models, seed=1)
    assert ds.name == "synthetic" and ds.synthetic and ds.title == "synthetic (synthetic)"
    assert ds.models == tuple(m.name for m in MODELS[:n_models])
    assert ds.cost.shape == ds.labels.shape == (400, n_models)
    assert ds.cost.dtype == np.float64 and ds.labels.dtype == np.int8
    assert ds.labelled.all() and set(np.unique(ds.labels)) <= {0, 1}
    assert ds.query_ids.dtype == object and len(set(ds.query_ids)) == 400
    assert all(isinstance(q, str) and q for q in ds.queries)
    assert list(ds.metadata.columns) == ["topic", "difficulty"]
    assert set(ds.metadata["topic"]) <= set(TOPICS)
    assert ds.metadata["difficulty"].between(0, 1).all()


def test_fewer_models_are_the_first_columns_of_all_models() -> None:
    small, full = generate(500, 4, seed=2), generate(500, 12, seed=2)
    np.testing.assert_array_equal(small.labels, full.labels[:, :4])
    np.testing.assert_array_equal(small.cost, full.cost[:, :4])
    np.testing.assert_array_equal(small.queries, full.queries)


def test_costs_are_positive_and_follow_list_prices(default_like: Dataset) -> None:
    assert np.isfinite(default_like.cost).all() and (default_like.cost > 0).all()
    mean = dict(zip(default_like.models, default_like.cost.mean(axis=0), strict=True))
    assert mean["gpt-4o"] > 10 * mean["gpt-4o-mini"]
    assert mean["llama-3.1-8b"] == min(mean.values())
    harder = default_like.metadata["difficulty"].to_numpy() > 0.5
    assert (default_like.cost[harder].mean(axis=0) > default_like.cost[~harder].mean(axis=0)).all()


def test_each_specialty_is_a_distinct_topic() -> None:
    specialties = [m.specialty for m in MODELS]
    assert len(set(specialties)) == len(MODELS) and set(specialties) <= set(TOPICS)
    assert not SKILL.flags.writeable


@pytest.mark.parametrize(("n_models", "seed"), [(8, 0), (12, 1), (5, 2)])
def test_no_model_dominates(n_models: int, seed: int) -> None:
    """Every model is the most accurate on some topic, or it is the cheapest."""
    ds = generate(6000, n_models, seed)
    accuracy = pd.DataFrame(ds.labels, columns=ds.models).groupby(
        ds.metadata["topic"].to_numpy()).mean()
    best = set(accuracy.idxmax(axis=1))
    cheapest = ds.models[int(np.argmin(ds.cost.mean(axis=0)))]
    assert best | {cheapest} == set(ds.models)
    assert len(best) > 1


def test_labels_depend_on_difficulty_and_topic(default_like: Dataset) -> None:
    labels = default_like.labels
    difficulty = default_like.metadata["difficulty"].to_numpy()
    easy, hard = difficulty < 1 / 3, difficulty > 2 / 3
    assert (labels[easy].mean(axis=0) - labels[hard].mean(axis=0) > 0.2).all()
    by_topic = pd.DataFrame(labels).groupby(default_like.metadata["topic"].to_numpy()).mean()
    assert ((by_topic.max() - by_topic.min()) > 0.1).all()


def test_harder_queries_are_longer(default_like: Dataset) -> None:
    length = pd.Series([len(q) for q in default_like.queries])
    assert length.corr(default_like.metadata["difficulty"], method="spearman") > 0.5


def test_text_carries_signal_about_the_labels() -> None:
    ds = generate(2000, 8, seed=5)
    features = TfidfVectorizer().fit_transform(ds.queries)
    auc = [cross_val_score(LogisticRegression(solver="liblinear"), features, ds.labels[:, j],
                           cv=3, scoring="roc_auc").mean() for j in range(ds.n_models)]
    assert min(auc) > 0.6, auc


@pytest.mark.parametrize(("n_queries", "n_models"), [(0, 8), (10, 1), (10, 13)])
def test_bad_sizes_are_config_errors(n_queries: int, n_models: int) -> None:
    with pytest.raises(ConfigError):
        generate(n_queries, n_models)


# ----------------------------------------------------------------------------- default dataset


def test_bundled_default_file_is_the_seeded_generator_output(default_like: Dataset) -> None:
    path = default_data.BUNDLED_PATH
    if not path.is_file():
        pytest.skip(f"{path} not present (run scripts/make_default_dataset.py)")
    assert path.stat().st_size < 3_000_000
    assert_same(load_dataset(path), default_like)


def test_load_default_is_marked_synthetic() -> None:
    ds = load_default()
    assert ds.synthetic and ds.name == "synthetic-default"
    assert ds.title == "synthetic-default (synthetic)"
    assert ds.cost.shape == (5000, 8)


def test_default_is_regenerated_into_the_cache_when_not_bundled(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, default_like: Dataset) -> None:
    monkeypatch.setattr(default_data, "BUNDLED_PATH", tmp_path / "absent.csv.gz")
    monkeypatch.setattr(default_data, "user_cache_dir", lambda app: str(tmp_path / "cache" / app))
    path = default_dataset_path()
    assert path == tmp_path / "cache" / "optllm" / "synthetic-default.csv.gz"
    assert_same(load_dataset(path), default_like)
    assert default_dataset_path() == path  # reused, not rewritten
    assert load_default().synthetic
