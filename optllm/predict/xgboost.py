"""The paper's success predictor: a weighted ensemble of bootstrap multi-label XGBoost models.

Each of `n_bootstraps` members is trained on a resample (with replacement) of the whole
labelled sample and predicts, for every query, the probability that each model answers
correctly. The ensemble mean `P` is the success estimate, the spread `U` (weighted std) its
uncertainty, and `S = clip(P + alpha * U, 0, 1)` the robust score the optimiser uses. Members
are weighted by their accuracy on the true labels of their own out-of-bag rows.

A resample is realised as per-row integer weights (how often each row was drawn): for
gradient boosting this is the same as duplicating the rows, and it lets one quantised matrix
serve many members. Members use XGBoost's `multi_output_tree` strategy (one tree with a vector
leaf for all models per round): training costs about the same as one tree per model, and on
the real data sets it ranks better (models share what makes a query hard), while prediction
is about six times faster, which dominates for a million queries.

Parallelism is across members (training) and across rows (prediction), with single-threaded
boosters. OpenMP threads inside one booster spin-wait on each other: when the CPU is shared
(the TUI's own thread, other jobs) a two-thread booster was measured 5-15x slower than a
one-thread one. It also makes the results independent of `n_jobs`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypedDict, Unpack

import numpy as np
import pandas as pd
import scipy.sparse as sp
import xgboost as xgb
from sklearn.base import BaseEstimator
from sklearn.utils import check_array, check_random_state

from optllm.exceptions import ConfigError, NotFittedError
from optllm.predict.base import Features, Labels, quality_frame
from optllm.predict.parallel import in_order, n_workers
from optllm.progress import ProgressCallback, ShouldStop, check_cancelled, report

# Fewer histogram bins than XGBoost's default 256: about twice as fast to train with no
# measurable loss at the sample sizes used here (hundreds to tens of thousands of rows).
_MAX_BIN = 64

# Rows per booster call in prediction. XGBoost keeps each booster's last output buffer per
# calling thread, so B x threads x chunk x M floats stay allocated after predicting: with
# 8192 rows that is ~80 MB for B=100, M=12 (50k-row calls kept ~500 MB), at no cost in speed.
_PREDICT_CHUNK = 8192


@dataclass(frozen=True)
class _Member:
    """One trained bootstrap member and its out-of-bag predictions, (M,) / (n,) arrays."""

    booster: xgb.Booster | None
    trained: np.ndarray
    inbag_rate: np.ndarray
    inbag_mean: np.ndarray
    oob: np.ndarray
    oob_proba: np.ndarray


class PredictOptions(TypedDict, total=False):
    """The keyword options of `predict_mean_std`, which its shortcuts pass on."""

    batch_size: int
    progress: ProgressCallback | None
    should_stop: ShouldStop | None


class _StopCheck(xgb.callback.TrainingCallback):
    """Ends boosting after the round in which `should_stop()` turned True, so a cancelled
    member stops within one round instead of finishing all of them."""

    def __init__(self, should_stop: ShouldStop) -> None:
        super().__init__()
        self.should_stop = should_stop

    def after_iteration(self, model: xgb.Booster, epoch: int,
                        evals_log: xgb.callback.TrainingCallback.EvalsLog) -> bool:
        return bool(self.should_stop())


class BootstrapXGBoostPredictor(BaseEstimator):
    """Bootstrap ensemble of multi-label XGBoost classifiers giving P (mean) and U (std).

    Parameters
    ----------
    n_bootstraps
        Number of members B.
    n_estimators, max_depth, learning_rate, subsample
        XGBoost boosting rounds, tree depth, shrinkage and row subsampling per member.
    n_jobs
        Worker threads (-1: all CPUs); each booster itself runs on one thread.
    random_state
        int or None. One integer seed per member is drawn from it in `fit` (`seeds_`); member
        b uses `seeds_[b]` for its resample and for XGBoost, so equal ints give identical P, U.

    Fitted attributes
    -----------------
    n_models_, n_features_in_, model_names_ : the shape of the training data.
    seeds_ (B,) int64, weights_ (B,) float64 : member seeds and out-of-bag accuracies.
    boosters_ : list of B `xgb.Booster` or None (None when every label column was constant).
    trained_ (B, M) bool : which model columns each booster predicts.
    inbag_rate_ (B, M) float64 : smoothed in-bag success rate, the prediction of a member for
        a column that was constant in its resample.
    base_rate_ (M,) float64 : mean label per model over the labelled sample.
    quality_ : DataFrame, one row per model: model, auc, brier, base_rate, prior_brier,
        beats_prior, n_oob (out-of-bag estimates; see `fit`).
    """

    #: The feature blocks the pipeline gives this learner: the text features only
    #: (`optllm.predict.learners`).
    feature_blocks: tuple[str, ...] = ("text",)

    def __init__(self, n_bootstraps: int = 100, n_estimators: int = 60, max_depth: int = 4,
                 learning_rate: float = 0.15, subsample: float = 1.0, n_jobs: int = 2,
                 random_state: int | None = None) -> None:
        self.n_bootstraps = n_bootstraps
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.n_jobs = n_jobs
        self.random_state = random_state

    # ------------------------------------------------------------------ fit

    def fit(self, X: Features, Y: Labels, *, model_names: Sequence[str] | None = None,
            progress: ProgressCallback | None = None,
            should_stop: ShouldStop | None = None) -> BootstrapXGBoostPredictor:
        """Train the B members and measure out-of-bag quality; returns self.

        X is (n, d) float (dense or CSR), Y is (n, M) 0/1 (a DataFrame's columns name the
        models unless `model_names` is given). Reports `("train", b, B)` after each member and
        checks `should_stop` before each; on cancel raises `Cancelled` and leaves the
        estimator unfitted, since a partial ensemble is not a usable model.

        Quality: each labelled row is predicted by the weighted mean of the members for which
        it was out of bag, and so is the prior (each member's in-bag mean label); `quality_`
        compares the two per model, so one sees whether per-query prediction beats the prior.
        """
        for name in [k for k in vars(self) if k.endswith("_")]:
            delattr(self, name)
        if model_names is None and isinstance(Y, pd.DataFrame):
            model_names = [str(c) for c in Y.columns]
        X = check_array(X, accept_sparse="csr", dtype=np.float32, ensure_all_finite="allow-nan")
        Y = np.asarray(Y, dtype=np.float64)
        if Y.ndim == 1:
            Y = Y[:, None]
        n, n_models = Y.shape
        self._check_fit_args(X, Y, model_names)

        seeds = check_random_state(self.random_state).randint(
            np.iinfo(np.int32).max, size=self.n_bootstraps).astype(np.int64)
        local = threading.local()

        def train(seed: np.int64) -> _Member:
            if not hasattr(local, "dtrain"):  # one quantised matrix per worker thread
                local.dtrain = xgb.QuantileDMatrix(X, max_bin=_MAX_BIN, nthread=1)
            return self._train_member(local.dtrain, X, Y, int(seed), should_stop)

        weights = np.ones(self.n_bootstraps)  # 1 for a member without out-of-bag rows
        oob_sum = np.zeros((n, n_models))
        prior_sum = np.zeros((n, n_models))
        oob_weight = np.zeros(n)
        members: list[_Member] = []
        workers = n_workers(self.n_jobs)
        report(progress, "train", 0, self.n_bootstraps,
               f"bootstrap members, each {n_models} models")
        with ThreadPoolExecutor(workers) as pool:
            for b, m in enumerate(in_order(pool, workers, train, seeds, should_stop, "train")):
                if m.oob.any():
                    weights[b] = np.mean((m.oob_proba > 0.5) == Y[m.oob])
                    oob_sum[m.oob] += weights[b] * m.oob_proba
                    prior_sum[m.oob] += weights[b] * m.inbag_mean
                    oob_weight[m.oob] += weights[b]
                members.append(m)
                report(progress, "train", b + 1, self.n_bootstraps,
                       f"bootstrap members, each {n_models} models")
        if not weights.any():  # every member was wrong on every out-of-bag cell: no ranking
            weights[:] = 1.0

        self.n_models_ = n_models
        self.n_features_in_ = X.shape[1]
        self.model_names_ = list(model_names) if model_names is not None else list(
            range(n_models))
        self.seeds_ = seeds
        self.weights_ = weights
        self.boosters_ = [m.booster for m in members]
        self.trained_ = np.stack([m.trained for m in members])
        self.inbag_rate_ = np.stack([m.inbag_rate for m in members])
        self.base_rate_ = Y.mean(axis=0)
        seen = oob_weight > 0
        self.quality_ = quality_frame(
            self.model_names_, Y[seen], oob_sum[seen] / oob_weight[seen, None],
            prior_sum[seen] / oob_weight[seen, None], self.base_rate_)
        return self

    def _check_fit_args(self, X: Features, Y: np.ndarray, model_names: Sequence[str] | None
                        ) -> None:
        if self.n_bootstraps < 1:
            raise ConfigError(f"n_bootstraps must be >= 1, got {self.n_bootstraps}")
        n_workers(self.n_jobs)
        if Y.ndim != 2 or Y.shape[0] < 1:
            raise ConfigError(f"Y must be (n_queries >= 1, n_models), got shape {Y.shape}")
        if Y.shape[0] != X.shape[0]:
            raise ConfigError(f"X has {X.shape[0]} rows but Y has {Y.shape[0]}")
        if not np.isin(Y, (0.0, 1.0)).all():
            raise ConfigError("Y must hold only 0/1 labels (no missing values)")
        if model_names is not None and len(model_names) != Y.shape[1]:
            raise ConfigError(f"{len(model_names)} model_names for {Y.shape[1]} label columns")

    def _train_member(self, dtrain: xgb.QuantileDMatrix, X: Features, Y: np.ndarray,
                      seed: int, should_stop: ShouldStop | None = None) -> _Member:
        """Member `seed`: resample, one multi-output booster on the columns that are not
        constant in the resample (rows weighted by draw count), its out-of-bag predictions.
        `should_stop` is checked after every boosting round (raises `Cancelled`)."""
        n = Y.shape[0]
        counts = np.bincount(np.random.default_rng(seed).integers(0, n, n), minlength=n)
        positives = counts @ Y
        trained = (positives > 0) & (positives < n)
        inbag_rate = (positives + 1.0) / (n + 2.0)
        booster = None
        if trained.any():
            dtrain.set_label(Y[:, trained].astype(np.float32))
            dtrain.set_weight(counts.astype(np.float32))
            params = {
                "objective": "binary:logistic",
                "tree_method": "hist",
                "multi_strategy": "multi_output_tree",
                "max_bin": _MAX_BIN,
                "max_depth": self.max_depth,
                "eta": self.learning_rate,
                "subsample": self.subsample,
                "nthread": 1,
                "seed": seed,
                "verbosity": 0,
            }
            callbacks = [_StopCheck(should_stop)] if should_stop is not None else None
            booster = xgb.train(params, dtrain, num_boost_round=self.n_estimators,
                                callbacks=callbacks)
            check_cancelled(should_stop, "train")
        oob = counts == 0
        oob_proba = self._member_proba(booster, trained, inbag_rate, X[oob])
        return _Member(booster, trained, inbag_rate, positives / n, oob, oob_proba)

    @staticmethod
    def _member_proba(booster: xgb.Booster | None, trained: np.ndarray, rate: np.ndarray,
                      X: Features) -> np.ndarray:
        """(n, M) float64 probabilities of one member: booster columns, constant rate elsewhere."""
        if X.shape[0] == 0:
            return np.empty((0, rate.size))
        if trained.all() and booster is not None:
            return booster.inplace_predict(X).reshape(X.shape[0], -1).astype(np.float64)
        p = np.repeat(rate[None, :], X.shape[0], axis=0)
        if booster is not None:
            p[:, trained] = booster.inplace_predict(X).reshape(X.shape[0], -1)
        return p

    # -------------------------------------------------------------- predict

    def predict_mean_std(self, X: Features, *, batch_size: int = 100_000,
                         progress: ProgressCallback | None = None,
                         should_stop: ShouldStop | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Weighted mean P and weighted std U over the members, both (N, M) float64.

        Rows are processed in batches with running weighted sums of p and p^2, so memory is
        O(batch_size * M) beyond the outputs, never B x N x M; each batch is split into row
        chunks shared by `n_jobs` threads, so the result does not depend on `n_jobs` or
        `batch_size`.
        Reports `("predict", rows done, N)` per batch; `should_stop` is checked before each
        chunk of `_PREDICT_CHUNK` rows.
        """
        self._check_fitted()
        if not sp.issparse(X):
            X = np.asarray(X)
        n = X.shape[0]
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ConfigError(f"X must have shape (n, {self.n_features_in_}), got {X.shape}")
        P = np.empty((n, self.n_models_))
        U = np.empty((n, self.n_models_))
        workers = n_workers(self.n_jobs)

        def fill(rows: slice) -> None:
            check_cancelled(should_stop, "predict")
            P[rows], U[rows] = self._mean_std(X[rows])

        with ThreadPoolExecutor(workers) as pool:
            for start in range(0, n, batch_size):
                stop = min(start + batch_size, n)
                chunks = [slice(a, min(a + _PREDICT_CHUNK, stop))
                          for a in range(start, stop, _PREDICT_CHUNK)]
                for _ in in_order(pool, workers, fill, chunks, should_stop, "predict"):
                    pass
                report(progress, "predict", stop, n)
        return P, U

    def _mean_std(self, X: Features) -> tuple[np.ndarray, np.ndarray]:
        """Weighted mean and std over the members for rows X, one member at a time."""
        X = check_array(X, accept_sparse="csr", dtype=np.float32, ensure_all_finite="allow-nan",
                        ensure_min_samples=0)
        w = self.weights_ / self.weights_.sum()
        s1 = np.zeros((X.shape[0], self.n_models_))
        s2 = np.zeros_like(s1)
        for b, booster in enumerate(self.boosters_):
            p = self._member_proba(booster, self.trained_[b], self.inbag_rate_[b], X)
            s1 += w[b] * p
            s2 += w[b] * p * p
        return np.clip(s1, 0.0, 1.0), np.sqrt(np.maximum(s2 - s1 * s1, 0.0))

    def predict_proba(self, X: Features, **kw: Unpack[PredictOptions]) -> np.ndarray:
        """The mean success probability P, (N, M) float64."""
        return self.predict_mean_std(X, **kw)[0]

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "boosters_")

    def _check_fitted(self) -> None:
        if not hasattr(self, "boosters_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit(X, Y) first")
