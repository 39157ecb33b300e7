"""Learners behind one interface: ranges, spread, constant labels, seeds, registry."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from optllm.exceptions import Cancelled, ConfigError, NotFittedError
from optllm.predict.features import make_featuriser
from optllm.predict.learners import fold_ids, fold_prior, make_learner
from optllm.predict.registry import LEARNERS
from optllm.progress import Progress

FAST = {
    "xgboost": {"n_bootstraps": 3, "n_estimators": 5, "n_jobs": 1, "random_state": 0},
    "logistic": {"n_bootstraps": 4, "Cs": (1.0, 10.0), "cv": 3, "random_state": 0},
    "knn": {"n_neighbors": 5, "cv": 3, "random_state": 0},
    "prior": {"cv": 3, "random_state": 0},
}


def planted(n: int = 90, d: int = 20, seed: int = 0) -> tuple[sp.csr_matrix, np.ndarray]:
    """Sparse non-negative X; model 0 succeeds iff feature 0 is on, model 1 is a coin,
    model 2 always succeeds (a constant column)."""
    rng = np.random.default_rng(seed)
    X = sp.random(n, d, density=0.3, random_state=seed, format="csr", dtype=np.float64)
    on = rng.random(n) < 0.5
    X = sp.hstack([sp.csr_matrix(on[:, None].astype(float)), X], format="csr")
    Y = np.column_stack([on, rng.random(n) < 0.5, np.ones(n, bool)]).astype(np.int8)
    return X, Y


#: The learners that score each query from its text features (the rate learners pool
#: queries into groups; tests/predict/test_learner_contract.py covers every learner).
PER_QUERY = [name for name in LEARNERS if name in FAST]


@pytest.mark.parametrize("name", PER_QUERY)
def test_probabilities_in_range_and_spread_nonnegative(name: str) -> None:
    X, Y = planted()
    est = make_learner(name, **FAST[name]).fit(X[:60], Y[:60], model_names=["a", "b", "c"])
    P, U = est.predict_mean_std(X[60:])
    assert P.shape == U.shape == (30, 3)
    assert P.dtype == U.dtype == np.float64
    assert ((P >= 0) & (P <= 1)).all() and (U >= 0).all()
    assert list(est.quality_["model"]) == ["a", "b", "c"]
    assert {"auc", "brier", "base_rate", "prior_brier", "beats_prior"} <= set(est.quality_)
    if name != "prior":  # the planted column is predicted well
        assert est.quality_["auc"].iloc[0] > 0.8
        assert P[:, 0][Y[60:, 0] == 1].mean() > P[:, 0][Y[60:, 0] == 0].mean() + 0.2
    assert P[:, 2].min() > 0.8  # the constant column stays near its rate


@pytest.mark.parametrize("name", ["logistic", "knn", "prior"])
def test_out_of_fold_predictions_and_dense_input(name: str) -> None:
    X, Y = planted()
    est = make_learner(name, **FAST[name]).fit(X.toarray(), Y)
    assert est.oof_proba_.shape == Y.shape
    assert ((est.oof_proba_ > 0) & (est.oof_proba_ < 1)).all()
    P, U = est.predict_mean_std(X.toarray()[:5])
    assert P.shape == (5, 3) and (U >= 0).all()


def test_logistic_spread_from_bootstraps_and_seeded() -> None:
    X, Y = planted()
    a = make_learner("logistic", **FAST["logistic"]).fit(X, Y)
    b = make_learner("logistic", **FAST["logistic"]).fit(X, Y)
    Pa, Ua = a.predict_mean_std(X)
    Pb, Ub = b.predict_mean_std(X)
    np.testing.assert_array_equal(Pa, Pb)
    np.testing.assert_array_equal(Ua, Ub)
    assert Ua[:, 1].max() > 0 and np.isnan(a.C_[2])
    no_spread = make_learner("logistic", **(FAST["logistic"] | {"n_bootstraps": 0})).fit(X, Y)
    assert (no_spread.predict_mean_std(X)[1] == 0).all()


def test_logistic_results_do_not_depend_on_n_jobs() -> None:
    X, Y = planted()
    one = make_learner("logistic", **(FAST["logistic"] | {"n_jobs": 1})).fit(X, Y)
    two = make_learner("logistic", **(FAST["logistic"] | {"n_jobs": 2})).fit(X, Y)
    np.testing.assert_array_equal(one.C_, two.C_)
    np.testing.assert_array_equal(one.oof_proba_, two.oof_proba_)
    for a, b in zip(one.predict_mean_std(X), two.predict_mean_std(X), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ConfigError, match="n_jobs"):
        make_learner("logistic", **(FAST["logistic"] | {"n_jobs": 0})).fit(X, Y)


def test_logistic_warm_start_keeps_C_and_adds_spread() -> None:
    X, Y = planted()
    quick = make_learner("logistic", **(FAST["logistic"] | {"n_bootstraps": 0})).fit(X, Y)
    C, oof = quick.C_.copy(), quick.oof_proba_
    quick.set_params(n_bootstraps=3, warm_start=True, Cs=(1e-3,)).fit(X, Y)
    np.testing.assert_array_equal(quick.C_, C)
    assert quick.oof_proba_ is oof
    assert quick.predict_mean_std(X)[1].max() > 0


def test_knn_shrinks_toward_base_rate() -> None:
    X, Y = planted()
    strong = make_learner("knn", n_neighbors=5, prior_strength=1e6).fit(X, Y)
    P, _ = strong.predict_mean_std(X[:4])
    np.testing.assert_allclose(P, np.repeat(strong.rate_[None, :], 4, axis=0), atol=1e-4)


def test_prior_is_the_rate_with_its_standard_error() -> None:
    X, Y = planted()
    est = make_learner("prior").fit(X, Y)
    P, U = est.predict_mean_std(X[:3])
    np.testing.assert_allclose(P[0], (Y.sum(axis=0) + 0.5) / (len(Y) + 1))
    np.testing.assert_allclose(U[0], np.sqrt(P[0] * (1 - P[0]) / len(Y)))
    assert not est.quality_["beats_prior"].any()


def test_folds_and_fold_prior() -> None:
    folds = fold_ids(10, 3, 0)
    assert sorted(np.bincount(folds)) == [3, 3, 4]
    assert fold_ids(3, 5, 0).max() == 2  # never more folds than rows
    Y = np.array([[1.0], [0.0], [1.0], [1.0]])
    prior = fold_prior(Y, np.array([0, 0, 1, 1]))
    np.testing.assert_allclose(prior[:, 0], [2.5 / 3, 2.5 / 3, 1.5 / 3, 1.5 / 3])


def test_errors() -> None:
    X, Y = planted()
    with pytest.raises(ConfigError, match="unknown learner"):
        make_learner("forest")
    with pytest.raises(NotFittedError):
        make_learner("knn").predict_mean_std(X)
    with pytest.raises(ConfigError, match="0/1"):
        make_learner("logistic").fit(X, Y * 2)
    with pytest.raises(ConfigError, match="shape"):
        make_learner("prior").fit(X, Y).predict_mean_std(X[:, :3])


def test_char_and_word_char_featurisers() -> None:
    texts = ["GET /a/b 200", "POST /x 500 err", "GET /a/c 404", "PUT /y 200"]
    char = make_featuriser("char-tfidf").fit(texts)
    both = make_featuriser("word+char").fit(texts)
    Xc, Xb = char.transform(texts), both.transform(texts)
    assert Xb.shape == (4, both.word_.n_features_out_ + char.n_features_out_)
    np.testing.assert_allclose(sp.linalg.norm(Xb, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(sp.linalg.norm(Xc, axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("name", ["logistic", "knn"])
def test_cancel_and_progress(name: str) -> None:
    X, Y = planted()
    with pytest.raises(Cancelled):
        make_learner(name, **FAST[name]).fit(X, Y, should_stop=lambda: True)
    est = make_learner(name, **FAST[name]).fit(X, Y)
    seen: list[Progress] = []
    est.predict_mean_std(X, progress=seen.append)
    assert seen[-1].done == seen[-1].total == X.shape[0]
    with pytest.raises(Cancelled):
        est.predict_mean_std(X, should_stop=lambda: True)
