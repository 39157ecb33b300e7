"""The contract every registered learner keeps (in the spirit of scikit-learn's
`parametrize_with_checks`): shapes, probabilities in [0, 1], non-negative spread, seeded
determinism, an exact save/load round trip, cancellation, a label column with one class,
and the errors of an unfitted or misused learner. A learner added to the registry without
fast parameters here fails `test_every_learner_is_covered`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from optllm.data.savefile import Fields, Stored, read_saved, write_saved
from optllm.exceptions import Cancelled, ConfigError, NotFittedError, SavedFileError
from optllm.predict.learners import make_learner
from optllm.predict.registry import LEARNERS
from optllm.predict.select import feature_blocks
from optllm.predict.state import load_learner, save_learner

#: Quick parameters of every registered learner (seeded).
FAST: dict[str, dict[str, Any]] = {
    "xgboost": {"n_bootstraps": 3, "n_estimators": 5, "n_jobs": 1, "random_state": 0},
    "logistic": {"n_bootstraps": 4, "Cs": (1.0, 10.0), "cv": 3, "random_state": 0},
    "knn": {"n_neighbors": 5, "cv": 3, "random_state": 0},
    "group-rate": {"cv": 3, "random_state": 0},
    "cluster-rate": {"cv": 3, "random_state": 0, "n_init": 1},
    "prior": {"cv": 3, "random_state": 0},
}
MODELS = ["a", "b", "c"]


class ContractFileError(SavedFileError):
    KIND = "learner file"


def data(n: int = 80, seed: int = 0) -> tuple[sp.csr_matrix, np.ndarray]:
    """Sparse X whose first 4 columns one-hot a group (so every learner has structure to
    find: group-rate its groups, the others the columns), and Y (n, 3): model a succeeds in
    groups 0-1, model b is a coin, model c always succeeds (one class only)."""
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 4, n)
    onehot = sp.csr_matrix(np.eye(4)[group])
    noise = sp.random(n, 6, density=0.3, random_state=seed, format="csr")
    X = sp.hstack([onehot, noise], format="csr")
    Y = np.column_stack([group < 2, rng.random(n) < 0.5, np.ones(n, bool)]).astype(np.int8)
    return X, Y


def fitted(name: str, X: Any, Y: np.ndarray, **kw: Any) -> Any:
    return make_learner(name, **FAST[name]).fit(X, Y, model_names=MODELS, **kw)


def test_every_learner_is_covered() -> None:
    assert set(FAST) == set(LEARNERS)


@pytest.mark.parametrize("name", LEARNERS)
def test_shapes_ranges_and_spread(name: str) -> None:
    X, Y = data()
    est = fitted(name, X[:60], Y[:60])
    P, U = est.predict_mean_std(X[60:])
    assert P.shape == U.shape == (20, 3) and P.dtype == U.dtype == np.float64
    assert np.isfinite(P).all() and np.isfinite(U).all()
    assert ((P >= 0) & (P <= 1)).all() and (U >= 0).all()
    np.testing.assert_array_equal(est.predict_proba(X[60:]), P)
    assert list(est.quality_["model"]) == MODELS
    assert est.n_features_in_ == X.shape[1] and est.n_models_ == 3
    assert P[:, 2].min() > 0.8  # the one-class column stays near its rate
    if hasattr(est, "oof_proba_") and name != "xgboost":
        assert est.oof_proba_.shape == (60, 3)
        assert ((est.oof_proba_ >= 0) & (est.oof_proba_ <= 1)).all()


@pytest.mark.parametrize("name", LEARNERS)
def test_dense_input_gives_the_same_kind_of_output(name: str) -> None:
    X, Y = data()
    est = fitted(name, X.toarray()[:60], Y[:60])
    P, U = est.predict_mean_std(X.toarray()[60:])
    assert P.shape == (20, 3) and (U >= 0).all()


@pytest.mark.parametrize("name", LEARNERS)
def test_deterministic_with_a_seed(name: str) -> None:
    X, Y = data()
    first = fitted(name, X, Y).predict_mean_std(X)
    again = fitted(name, X, Y).predict_mean_std(X)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", LEARNERS)
def test_one_labelled_class_per_model(name: str) -> None:
    X, _ = data()
    Y = np.column_stack([np.ones(X.shape[0]), np.zeros(X.shape[0]), np.ones(X.shape[0])])
    P, U = fitted(name, X, Y.astype(np.int8)).predict_mean_std(X[:10])
    assert (P[:, 0] > 0.8).all() and (P[:, 1] < 0.2).all()
    assert np.isfinite(U).all() and (U >= 0).all()


@pytest.mark.parametrize("name", LEARNERS)
def test_save_and_load_round_trip_exactly(name: str, tmp_path: Path) -> None:
    X, Y = data()
    est = fitted(name, X, Y)
    manifest, stored = save_learner(est)
    path = write_saved(tmp_path / "learner.zip", Stored({"learner": manifest}, stored.arrays,
                                                         stored.blobs),
                       file_format="contract", version=1)
    back = read_saved(path, ContractFileError, "contract", 1)
    again = load_learner(Fields(path, ContractFileError, back), back.manifest["learner"])
    assert type(again) is type(est) and again.get_params() == est.get_params()
    for a, b in zip(est.predict_mean_std(X), again.predict_mean_std(X), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", LEARNERS)
def test_cancel_is_honoured(name: str) -> None:
    X, Y = data()
    with pytest.raises(Cancelled):
        make_learner(name, **FAST[name]).fit(X, Y, should_stop=lambda: True)
    est = fitted(name, X, Y)
    with pytest.raises(Cancelled):
        est.predict_mean_std(X, should_stop=lambda: True)


@pytest.mark.parametrize("name", LEARNERS)
def test_errors_of_an_unfitted_or_misused_learner(name: str) -> None:
    X, Y = data()
    with pytest.raises(NotFittedError):
        make_learner(name, **FAST[name]).predict_mean_std(X)
    with pytest.raises(ConfigError, match="0/1"):
        make_learner(name, **FAST[name]).fit(X, Y * 2)
    with pytest.raises(ConfigError, match="shape"):
        fitted(name, X, Y).predict_mean_std(X[:, :3])


@pytest.mark.parametrize("name", LEARNERS)
def test_feature_blocks_are_declared(name: str) -> None:
    blocks = feature_blocks(name)
    assert set(blocks) <= {"text", "columns"}
