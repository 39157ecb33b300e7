"""Honest expected accuracy: calibrated probabilities, and a band that holds the predictor's
own error.

A front point's predicted accuracy is a sum of the probabilities of the models it picks, and
the hull picks, per query, the model whose probability is highest for its cost: that is where
an optimistic probability gets chosen, so the sum is biased upward even when each model's
probabilities are calibrated on average (on the embedded default data a point said
0.813 +- 0.001 and delivered 0.721). Two corrections, both measured out of fold on the
labelled rows, never tuned by hand:

1. Per-model calibration (`fit_calibration`): "none", "shrink" toward the model's base
   rate, "pool" toward the rate of all models together (a model's rate estimated from a few
   dozen labels is itself too extreme, and the hull picks the model it flatters), "platt"
   (a logistic map of the logit) or "isotonic", whichever has the lowest cross-fitted log-loss
   on the out-of-fold probabilities (one method for all models, fitted per model). Every
   calibrator is stored as knots of a piecewise-linear map, so applying it is one `np.interp`
   per model.
2. The selection gap (`fit_selection_gap`): on each fold, the same selection rule (the hull
   front of the out-of-fold probabilities) is applied and its points' expected accuracy
   (calibrated) compared with their realised accuracy (labels), as a function of the point's
   relative position between the cheapest and the most accurate allocation. The mean gap is
   subtracted; its standard error enters the band with the Bernoulli variance of the
   allocated queries and the predictor's own spread (bootstrap or posterior), taken as shared
   by all queries of a model: the fold-to-fold variance of the gap is mostly the Bernoulli
   noise of a fold's few rows and cannot measure that error on its own.

The band is a `NOMINAL_COVERAGE` (90%) interval under a normal approximation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, logit
from scipy.stats import norm
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from optllm.optimizers.front import Front
from optllm.optimizers.hull import hull_front
from optllm.predict.learners import EPS, log_loss_rows
from optllm.progress import ShouldStop, check_cancelled

CALIBRATION_METHODS: tuple[str, ...] = ("none", "shrink", "pool", "platt", "isotonic")

#: Share of front points whose true accuracy the band is meant to hold.
NOMINAL_COVERAGE = 0.9
_Z = float(norm.ppf(0.5 + NOMINAL_COVERAGE / 2))

#: Relative front positions (0: cheapest allocation, 1: most accurate) where the selection
#: gap is measured and between which it is interpolated.
_GAP_GRID = np.linspace(0.0, 1.0, 21)

#: Knots of a Platt map, even in logit space so the tails keep their shape.
_PLATT_KNOTS = expit(np.linspace(logit(EPS), logit(1 - EPS), 129))

#: Weights of the prediction in the shrunk calibration tried per model.
_SHRINK_WEIGHTS = np.linspace(0.0, 1.0, 21)


@dataclass(frozen=True)
class Calibration:
    """Per-model piecewise-linear maps of probabilities, and the method they come from.

    `knots_x[j]` and `knots_y[j]` are model j's knots; `log_loss` holds the cross-fitted
    log-loss of every method tried (the chosen one lowest)."""

    method: str
    knots_x: tuple[np.ndarray, ...]
    knots_y: tuple[np.ndarray, ...]
    log_loss: dict[str, float]

    def apply(self, P: np.ndarray) -> np.ndarray:
        """Calibrated (N, M) probabilities, clipped to [EPS, 1 - EPS]."""
        P = np.asarray(P, dtype=np.float64)
        out = np.empty_like(P)
        for j, (x, y) in enumerate(zip(self.knots_x, self.knots_y, strict=True)):
            out[:, j] = np.interp(P[:, j], x, y)
        return np.clip(out, EPS, 1.0 - EPS)


def _identity() -> tuple[np.ndarray, np.ndarray]:
    return np.array([0.0, 1.0]), np.array([0.0, 1.0])


def _fit_one(method: str, p: np.ndarray, y: np.ndarray, pooled: float
             ) -> tuple[np.ndarray, np.ndarray]:
    """Knots (x, y) of one model's calibration map fitted on probabilities p and labels y
    (`pooled`: the success rate of all models). A constant label column, or a constant
    prediction, keeps the identity for Platt and isotonic (nothing to learn a map from);
    shrinkage then still moves toward the rate."""
    if method == "none":
        return _identity()
    rate = pooled if method == "pool" else (y.sum() + 0.5) / (y.size + 1.0)
    if method in ("shrink", "pool"):
        losses = [log_loss_rows(y, w * p + (1 - w) * rate).mean() for w in _SHRINK_WEIGHTS]
        w = float(_SHRINK_WEIGHTS[int(np.argmin(losses))])
        return np.array([0.0, 1.0]), np.array([(1 - w) * rate, w + (1 - w) * rate])
    if y.min() == y.max() or np.ptp(p) == 0:
        return _identity()
    if method == "platt":
        z = logit(np.clip(p, EPS, 1 - EPS))[:, None]
        m = LogisticRegression(C=100.0).fit(z, y)
        if m.coef_[0, 0] <= 0:  # a falling map is an artefact of the folds: the best
            return np.array([0.0, 1.0]), np.array([rate, rate])  # rising one is flat
        return _PLATT_KNOTS, m.predict_proba(logit(_PLATT_KNOTS)[:, None])[:, 1]
    if method == "isotonic":
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p, y)
        return np.asarray(iso.X_thresholds_), np.asarray(iso.y_thresholds_)
    raise ValueError(f"unknown calibration method {method!r}")


def _fit(method: str, P: np.ndarray, Y: np.ndarray, log_loss: dict[str, float]
         ) -> Calibration:
    pooled = float((Y.sum() + 0.5) / (Y.size + 1.0))
    knots = [_fit_one(method, P[:, j], Y[:, j], pooled) for j in range(Y.shape[1])]
    return Calibration(method, tuple(x for x, _ in knots), tuple(y for _, y in knots), log_loss)


def cross_fitted(method: str, P: np.ndarray, Y: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """(n, M) probabilities of each fold calibrated by `method` fitted on the other folds."""
    out = np.empty_like(P)
    for k in range(int(folds.max()) + 1):
        test = folds == k
        out[test] = _fit(method, P[~test], Y[~test], {}).apply(P[test])
    return out


def fit_calibration(P_oof: np.ndarray, Y: np.ndarray, folds: np.ndarray
                    ) -> tuple[Calibration, np.ndarray]:
    """The method of lowest cross-fitted log-loss, fitted on all rows, and its cross-fitted
    probabilities (for `fit_selection_gap`). Ties keep the simpler method (earlier in
    `CALIBRATION_METHODS`)."""
    P = np.asarray(P_oof, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    fitted = {m: cross_fitted(m, P, Y, folds) for m in CALIBRATION_METHODS}
    losses = {m: float(log_loss_rows(Y, Q).mean()) for m, Q in fitted.items()}
    best = min(CALIBRATION_METHODS, key=lambda m: (round(losses[m], 12),
                                                   CALIBRATION_METHODS.index(m)))
    return _fit(best, P, Y, losses), fitted[best]


def relative_position(front: Front) -> np.ndarray:
    """Each point's cost as a share of the way from the front's cheapest point to its
    dearest (0 for a single point)."""
    span = front.cost[-1] - front.cost[0]
    return (front.cost - front.cost[0]) / span if span > 0 else np.zeros(len(front))


@dataclass(frozen=True)
class SelectionGap:
    """Expected minus realised accuracy of the hull's selection, measured out of fold.

    On `grid` (relative front positions): `mean` the mean gap over folds (shrunk toward 0
    where it is within its standard error), `variance` the
    squared standard error of that mean (fold-to-fold variance / folds): the uncertainty of
    the correction, which the band adds to the allocated queries' own noise. (The folds'
    variance itself is mostly the Bernoulli noise of a fold's few rows, not the predictor's.)
    `n_folds` folds were measured."""

    grid: np.ndarray
    mean: np.ndarray
    variance: np.ndarray
    n_folds: int

    def at(self, position: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean gap and its variance at relative front positions `position`."""
        return (np.interp(position, self.grid, self.mean),
                np.interp(position, self.grid, self.variance))


