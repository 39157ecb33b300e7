"""Choose the success predictor from the labelled rows by the front it yields.

A front is only as good as its success probabilities, and which featuriser and learner
predict best depends on the data and on how many labels there are: at 2% of logparsing a
linear model on sparse TF-IDF beats the base rate by a wide margin, while at 2% of overruling
(43 rows) nothing does. A lower log-loss does not make a better front (a learner can win on
log-loss and still rank the queries that matter worse), so `auto` scores every candidate by
what users get: its out-of-fold probabilities on the labelled rows, the hull front of those
over all of them, scored with the rows' labels (hypervolume ratio). The per-model base rate
(the prior) is the default; a candidate replaces it only when its front beats the prior's by
more than chance would (paired bootstrap resamples of the rows). The chosen candidate's
out-of-fold probabilities then calibrate it and measure the selection gap
(`optllm.predict.calibration`). Featurisers are fitted on all texts (unsupervised, so no
label leaks). `learning_curve` tells whether more labels would pay.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import cast

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.stats import norm

from optllm.evaluation import (
    best_single_model,
    evaluate,
    hypervolume_ratio,
    single_models,
    true_front,
)
from optllm.exceptions import ConfigError
from optllm.optimizers.api import optimize
from optllm.optimizers.hull import rate_ordered_moves
from optllm.predict.base import Features, Featuriser, Labels, Learner, Texts, quality_frame
from optllm.predict.calibration import (
    Calibration,
    SelectionGap,
    fit_calibration,
    fit_selection_gap,
)
from optllm.predict.columns import CategoryEncoder, ColumnFeaturiser, featurise, hstack_blocks
from optllm.predict.features import NoFeatures, WordCharFeaturiser, as_texts, make_featuriser
from optllm.predict.learners import (
    LogisticPredictor,
    fold_ids,
    fold_prior,
    log_loss_rows,
    make_learner,
)
from optllm.predict.registry import LEARNERS, learner_class
from optllm.progress import (
    Progress,
    ProgressCallback,
    ShouldStop,
    check_cancelled,
    relabelled,
    report,
)

AUTO = "auto"

#: XGBoost on an SVD projection needs more rows than a linear model on sparse TF-IDF before
#: it pays; below this it is not tried. On logparsing with 1600 labelled rows it lost to
#: logistic regression on word+char (log-loss 0.221 vs 0.179) and took 23 of the 27 s.
XGBOOST_MIN_ROWS = 5000

#: A per-query candidate replaces the prior only when its gain in out-of-fold hypervolume
#: ratio over the prior (the hull front of the out-of-fold probabilities of all labelled
#: rows, scored with their labels) is significant at this level, one-sided, against the
#: spread of that gain over paired bootstrap resamples of the rows, Bonferroni-corrected
#: for the candidates tried. 2.5%, not 5%: the resamples see the noise of the labelled
#: rows but not the learner's own (its out-of-fold probabilities, and the C chosen on
#: them, are held fixed), so their spread understates the gain's. Measured on 57 small
#: samples of overruling, logparsing and the embedded data: two standard errors of the
#: per-fold gains picked a learner whose front on the other queries was below the prior's
#: 5 times in 30; this rule did not once, and still picks the learners of planted
#: per-group and per-word data (docs/benchmarks.md).
SIGNIFICANCE = 0.025
#: Learners from the fewest fitted parameters to the most, for the one-standard-error rule.
SIMPLER_FIRST = ("prior", "group-rate", "cluster-rate", "knn", "logistic", "xgboost")
#: Paired bootstrap resamples of the labelled rows behind that spread.
BOOTSTRAPS = 200
#: Resamples x envelope moves held at once while scoring them (bounds memory).
_RESAMPLE_CELLS = 1 << 22

#: Up to this many texts, the features of all of them are kept from fitting the featurisers
#: (to score the candidates and predict without vectorising twice); beyond, featurisers fit
#: on a sample (`fit_sample`) and only the rows needed are featurised, to bound memory.
REUSE_FEATURES_MAX = 100_000

#: Below this mean out-of-sample AUC, `verdict` calls the per-query ranking weak.
WEAK_AUC = 0.6

#: Bootstrap members of the XGBoost candidate in cross-validation (the final fit uses the
#: caller's number). Scoring needs only the mean probability, which a few members give: with
#: 10 it took 40% of `auto`'s time on 7,000 labelled rows, and tied logistic regression.
_XGBOOST_CV_BOOTSTRAPS = 4


@dataclass(frozen=True)
class Candidate:
    """A featuriser and a learner by registry name, with extra learner parameters.
    `columns`: whether a learner that can read the feature columns beside the text does
    (False: the text only, its variant tried when columns are offered, since a column can
    also make such a learner worse)."""

    featuriser: str
    learner: str
    params: dict[str, object] = field(default_factory=dict)
    columns: bool = True

    @property
    def name(self) -> str:
        name = self.learner if self.featuriser == "none" else f"{self.learner} on {self.featuriser}"
        return name if self.columns else f"{name} (text only)"


PRIOR = Candidate("none", "prior")
#: Few candidates keep `auto` fast and its best score less optimistic. Word or character
#: n-grams on their own are left out for logistic regression: word+char holds both blocks,
#: and on logparsing (1-5%, 9 splits) word TF-IDF alone was within noise of it (out-of-fold
#: HV ratio 0.838 vs 0.842 at 2%) while doubling the linear fits, and their with and without
#: feature-column variants.
DEFAULT_CANDIDATES: tuple[Candidate, ...] = (
    Candidate("word+char", "logistic"),
    Candidate("word+char", "knn"),
    Candidate("tfidf-svd", "xgboost"),
    PRIOR,
)


@dataclass(frozen=True)
class Choice:
    """The chosen candidate, the cross-validated score of every candidate tried (`scores`:
    one row per candidate, best out-of-fold front first) and why. `featurisers`: every
    featuriser tried, fitted, by name. `learner` is the chosen learner as fitted for scoring
    (no spread), or None where it was fitted per fold only (XGBoost). `calibration` maps its
    probabilities to calibrated ones; `gap` is its hull selection's measured optimism."""

    candidate: Candidate
    featurisers: dict[str, Featuriser]
    scores: pd.DataFrame
    reason: str
    learner: Learner | None
    calibration: Calibration | None = None
    gap: SelectionGap | None = None
    encoder: CategoryEncoder | None = None

    @property
    def featuriser(self) -> Featuriser:
        """The chosen candidate's fitted featuriser, with the extra columns beside it when
        its learner uses them (a `ColumnFeaturiser`)."""
        text = self.featurisers[self.candidate.featuriser]
        blocks = feature_blocks(self.candidate.learner)
        if (self.encoder is None or not self.encoder.columns or "columns" not in blocks
                or not self.candidate.columns):
            return text
        return ColumnFeaturiser(text, self.encoder, use_text="text" in blocks)


