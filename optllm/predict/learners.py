"""Success predictors behind one estimator interface, and a registry to build them by name.

Every learner follows the `BootstrapXGBoostPredictor` contract: `fit(X, Y, *, model_names,
progress, should_stop)` returns self; `predict_mean_std(X)` returns the success probability P
and its spread U, both (N, M) float64, so `robust_score(P, U, alpha)` works for all; `quality_`
compares per model the learner's out-of-sample predictions of the labelled rows with the
base-rate prior's. The learners other than XGBoost also keep those out-of-sample predictions
(`oof_proba_`, K folds given by `cv` and `random_state`, the same folds for every learner), so
`optllm.predict.select` can score them by cross-validated log-loss without refitting.

- "xgboost": the paper's bootstrap XGBoost (`optllm.predict.xgboost`), for dense features.
- "logistic": L2 logistic regression per model on sparse TF-IDF, C chosen per model by
  cross-validated log-loss; bootstrap refits give the spread. Best with few labels.
- "knn": cosine k-nearest neighbours, their success rate shrunk toward the base rate.
- "prior": the per-model base rate for every query: what to use when nothing beats it.

`predict_mean_std` takes `progress` and `should_stop` like the XGBoost one (per batch of rows).
Sentence embeddings would be a further featuriser (an optional extra); they are not included.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import normalize
from sklearn.utils import check_random_state

from optllm.exceptions import ConfigError, NotFittedError
from optllm.predict.base import (
    Features,
    Labels,
    Learner,
    ModelNames,
    is_sparse,
    quality_frame,
)
from optllm.predict.parallel import map_in_order
from optllm.predict.registry import learner_class
from optllm.progress import ProgressCallback, ShouldStop, check_cancelled, report

#: Probabilities are clipped to [EPS, 1 - EPS] before a log-loss, so one confident mistake
#: costs a bounded amount (about 9 nats) rather than infinity.
EPS = 1e-4

#: Rows predicted at once: bounds the (rows x models) intermediates of a large batch.
PREDICT_BATCH = 20_000

#: Similarities (query x labelled row) sorted per batch by the KNN learner: a batch then
#: takes a fraction of a second, so `should_stop` is honoured that often, and memory stays
#: bounded however many rows are labelled.
_KNN_BATCH_CELLS = 2**22


def fold_ids(n: int, cv: int, random_state: int | None) -> np.ndarray:
    """(n,) int fold of each row: a seeded shuffle cut into min(cv, n) near-equal folds."""
    k = max(2, min(cv, n))
    order = check_random_state(random_state).permutation(n)
    folds = np.empty(n, dtype=np.int64)
    folds[order] = np.arange(n) % k
    return folds


def smoothed_rate(positives: np.ndarray | float, n: np.ndarray | float) -> np.ndarray:
    """Jeffreys posterior mean (positives + 1/2) / (n + 1): the mean label, kept off 0 and 1
    so that a constant label column does not give certain (log-loss infinite) predictions."""
    return (positives + 0.5) / (np.asarray(n, dtype=np.float64) + 1.0)


def log_loss_rows(Y: np.ndarray, P: np.ndarray) -> np.ndarray:
    """(n, M) per-cell log-loss of probabilities P for 0/1 labels Y, P clipped by `EPS`."""
    P = np.clip(P, EPS, 1.0 - EPS)
    return -(Y * np.log(P) + (1.0 - Y) * np.log1p(-P))


def fold_prior(Y: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """(n, M) out-of-fold prior: each row gets the smoothed rate of the other folds."""
    k = int(folds.max()) + 1
    onehot = np.eye(k)[folds]                      # (n, k)
    pos = Y.sum(axis=0) - onehot.T @ Y             # (k, M) positives outside each fold
    size = Y.shape[0] - onehot.sum(axis=0)         # (k,) rows outside each fold
    return smoothed_rate(pos, size[:, None])[folds]


def check_xy(X: Features, Y: Labels, model_names: Sequence[str] | None
             ) -> tuple[Features, np.ndarray, ModelNames]:
    """X as CSR float64 or a 2-D float64 array, Y as (n, M) 0/1 float64, and model names."""
    if model_names is None and isinstance(Y, pd.DataFrame):
        model_names = [str(c) for c in Y.columns]
    X = X.tocsr().astype(np.float64) if is_sparse(X) else np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim == 1:
        Y = Y[:, None]
    if Y.ndim != 2 or Y.shape[0] < 2:
        raise ConfigError(f"Y must be (n_queries >= 2, n_models), got shape {Y.shape}")
    if X.ndim != 2 or X.shape[0] != Y.shape[0]:
        raise ConfigError(f"X must be 2-D with {Y.shape[0]} rows (one per row of Y), "
                          f"got shape {X.shape}")
    if not np.isin(Y, (0.0, 1.0)).all():
        raise ConfigError("Y must hold only 0/1 labels (no missing values)")
    if model_names is not None and len(model_names) != Y.shape[1]:
        raise ConfigError(f"{len(model_names)} model_names for {Y.shape[1]} label columns")
    return X, Y, list(model_names) if model_names is not None else list(range(Y.shape[1]))


class LearnerBase(BaseEstimator, ABC):
    """Shared fitted state and checks: names, prior, out-of-fold quality."""

    #: The feature blocks the pipeline gives this learner (`optllm.predict.columns`):
    #: "text" (the featuriser's), "columns" (one-hot extra columns), both, or none.
    feature_blocks: tuple[str, ...] = ("text",)

    @abstractmethod
    def predict_mean_std(self, X: Features, *, progress: ProgressCallback | None = None,
                         should_stop: ShouldStop | None = None
                         ) -> tuple[np.ndarray, np.ndarray]:
        """The success probability P and its spread U, (N, M) float64 each."""

    def _fit_common(self, Y: np.ndarray, names: ModelNames, folds: np.ndarray,
                    oof: np.ndarray, n_features: int) -> None:
        self.n_models_ = Y.shape[1]
        self.n_features_in_ = n_features
        self.model_names_ = names
        self.base_rate_ = Y.mean(axis=0)
        self.oof_proba_ = oof
        self.quality_ = quality_frame(names, Y, oof, fold_prior(Y, folds), self.base_rate_)

    def _check_X(self, X: Features) -> Features:
        if not hasattr(self, "quality_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit(X, Y) first")
        X = X.tocsr() if is_sparse(X) else np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ConfigError(f"X must have shape (n, {self.n_features_in_}), got {X.shape}")
        return X

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "quality_")

    def predict_proba(self, X: Features) -> np.ndarray:
        """The mean success probability P, (N, M) float64."""
        return self.predict_mean_std(X)[0]


class PriorPredictor(LearnerBase):
    """The base-rate prior: every query gets each model's (smoothed) success rate.

    P is the Jeffreys posterior mean (positives + 1/2) / (n + 1), i.e. the mean label up to
    1/(2n); U its standard error sqrt(P (1 - P) / n). X is used only for its row count.

    Parameters: `cv`, `random_state` fix the folds of `oof_proba_` (training-fold rates).
    Fitted attributes: `rate_` (M,), `se_` (M,), and those of every learner (module docs).
    """

    feature_blocks = ()

    def __init__(self, cv: int = 5, random_state: int | None = None) -> None:
        self.cv = cv
        self.random_state = random_state

    def fit(self, X: Features, Y: Labels, *, model_names: Sequence[str] | None = None,
            progress: ProgressCallback | None = None,
            should_stop: ShouldStop | None = None) -> PriorPredictor:
        """Per-model rate and its standard error; returns self."""
        X, Y, names = check_xy(X, Y, model_names)
        check_cancelled(should_stop, "train")
        n = Y.shape[0]
        self.rate_ = smoothed_rate(Y.sum(axis=0), n)
        self.se_ = np.sqrt(self.rate_ * (1.0 - self.rate_) / n)
        folds = fold_ids(n, self.cv, self.random_state)
        self._fit_common(Y, names, folds, fold_prior(Y, folds), X.shape[1])
        self.quality_["auc"] = 0.5  # a constant prediction ranks nothing
        report(progress, "train", 1, 1)
        return self

    def predict_mean_std(self, X: Features, *, progress: ProgressCallback | None = None,
                         should_stop: ShouldStop | None = None
                         ) -> tuple[np.ndarray, np.ndarray]:
        """The rate and its standard error, repeated for every row: (N, M) float64 each."""
        n = self._check_X(X).shape[0]
        check_cancelled(should_stop, "predict")
        report(progress, "predict", n, n)
        return (np.repeat(self.rate_[None, :], n, axis=0),
                np.repeat(self.se_[None, :], n, axis=0))


class LogisticPredictor(LearnerBase):
    """Per-model L2 logistic regression; bootstrap refits give the spread.

    Linear models on sparse TF-IDF are the strongest per-query predictor at a few hundred
    labels: they rank almost as well as with all labels where gradient boosting on an SVD
    projection overfits. For each model, C is the value of `Cs` with the lowest K-fold
    log-loss (ties: the smaller C); P comes from the fit on all labelled rows at that C, and U
    is the std over `n_bootstraps` refits on resamples (0: U = 0, for quick scoring). A label
    column constant in the labelled rows (or in a resample) gets its smoothed rate and no
    model. The intercept is scaled up so that liblinear hardly penalises it: a strongly
    regularised model then predicts the base rate, not 1/2.

    Parameters
    ----------
    Cs : inverse regularisation strengths tried.
    n_bootstraps : resampled refits for the spread.
    cv, random_state : K folds for choosing C (and `oof_proba_`); seed of folds and resamples.
    warm_start : refit on the same rows keeping `C_` and `oof_proba_` (no new choice of C),
        e.g. to add the bootstrap refits to a model first fitted without them.
    n_jobs : threads fitting models (choosing C) and bootstrap refits side by side
        (liblinear releases the GIL); the result does not depend on it.

    Fitted attributes: `C_` (M,) (NaN for a constant column), `columns_` (features seen in
    training; others have zero weight), `coef_` (d_used, M), `intercept_` (M,),
    `boot_coef_` (d_used, B * M) float32, `boot_intercept_` (B * M,), and those of every
    learner (module docs).
    """

    #: Categorical columns enter one-hot beside the text features.
    feature_blocks = ("text", "columns")

    def __init__(self, Cs: tuple[float, ...] = (0.3, 1.0, 3.0, 10.0), n_bootstraps: int = 30,
                 cv: int = 5, random_state: int | None = None, warm_start: bool = False,
                 n_jobs: int = 1) -> None:
        self.Cs = Cs
        self.n_bootstraps = n_bootstraps
        self.cv = cv
        self.random_state = random_state
        self.warm_start = warm_start
        self.n_jobs = n_jobs

    def fit(self, X: Features, Y: Labels, *, model_names: Sequence[str] | None = None,
            progress: ProgressCallback | None = None,
            should_stop: ShouldStop | None = None) -> LogisticPredictor:
        """Choose C per model, fit on all rows, then the bootstrap refits; returns self."""
        X, Y, names = check_xy(X, Y, model_names)
        if not self.Cs or min(self.Cs) <= 0 or self.n_bootstraps < 0:
            raise ConfigError("Cs must be positive values and n_bootstraps >= 0")
        if not is_sparse(X):
            X = sp.csr_matrix(X)
        n, n_models = Y.shape
        columns = np.flatnonzero(X.getnnz(axis=0) > 0)
        Xu = X[:, columns]
        folds = fold_ids(n, self.cv, self.random_state)
        total = n_models * (1 + self.n_bootstraps)
        # The total explained in every report: a bare "248" reads as a mystery.
        fits = f"{n_models} models x (1 fit + {self.n_bootstraps} bootstraps)"
        report(progress, "train", 0, total, fits)
        if self.warm_start and getattr(self, "oof_proba_", np.empty(0)).shape == Y.shape:
            C, oof = self.C_, self.oof_proba_
        else:
            oof = np.empty((n, n_models))
            C = np.full(n_models, np.nan)

            def choose(j: int) -> tuple[float, np.ndarray]:
                def fold_done(text: str) -> None:
                    report(progress, "train", j, total, f"model {j + 1}/{n_models}, {text}")

                return self._choose_C(Xu, Y[:, j], folds, should_stop,
                                      None if progress is None else fold_done)

            for j, (C[j], oof[:, j]) in enumerate(map_in_order(
                    self.n_jobs, choose, range(n_models), should_stop, "train")):
                report(progress, "train", j + 1, total, fits)
        coef, intercept = self._fit_all(Xu, Y, C, np.ones(n), should_stop)
        seeds = check_random_state(self.random_state).randint(
            np.iinfo(np.int32).max, size=self.n_bootstraps)

        def refit(seed: int) -> tuple[np.ndarray, np.ndarray]:
            counts = np.bincount(np.random.default_rng(seed).integers(0, n, n), minlength=n)
            return self._fit_all(Xu, Y, C, counts.astype(np.float64), should_stop)

        boots = []
        for b, fitted in enumerate(map_in_order(self.n_jobs, refit, seeds, should_stop,
                                                "train")):
            boots.append(fitted)
            report(progress, "train", n_models * (b + 2), total,
                   f"bootstrap {b + 1}/{self.n_bootstraps}; {fits}")
        self.C_: np.ndarray = C
        self.columns_ = columns
        self.coef_, self.intercept_ = coef, intercept
        self.boot_coef_ = (np.hstack([w for w, _ in boots]).astype(np.float32) if boots
                           else np.zeros((columns.size, 0), dtype=np.float32))
        self.boot_intercept_ = (np.concatenate([c for _, c in boots]) if boots
                                else np.zeros(0))
        self._fit_common(Y, names, folds, oof, X.shape[1])
        return self

    def _model(self, C: float) -> LogisticRegression:
        # tol 1e-3 instead of liblinear's 1e-4: on logparsing at 2% the fronts agreed to
        # 4 decimals of hypervolume and `auto` took 6% less time.
        return LogisticRegression(C=C, solver="liblinear", intercept_scaling=10.0, tol=1e-3)

    def _fit_one(self, X: sp.csr_matrix, y: np.ndarray, C: float, weight: np.ndarray
                 ) -> tuple[np.ndarray, float]:
        """Weights and intercept of one model; a constant column gets only an intercept."""
        drawn = weight > 0
        pos = float(weight @ y)
        if np.isnan(C) or pos == 0 or pos == weight.sum():
            rate = smoothed_rate(pos, weight.sum())
            return np.zeros(X.shape[1]), float(np.log(rate / (1.0 - rate)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            m = self._model(C).fit(X[drawn], y[drawn], sample_weight=weight[drawn])
        return m.coef_[0], float(m.intercept_[0])

    def _fit_all(self, X: sp.csr_matrix, Y: np.ndarray, C: np.ndarray, weight: np.ndarray,
                 should_stop: ShouldStop | None) -> tuple[np.ndarray, np.ndarray]:
        """(d, M) weights and (M,) intercepts of every model, rows weighted by `weight`;
        `should_stop` is checked before each model's fit."""
        fits = []
        for j in range(Y.shape[1]):
            check_cancelled(should_stop, "train")
            fits.append(self._fit_one(X, Y[:, j], C[j], weight))
        return np.column_stack([w for w, _ in fits]), np.array([c for _, c in fits])

    def _choose_C(self, X: sp.csr_matrix, y: np.ndarray, folds: np.ndarray,
                  should_stop: ShouldStop | None,
                  fold_done: Callable[[str], None] | None = None
                  ) -> tuple[float, np.ndarray]:
        """The C of lowest K-fold log-loss and its out-of-fold probabilities (NaN and the
        out-of-fold rate for a constant column). The Cs are tried from the strongest
        regularisation up and the search stops at the first that does worse than the one
        before: the cross-validated loss falls to one minimum and rises past it, and the
        larger Cs are the slow fits. `should_stop` is checked before each fit,
        `fold_done` told after it ("fold 3/5 at C 1"), from the thread that fitted it."""
        prior = fold_prior(y[:, None], folds)[:, 0]
        if y.min() == y.max():
            return np.nan, prior
        best_C, best_p, best_loss = np.nan, prior, np.inf
        for C in sorted(self.Cs):
            p = np.empty_like(y)
            for k in range(int(folds.max()) + 1):
                check_cancelled(should_stop, "train")
                test = folds == k
                w, b = self._fit_one(X, y, C, (~test).astype(np.float64))
                p[test] = 1.0 / (1.0 + np.exp(-(X[test] @ w + b)))
                if fold_done is not None:
                    fold_done(f"fold {k + 1}/{int(folds.max()) + 1} at C {C:g}")
            loss = log_loss_rows(y, p).mean()
            if loss >= best_loss:  # past the minimum: the loss rises with C from here
                break
            best_C, best_p, best_loss = C, p, loss
        return best_C, best_p

    def predict_mean_std(self, X: Features, *, progress: ProgressCallback | None = None,
                         should_stop: ShouldStop | None = None
                         ) -> tuple[np.ndarray, np.ndarray]:
        """P from the fit on all rows, U the std over the bootstrap refits; (N, M) float64."""
        X = self._check_X(X)
        Xu = (X[:, self.columns_] if sp.issparse(X) else sp.csr_matrix(X[:, self.columns_]))
        n, n_models = X.shape[0], self.n_models_
        P = np.empty((n, n_models))
        U = np.zeros((n, n_models))
        for start in range(0, n, PREDICT_BATCH):
            check_cancelled(should_stop, "predict")
            rows = Xu[start:start + PREDICT_BATCH]
            P[start:start + rows.shape[0]] = _sigmoid(rows @ self.coef_ + self.intercept_)
            if self.boot_intercept_.size:
                Z = np.asarray(rows @ self.boot_coef_) + self.boot_intercept_
                U[start:start + rows.shape[0]] = _sigmoid(Z).reshape(
                    rows.shape[0], -1, n_models).std(axis=1)
            report(progress, "predict", start + rows.shape[0], n)
        return P, U


