"""Honest expected accuracy: calibration chosen by CV, bands, coverage, target selection."""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from optllm.config import RunConfig
from optllm.data.synthetic import generate
from optllm.optimizers.hull import hull_front
from optllm.pipeline.run import run, select_point
from optllm.predict.calibration import (
    NOMINAL_COVERAGE,
    coverage,
    fit_calibration,
    fit_selection_gap,
    front_band,
)
from optllm.predict.learners import fold_ids, log_loss_rows
from optllm.predict.select import PRIOR, choose_predictor


def planted(n: int, m: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """True success probabilities and labels drawn from them."""
    rng = np.random.default_rng(seed)
    P = rng.uniform(0.05, 0.95, (n, m))
    return P, (rng.random((n, m)) < P).astype(np.float64)


def test_calibration_keeps_calibrated_probabilities_and_fixes_squashed_ones() -> None:
    P, Y = planted(3000, 2, 0)
    folds = fold_ids(3000, 5, 0)
    kept, _ = fit_calibration(P, Y, folds)
    assert np.abs(kept.apply(P) - P).max() < 0.08
    squashed = 0.5 + 0.3 * (P - 0.5)
    fixed, cross_fitted = fit_calibration(squashed, Y, folds)
    assert fixed.method in {"platt", "isotonic"}
    assert fixed.log_loss[fixed.method] == min(fixed.log_loss.values())
    truth, before = log_loss_rows(Y, P).mean(), log_loss_rows(Y, squashed).mean()
    after = log_loss_rows(Y, cross_fitted).mean()
    assert after < before - 0.02 and after < truth + 0.01


def test_calibration_never_turns_a_ranking_upside_down() -> None:
    """Out-of-fold base rates fall where a fold's own rate rises (its rows are left out):
    a falling map would exploit that artefact. The prior's calibration stays flat."""
    rng = np.random.default_rng(3)
    Y = (rng.random((60, 4)) < 0.5).astype(np.float64)
    choice = choose_predictor([""] * 60, Y, [""] * 60, costs=np.tile([1.0, 2, 3, 4], (60, 1)),
                              candidates=[PRIOR])
    assert choice.calibration is not None
    grid = np.tile(np.linspace(0.01, 0.99, 50)[:, None], (1, 4))
    assert (np.diff(choice.calibration.apply(grid), axis=0) >= -1e-12).all()


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 60), m=st.integers(2, 5),
       with_gap=st.booleans())
def test_bands_contain_the_bernoulli_band(seed: int, n: int, m: int, with_gap: bool) -> None:
    rng = np.random.default_rng(seed)
    P, _ = planted(n, m, seed)
    costs = rng.gamma(2.0, 1.0, (n, m))
    gap = None
    if with_gap:
        labelled_P, labelled_Y = planted(40, m, seed + 1)
        folds = fold_ids(40, 5, seed)
        _, cross = fit_calibration(labelled_P, labelled_Y, folds)
        gap = fit_selection_gap(labelled_P, cross, labelled_Y, rng.gamma(2.0, 1.0, (40, m)),
                                folds)
    front = hull_front(P, costs)
    band = front_band(front, P, rng.random((n, m)) * 0.1, gap)
    assert (band.half_width >= band.bernoulli_half_width - 1e-15).all()
    assert (band.bernoulli_half_width > 0).all()
    assert ((band.expected >= 0) & (band.expected <= 1)).all()


def test_coverage_of_planted_data_is_near_nominal() -> None:
    """Per-model rates learnt from 60 labelled rows, bands over 2,000 queries; over 40
    planted tables the share of front points inside their band is within 5 points of the
    nominal 90%. Bernoulli-only bands (the old ones) cover far less."""
    shares, bernoulli_shares = [], []
    for seed in range(40):
        rng = np.random.default_rng(seed)
        rates = rng.uniform(0.3, 0.9, 4)
        Y = (rng.random((2060, 4)) < rates).astype(np.float64)
        costs = rng.gamma(2.0, 1.0, (2060, 4)) * [1.0, 2.0, 4.0, 8.0]
        choice = choose_predictor([""] * 60, Y[:60], [""] * 60, costs=costs[:60],
                                  candidates=[PRIOR], random_state=seed)
        prior = choice.learner
        P, U = prior.predict_mean_std(np.zeros((2000, 0)))
        front = hull_front(P, costs[60:])
        band = front_band(front, choice.calibration.apply(P), U, choice.gap)
        true = front.totals(Y[60:]) / 2000
        shares.append(coverage(band, true)["coverage"])
        narrow = dataclasses.replace(band, half_width=band.bernoulli_half_width)
        bernoulli_shares.append(coverage(narrow, true)["coverage"])
    assert abs(np.mean(shares) - NOMINAL_COVERAGE) <= 0.05
    assert np.mean(bernoulli_shares) < NOMINAL_COVERAGE - 0.2


def test_target_selection_uses_the_calibrated_figure() -> None:
    front = hull_front(np.array([[0.2, 0.9], [0.3, 0.8]]), np.array([[1.0, 2.0], [1.0, 3.0]]))
    honest = front.accuracy - 0.1
    config = RunConfig(target_accuracy=float(front.accuracy[1]))
    assert select_point(front, config) == 1
    assert select_point(front, config, honest) == 2
    dataset = generate(600, 3, seed=1)
    result = run(dataset, RunConfig(train_fraction=0.1, method="hull", target_accuracy=0.7))
    assert result.band is not None and result.selected is not None
    k = result.selected
    assert result.band.expected[k] >= 0.7 and (result.band.expected[:k] < 0.7).all()
    selected = result.summary()["selected"]
    assert selected["expected_accuracy"] == result.band.expected[k]
    assert selected["expected_low"] < selected["expected_accuracy"] < selected["expected_high"]
    assert result.summary()["calibration"]["coverage"] is not None
