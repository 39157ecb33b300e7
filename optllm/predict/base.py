"""What every success predictor shares: the contracts of featurisers and learners, the
robust score and the per-model quality table.

The pipeline sees a featuriser and a learner only through `Featuriser` and `Learner`: a
featuriser turns query texts into a feature matrix, a learner fits 0/1 success labels on it
and predicts, per query and model, the success probability P and its spread U. Every class
in `optllm.predict.registry` meets them (mypy checks the classes, tests/predict/test_base.py
each one fitted), so a new one plugs into `auto`, the command, the app and saved policies by
its registry name.
`robust_score` turns P and U into the score the optimiser uses; `quality_frame` compares a
learner's out-of-sample predictions of the labelled rows with the base-rate prior's, model by
model (`quality_` on every learner, the Predictor screen's table).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol, Self, TypeAlias, TypeGuard, runtime_checkable

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import ArrayLike
from scipy.stats import rankdata

from optllm.progress import ProgressCallback, ShouldStop

#: Query texts: a sequence, or the object array a `Dataset` holds (missing values allowed).
Texts: TypeAlias = Sequence[object] | np.ndarray
#: A feature matrix, one row per text: CSR (sparse TF-IDF) or a dense 2-D float array.
Features: TypeAlias = np.ndarray | sp.csr_matrix
#: 0/1 success labels (n queries, M models): an array, or a DataFrame naming the models.
Labels: TypeAlias = np.ndarray | pd.DataFrame
#: The models a learner was fitted for: their names, or column indices when none were given.
ModelNames: TypeAlias = Sequence[str | int]


def is_sparse(X: object) -> TypeGuard[sp.csr_matrix]:
    """`scipy.sparse.issparse` as a type guard, so that a sparse branch type-checks (scipy
    ships no type hints, so `issparse` itself narrows nothing)."""
    return bool(sp.issparse(X))


@runtime_checkable
class Featuriser(Protocol):
    """Texts to features, scikit-learn transformer style; fitted on all texts (unsupervised).

    `n_features_out_` is the width of `transform`'s output, which a learner fitted on it
    expects as its `n_features_in_`. `should_stop` is checked while working (raises
    `Cancelled`). `get_params` gives the constructor parameters a saved policy stores.
    """

    @property
    def n_features_out_(self) -> int: ...

    def fit(self, texts: Iterable[object], y: object = None, *,
            should_stop: ShouldStop | None = None) -> Self: ...

    def transform(self, texts: Iterable[object], *,
                  should_stop: ShouldStop | None = None) -> Features: ...

    def fit_transform(self, texts: Iterable[object], y: object = None, *,
                      should_stop: ShouldStop | None = None) -> Features: ...

    def get_params(self, deep: bool = True) -> dict[str, object]: ...


@runtime_checkable
class Learner(Protocol):
    """Success predictor: `fit(X, Y)` on labelled rows, then `predict_mean_std(X)` gives the
    success probability P and its spread U, both (N, M) float64.

    Fitted, it knows its models (`model_names_`), the width of X it takes
    (`n_features_in_`) and its out-of-sample quality per model against the base-rate prior
    (`quality_`, see `quality_frame`). `progress` gets ("train" or "predict", done, total)
    reports and `should_stop` is checked while working (raises `Cancelled`; a cancelled fit
    leaves no usable model). `get_params`/`set_params` as in scikit-learn.
    """

    @property
    def n_features_in_(self) -> int: ...

    @property
    def model_names_(self) -> ModelNames: ...

    @property
    def quality_(self) -> pd.DataFrame: ...

    def fit(self, X: Features, Y: Labels, *, model_names: Sequence[str] | None = None,
            progress: ProgressCallback | None = None,
            should_stop: ShouldStop | None = None) -> Self: ...

    def predict_mean_std(self, X: Features, *, progress: ProgressCallback | None = None,
                         should_stop: ShouldStop | None = None
                         ) -> tuple[np.ndarray, np.ndarray]: ...

    def get_params(self, deep: bool = True) -> dict[str, object]: ...

    def set_params(self, **params: object) -> Self: ...


@runtime_checkable
class OutOfFoldLearner(Learner, Protocol):
    """A learner that keeps its K-fold out-of-sample probabilities of the labelled rows
    (`oof_proba_`, (n, M)), so `auto` scores it from one fit (every learner but XGBoost)."""

    @property
    def oof_proba_(self) -> np.ndarray: ...


def robust_score(P: np.ndarray, U: np.ndarray, alpha: float) -> np.ndarray:
    """`clip(P + alpha * U, 0, 1)`: alpha > 0 favours uncertain models, alpha < 0 penalises them."""
    return np.clip(P + alpha * U, 0.0, 1.0)


def quality_frame(names: ModelNames, Y: np.ndarray, P: np.ndarray, prior: np.ndarray,
                   base_rate: np.ndarray) -> pd.DataFrame:
    """Per-model AUC and Brier score of out-of-bag predictions P against labels Y, and the
    Brier score of the prior; rows of Y/P/prior are the labelled rows seen out of bag."""
    n = Y.shape[0]
    pos = Y.sum(axis=0)
    neg = n - pos
    ranks = rankdata(P, axis=0) if n else P  # average ranks handle tied predictions
    both = (pos > 0) & (neg > 0)
    auc = np.full(Y.shape[1], np.nan)
    auc[both] = (((ranks * Y).sum(axis=0) - pos * (pos + 1) / 2)[both]
                 / (pos * neg)[both])
    brier = ((P - Y) ** 2).sum(axis=0) / n if n else np.full(Y.shape[1], np.nan)
    prior_brier = ((prior - Y) ** 2).sum(axis=0) / n if n else np.full(Y.shape[1], np.nan)
    return quality_table(names, auc, brier, base_rate, prior_brier, np.full(Y.shape[1], n))


def quality_table(names: ModelNames, auc: np.ndarray, brier: np.ndarray,
                   base_rate: np.ndarray, prior_brier: np.ndarray,
                   n_oob: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({
        "model": names,
        "auc": auc,
        "brier": brier,
        "base_rate": base_rate,
        "prior_brier": prior_brier,
        "beats_prior": vs_prior(auc, brier, prior_brier) == "better",
        "n_oob": n_oob.astype(np.int64),
    })


def vs_prior(auc: ArrayLike, brier: ArrayLike, prior_brier: ArrayLike) -> np.ndarray:
    """Per model "better", "same" or "worse" than the base-rate prior.

    Better means a lower Brier score and a ranking at least as good as chance: a model
    whose AUC is below 0.5 ranks its queries backwards, and routing by it would send the
    hard ones to it, however calibrated. Brier scores equal up to rounding (the prior
    itself, a learner that fell back to the base rate) are "same", not "worse"."""
    auc, brier, prior_brier = (np.asarray(a, dtype=np.float64) for a in (auc, brier, prior_brier))
    same = np.isclose(brier, prior_brier, rtol=1e-6, atol=1e-9)
    better = (brier < prior_brier) & ~same & ~(auc < 0.5)
    return np.where(better, "better", np.where(same & ~(auc < 0.5), "same", "worse"))
