"""A `should_stop` that turns True part-way stops every long stage at its next check.

Each test counts the checks of a stage run to the end, then stops it part-way through
(after `k` checks) and requires `Cancelled` at that check or within a few more: so each
stage checks throughout its inner loop (folds, per-model fits, boosting rounds, batches,
rounds), not only between its big steps. No wall-clock assertions.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import scipy.sparse as sp
import xgboost as xgb

from optllm.exceptions import Cancelled
from optllm.optimizers import destruct as search
from optllm.optimizers.api import iter_optimize
from optllm.optimizers.hull import hull_front
from optllm.predict import learners
from optllm.predict import xgboost as prediction
from optllm.predict.features import make_featuriser
from optllm.predict.learners import make_learner
from optllm.predict.select import Candidate, choose_predictor, learning_curve
from optllm.predict.xgboost import BootstrapXGBoostPredictor

WORDS = [f"w{i}" for i in range(300)]


class StopAfter:
    """should_stop: False for the first `k` - 1 calls, True from the k-th on (k=None:
    never); counts every call."""

    def __init__(self, k: int | None = None) -> None:
        self.k = k
        self.calls = 0

    def __call__(self) -> bool:
        self.calls += 1
        return self.k is not None and self.calls >= self.k


def stops_part_way(run: Callable[[StopAfter], object], min_checks: int = 8,
                   slack: int = 0) -> None:
    """`run(should_stop)` checks at least `min_checks` times when left alone, and raises
    `Cancelled` at most `slack` checks after the one that said stop, half-way through."""
    full = StopAfter()
    run(full)
    assert full.calls >= min_checks, f"only {full.calls} checks in the whole stage"
    k = full.calls // 2
    stop = StopAfter(k)
    with pytest.raises(Cancelled):
        run(stop)
    assert k <= stop.calls <= k + slack


def texts(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, 8)) for _ in range(n)]


def labels(n: int, m: int = 3, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((n, m)) < 0.5).astype(np.int8)


def test_checked_checks_every_block_and_only_when_asked() -> None:
    from optllm.progress import checked

    items = list(range(10))
    assert checked(items, None, "x") is items
    stop = StopAfter()
    assert list(checked(items, stop, "x", every=3)) == items
    assert stop.calls == 4  # before items 0, 3, 6 and 9
    with pytest.raises(Cancelled, match="x cancelled"):
        list(checked(items, StopAfter(2), "x", every=3))


#: Featurisers with small outputs: the tests are about when they stop.
FEATURISERS = {"tfidf": {}, "tfidf-svd": {"n_components": 10},
               "word+char": {"max_features": 2000}}


@pytest.mark.parametrize("name", FEATURISERS)
def test_featuriser_fit_stops_while_vectorising(name: str) -> None:
    corpus = texts(9000)
    stops_part_way(lambda stop: make_featuriser(name, **FEATURISERS[name]).fit(
        corpus, should_stop=stop))


@pytest.mark.parametrize("name", FEATURISERS)
def test_featuriser_transform_stops_while_vectorising(name: str) -> None:
    featuriser = make_featuriser(name, **FEATURISERS[name]).fit(texts(500))
    corpus = texts(9000, seed=1)
    stops_part_way(lambda stop: featuriser.transform(corpus, should_stop=stop))


def test_logistic_stops_between_folds_and_fits() -> None:
    X, Y = sp.random(120, 40, density=0.2, random_state=0, format="csr"), labels(120)
    # Checks: per model, C and fold while choosing C; per model and bootstrap refit after.
    stops_part_way(lambda stop: make_learner(
        "logistic", Cs=(1.0, 10.0), cv=3, n_bootstraps=4, random_state=0).fit(
            X, Y, should_stop=stop), min_checks=3 * 2 * 3 + 3 * 5)


def test_knn_stops_between_row_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(learners, "_KNN_BATCH_CELLS", 200 * 10)  # 10 rows per batch
    X, Y = sp.random(200, 30, density=0.3, random_state=0, format="csr"), labels(200)
    stops_part_way(lambda stop: make_learner("knn", cv=3, random_state=0).fit(
        X, Y, should_stop=stop), min_checks=20)
    knn = make_learner("knn", cv=3, random_state=0).fit(X, Y)
    stops_part_way(lambda stop: knn.predict_mean_std(X, should_stop=stop), min_checks=20)


def test_xgboost_member_stops_within_a_round() -> None:
    X, Y = np.random.default_rng(0).random((200, 5)), labels(200)
    est = BootstrapXGBoostPredictor(n_bootstraps=1, n_estimators=40, n_jobs=1, random_state=0)
    # One check per boosting round, and one when boosting ends.
    stops_part_way(lambda stop: est.fit(X, Y, should_stop=stop), min_checks=40, slack=1)
    assert not hasattr(est, "boosters_")


def test_xgboost_members_in_flight_stop_and_pending_ones_never_start(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Members run two at a time: at the stop, the two running ones end within a round
    and none of the other 38 starts."""
    started: list[int] = []
    rounds: list[int] = []
    train_member = BootstrapXGBoostPredictor._train_member
    train = xgb.train

    class CountRounds(xgb.callback.TrainingCallback):
        def after_iteration(self, model: object, epoch: int, evals_log: object) -> bool:
            rounds.append(epoch)
            return False

    def counting_member(self: BootstrapXGBoostPredictor, *args: object, **kw: object
                        ) -> object:
        started.append(1)
        return train_member(self, *args, **kw)

    def counting_train(*args: object, callbacks: list | None = None, **kw: object) -> object:
        return train(*args, callbacks=[*(callbacks or []), CountRounds()], **kw)

    monkeypatch.setattr(BootstrapXGBoostPredictor, "_train_member", counting_member)
    monkeypatch.setattr(xgb, "train", counting_train)
    X, Y = np.random.default_rng(0).random((200, 5)), labels(200)
    est = BootstrapXGBoostPredictor(n_bootstraps=40, n_estimators=20, n_jobs=2, random_state=0)
    with pytest.raises(Cancelled):
        est.fit(X, Y, should_stop=StopAfter(4))
    assert len(started) <= est.n_jobs
    assert len(rounds) <= 4 + 2 * est.n_jobs  # not 2 x 20: no member ran on to its end


