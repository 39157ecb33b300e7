"""BootstrapXGBoostPredictor: ranges, seeds, constant labels, cancel, progress, batching,
save/load, out-of-bag quality, sklearn conventions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from optllm.exceptions import Cancelled, ConfigError, NotFittedError
from optllm.predict.xgboost import BootstrapXGBoostPredictor
from optllm.progress import Progress

B = 5


def planted(n: int = 300, d: int = 6, m: int = 3, signal: float = 3.0,
            seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """X (n, d) normal; model j succeeds with probability sigmoid(signal * X[:, j])."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    Y = (rng.random((n, m)) < 1.0 / (1.0 + np.exp(-signal * X[:, :m]))).astype(np.int8)
    return X, Y


def small(**kw: object) -> BootstrapXGBoostPredictor:
    params = {"n_bootstraps": B, "n_estimators": 10, "max_depth": 3, "random_state": 0} | kw
    return BootstrapXGBoostPredictor(**params)


@pytest.fixture(scope="module")
def fitted() -> tuple[BootstrapXGBoostPredictor, np.ndarray, np.ndarray]:
    X, Y = planted()
    return small().fit(X, Y, model_names=["a", "b", "c"]), X, Y


def test_probabilities_in_range_and_std_nonnegative(fitted) -> None:
    est, X, _ = fitted
    P, U = est.predict_mean_std(X)
    assert P.shape == U.shape == (len(X), 3)
    assert P.dtype == U.dtype == np.float64
    assert ((P >= 0) & (P <= 1)).all()
    assert (U >= 0).all() and U.max() > 0
    np.testing.assert_array_equal(est.predict_proba(X), P)
    assert est.seeds_.shape == est.weights_.shape == (B,)
    assert ((est.weights_ > 0) & (est.weights_ <= 1)).all()
    assert (est.n_models_, est.n_features_in_) == (3, X.shape[1])


def test_same_seed_is_bit_identical_and_other_seeds_differ() -> None:
    X, Y = planted(n=150)
    P1, U1 = small(random_state=3).fit(X, Y).predict_mean_std(X)
    P2, U2 = small(random_state=3).fit(X, Y).predict_mean_std(X)
    np.testing.assert_array_equal(P1, P2)
    np.testing.assert_array_equal(U1, U2)
    P3, U3 = small(random_state=4).fit(X, Y).predict_mean_std(X)
    assert not np.array_equal(P1, P3) and not np.array_equal(U1, U3)


@pytest.mark.parametrize("constant", [[0], [1], [0, 1, 2]])
@pytest.mark.parametrize("value", [0, 1])
def test_constant_label_columns(constant: list[int], value: int) -> None:
    X, Y = planted(n=120)
    Y[:, constant] = value
    est = small().fit(X, Y)
    P, U = est.predict_mean_std(X)
    assert np.isfinite(P).all() and np.isfinite(U).all()
    np.testing.assert_allclose(P[:, constant], value, atol=0.02)
    assert not est.trained_[:, constant].any()
    if len(constant) == 3:
        assert all(b is None for b in est.boosters_)
    else:
        assert est.quality_["auc"].isna().tolist() == [j in constant for j in range(3)]


def test_column_constant_only_in_some_bootstraps() -> None:
    X, Y = planted(n=60)
    Y[:, 0] = 0
    Y[0, 0] = 1  # one success: absent from roughly a third of the resamples
    est = small(n_bootstraps=12).fit(X, Y)
    assert 0 < est.trained_[:, 0].sum() < 12
    P, _ = est.predict_mean_std(X)
    assert ((P >= 0) & (P <= 1)).all()


def test_single_label_column() -> None:
    X, Y = planted(m=1)
    P, U = small().fit(X, Y[:, 0]).predict_mean_std(X)
    assert P.shape == U.shape == (len(X), 1)


def test_cancel_raises_and_leaves_unfitted() -> None:
    X, Y = planted(n=80)
    calls = []

    def stop_on_third() -> bool:
        calls.append(1)
        return len(calls) >= 3

    est = small()
    with pytest.raises(Cancelled):
        est.fit(X, Y, should_stop=stop_on_third)
    # Checked after every boosting round; once True, each member in flight stops at its
    # next round and sees it once more after boosting: no member starts or runs on.
    assert 3 <= len(calls) <= 3 + 2 * est.n_jobs
    with pytest.raises(NotFittedError):
        est.predict_mean_std(X)
    est.fit(X, Y)  # a cancelled refit also leaves it unfitted
    with pytest.raises(Cancelled):
        est.fit(X, Y, should_stop=lambda: True)
    assert not hasattr(est, "boosters_")
    with pytest.raises(NotFittedError):
        est.predict_proba(X)


