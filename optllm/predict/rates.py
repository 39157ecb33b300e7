"""Rate learners: per group of queries and model, the success rate shrunk toward the
model's overall rate (empirical Bayes).

- "group-rate": a group is a combination of values of the chosen categorical columns
  (`optllm.predict.columns`), e.g. task category or source system.
- "cluster-rate": a group is a k-means cluster of the text features (the idea behind
  Avengers-Pro), which finds the categories when no column names them.

Cheap and strong with few labels: one number per group and model, where a per-query model
has thousands of weights. Both keep the contract of `optllm.predict.learners` (out-of-fold
predictions on the same folds, `quality_`, `predict_mean_std`).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import normalize

from optllm.exceptions import ConfigError
from optllm.predict.base import Features, Labels, is_sparse
from optllm.predict.learners import (
    PREDICT_BATCH,
    LearnerBase,
    check_xy,
    fold_ids,
    fold_prior,
    log_loss_rows,
    smoothed_rate,
)
from optllm.progress import ProgressCallback, ShouldStop, check_cancelled, report

#: Prior strengths s tried by the rate learners: pseudo-rows of the model's overall rate
#: added to each group's counts, (k + s * rate) / (n + s). Chosen by K-fold log-loss.
STRENGTHS: tuple[float, ...] = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)


def _group_table(codes: np.ndarray, n_groups: int, Y: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Rows (G,) and positives (G, M) per group code (codes in [0, n_groups))."""
    rows = np.bincount(codes, minlength=n_groups).astype(np.float64)
    member = sp.csr_matrix((np.ones(codes.size), (codes, np.arange(codes.size))),
                           shape=(n_groups, codes.size))
    return rows, np.asarray(member @ Y)


def shrunk_rates(rows: np.ndarray, positives: np.ndarray, rate: np.ndarray,
                 strength: float | np.ndarray) -> np.ndarray:
    """Empirical-Bayes rate per group and model: (k + s * rate) / (n + s), shape (G, M)
    (or (G, M, S) for an array of strengths)."""
    s = np.asarray(strength, dtype=np.float64)
    k, n = positives[..., None], rows[:, None, None]
    P = (k + s * rate[None, :, None]) / (n + s)
    return P if s.ndim else P[..., 0]


def fold_shrunk_rates(codes: np.ndarray, n_groups: int, Y: np.ndarray, folds: np.ndarray,
                      strengths: tuple[float, ...]) -> tuple[float, np.ndarray]:
    """The strength of lowest K-fold log-loss (ties: the smaller) and its out-of-fold
    probabilities (n, M): each row gets its group's rate counted on the other folds,
    shrunk toward the other folds' overall rate. One pass of counts per fold, all
    strengths at once."""
    k = int(folds.max()) + 1
    rows, positives = _group_table(codes, n_groups, Y)
    prior = fold_prior(Y, folds)                                    # (n, M)
    oof = np.empty((*Y.shape, len(strengths)))
    for f in range(k):
        test = folds == f
        fold_rows, fold_pos = _group_table(codes[test], n_groups, Y[test])
        c = codes[test]
        out_rows, out_pos = rows[c] - fold_rows[c], positives[c] - fold_pos[c]   # (t,), (t, M)
        s = np.asarray(strengths)
        oof[test] = ((out_pos[..., None] + s * prior[test][..., None])
                     / (out_rows[:, None, None] + s))
    losses = log_loss_rows(Y[..., None], oof).mean(axis=(0, 1))
    best = int(np.argmin(losses))
    return float(strengths[best]), oof[..., best]