def _fit_featurisers(names: set[str], texts_all: list[str], random_state: int | None,
                     should_stop: ShouldStop | None
                     ) -> tuple[dict[str, Featuriser], dict[str, Features]]:
    """Each named featuriser fitted on all texts, and (up to `REUSE_FEATURES_MAX` texts)
    the features of all texts, which fitting computes anyway: each text is vectorised once,
    not again to predict. Word and char TF-IDF are the blocks of word+char when it is
    needed anyway (they are the same)."""
    reuse = len(texts_all) <= REUSE_FEATURES_MAX
    fitted: dict[str, Featuriser] = {"none": NoFeatures().fit(texts_all)}
    features: dict[str, Features] = {}
    if "word+char" in names:
        both = WordCharFeaturiser(random_state=random_state)
        word, char = both.fit_blocks(texts_all, should_stop=should_stop)
        fitted |= {"word+char": both, "tfidf": both.word_, "char-tfidf": both.char_}
        features |= {"word+char": both.join(word, char), "tfidf": word, "char-tfidf": char}
    for name in names - fitted.keys():
        fitted[name] = make_featuriser(name, random_state=random_state)
        features[name] = fitted[name].fit_transform(texts_all, should_stop=should_stop)
    features["none"] = fitted["none"].transform(texts_all)
    return fitted, features if reuse else {}