def fit_selection_gap(scores: np.ndarray, P_cal: np.ndarray, Y: np.ndarray, costs: np.ndarray,
                      folds: np.ndarray, should_stop: ShouldStop | None = None
                      ) -> SelectionGap:
    """The gap of the hull front built on out-of-fold `scores`, per fold: expected accuracy
    from the cross-fitted calibrated `P_cal`, realised from the labels `Y`."""
    gaps = []
    for k in range(int(folds.max()) + 1):
        check_cancelled(should_stop, "calibrate")
        test = folds == k
        n = int(test.sum())
        front = hull_front(scores[test], costs[test], should_stop)
        p = P_cal[test]
        t = relative_position(front)
        expected = front.totals(p) / n
        realised = front.totals(Y[test]) / n
        gaps.append(np.interp(_GAP_GRID, t, expected - realised))
    G = np.array(gaps)
    K = G.shape[0]
    mean = G.mean(axis=0)
    se2 = G.var(axis=0, ddof=1) / K if K > 1 else np.zeros(_GAP_GRID.size)
    # A gap within its noise is mostly noise: shrink it toward 0 by mean^2 / (mean^2 + se^2).
    with np.errstate(invalid="ignore"):
        keep = np.where(se2 > 0, np.square(mean) / (np.square(mean) + se2), 1.0)
    return SelectionGap(_GAP_GRID, np.nan_to_num(keep, nan=1.0) * mean, se2, K)


