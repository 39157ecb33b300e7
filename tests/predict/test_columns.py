"""Extra columns as features: which are chosen, that a model's own columns never are, the
one-hot encoding, and planted structure that only the new rate learners can find."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from optllm.cli.main import main
from optllm.config import RunConfig
from optllm.data.dataset import Dataset
from optllm.exceptions import ConfigError
from optllm.pipeline.run import run
from optllm.predict.columns import (
    AUTO_MAX_SHARE,
    AUTO_MIN_LEVELS,
    CategoryEncoder,
    auto_columns,
    choose_columns,
    model_owned,
)

MODELS = ("cheap", "mid", "dear")
WORDS = np.array([f"w{i}" for i in range(300)], dtype=object)


def planted(n: int, seed: int, *, groups: int = 8, in_text: bool = False,
            metadata: dict[str, np.ndarray] | None = None) -> Dataset:
    """n queries x 3 models whose success depends only on a hidden group (strong per-group,
    per-model effects). With `in_text` the group's own words make up the text; else the
    text is drawn from one vocabulary for all and the group is the `category` column."""
    rng = np.random.default_rng(seed)
    group = rng.integers(0, groups, n)
    p = rng.choice([0.1, 0.5, 0.9], size=(groups, len(MODELS)))
    labels = (rng.random((n, len(MODELS))) < p[group]).astype(np.int8)
    if in_text:
        words = WORDS[(group[:, None] * 30 + rng.integers(0, 30, (n, 12))) % WORDS.size]
    else:
        words = WORDS[rng.integers(0, WORDS.size, (n, 12))]
    texts = np.array([" ".join(w) for w in words], dtype=object)
    cost = np.tile([0.001, 0.01, 0.1], (n, 1)) * rng.uniform(0.5, 1.5, (n, 1))
    meta = pd.DataFrame({} if in_text else {"category": [f"c{g}" for g in group]})
    for name, values in (metadata or {}).items():
        meta[name] = values
    return Dataset("planted", np.arange(n).astype(str).astype(object), texts, MODELS, cost,
                   labels, np.ones(n, bool), meta, synthetic=True)


def hypervolume(dataset: Dataset, learner: str, columns: str = "auto") -> tuple[float, dict]:
    config = RunConfig(train_fraction=0.02, learner=learner, featuriser="tfidf",
                       feature_columns=columns, bootstraps=2, method="hull")
    summary = run(dataset, config).summary()
    return summary["hypervolume"], summary["predictor"]


def test_group_rate_beats_the_prior_and_logistic_on_text_at_2_percent() -> None:
    data = planted(5000, seed=0)
    group, used = hypervolume(data, "group-rate")
    assert used["feature_columns"] == ["category"]
    prior, _ = hypervolume(data, "prior")
    text_only, used = hypervolume(data, "logistic", "none")
    assert used["feature_columns"] == []
    assert group > prior + 0.05 and group > text_only + 0.05


def test_cluster_rate_finds_groups_named_by_no_column() -> None:
    data = planted(5000, seed=1, in_text=True)
    clusters, used = hypervolume(data, "cluster-rate")
    prior, _ = hypervolume(data, "prior")
    assert used["feature_columns_offered"] == []
    assert clusters > prior + 0.05


def test_auto_offers_the_category_to_the_chosen_learner() -> None:
    _, used = hypervolume(planted(5000, seed=2), "auto")
    assert used["learner"] in ("group-rate", "logistic")
    assert used["feature_columns"] == ["category"]


def test_a_column_that_only_adds_noise_does_not_change_the_text_learners_chosen() -> None:
    """With columns offered, each learner that reads text and columns is also tried on the
    text alone, so a useless column cannot make `auto` worse than without it."""
    from optllm.predict.select import fit_predictor

    data = planted(3000, seed=4, in_text=True)  # the groups are in the text only
    noise = pd.DataFrame({"shard": np.random.default_rng(4).integers(0, 20, 3000)})
    rows = np.arange(300)
    choices = {}
    for name, columns in (("without", None), ("with", noise)):
        _, _, choices[name] = fit_predictor(
            data.queries, rows, data.labels[rows], costs_train=data.cost[rows],
            n_bootstraps=0, random_state=0, columns=columns)
    tried = set(choices["with"].scores["candidate"])
    assert {"logistic on word+char", "logistic on word+char (text only)"} <= tried
    text_only = choices["with"].scores.set_index("candidate").loc[
        "logistic on word+char (text only)", "hypervolume"]
    alone = choices["without"].scores.set_index("candidate").loc[
        "logistic on word+char", "hypervolume"]
    assert text_only == alone  # the same learner on the same features
    if not choices["with"].candidate.columns:
        assert choices["with"].featuriser is choices["with"].featurisers[
            choices["with"].candidate.featuriser]


def test_a_models_own_columns_are_never_used() -> None:
    """`cheap_answer` gives away model cheap's label; it must not change any prediction."""
    n = 2000
    truth = planted(n, seed=3).labels[:, 0]
    leaky = planted(n, seed=3, metadata={"cheap_answer": truth.astype(str),
                                         "cheap_output_tokens": truth * 10})
    scrambled = planted(n, seed=3, metadata={"cheap_answer": np.zeros(n, int).astype(str),
                                             "cheap_output_tokens": np.zeros(n, int)})
    assert auto_columns(leaky.metadata, MODELS) == ["category"]
    config = RunConfig(learner="logistic", featuriser="tfidf", bootstraps=2, method="hull")
    a, b = run(leaky, config), run(scrambled, config)
    np.testing.assert_array_equal(a.prediction.mean, b.prediction.mean)
    for name in ("cheap_answer", "cheap", "cheap_cost"):
        with pytest.raises(ConfigError, match=r"belongs to a model|no feature column"):
            choose_columns(leaky.metadata.assign(cheap_cost=1.0), MODELS, (name,))