class KNNPredictor(LearnerBase):
    """Cosine k-nearest neighbours, shrunk toward the base rate.

    P = (successes among the k most similar labelled queries + m * base rate) / (k + m): with
    few labels a raw neighbour vote is noisy, and the shrinkage pulls it toward the prior. U is
    the std of the Beta(successes + m r, failures + m (1 - r)) posterior, so it is wide where
    neighbours disagree. Ties in similarity go to the earlier labelled row.

    Parameters: `n_neighbors` k, `prior_strength` m, `cv`/`random_state` for `oof_proba_`
    (a row's neighbours then come from the other folds only).
    Fitted attributes: `X_` (unit-norm rows), `Y_`, `rate_` (M,), and those of every learner.
    """

    def __init__(self, n_neighbors: int = 10, prior_strength: float = 5.0, cv: int = 5,
                 random_state: int | None = None) -> None:
        self.n_neighbors = n_neighbors
        self.prior_strength = prior_strength
        self.cv = cv
        self.random_state = random_state

    def fit(self, X: Features, Y: Labels, *, model_names: Sequence[str] | None = None,
            progress: ProgressCallback | None = None,
            should_stop: ShouldStop | None = None) -> KNNPredictor:
        """Store the unit-norm labelled rows; neighbour predictions out of fold; returns self."""
        X, Y, names = check_xy(X, Y, model_names)
        if self.n_neighbors < 1 or self.prior_strength < 0:
            raise ConfigError("n_neighbors must be >= 1 and prior_strength >= 0")
        self.X_ = normalize(X)
        self.Y_ = Y
        self.rate_ = smoothed_rate(Y.sum(axis=0), Y.shape[0])
        folds = fold_ids(Y.shape[0], self.cv, self.random_state)
        k = min(self.n_neighbors, Y.shape[0] - int(np.bincount(folds).max()))
        prior = fold_prior(Y, folds)
        oof = np.empty(Y.shape)
        for rows in self._batches(Y.shape[0]):
            check_cancelled(should_stop, "train")
            sim = self._similarity(self.X_[rows])
            sim[folds[rows, None] == folds[None, :]] = -np.inf
            oof[rows] = self._vote(sim, prior[rows], k)[0]
        self._fit_common(Y, names, folds, oof, X.shape[1])
        report(progress, "train", 1, 1)
        return self

    def _batches(self, n: int) -> list[slice]:
        """Row slices of about `_KNN_BATCH_CELLS` similarities each."""
        size = max(1, _KNN_BATCH_CELLS // self.Y_.shape[0])
        return [slice(start, min(start + size, n)) for start in range(0, n, size)]

    def _similarity(self, X: Features) -> np.ndarray:
        S = X @ self.X_.T
        return S.toarray() if sp.issparse(S) else np.asarray(S)

    def _vote(self, sim: np.ndarray, rate: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Shrunk rate of the k most similar and its Beta std, per row of `sim` (n, n_train)."""
        nearest = np.argsort(-sim, axis=1, kind="stable")[:, :k]
        hits = self.Y_[nearest].sum(axis=1)           # (n, M)
        m = self.prior_strength
        a = hits + m * rate
        total = k + m
        P = a / total
        U = np.sqrt(P * (1.0 - P) / (total + 1.0))
        return P, U

    def predict_mean_std(self, X: Features, *, progress: ProgressCallback | None = None,
                         should_stop: ShouldStop | None = None
                         ) -> tuple[np.ndarray, np.ndarray]:
        """Shrunk neighbour success rate P and its Beta posterior std U, (N, M) float64."""
        X = normalize(self._check_X(X).astype(np.float64))
        n = X.shape[0]
        P = np.empty((n, self.n_models_))
        U = np.empty((n, self.n_models_))
        for rows in self._batches(n):
            check_cancelled(should_stop, "predict")
            P[rows], U[rows] = self._vote(self._similarity(X[rows]), self.rate_[None, :],
                                          min(self.n_neighbors, self.Y_.shape[0]))
            report(progress, "predict", rows.stop, n)
        return P, U


def _sigmoid(z: ArrayLike) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(z)))


def make_learner(name: str, **kw: object) -> Learner:
    """A new, unfitted learner by registry name (optllm.predict.registry), with parameters `kw`."""
    return learner_class(name)(**kw)
