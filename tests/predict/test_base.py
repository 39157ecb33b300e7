"""The helpers every learner shares: the robust score and the comparison with the prior."""

from __future__ import annotations

import numpy as np

from optllm.predict.base import robust_score


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