def test_unknown_column_names_the_column_and_lists_the_others() -> None:
    data = planted(100, seed=0, metadata={"tenant": np.arange(100) % 3})
    with pytest.raises(ConfigError, match=r"no feature column 'lang'.*'category', 'tenant'"):
        choose_columns(data.metadata, MODELS, "category,lang", "data.csv")
    assert choose_columns(data.metadata, MODELS, " tenant , category ") == ["tenant",
                                                                           "category"]
    assert choose_columns(data.metadata, MODELS, "none") == []
    with pytest.raises(ConfigError, match="comma-separated"):
        RunConfig(feature_columns="a,,b").check()


def test_cli_unknown_feature_column_exits_2(tmp_path: Path, capsys) -> None:
    data = planted(300, seed=0)
    frame = pd.DataFrame({"query": data.queries, "category": data.metadata["category"]})
    for j, m in enumerate(MODELS):
        frame[m], frame[f"{m}_cost"] = data.labels[:, j], data.cost[:, j]
    frame.to_csv(tmp_path / "d.csv", index=False)
    code = main(["run", str(tmp_path / "d.csv"), "--feature-columns", "lang",
                 "--out", str(tmp_path / "o")])
    assert code == 2
    err = capsys.readouterr().err
    assert "no feature column 'lang'" in err and "'category'" in err


def test_encoder_one_hot_with_unseen_and_missing_levels() -> None:
    frame = pd.DataFrame({"a": ["x", "y", None, "x"], "b": [1, 2, 1, 3]})
    enc = CategoryEncoder(("a", "b")).fit(frame)
    assert enc.levels_ == [["", "x", "y"], ["1", "2", "3"]]
    X = enc.transform(pd.DataFrame({"a": ["y", "z"], "b": [3, 9]})).toarray()
    np.testing.assert_array_equal(X, [[0, 0, 1, 0, 0, 1], [0, 0, 0, 0, 0, 0]])
    with pytest.raises(ConfigError, match=r"needs feature column.*'b'"):
        enc.transform(pd.DataFrame({"a": ["x"]}))


OWNED = ["cheap", "cheap_answer", "mid_x", "dear_cost"]
names = st.sampled_from([*OWNED, "category", "tenant", "ref_answer", "lang", "id2", "cheapish"])


@given(columns=st.dictionaries(names, st.integers(1, 60), min_size=1, max_size=6),
       n=st.integers(20, 400))
def test_auto_columns_are_category_shaped_and_never_a_models(columns: dict[str, int],
                                                              n: int) -> None:
    """Whatever the columns, auto takes exactly the extra columns of 2..limit distinct
    values, never one owned by a model nor a reference answer."""
    frame = pd.DataFrame({name: np.arange(n) % levels for name, levels in columns.items()})
    chosen = auto_columns(frame, MODELS)
    limit = max(AUTO_MIN_LEVELS, int(AUTO_MAX_SHARE * n))
    for name, levels in columns.items():
        distinct = min(levels, n)
        expected = (name not in OWNED and not name.endswith("answer")
                    and 2 <= distinct <= limit)
        assert (name in chosen) == expected
    assert not any(model_owned(c, MODELS) for c in chosen)
    assert [model_owned(c, MODELS) for c in OWNED] == [True] * len(OWNED)