def test_xgboost_prediction_stops_between_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prediction, "_PREDICT_CHUNK", 50)
    X, Y = np.random.default_rng(0).random((200, 5)), labels(200)
    est = BootstrapXGBoostPredictor(n_bootstraps=2, n_estimators=5, n_jobs=2,
                                    random_state=0).fit(X, Y)
    rows = np.random.default_rng(1).random((1000, 5))
    stops_part_way(lambda stop: est.predict_mean_std(rows, should_stop=stop), min_checks=20,
                   slack=est.n_jobs)


def test_choosing_a_predictor_stops_inside_every_candidate() -> None:
    corpus, Y = texts(300), labels(300)
    candidates = [Candidate("tfidf", "logistic"), Candidate("tfidf", "knn"),
                  Candidate("tfidf-svd", "xgboost", {"n_bootstraps": 2, "n_estimators": 10})]
    stops_part_way(lambda stop: choose_predictor(corpus, Y, corpus, candidates=candidates,
                                                 cv=3, force=True, should_stop=stop),
                   min_checks=50, slack=2)


def test_learning_curve_stops_inside_its_fits() -> None:
    corpus, Y = texts(160), labels(160)
    costs = np.tile([1.0, 2.0, 3.0], (160, 1))
    choice = choose_predictor(corpus, Y, corpus, candidates=[Candidate("tfidf", "logistic")],
                              force=True)
    stops_part_way(lambda stop: learning_curve(corpus, Y, costs, choice, cv=3,
                                               should_stop=stop), min_checks=40)


def problem(n: int, m: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((n, m)), rng.gamma(2.0, 0.01, (n, m))


def test_reconstruct_stops_between_blocks_and_rounds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search, "RESCORE_BLOCK", 100)
    scores, costs = problem(3000)
    destructed = np.zeros(3000, dtype=np.intp)
    stops_part_way(lambda stop: search.Reconstructor(scores, costs, stop)(destructed),
                   min_checks=30)


def test_optimiser_stopped_inside_a_reconstruct_ends_cancelled(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The stop comes between two step checks (inside the first reconstruct): the search
    ends there with the front so far, not after the step."""
    monkeypatch.setattr(search, "RESCORE_BLOCK", 100)
    scores, costs = problem(3000)
    # Checks: one per step and block, so the 4th falls inside the first reconstruct's
    # re-scoring (blocks 1-30) after the checks before steps 2 and 3.
    items = list(iter_optimize(scores, costs, should_stop=StopAfter(4)))
    front = items[-1]
    assert front.status == "cancelled"
    assert [item.phase for item in items[:-1]] == ["extremes", "destruct"]


def test_hull_stops_between_envelope_rounds() -> None:
    scores, costs = problem(2000, m=12)
    stops_part_way(lambda stop: hull_front(scores, costs, stop), min_checks=5)


def test_compare_hull_methods_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    from optllm.pipeline.compare import RUNNERS, Hooks, Trial

    scores, costs = problem(2000, m=12)
    trial = Trial(0, scores, costs, (scores > 0.5).astype(float), scores.mean(axis=0), 10,
                  10, 5)
    for name in ("hull", "oracle", "prior"):
        stops_part_way(lambda stop, name=name: RUNNERS[name](trial, Hooks(should_stop=stop)),
                       min_checks=3)