def test_cancel_prediction(fitted) -> None:
    est, X, _ = fitted
    with pytest.raises(Cancelled):
        est.predict_mean_std(X, should_stop=lambda: True)


def test_progress_reports_each_bootstrap_and_batch() -> None:
    X, Y = planted(n=80)
    seen: list[Progress] = []
    est = small().fit(X, Y, progress=seen.append)
    # a report at 0 before the first member: the stage shows it has started
    assert [(p.stage, p.done, p.total) for p in seen] == [("train", b, B) for b in range(B + 1)]
    seen.clear()
    est.predict_mean_std(X, batch_size=30, progress=seen.append)
    assert [(p.stage, p.done, p.total) for p in seen] == [
        ("predict", 30, 80), ("predict", 60, 80), ("predict", 80, 80)]


def test_batched_prediction_equals_unbatched(fitted) -> None:
    est, X, _ = fitted
    P, U = est.predict_mean_std(X)
    Pb, Ub = est.predict_mean_std(X, batch_size=7)
    np.testing.assert_array_equal(P, Pb)
    np.testing.assert_array_equal(U, Ub)


def test_predict_checks_width(fitted) -> None:
    est, X, _ = fitted
    with pytest.raises(ConfigError, match="shape"):
        est.predict_mean_std(X[:, :2])


def test_fit_rejects_bad_labels() -> None:
    X, Y = planted(n=20)
    with pytest.raises(ConfigError, match="0/1"):
        small().fit(X, Y * 2)
    with pytest.raises(ConfigError, match="rows"):
        small().fit(X[:10], Y)
    with pytest.raises(ConfigError, match="model_names"):
        small().fit(X, Y, model_names=["a"])


def test_quality_columns_and_planted_signal_beats_prior(fitted) -> None:
    est, _, Y = fitted
    q = est.quality_
    assert list(q.columns) == ["model", "auc", "brier", "base_rate", "prior_brier",
                               "beats_prior", "n_oob"]
    assert q["model"].tolist() == ["a", "b", "c"]
    np.testing.assert_allclose(q["base_rate"], Y.mean(axis=0))
    assert q["beats_prior"].all()
    assert (q["auc"] > 0.7).all()
    assert (q["n_oob"] > 0.8 * len(Y)).all()  # with B=5, 90% of rows are out of bag once


def test_no_signal_auc_near_half() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(400, 6)).astype(np.float32)
    Y = (rng.random((400, 3)) < 0.5).astype(np.int8)
    q = small(n_bootstraps=10).fit(X, Y).quality_
    assert (q["auc"].sub(0.5).abs() < 0.1).all()


def test_model_names_default_and_from_dataframe() -> None:
    X, Y = planted(n=60)
    assert small().fit(X, Y).quality_["model"].tolist() == [0, 1, 2]
    frame = pd.DataFrame(Y, columns=["x", "y", "z"])
    assert small().fit(X, frame).quality_["model"].tolist() == ["x", "y", "z"]


def test_sklearn_clone_and_params() -> None:
    est = BootstrapXGBoostPredictor(n_bootstraps=7, learning_rate=0.2, random_state=2)
    twin = clone(est)
    assert twin.get_params() == est.get_params()
    assert twin.set_params(max_depth=2).max_depth == 2
    X, Y = planted(n=60)
    est.set_params(n_bootstraps=2).fit(X, Y)
    assert not hasattr(clone(est), "boosters_")


def test_results_do_not_depend_on_n_jobs() -> None:
    X, Y = planted(n=120)
    one = small(n_jobs=1).fit(X, Y)
    two = small(n_jobs=2).fit(X, Y)
    np.testing.assert_array_equal(one.weights_, two.weights_)
    for P, Q in zip(one.predict_mean_std(X), two.predict_mean_std(X), strict=True):
        np.testing.assert_array_equal(P, Q)
    with pytest.raises(ConfigError, match="n_jobs"):
        small(n_jobs=0).fit(X, Y)
