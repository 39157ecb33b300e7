"""auto: the prior without signal, a per-query learner with a planted one, learning curve."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from optllm.predict.select import (
    PRIOR,
    Candidate,
    choose_predictor,
    fit_predictor,
    learning_curve,
    verdict,
)

WORDS = [f"w{i}" for i in range(40)]


def costs(n: int) -> np.ndarray:
    """Three models at 1, 2 and 3 per query."""
    return np.tile([1.0, 2.0, 3.0], (n, 1))


def texts_and_labels(n: int, *, signal: bool, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Texts of random words; with `signal`, model 0 succeeds iff the text holds "key"
    and model 1 iff it holds "lock". Model 2 is a coin flip either way."""
    rng = np.random.default_rng(seed)
    key, lock = rng.random(n) < 0.4, rng.random(n) < 0.5
    texts = [" ".join([*rng.choice(WORDS, 6), *(["key"] if k else []), *(["lock"] if c else [])])
             for k, c in zip(key, lock, strict=True)]
    if signal:
        Y = np.column_stack([key, lock, rng.random(n) < 0.5])
    else:
        Y = rng.random((n, 3)) < [0.4, 0.5, 0.5]
    return texts, Y.astype(np.int8)


@pytest.mark.parametrize("seed", [0, 1])
def test_auto_picks_the_prior_without_signal(seed: int) -> None:
    texts, Y = texts_and_labels(200, signal=False, seed=seed)
    choice = choose_predictor(texts[:80], Y[:80], texts, costs=costs(80), random_state=seed)
    assert choice.candidate == PRIOR
    assert "base rate" in choice.reason
    assert choice.scores["chosen"].sum() == 1
    assert set(choice.scores["candidate"]) >= {"prior", "logistic on word+char"}
    assert "xgboost" not in set(choice.scores["learner"])  # too few rows for it
    curve = learning_curve(texts[:80], Y[:80], np.ones((80, 3)), choice, cv=3)
    best_other = choice.scores.loc[choice.scores["candidate"] != "prior", "candidate"].iloc[0]
    assert curve["candidate"].iloc[0] == best_other  # would more labels make it pay?


def test_auto_picks_a_per_query_learner_with_planted_signal() -> None:
    texts, Y = texts_and_labels(200, signal=True)
    choice = choose_predictor(texts[:80], Y[:80], texts, costs=costs(80))
    assert choice.candidate.learner in {"logistic", "knn"}
    best = choice.scores.iloc[0]
    assert best["chosen"] and best["auc"] > 0.75  # two planted models, one coin
    assert best["gain_over_prior"] > best["gain_needed"] > 2 * best["gain_se"]
    assert choice.scores["hypervolume"].is_monotonic_decreasing
    prior = choice.scores.set_index("candidate").loc["prior"]
    assert best["hypervolume"] > prior["hypervolume"] + 0.1


def test_fit_predictor_gives_a_working_featuriser_and_predictor() -> None:
    texts, Y = texts_and_labels(200, signal=True)
    rows = np.arange(80)
    featuriser, predictor, _ = fit_predictor(texts, rows, Y[rows], costs_train=costs(80),
                                             n_bootstraps=5,
                                             model_names=["a", "b", "c"])
    P, U = predictor.predict_mean_std(featuriser.transform(texts[80:]))
    assert P.shape == U.shape == (120, 3)
    assert ((P >= 0) & (P <= 1)).all() and (U >= 0).all()
    assert np.corrcoef(P[:, 0], Y[80:, 0])[0, 1] > 0.8
    assert list(predictor.quality_["model"]) == ["a", "b", "c"]
    assert "beats the per-model success rate" in verdict(predictor.quality_)

    prior_only = fit_predictor(texts, rows, Y[rows], costs_train=costs(80), learner="prior")
    assert prior_only[2].candidate == PRIOR
    assert prior_only[0].transform(texts).shape == (200, 0)

    noise_texts, noise = texts_and_labels(200, signal=False)
    forced = fit_predictor(noise_texts, rows, noise[rows], costs_train=costs(80),
                           learner="knn", featuriser="tfidf")
    assert forced[2].candidate == Candidate("tfidf", "knn")


def test_verdict_says_when_prediction_does_not_pay() -> None:
    quality = pd.DataFrame({"auc": [0.5, 0.55], "beats_prior": [False, False]})
    assert "does not beat" in verdict(quality)
    assert "weakly" in verdict(quality.assign(beats_prior=[True, False]))
    assert "1 of 2" in verdict(pd.DataFrame({"auc": [0.9, 0.55], "beats_prior": [True, False]}))


def test_learning_curve_improves_with_more_labels() -> None:
    texts, Y = texts_and_labels(160, signal=True)
    choice = choose_predictor(texts, Y, texts, costs=costs(160),
                              candidates=[Candidate("tfidf", "logistic")])
    curve = learning_curve(texts, Y, costs(160), choice, cv=4)
    assert list(curve["fraction"]) == [0.25, 0.5, 0.75, 1.0]
    first, last = curve.iloc[0], curve.iloc[-1]
    assert last["log_loss"] < first["log_loss"]
    assert last["auc"] > first["auc"]
    assert last["hypervolume"] > first["hypervolume"]