class _RateLearner(LearnerBase):
    """Per-group success rates shrunk toward each model's rate; subclasses say what a
    group is (`_fit_groups` at fit, `_codes` at prediction; code -1: no group)."""

    #: The shrinkage strengths cross-validation chooses from (set by each constructor).
    strengths: tuple[float, ...]

    def _fit_rates(self, codes: np.ndarray, n_groups: int, Y: np.ndarray,
                   folds: np.ndarray) -> np.ndarray:
        """Choose the strength by K-fold log-loss and store the group table for
        prediction; returns the out-of-fold probabilities (n, M)."""
        self.strength_, oof = fold_shrunk_rates(codes, n_groups, Y, folds,
                                                tuple(self.strengths))
        self.group_rows_, self.group_positives_ = _group_table(codes, n_groups, Y)
        self.rate_ = smoothed_rate(Y.sum(axis=0), Y.shape[0])
        return oof

    def _check_strengths(self) -> None:
        if not self.strengths or min(self.strengths) <= 0:
            raise ConfigError("strengths must be positive values")

    def predict_mean_std(self, X: Features, *, progress: ProgressCallback | None = None,
                         should_stop: ShouldStop | None = None
                         ) -> tuple[np.ndarray, np.ndarray]:
        """The shrunk rate of each row's group (the model's overall rate for a row in no
        group) and its Beta posterior std, (N, M) float64 each."""
        X = self._check_X(X)
        n = X.shape[0]
        P = np.empty((n, self.n_models_))
        U = np.empty((n, self.n_models_))
        table = shrunk_rates(self.group_rows_, self.group_positives_, self.rate_,
                             self.strength_)
        for start in range(0, n, PREDICT_BATCH):
            check_cancelled(should_stop, "predict")
            stop = min(start + PREDICT_BATCH, n)
            codes = self._codes(X[start:stop])
            known = codes >= 0
            rows = np.where(known, self.group_rows_[np.maximum(codes, 0)], 0.0)
            P[start:stop] = np.where(known[:, None], table[np.maximum(codes, 0)], self.rate_)
            U[start:stop] = np.sqrt(P[start:stop] * (1.0 - P[start:stop])
                                    / (rows[:, None] + self.strength_ + 1.0))
            report(progress, "predict", stop, n)
        return P, U

    def _codes(self, X: Features) -> np.ndarray:
        """(n,) group code of each row of X, -1 for a row in no known group."""
        raise NotImplementedError(f"{type(self).__name__} defines no groups")


def _row_keys(X: Features) -> np.ndarray:
    """Each row of X as one hashable bytes value (dense copy; -0.0 read as 0.0)."""
    dense = (X.toarray() if is_sparse(X) else np.asarray(X)).astype(np.float64) + 0.0
    dense = np.ascontiguousarray(dense)
    return dense.view(np.dtype((np.void, max(1, dense.shape[1]) * 8)))[:, 0] if (
        dense.shape[1]) else np.zeros(dense.shape[0], dtype="V8")


class GroupRatePredictor(_RateLearner):
    """Per group and model, the success rate shrunk toward the model's overall rate.

    A group is a distinct row of X: in the pipeline X is the one-hot encoding of the chosen
    categorical columns (`optllm.predict.columns`), so a group is a combination of their
    values. P = (k + s * r) / (n + s) for a group of n labelled rows with k successes and the
    model's rate r (empirical Bayes: a small group is pulled to r, a large one keeps its own
    rate); s is the value of `strengths` with the lowest K-fold log-loss. A row whose group
    was not seen gets r. U is the Beta(k + s r, n - k + s (1 - r)) posterior std.

    Parameters: `strengths`, and `cv`/`random_state` for the folds.
    Fitted attributes: `groups_` (G, F) the distinct rows, `group_rows_` (G,),
    `group_positives_` (G, M), `rate_` (M,), `strength_`, and those of every learner.
    """

    #: Which feature blocks the pipeline gives this learner: the extra columns only.
    feature_blocks = ("columns",)
    #: `auto` tries it on the columns alone (no text featuriser).
    default_featuriser = "none"

    def __init__(self, strengths: tuple[float, ...] = STRENGTHS, cv: int = 5,
                 random_state: int | None = None) -> None:
        self.strengths = strengths
        self.cv = cv
        self.random_state = random_state

    def fit(self, X: Features, Y: Labels, *, model_names: list[str] | None = None,
            progress: ProgressCallback | None = None,
            should_stop: ShouldStop | None = None) -> GroupRatePredictor:
        """Group the rows, count each group's successes, choose the strength; returns self."""
        X, Y, names = check_xy(X, Y, model_names)
        self._check_strengths()
        check_cancelled(should_stop, "train")
        keys, first, codes = np.unique(_row_keys(X), return_index=True, return_inverse=True)
        dense = X.toarray() if is_sparse(X) else X
        self.groups_ = np.asarray(dense[first], dtype=np.float64).reshape(keys.size, -1)
        folds = fold_ids(Y.shape[0], self.cv, self.random_state)
        oof = self._fit_rates(codes.ravel(), keys.size, Y, folds)
        self._fit_common(Y, names, folds, oof, X.shape[1])
        report(progress, "train", 1, 1)
        return self

    def _codes(self, X: Features) -> np.ndarray:
        index = pd.Index(_row_keys(self.groups_))
        return index.get_indexer(_row_keys(X))