def default_candidates() -> tuple[Candidate, ...]:
    """`DEFAULT_CANDIDATES`, with every registered learner they do not name added on the
    featuriser it declares (`default_featuriser` class attribute; word+char otherwise),
    before the prior: a new learner is a candidate as soon as it is registered."""
    named = {c.learner for c in DEFAULT_CANDIDATES}
    extra = tuple(Candidate(getattr(entry.load(), "default_featuriser", "word+char"), name)
                  for name, entry in LEARNERS.items() if name not in named)
    return (*DEFAULT_CANDIDATES[:-1], *extra, PRIOR)


def _make(candidate: Candidate, cv: int, random_state: int | None, n_bootstraps: int,
          n_jobs: int = 1) -> Learner:
    """The candidate's learner: spread from `n_bootstraps` refits (0 where it can be
    skipped, for scoring; XGBoost keeps at least `_XGBOOST_CV_BOOTSTRAPS`), folds from `cv`
    and `random_state`, `n_jobs` threads; each passed only where the learner takes it."""
    if candidate.learner == "xgboost":
        n_bootstraps = max(n_bootstraps, _XGBOOST_CV_BOOTSTRAPS)
    offered = {"random_state": random_state, "cv": cv, "n_bootstraps": n_bootstraps,
               "n_jobs": n_jobs}
    takes = make_learner(candidate.learner).get_params()
    return make_learner(candidate.learner, **({k: v for k, v in offered.items() if k in takes}
                                              | candidate.params))


def _out_of_fold(candidate: Candidate, X: Features, Y: np.ndarray, folds: np.ndarray, cv: int,
                 random_state: int | None, should_stop: ShouldStop | None,
                 progress: ProgressCallback | None = None, n_jobs: int = 1
                 ) -> tuple[np.ndarray, Learner | None]:
    """(n, M) out-of-fold probabilities and the learner fitted on all rows: from one fit
    where the learner keeps them on the shared folds (`oof_proba_`), else by refitting on
    each fold's complement (learner None). `progress` gets the learner's reports, per fold
    for the refits."""
    learner = _make(candidate, cv, random_state, 0)
    if candidate.learner != "xgboost":
        learner.fit(X, Y, progress=progress, should_stop=should_stop)
        oof = getattr(learner, "oof_proba_", None)
        if oof is not None and np.shape(oof) == Y.shape:
            return np.asarray(oof, dtype=np.float64), learner
    P = np.empty(Y.shape)
    n_folds = int(folds.max()) + 1
    for k in range(n_folds):
        test = folds == k
        fold = None if progress is None else _in_fold(progress, k, n_folds)
        learner = _make(candidate, cv, random_state, 0, n_jobs)
        learner.fit(X[~test], Y[~test], progress=fold, should_stop=should_stop)
        P[test] = learner.predict_mean_std(X[test], should_stop=should_stop)[0]
    return P, None


def _in_fold(progress: ProgressCallback, k: int, n_folds: int) -> ProgressCallback:
    """`progress` with each report's message prefixed by the fold it comes from."""
    def inner(event: Progress) -> None:
        step = event.message or f"{event.done}/{event.total}"
        progress(Progress(event.stage, event.done, event.total,
                          f"fold {k + 1}/{n_folds}, {step}"))

    return inner


