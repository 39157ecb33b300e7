"""The contracts every registered featuriser and learner meets, and the helpers they share:
the robust score and the comparison with the prior."""

from __future__ import annotations

import numpy as np
import pytest

from optllm.predict.base import Featuriser, Learner, OutOfFoldLearner, robust_score
from optllm.predict.learners import make_learner
from optllm.predict.registry import FEATURISERS, LEARNERS

TEXTS = [f"query {i} about {topic} and {i % 3} more words" for i, topic in
         enumerate(["math", "code", "law", "history", "biology"] * 8)]
#: Small settings where the defaults would be slow for a contract check.
_QUICK = {"xgboost": {"n_bootstraps": 3, "n_estimators": 5}}


@pytest.mark.parametrize("name", sorted(FEATURISERS))
def test_every_registered_featuriser_meets_the_featuriser_protocol(name: str) -> None:
    featuriser = FEATURISERS[name].load()()
    assert featuriser.fit(TEXTS) is featuriser
    assert isinstance(featuriser, Featuriser)
    assert featuriser.transform(TEXTS[:7]).shape == (7, featuriser.n_features_out_)


@pytest.mark.parametrize("name", sorted(LEARNERS))
def test_every_registered_learner_meets_the_learner_protocol(name: str) -> None:
    """Fitted, a learner has what the pipeline reads; every learner but XGBoost also keeps
    its out-of-fold probabilities, which `auto` scores without refitting."""
    rng = np.random.default_rng(0)
    X = rng.random((40, 5))
    Y = (rng.random((40, 2)) < X[:, :2]).astype(float)
    learner = make_learner(name, random_state=0, **_QUICK.get(name, {}))
    assert learner.fit(X, Y, model_names=["a", "b"]) is learner
    assert isinstance(learner, Learner)
    assert list(learner.model_names_) == ["a", "b"] == list(learner.quality_["model"])
    assert learner.n_features_in_ == 5
    P, U = learner.predict_mean_std(X[:3])
    assert P.shape == U.shape == (3, 2) and P.dtype == U.dtype == np.float64
    assert isinstance(learner, OutOfFoldLearner) == (name != "xgboost")
    if name != "xgboost":
        assert learner.oof_proba_.shape == Y.shape


def test_robust_score_clips() -> None:
    P = np.array([[0.2, 0.9]])
    U = np.array([[0.1, 0.3]])
    np.testing.assert_allclose(robust_score(P, U, 1.0), [[0.3, 1.0]])
    np.testing.assert_allclose(robust_score(P, U, -1.0), [[0.1, 0.6]])
    np.testing.assert_array_equal(robust_score(P, U, 0.0), P)


def test_vs_prior_says_same_for_a_tie_and_never_better_below_chance() -> None:
    from optllm.predict.base import vs_prior
    from optllm.predict.learners import PriorPredictor

    rng = np.random.default_rng(0)
    Y = (rng.random((50, 3)) < 0.4).astype(float)
    q = PriorPredictor(random_state=0).fit(np.zeros((50, 1)), Y).quality_
    assert list(vs_prior(q["auc"], q["brier"], q["prior_brier"])) == ["same"] * 3
    assert not q["beats_prior"].any()
    verdicts = vs_prior([0.8, 0.45, 0.7, np.nan], [0.20, 0.20, 0.25, 0.20],
                        [0.24, 0.24, 0.24, 0.24])
    assert list(verdicts) == ["better", "worse", "worse", "better"]
