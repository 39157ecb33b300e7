"""What every success predictor shares: the robust score and the per-model quality table.

`robust_score` turns a learner's mean P and spread U into the score the optimiser uses;
`quality_frame` compares a learner's out-of-sample predictions of the labelled rows with the
base-rate prior's, model by model (`quality_` on every learner, the Predictor screen's table).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata


def robust_score(P: np.ndarray, U: np.ndarray, alpha: float) -> np.ndarray:
    """`clip(P + alpha * U, 0, 1)`: alpha > 0 favours uncertain models, alpha < 0 penalises them."""
    return np.clip(P + alpha * U, 0.0, 1.0)


def quality_frame(names: list[Any], Y: np.ndarray, P: np.ndarray, prior: np.ndarray,
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


def quality_table(names: list[Any], auc: np.ndarray, brier: np.ndarray,
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


def vs_prior(auc: Any, brier: Any, prior_brier: Any) -> np.ndarray:
    """Per model "better", "same" or "worse" than the base-rate prior.

    Better means a lower Brier score and a ranking at least as good as chance: a model
    whose AUC is below 0.5 ranks its queries backwards, and routing by it would send the
    hard ones to it, however calibrated. Brier scores equal up to rounding (the prior
    itself, a learner that fell back to the base rate) are "same", not "worse"."""
    auc, brier, prior_brier = (np.asarray(a, dtype=np.float64) for a in (auc, brier, prior_brier))
    same = np.isclose(brier, prior_brier, rtol=1e-6, atol=1e-9)
    better = (brier < prior_brier) & ~same & ~(auc < 0.5)
    return np.where(better, "better", np.where(same & ~(auc < 0.5), "same", "worse"))
