"""An item-response learner: one labelled query teaches every model at once.

P(model m answers x) = sigmoid(a_m + w_m . x - v . x): a_m is the model's ability, v . x the
query's difficulty, shared by all models, and w_m what model m finds easier or harder than
the others. With L2 on both w_m and v, the per-model weights are pulled toward a common
direction (the penalty of w_m - v is smallest when the models agree), so M labels of one
query inform each model's weights, where per-model logistic regression learns from one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize

from optllm.exceptions import ConfigError
from optllm.predict.learners import (  # the learners' shared base and checks
    _PREDICT_BATCH,
    EPS,
    _check_xy,
    _Learner,
    fold_ids,
    log_loss_rows,
)
from optllm.progress import ProgressCallback, ShouldStop, check_cancelled, report


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # no overflow warning for large |z|


def fit_shared(X: sp.csr_matrix, Y: np.ndarray, C: float, max_iter: int,
               should_stop: ShouldStop | None = None) -> tuple[np.ndarray, np.ndarray,
                                                               np.ndarray]:
    """Abilities a (M,), per-model weights W (d, M) and shared difficulty v (d,) minimising
    the summed log-loss + (|W|^2 + |v|^2) / (2 C), by L-BFGS on the vectorised gradient."""
    M = Y.shape[1]
    d = X.shape[1]
    XT = X.T.tocsr()
    rate = np.clip(Y.mean(axis=0), EPS, 1 - EPS)
    start = np.concatenate([np.log(rate / (1 - rate)), np.zeros(d * M + d)])

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        check_cancelled(should_stop, "train")
        a, W, v = theta[:M], theta[M:M + d * M].reshape(d, M), theta[M + d * M:]
        Z = np.asarray(X @ (W - v[:, None])) + a
        P = _sigmoid(Z)
        loss = float(np.sum(np.logaddexp(0.0, Z) - Y * Z))
        R = P - Y                                              # (n, M)
        gW = np.asarray(XT @ R)                                # (d, M)
        grad = np.concatenate([R.sum(axis=0), (gW + W / C).ravel(),
                               -gW.sum(axis=1) + v / C])
        return loss + (np.sum(W * W) + v @ v) / (2 * C), grad

    result = minimize(objective, start, jac=True, method="L-BFGS-B",
                      options={"maxiter": max_iter})
    theta = result.x
    return theta[:M], theta[M:M + d * M].reshape(d, M), theta[M + d * M:]


class SharedLogisticPredictor(_Learner):
    """Item-response logistic model over all models at once (module docstring).

    C is the value of `Cs` with the lowest K-fold log-loss (all models together; ties: the
    smaller). U is the delta-method std of P: sqrt(sum_j x_j^2 / h_jm) * P (1 - P), with
    h_jm the diagonal of the penalised Hessian of model m's weights (a cheap Laplace
    approximation; no refits).

    Parameters: `Cs`, `max_iter` (L-BFGS iterations per fit), `cv`, `random_state`.
    Fitted attributes: `C_`, `columns_` (features seen in training), `ability_` (M,),
    `coef_` (d_used, M) (w_m - v), `difficulty_` (d_used,) (v), `precision_` (d_used, M),
    and those of every learner.
    """

    feature_blocks = ("text", "columns")

    def __init__(self, Cs: tuple[float, ...] = (0.3, 1.0, 3.0, 10.0), max_iter: int = 200,
                 cv: int = 5, random_state: int | None = None) -> None:
        self.Cs = Cs
        self.max_iter = max_iter
        self.cv = cv
        self.random_state = random_state

    def fit(self, X: Any, Y: Any, *, model_names: list[str] | None = None,
            progress: ProgressCallback | None = None,
            should_stop: ShouldStop | None = None) -> SharedLogisticPredictor:
        """Choose C by K-fold log-loss, then fit on all rows; returns self."""
        X, Y, names = _check_xy(X, Y, model_names)
        if not self.Cs or min(self.Cs) <= 0 or self.max_iter < 1:
            raise ConfigError("Cs must be positive values and max_iter >= 1")
        X = X if sp.issparse(X) else sp.csr_matrix(X)
        columns = np.flatnonzero(X.getnnz(axis=0) > 0)
        Xu = X[:, columns].tocsr()
        folds = fold_ids(Y.shape[0], self.cv, self.random_state)
        k = int(folds.max()) + 1
        total = len(self.Cs) * k + 1
        best: tuple[float, float, np.ndarray] | None = None
        for i, C in enumerate(sorted(self.Cs)):
            oof = np.empty(Y.shape)
            for f in range(k):
                test = folds == f
                a, W, v = fit_shared(Xu[~test], Y[~test], C, self.max_iter, should_stop)
                oof[test] = _sigmoid(np.asarray(Xu[test] @ (W - v[:, None])) + a)
                report(progress, "train", i * k + f + 1, total, f"C {C:g}, fold {f + 1}/{k}")
            loss = float(log_loss_rows(Y, oof).mean())
            if best is None or loss < best[0]:
                best = (loss, C, oof)
        assert best is not None
        _, self.C_, oof = best
        a, W, v = fit_shared(Xu, Y, self.C_, self.max_iter, should_stop)
        P = _sigmoid(np.asarray(Xu @ (W - v[:, None])) + a)
        self.columns_ = columns
        self.ability_, self.coef_, self.difficulty_ = a, W - v[:, None], v
        self.precision_ = np.asarray(Xu.multiply(Xu).T @ (P * (1 - P))) + 1.0 / self.C_
        self._fit_common(Y, names, folds, oof, X.shape[1])
        report(progress, "train", total, total)
        return self

    def predict_mean_std(self, X: Any, *, progress: ProgressCallback | None = None,
                         should_stop: ShouldStop | None = None
                         ) -> tuple[np.ndarray, np.ndarray]:
        """P and its delta-method std U, (N, M) float64 each."""
        X = self._check_X(X)
        Xu = (X[:, self.columns_] if sp.issparse(X) else sp.csr_matrix(X[:, self.columns_]))
        n = X.shape[0]
        P = np.empty((n, self.n_models_))
        U = np.empty((n, self.n_models_))
        for start in range(0, n, _PREDICT_BATCH):
            check_cancelled(should_stop, "predict")
            rows = Xu[start:start + _PREDICT_BATCH]
            stop = start + rows.shape[0]
            P[start:stop] = _sigmoid(np.asarray(rows @ self.coef_) + self.ability_)
            var_z = np.asarray(rows.multiply(rows) @ (1.0 / self.precision_))
            U[start:stop] = np.sqrt(var_z) * P[start:stop] * (1 - P[start:stop])
            report(progress, "predict", stop, n)
        return P, U
