"""The Predictor screen's explanation: every candidate's front score and which won."""

from __future__ import annotations

import numpy as np

from optllm.pipeline.run import Prediction
from optllm.predict.select import fit_predictor
from optllm_tui.screens.predictor import explain


def test_explanation_lists_every_candidate_score_and_the_winner() -> None:
    rng = np.random.default_rng(0)
    key = rng.random(120) < 0.5
    texts = [" ".join([*rng.choice([f"w{i}" for i in range(30)], 5), *(["key"] if k else [])])
             for k in key]
    Y = np.column_stack([key, rng.random(120) < 0.5]).astype(np.int8)
    rows = np.arange(80)
    featuriser, predictor, choice = fit_predictor(texts, rows, Y[rows],
                                                  costs_train=np.tile([1.0, 2.0], (80, 1)),
                                                  n_bootstraps=3)
    P, U = predictor.predict_mean_std(featuriser.transform(texts[80:]))
    text = explain(Prediction(P, U, P, predictor, predictor.quality_, featuriser, choice))
    assert "Out-of-fold front, hypervolume ratio:" in text
    for row in choice.scores.itertuples():
        assert f"{row.candidate} {row.hypervolume:.3f}" in text
    assert text.count("(chosen)") == 1
    won = choice.scores[choice.scores["chosen"]].iloc[0]
    assert f"{won['candidate']} {won['hypervolume']:.3f} (chosen)" in text
    assert "bands hold 90% of outcomes" in text