class Resamples:
    """The labelled rows and `BOOTSTRAPS` paired bootstrap resamples of them (as row counts),
    each with its true front and best single model, so every candidate's out-of-fold front
    is scored on the same rows (paired: the resampling noise common to all candidates
    cancels)."""

    def __init__(self, Y: np.ndarray, costs: np.ndarray, random_state: int | None) -> None:
        n, m = Y.shape
        rng = np.random.default_rng(random_state)
        self.Y, self.costs = Y, costs
        draws = [np.arange(n), *rng.integers(0, n, (BOOTSTRAPS, n))]
        self.counts = np.stack([np.bincount(rows, minlength=n) for rows in draws]
                               ).astype(np.float64)
        names = [str(j) for j in range(m)]
        self.references = [(true_front(Y[r], costs[r]),
                            best_single_model(single_models(Y[r], costs[r], names)))
                           for r in draws]

    def hypervolumes(self, P: np.ndarray, should_stop: ShouldStop | None = None
                     ) -> np.ndarray:
        """(1 + BOOTSTRAPS,) hypervolume ratio of the hull front of `P` scored with the
        labels: on all labelled rows, then on each resample. A query's envelope moves do
        not depend on which other rows are drawn, so they are found once and each
        resample's front is their rate order with each row counted as often as drawn."""
        Y, costs = self.Y, self.costs
        n = Y.shape[0]
        start, query, source, target = rate_ordered_moves(P, costs, should_stop)
        rows = np.arange(n)
        out = np.empty(self.counts.shape[0])
        chunk = max(1, _RESAMPLE_CELLS // max(1, query.size))
        for first in range(0, out.size, chunk):
            check_cancelled(should_stop, "choose")
            W = self.counts[first:first + chunk]
            moved = W[:, query]
            cost = np.cumsum(np.column_stack([W @ costs[rows, start], moved * (
                costs[query, target] - costs[query, source])]), axis=1)
            correct = np.cumsum(np.column_stack([W @ Y[rows, start], moved * (
                Y[query, target] - Y[query, source])]), axis=1)
            for b in range(W.shape[0]):
                truth, best = self.references[first + b]
                out[first + b] = hypervolume_ratio(cost[b], correct[b] / n, truth, best)
        return out


def _score_table(rows: list[dict[str, object]], hypervolumes: dict[str, np.ndarray]
                 ) -> pd.DataFrame:
    """Candidates best first (out-of-fold hypervolume on all labelled rows), with each
    one's gain in it over the prior, the standard error of that gain (over the paired
    bootstrap resamples) and the gain it must exceed to replace the prior (`gain_needed`:
    `SIGNIFICANCE` one-sided, Bonferroni over the candidates other than the prior)."""
    prior = hypervolumes[PRIOR.name]
    frame = pd.DataFrame(rows)
    z = float(norm.ppf(1 - SIGNIFICANCE / max(1, len(frame) - 1)))
    gains, ses = zip(*(paired_difference(hypervolumes[name], prior)
                       for name in frame["candidate"]), strict=True)
    frame["hypervolume"] = [float(hypervolumes[name][0]) for name in frame["candidate"]]
    frame["gain_over_prior"] = list(gains)
    frame["gain_se"] = list(ses)
    frame["gain_needed"] = z * np.asarray(ses)
    return frame.sort_values("hypervolume", ascending=False, kind="stable",
                             na_position="last").reset_index(drop=True)


def paired_difference(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(a - b on all labelled rows, its standard error over the resamples) for two
    `Resamples.hypervolumes` results; the error is NaN with fewer than two finite
    resamples (NaN: a resample whose true front is one point)."""
    d = a - b
    spread = d[1:][np.isfinite(d[1:])]
    return float(d[0]), float(spread.std(ddof=1)) if spread.size > 1 else float("nan")


def _simplest_within_noise(clear: pd.DataFrame, candidates: list[Candidate],
                           hypervolumes: dict[str, np.ndarray]) -> pd.Series:
    """The simplest of the `clear` candidates (best first) whose hypervolume is below the
    best one's by no more than one standard error of their paired difference over the
    resamples: the one-standard-error rule. Among near-equals the best score is mostly
    luck, and the simpler learner (fewer parameters fitted from the same labels) was the
    better on the other queries: a feature column that a linear model also read, or a
    per-query model beside per-group rates (docs/benchmarks.md)."""
    best = hypervolumes[clear["candidate"].iloc[0]]
    eligible: list[tuple[tuple[int, bool], int, pd.Series]] = []
    for (_, row), candidate in zip(clear.iterrows(), candidates, strict=True):
        behind, se = paired_difference(best, hypervolumes[candidate.name])
        if not np.isfinite(se) or behind <= se:
            eligible.append((_complexity(candidate), len(eligible), row))
    return min(eligible, key=lambda item: item[:2])[2]


def _complexity(candidate: Candidate) -> tuple[int, bool]:
    """Order of simplicity: by learner (`SIMPLER_FIRST`; an unlisted one last), then the
    text alone before the text with the feature columns."""
    rank = (SIMPLER_FIRST.index(candidate.learner) if candidate.learner in SIMPLER_FIRST
            else len(SIMPLER_FIRST))
    return rank, candidate.columns


def feature_blocks(learner: str) -> tuple[str, ...]:
    """The feature blocks the registered learner takes ("text", "columns")."""
    return cast("tuple[str, ...]", getattr(learner_class(learner), "feature_blocks", ("text",)))


def _candidate_features(candidate: Candidate, text: dict[str, Features],
                        onehot: sp.csr_matrix | None) -> Features:
    """The features a candidate's learner takes: its text block, the one-hot columns, or
    both (`feature_blocks` of the learner class)."""
    blocks = feature_blocks(candidate.learner)
    X = text[candidate.featuriser] if "text" in blocks else text["none"]
    if "columns" in blocks and onehot is not None and candidate.columns:
        return hstack_blocks(X, onehot)
    return X


def choose_predictor(texts_train: Texts, Y_train: Labels, texts_all: Texts,
                     *, costs: np.ndarray, candidates: Sequence[Candidate] | None = None,
                     cv: int = 5, random_state: int | None = 0, force: bool = False,
                     train_rows: np.ndarray | None = None,
                     features_out: dict[str, Features] | None = None,
                     progress: ProgressCallback | None = None,
                     should_stop: ShouldStop | None = None,
                     encoder: CategoryEncoder | None = None,
                     columns_train: pd.DataFrame | None = None, n_jobs: int = 1) -> Choice:
    """Score each candidate by the front it yields out of fold; pick the best that clearly
    beats the prior, then calibrate the chosen one.

    Every candidate predicts each labelled row from a fit on the other folds (the same
    min(cv, n) seeded folds for all); the hull front of those probabilities with the rows'
    `costs` (n, M) is scored with their labels (hypervolume ratio), on all rows and on
    paired bootstrap resamples of them (`Resamples`). The prior is always scored and is the
    default: a candidate replaces it only when its gain over the prior is significant
    against the spread of that gain over the resamples (`SIGNIFICANCE`, one-sided,
    Bonferroni over the candidates); among those, the simplest whose hypervolume is within
    one standard error of the best one's (`_simplest_within_noise`). `force` picks the
    best non-prior candidate regardless. XGBoost is skipped below `XGBOOST_MIN_ROWS` labelled
    rows. `train_rows`: where `texts_train` sit in `texts_all` (then their features are
    taken from the fitted featurisers' rows instead of vectorised again); `features_out`
    receives the features of all texts by featuriser name. Reports
    `("choose", i, n_candidates)` with per-fold detail from the learners; `should_stop` is
    checked throughout. The learners fit with `n_jobs` threads.
    """
    Y = np.asarray(Y_train, dtype=np.float64)
    if Y.ndim != 2 or Y.shape[0] < 2 or Y.shape[0] != len(texts_train):
        raise ConfigError(f"need at least 2 labelled texts with one label row each; got "
                          f"{len(texts_train)} texts and labels of shape {Y.shape}")
    costs = np.asarray(costs, dtype=np.float64)
    if costs.shape != Y.shape:
        raise ConfigError(f"costs must be one row per labelled text and one column per "
                          f"model, shape {Y.shape}; got {costs.shape}")
    n = Y.shape[0]
    pool = default_candidates() if candidates is None else tuple(candidates)
    onehot = (encoder.transform(columns_train) if encoder is not None and encoder.columns
              and columns_train is not None else None)
    tried = [c for c in pool if c != PRIOR
             and (c.learner != "xgboost" or n >= XGBOOST_MIN_ROWS or force)
             and (feature_blocks(c.learner) != ("columns",) or onehot is not None)]
    if onehot is not None:  # each learner reading text and columns also on its text alone
        tried = [variant for c in tried for variant in (
            (c, replace(c, columns=False)) if feature_blocks(c.learner) == ("text", "columns")
            else (c,))]
    tried.append(PRIOR)
    texts_all = as_texts(texts_all)
    names = sorted({c.featuriser for c in tried} - {"none"})
    report(progress, "choose", 0, len(tried),
           f"fitting {' and '.join(names) or 'no'} features on {len(texts_all):,} texts")
    featurisers, features_all = _fit_featurisers({c.featuriser for c in tried}, texts_all,
                                                 random_state, should_stop)
    if features_out is not None:
        features_out |= features_all
    if train_rows is None or not features_all:
        train = as_texts(texts_train)
        features = {name: f.transform(train, should_stop=should_stop)
                    for name, f in featurisers.items()}
    else:
        features = {name: X[np.asarray(train_rows)] for name, X in features_all.items()}
    folds = fold_ids(n, cv, random_state)
    prior = fold_prior(Y, folds)
    resamples = Resamples(Y, costs, random_state)
    rows, hypervolumes, learners, oof = [], {}, {}, {}
    for i, c in enumerate(tried):
        check_cancelled(should_stop, "choose")
        t0 = time.perf_counter()
        what = f"cross-validating {c.name}"
        report(progress, "choose", i, len(tried), what)
        P, learners[c.name] = _out_of_fold(c, _candidate_features(c, features, onehot), Y,
                                           folds, cv,
                                           random_state, should_stop,
                                           relabelled(progress, "choose", i, len(tried), what),
                                           n_jobs)
        oof[c.name] = P
        hypervolumes[c.name] = resamples.hypervolumes(P, should_stop)
        q = quality_frame(list(range(Y.shape[1])), Y, P, prior, Y.mean(axis=0))
        if c == PRIOR:  # its out-of-fold rates differ by fold only: no ranking to score
            q["auc"] = 0.5
        rows.append({"candidate": c.name, "featuriser": c.featuriser, "learner": c.learner,
                     "log_loss": float(log_loss_rows(Y, P).mean()),
                     "auc": float(np.nanmean(q["auc"])) if q["auc"].notna().any()
                     else float("nan"),
                     "brier": float(q["brier"].mean()),
                     "models_beating_prior": int(q["beats_prior"].sum()),
                     "seconds": time.perf_counter() - t0})
        report(progress, "choose", i + 1, len(tried), f"scored {c.name}")
    scores = _score_table(rows, hypervolumes)
    others = scores[scores["candidate"] != PRIOR.name]
    clear = others[others["gain_over_prior"] > np.maximum(others["gain_needed"], 0)]
    if len(clear):
        by_name = {c.name: c for c in tried}
        top = clear.iloc[0]
        best = _simplest_within_noise(clear, [by_name[n] for n in clear["candidate"]],
                                      hypervolumes)
        chosen = by_name[best["candidate"]]
        reason = (f"{chosen.name} gives the best out-of-fold front (hypervolume ratio "
                  f"{best['hypervolume']:.3f}, {best['gain_over_prior']:+.3f} over the prior's, "
                  f"more than the {best['gain_needed']:.3f} that chance exceeds "
                  f"{SIGNIFICANCE:.1%} of the time)")
        if best["candidate"] != top["candidate"]:
            reason += (f"; {top['candidate']} scored {top['hypervolume']:.3f}, within "
                       f"chance of it, and {chosen.name} is the simpler")
    elif force and len(others):
        chosen = next(c for c in tried if c.name == others["candidate"].iloc[0])
        reason = f"{chosen.name} as requested; its front does not clearly beat the prior's"
    else:
        chosen = PRIOR
        reason = ("no per-query predictor's out-of-fold front clearly beats the per-model "
                  "base rate's on the labelled rows, so every query gets the base rate")
    scores["chosen"] = scores["candidate"] == chosen.name
    check_cancelled(should_stop, "choose")
    calibration, P_cal = fit_calibration(oof[chosen.name], Y, folds)
    gap = fit_selection_gap(oof[chosen.name], P_cal, Y, costs, folds, should_stop)
    return Choice(chosen, featurisers, scores, reason, learners[chosen.name], calibration, gap,
                  encoder)


def fit_predictor(texts: Texts, train_rows: np.ndarray, Y_train: Labels, *,
                  costs_train: np.ndarray, featuriser: str = AUTO, learner: str = AUTO,
                  n_bootstraps: int = 30,
                  model_names: list[str] | None = None, cv: int = 5,
                  random_state: int | None = 0, n_jobs: int = 1,
                  progress: ProgressCallback | None = None,
                  should_stop: ShouldStop | None = None,
                  timings: dict[str, float] | None = None,
                  features_out: dict[str, Features] | None = None,
                  columns: pd.DataFrame | None = None) -> tuple[Featuriser, Learner, Choice]:
    """What `pipeline.train_and_predict` needs: (fitted featuriser, fitted predictor, Choice).

    `featuriser` and `learner` are registry names or "auto": "auto" lets `choose_predictor`
    (fronts scored with `costs_train`, (n_train, M)) pick among the default candidates that
    match the fixed part (logistic regression when
    none does). A fixed learner other than "prior" is used even when it does not beat the
    prior (still scored against it, for the report). The predictor
    is refitted on all labelled rows with `n_bootstraps` refits for the spread. Transform the
    queries to allocate with the returned featuriser, then call `predict_mean_std`.
    `timings` receives the seconds spent choosing (featurisers included) and training;
    `features_out["all"]` the chosen featuriser's rows of all `texts` (computed while
    fitting it), so the queries to allocate need not be featurised again.
    The learners fit with `n_jobs` threads, when scoring too. `columns`: the
    chosen extra feature columns, one row per text (their levels are learnt from all rows,
    like the text features); the returned featuriser then reads them too when its learner
    uses them (`optllm.predict.columns.featurise`), and `features_out` gets no "all".
    """
    timings = timings if timings is not None else {}
    if learner == "group-rate" and (columns is None or not len(columns.columns)):
        raise ConfigError("the group-rate learner needs feature columns (categorical extra "
                          "columns of the data); none are chosen")
    t0 = time.perf_counter()
    texts = as_texts(texts)
    train_rows = np.asarray(train_rows)
    features: dict[str, Features] = {}
    # A fixed featuriser is given to every default learner that reads text.
    retargeted = default_candidates() if featuriser == AUTO else tuple({
        c.name: c for c in (replace(c, featuriser=featuriser)
                            if "text" in feature_blocks(c.learner) else c
                            for c in default_candidates())}.values())
    pool = [c for c in retargeted if c != PRIOR
            and featuriser in (AUTO, c.featuriser) and learner in (AUTO, c.learner)]
    force = learner not in (AUTO, "prior")
    if learner == "prior":
        pool = []
    elif not pool:
        pool = [Candidate("word+char" if featuriser == AUTO else featuriser,
                          "logistic" if learner == AUTO else learner)]
    encoder, columns_train = None, None
    if columns is not None and len(columns.columns):
        encoder = CategoryEncoder(tuple(str(c) for c in columns.columns)).fit(columns)
        columns_train = columns.iloc[train_rows]
    choice = choose_predictor([texts[i] for i in train_rows], Y_train, texts,
                              costs=costs_train, candidates=[*pool, PRIOR], cv=cv,
                              random_state=random_state, force=force, train_rows=train_rows,
                              features_out=features, progress=progress,
                              should_stop=should_stop, encoder=encoder,
                              columns_train=columns_train, n_jobs=n_jobs)
    timings["choose"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    name = choice.candidate.featuriser
    if isinstance(choice.featuriser, ColumnFeaturiser):
        X = featurise(choice.featuriser, [texts[i] for i in train_rows], columns_train,
                      should_stop=should_stop)
    elif name in features:
        X = features[name][train_rows]
        if features_out is not None:
            features_out["all"] = features[name]
    else:
        X = choice.featuriser.transform([texts[i] for i in train_rows], should_stop=should_stop)
    if choice.candidate.learner == "logistic" and choice.learner is not None:
        # keep the C chosen per model, add the spread
        predictor = choice.learner.set_params(n_bootstraps=n_bootstraps, warm_start=True,
                                              n_jobs=n_jobs)
    else:
        predictor = _make(choice.candidate, cv, random_state, n_bootstraps, n_jobs)
    predictor.fit(X, Y_train, model_names=model_names, progress=progress,
                  should_stop=should_stop)
    timings["train"] = time.perf_counter() - t0
    return choice.featuriser, predictor, choice


def verdict(quality: pd.DataFrame) -> str:
    """One plain sentence: does per-query prediction beat the per-model prior?"""
    beats = int(quality["beats_prior"].sum())
    total = len(quality)
    if beats == 0:
        return ("Per-query prediction does not beat the per-model success rate on the "
                "labelled queries: the front only reflects which model is cheaper or better "
                "on average. Label more queries to route query by query.")
    auc = float(np.nanmean(quality["auc"])) if quality["auc"].notna().any() else float("nan")
    if not auc >= WEAK_AUC:
        return (f"Per-query prediction beats the per-model success rate for {beats} of "
                f"{total} models only slightly: it ranks queries weakly (mean AUC {auc:.2f}). "
                "Label more queries before trusting per-query routing.")
    if beats < total:
        return (f"Per-query prediction beats the per-model success rate for {beats} of "
                f"{total} models (mean AUC {auc:.2f}); the others are routed by their rate.")
    return (f"Per-query prediction beats the per-model success rate for all {total} models "
            f"(mean AUC {auc:.2f}).")


def learning_curve(texts_train: Texts, Y_train: Labels, costs_train: np.ndarray,
                   choice: Choice, *,
                   fractions: Sequence[float] = (0.25, 0.5, 0.75, 1.0), cv: int = 5,
                   random_state: int | None = 0, should_stop: ShouldStop | None = None
                   ) -> pd.DataFrame:
    """How the predictor and its front improve with more of the labelled rows.

    For each of K folds of the labelled rows, the chosen candidate is refitted (no spread) on
    nested random subsets holding each fraction of the other folds and predicts the held-out
    fold; there it is scored by log-loss and AUC, and its exact hull front (re-scored with
    the held-out labels, costs `costs_train` (n, M)) by the hypervolume ratio. One row per
    fraction, means over folds: a curve still rising at 1.0 says more labels would pay.
    Logistic regression keeps one C (the median chosen per model), so the curve measures
    labels, not tuning, and costs a fifth of the fits. When the prior was chosen, the curve
    is that of the best per-query candidate: would more labels make it worth using?
    """
    candidate = choice.candidate
    others = choice.scores[choice.scores["candidate"] != PRIOR.name]
    if candidate == PRIOR and len(others):
        candidate = Candidate(others["featuriser"].iloc[0], others["learner"].iloc[0])
    elif candidate.learner == "logistic":
        fitted = cast(LogisticPredictor, choice.learner)
        chosen = fitted.C_[~np.isnan(fitted.C_)]
        if chosen.size:
            candidate = Candidate(candidate.featuriser, candidate.learner,
                                  candidate.params | {"Cs": (float(np.median(chosen)),)})
    Y = np.asarray(Y_train, dtype=np.float64)
    X = choice.featurisers[candidate.featuriser].transform(as_texts(texts_train),
                                                           should_stop=should_stop)
    costs = np.asarray(costs_train, dtype=np.float64)
    n, n_models = Y.shape
    folds = fold_ids(n, cv, random_state)
    order = np.random.default_rng(random_state).permutation(n)
    names = [str(j) for j in range(n_models)]
    records = []
    for k in range(int(folds.max()) + 1):
        test = np.flatnonzero(folds == k)
        pool = order[folds[order] != k]
        for fraction in fractions:
            check_cancelled(should_stop, "learning curve")
            rows = np.sort(pool[:max(2, round(fraction * pool.size))])
            learner = _make(candidate, min(cv, 3), random_state, 0)
            learner.fit(X[rows], Y[rows], should_stop=should_stop)
            P = learner.predict_mean_std(X[test], should_stop=should_stop)[0]
            q = quality_frame(names, Y[test], P, P, Y[rows].mean(axis=0))
            front = optimize(P, costs[test], method="hull", should_stop=should_stop)
            records.append({
                "fraction": fraction, "n_labelled": rows.size,
                "log_loss": float(log_loss_rows(Y[test], P).mean()),
                "auc": float(np.nanmean(q["auc"])) if q["auc"].notna().any() else np.nan,
                "hypervolume": evaluate(front, Y[test], costs[test], names).hypervolume})
    curve = pd.DataFrame(records).groupby("fraction", as_index=False).mean()
    curve.insert(0, "candidate", candidate.name)
    return curve