class ClusterRatePredictor(_RateLearner):
    """Per k-means cluster of the text features and model, the shrunk success rate.

    The idea behind Avengers-Pro: queries that look alike (same task, same template, same
    topic) succeed alike, and a handful of labels per cluster is enough for its rate. Rows
    are scaled to unit norm and clustered by k-means (`n_init` starts) on the labelled rows
    (no labels used); for each k of a grid scaled to the rows (2, 4, 8, ... up to about one
    cluster per `rows_per_cluster` labelled rows, at most `max_clusters`), the rates are
    scored by K-fold log-loss with the strength chosen as in `GroupRatePredictor`; the k and
    strength of lowest loss are kept. A query goes to its nearest centre.

    Fitted attributes: `centers_` (K, F), `n_clusters_`, `group_rows_` (K,),
    `group_positives_` (K, M), `rate_` (M,), `strength_`, and those of every learner.
    """

    feature_blocks = ("text",)
    #: `auto` tries it on word TF-IDF (clusters of vocabulary).
    default_featuriser = "tfidf"

    def __init__(self, strengths: tuple[float, ...] = STRENGTHS, rows_per_cluster: int = 10,
                 max_clusters: int = 64, n_init: int = 3, cv: int = 5,
                 random_state: int | None = None) -> None:
        self.strengths = strengths
        self.rows_per_cluster = rows_per_cluster
        self.max_clusters = max_clusters
        self.n_init = n_init
        self.cv = cv
        self.random_state = random_state

    def cluster_grid(self, n: int) -> list[int]:
        """The numbers of clusters tried for n labelled rows: powers of two from 2."""
        top = max(2, min(self.max_clusters, n // max(1, self.rows_per_cluster), n - 1))
        return [2**i for i in range(1, int(np.log2(top)) + 1)] or [2]

    def fit(self, X: Features, Y: Labels, *, model_names: list[str] | None = None,
            progress: ProgressCallback | None = None,
            should_stop: ShouldStop | None = None) -> ClusterRatePredictor:
        """Cluster for each k of the grid, keep the k and strength of lowest K-fold
        log-loss; returns self."""
        X, Y, names = check_xy(X, Y, model_names)
        self._check_strengths()
        if self.rows_per_cluster < 1 or self.max_clusters < 2 or self.n_init < 1:
            raise ConfigError("rows_per_cluster and n_init must be >= 1, max_clusters >= 2")
        Xn = normalize(X)
        folds = fold_ids(Y.shape[0], self.cv, self.random_state)
        grid = self.cluster_grid(Y.shape[0])
        best: tuple[float, np.ndarray, np.ndarray, np.ndarray] | None = None
        for i, k in enumerate(grid):
            check_cancelled(should_stop, "train")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)  # fewer distinct rows
                km = KMeans(n_clusters=k, n_init=self.n_init,
                            random_state=self.random_state).fit(Xn)
            codes = km.labels_.astype(np.int64)
            oof = fold_shrunk_rates(codes, k, Y, folds, tuple(self.strengths))[1]
            loss = float(log_loss_rows(Y, oof).mean())
            if best is None or loss < best[0]:
                best = (loss, oof, codes, np.asarray(km.cluster_centers_))
            report(progress, "train", i + 1, len(grid), f"{k} clusters")
        assert best is not None
        _, _, codes, centers = best
        self.centers_ = centers
        self.n_clusters_ = centers.shape[0]
        oof = self._fit_rates(codes, self.n_clusters_, Y, folds)
        self._fit_common(Y, names, folds, oof, X.shape[1])
        return self

    def _codes(self, X: Features) -> np.ndarray:
        """The nearest centre of each unit-norm row."""
        Xn = normalize(X.tocsr() if is_sparse(X) else X.astype(np.float64))
        near = np.asarray(Xn @ self.centers_.T) - 0.5 * np.square(self.centers_).sum(axis=1)
        return np.argmax(near, axis=1).astype(np.int64)