@dataclass(frozen=True)
class Band:
    """Per front point: the honest expected accuracy and the half-width of its band
    (`NOMINAL_COVERAGE`), and the Bernoulli-only half-width for comparison."""

    expected: np.ndarray
    half_width: np.ndarray
    bernoulli_half_width: np.ndarray

    @property
    def low(self) -> np.ndarray:
        return self.expected - self.half_width

    @property
    def high(self) -> np.ndarray:
        return self.expected + self.half_width


def model_spread_variance(front: Front, spread: np.ndarray) -> np.ndarray:
    """Per point, the variance of its expected accuracy from the predictor's own spread U,
    with the errors of one model's probabilities taken as shared by all its queries (a base
    rate estimated from few labels is wrong the same way for every query) and independent
    between models: sum over models of (sum of U over the model's queries / N)^2."""
    n = max(front.n_queries, 1)
    spread = np.asarray(spread, dtype=np.float64)
    one_model = np.zeros_like(spread)
    variance = np.zeros(len(front))
    for j in range(spread.shape[1]):
        one_model[:, j] = spread[:, j]
        variance += np.square(front.totals(one_model) / n)
        one_model[:, j] = 0.0
    return variance


def front_band(front: Front, P_cal: np.ndarray, spread: np.ndarray,
               gap: SelectionGap | None, position: np.ndarray | None = None) -> Band:
    """The band of every point of `front` over the allocated queries: calibrated expected
    accuracy minus the selection gap; its variance that of a sum of independent Bernoullis,
    plus the predictor's spread `spread` (U) shared within each model
    (`model_spread_variance`), plus the variance of the gap's estimate. `position`: the
    points' `relative_position` in the whole front when `front` is a few of its points."""
    n = max(front.n_queries, 1)
    P_cal = np.asarray(P_cal, dtype=np.float64)
    expected = front.totals(P_cal) / n
    bernoulli = front.totals(P_cal * (1.0 - P_cal)) / n**2
    position = relative_position(front) if position is None else position
    shift, own = (gap.at(position) if gap is not None
                  else (np.zeros(len(front)), np.zeros(len(front))))
    own = own + model_spread_variance(front, spread)
    return Band(np.clip(expected - shift, 0.0, 1.0), _Z * np.sqrt(bernoulli + own),
                _Z * np.sqrt(bernoulli))


def coverage(band: Band, true_accuracy: np.ndarray) -> dict[str, float]:
    """How honest the band was on labelled queries: the share of points whose true accuracy
    lies inside it, and the mean and mean absolute gap expected - true."""
    true_accuracy = np.asarray(true_accuracy, dtype=np.float64)
    inside = (true_accuracy >= band.low - 1e-12) & (true_accuracy <= band.high + 1e-12)
    gap = band.expected - true_accuracy
    return {"nominal": NOMINAL_COVERAGE, "coverage": float(inside.mean()),
            "mean_gap": float(gap.mean()), "mean_abs_gap": float(np.abs(gap).mean())}
