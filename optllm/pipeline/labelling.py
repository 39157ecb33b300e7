"""Choose which queries to label next, and simulate labelling rounds on labelled data.

Labels are the expensive input: each labelled query has been sent to every candidate model
and every answer judged. Which queries get labelled matters as much as how many, so a
strategy ranks the unlabelled queries from what the labelled ones taught the predictor:

- `random`: a uniform draw (the baseline every other strategy must beat);
- `uncertainty`: where the predictor is least sure about the models the front chooses between
  for that query (its cost-efficient models: none cheaper predicted as likely to succeed), by
  the bootstrap spread of their predicted success;
- `diverse`: k-means clusters of the text features, picking from the clusters with the
  lowest labelled share (a cluster without labels first), at random inside a cluster;
- `mixed` (the default): the clusters' shares as in `diverse`, the most uncertain queries
  inside each cluster. Uncertainty alone piles its picks into one corner of the text space
  when the predictor is wrong there with confidence; clusters alone ignore what was learnt.
  docs/labelling.md has the measurements behind the default.

The module lives in `pipeline` because it chains the pipeline's stages (train and predict,
optimise, evaluate), as `pipeline.run` does; it uses the predictor only through
`pipeline.run.train_and_predict`, so a better predictor makes better picks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import pyarrow as pa
from sklearn.cluster import KMeans
from sklearn.decomposition import TruncatedSVD
from sklearn.preprocessing import normalize

from optllm.config import DEFAULT_LABELLING_STRATEGY, MIN_TRAIN_ROWS, RunConfig
from optllm.data.dataset import Dataset, Split
from optllm.evaluation import evaluate
from optllm.exceptions import ConfigError, DatasetError
from optllm.optimizers.api import optimize
from optllm.pipeline.run import Prediction, train_and_predict
from optllm.predict.features import make_featuriser
from optllm.predict.xgboost import quality_frame
from optllm.progress import ProgressCallback, ShouldStop, check_cancelled, relabelled, report

#: Clusters of the text space `diverse` and `mixed` spread their picks over (fewer when
#: there are fewer candidate queries): enough to separate the kinds of query in a dataset,
#: few enough that each holds dozens of queries to pick from.
N_CLUSTERS = 20
#: Dimensions of the projection of the text features that k-means runs on: k-means on
#: 100,000 sparse TF-IDF columns is slow and dominated by rare n-grams.
CLUSTER_DIMENSIONS = 32
#: The text features the clusters are computed from (fitted on all texts, no labels).
CLUSTER_FEATURISER = "word+char"
DEFAULT_STRATEGY = DEFAULT_LABELLING_STRATEGY


class LabellingContext:
    """What the strategies rank by, computed once and only when a strategy asks for it:
    the predictor's predictions for the unlabelled queries (training is the costly part, and
    `random` needs none) and the text clusters.

    `dataset` carries labels only where `dataset.labelled`; `candidates` are the rows a
    strategy may pick (unlabelled; by default all of them); `clusters` the text clusters
    when known (they depend on the texts only: a simulation computes them once).
    """

    def __init__(self, dataset: Dataset, config: RunConfig, *, seed: int = 0,
                 candidates: np.ndarray | None = None, clusters: np.ndarray | None = None,
                 progress: ProgressCallback | None = None,
                 should_stop: ShouldStop | None = None) -> None:
        self.dataset = dataset
        self.config = config
        self.seed = seed
        self.labelled_rows = np.flatnonzero(dataset.labelled)
        self.unlabelled_rows = np.flatnonzero(~dataset.labelled)
        self.candidates = (self.unlabelled_rows if candidates is None
                           else np.asarray(candidates, dtype=np.intp))
        self._clusters = clusters
        self.progress = progress
        self.should_stop = should_stop

    @cached_property
    def prediction(self) -> Prediction:
        """Mean and spread of predicted success for every unlabelled row (in the order of
        `unlabelled_rows`), from the predictor fitted on the labelled rows."""
        if self.labelled_rows.size < MIN_TRAIN_ROWS:
            raise ConfigError(
                f"{self.dataset.source or self.dataset.title}: {self.labelled_rows.size} "
                f"labelled queries are too few to train on; label at least {MIN_TRAIN_ROWS} "
                "(one per cross-validation fold), e.g. with --strategy random")
        split = Split(self.labelled_rows, self.unlabelled_rows)
        return train_and_predict(self.dataset, split, self.config, progress=self.progress,
                                 should_stop=self.should_stop)

    @cached_property
    def candidate_positions(self) -> np.ndarray:
        """Where each candidate row sits in `unlabelled_rows` (and so in the prediction)."""
        return np.searchsorted(self.unlabelled_rows, self.candidates)

    @cached_property
    def clusters(self) -> np.ndarray:
        """The k-means cluster of every query (N,), on a projection of its text features
        (those the predictor was given when it has been trained: the same fit)."""
        if self._clusters is not None:
            return self._clusters
        report(self.progress, "clusters", 0, 1, "clustering the query texts")
        fitted = (self.prediction.choice.featurisers if "prediction" in self.__dict__
                  and self.prediction.choice is not None else {})
        featuriser = fitted.get(CLUSTER_FEATURISER) or make_featuriser(
            CLUSTER_FEATURISER, random_state=self.config.seed).fit(
                self.dataset.queries, should_stop=self.should_stop)
        X = featuriser.transform(self.dataset.queries, should_stop=self.should_stop)
        check_cancelled(self.should_stop, "clusters")
        k = int(min(N_CLUSTERS, max(1, self.candidates.size)))
        dims = min(CLUSTER_DIMENSIONS, X.shape[1] - 1, X.shape[0] - 1)
        if dims >= 2:
            X = normalize(TruncatedSVD(dims, random_state=self.config.seed).fit_transform(X))
        labels = KMeans(k, n_init=3, random_state=self.config.seed).fit_predict(X)
        report(self.progress, "clusters", 1, 1)
        return labels.astype(np.intp)

    @cached_property
    def uncertainty(self) -> tuple[np.ndarray, np.ndarray]:
        """Per candidate: (score, efficient-model mask (n, M)). The score is the mean
        bootstrap spread of predicted success over the query's cost-efficient models, the
        ones the front chooses between as the budget grows; a model with a cheaper (or as
        cheap) one predicted at least as likely to succeed is never chosen, so its spread
        does not matter."""
        positions = self.candidate_positions
        mean = self.prediction.mean[positions]
        spread = self.prediction.spread[positions]
        cost = self.dataset.cost[self.candidates]
        # dominated[i, j]: some other model k is no dearer and no less likely to succeed,
        # and better in one of the two (ties between identical models keep the first).
        cheaper = cost[:, None, :] <= cost[:, :, None]
        likelier = mean[:, None, :] >= mean[:, :, None]
        strictly = (cost[:, None, :] < cost[:, :, None]) | (mean[:, None, :] > mean[:, :, None])
        m = cost.shape[1]
        earlier = np.tri(m, m, -1, dtype=bool)  # k < j: the first of identical models stays
        dominated = (cheaper & likelier & (strictly | earlier[None])).any(axis=2)
        efficient = ~dominated
        score = (spread * efficient).sum(axis=1) / efficient.sum(axis=1)
        return score, efficient


@dataclass(frozen=True)
class Picks:
    """The chosen rows (indices into the dataset, best first) and why each was chosen."""

    rows: np.ndarray
    reasons: list[str]
    strategy: str


#: A strategy picks `n` of the context's candidates: (positions into `candidates`, reasons).
Strategy = Callable[[LabellingContext, int, np.random.Generator], tuple[np.ndarray, list[str]]]


def _random(context: LabellingContext, n: int, rng: np.random.Generator
            ) -> tuple[np.ndarray, list[str]]:
    picked = rng.choice(context.candidates.size, size=n, replace=False)
    return picked, ["random draw"] * n


def _uncertainty_reasons(context: LabellingContext, picked: np.ndarray) -> list[str]:
    score, efficient = context.uncertainty
    models = np.asarray(context.dataset.models, dtype=object)
    return [f"uncertain between {', '.join(models[efficient[i]])} "
            f"(mean spread {score[i]:.3f})" for i in picked]


def _tie_broken(rng: np.random.Generator, size: int) -> np.ndarray:
    """Random keys in [0, 1): break ties (the prior predicts every query alike) at random,
    not by row order (which often follows the source or the time of collection)."""
    return rng.random(size)


def _uncertainty(context: LabellingContext, n: int, rng: np.random.Generator
                 ) -> tuple[np.ndarray, list[str]]:
    score, _ = context.uncertainty
    picked = np.lexsort((_tie_broken(rng, score.size), -score))[:n]
    return picked, _uncertainty_reasons(context, picked)


def spread_over_clusters(clusters: np.ndarray, labelled_per_cluster: np.ndarray,
                         cluster_sizes: np.ndarray, order_key: np.ndarray, n: int
                         ) -> np.ndarray:
    """Pick `n` of the candidates (their `clusters`), one at a time from the cluster with
    the lowest labelled share so far (a cluster without labels first; ties: the larger
    cluster), inside a cluster by ascending `order_key`. Vectorised: the j-th pick from
    cluster c happens at share (labelled_c + j) / size_c, so the picks are the `n`
    candidates of lowest share at their rank in their cluster."""
    order = np.lexsort((order_key, clusters))
    sorted_clusters = clusters[order]
    starts = np.searchsorted(sorted_clusters, sorted_clusters, side="left")
    rank = np.arange(order.size) - starts
    share = (labelled_per_cluster[sorted_clusters] + rank) / cluster_sizes[sorted_clusters]
    best = np.lexsort((rank, -cluster_sizes[sorted_clusters], share))[:n]
    return order[best]


def _by_cluster(context: LabellingContext, n: int, order_key: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(picked positions, clusters of the candidates, labelled rows per cluster, sizes)."""
    clusters = context.clusters
    k = int(clusters.max()) + 1
    sizes = np.bincount(clusters, minlength=k).astype(np.float64)
    labelled = np.bincount(clusters[context.labelled_rows], minlength=k).astype(np.float64)
    candidate_clusters = clusters[context.candidates]
    picked = spread_over_clusters(candidate_clusters, labelled, sizes, order_key, n)
    return picked, candidate_clusters, labelled, sizes


def _cluster_reasons(picked: np.ndarray, clusters: np.ndarray, labelled: np.ndarray,
                     sizes: np.ndarray) -> list[str]:
    k = sizes.size
    return [f"cluster {clusters[i] + 1} of {k}: {int(labelled[clusters[i]])} of its "
            f"{int(sizes[clusters[i]])} queries labelled" for i in picked]


def _diverse(context: LabellingContext, n: int, rng: np.random.Generator
             ) -> tuple[np.ndarray, list[str]]:
    picked, clusters, labelled, sizes = _by_cluster(
        context, n, _tie_broken(rng, context.candidates.size))
    return picked, _cluster_reasons(picked, clusters, labelled, sizes)


def _mixed(context: LabellingContext, n: int, rng: np.random.Generator
           ) -> tuple[np.ndarray, list[str]]:
    score, _ = context.uncertainty
    # Most uncertain first inside a cluster; the tie-breaking keys are below 1e-9 of a
    # spread step, so they reorder only exact ties.
    key = -score + 1e-12 * _tie_broken(rng, score.size)
    picked, clusters, labelled, sizes = _by_cluster(context, n, key)
    return picked, [f"{c}; {u}" for c, u in zip(_cluster_reasons(picked, clusters, labelled,
                                                                 sizes),
                                               _uncertainty_reasons(context, picked),
                                               strict=True)]


#: Every strategy by name (the one registry the command, the app and the simulation use).
STRATEGIES: dict[str, Strategy] = {
    "random": _random,
    "uncertainty": _uncertainty,
    "diverse": _diverse,
    "mixed": _mixed,
}


#: The strategies that use the text clusters.
CLUSTERED = ("diverse", "mixed")


def check_strategy(name: str) -> Strategy:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ConfigError(f"unknown labelling strategy {name!r}; choose one of "
                          f"{', '.join(STRATEGIES)}") from None


def check_count(n: int, available: int, where: str) -> None:
    """Refuse a request for no queries, or more than there are unlabelled."""
    if available == 0:
        raise DatasetError(f"{where}: every query is labelled; there is nothing left to "
                           "choose")
    if not 1 <= n <= available:
        raise ConfigError(f"{where}: asked for {n} queries to label, but there are "
                          f"{available:,} unlabelled; ask for 1 to {available:,}")


def pick_next(context: LabellingContext, n: int, strategy: str = DEFAULT_STRATEGY
              ) -> Picks:
    """The `n` candidate queries `strategy` would label next, each with its reason."""
    chosen = check_strategy(strategy)
    where = context.dataset.source or context.dataset.title
    check_count(n, context.candidates.size, where)
    rng = np.random.default_rng(context.seed)
    positions, reasons = chosen(context, n, rng)
    check_cancelled(context.should_stop, "label next")
    return Picks(context.candidates[positions], reasons, strategy)


def picks_table(dataset: Dataset, picks: Picks) -> pa.Table:
    """The chosen queries in the wide input layout: `query_id`, `query`, why chosen
    (`reason`), each model's cost and an empty label column per model, ready to be filled
    in once the answers are judged and read back with `load_dataset`."""
    rows = picks.rows
    columns: dict[str, pa.Array] = {
        "query_id": pa.array(dataset.query_ids[rows].astype(str), type=pa.string()),
        "query": pa.array(dataset.queries[rows].astype(str), type=pa.string()),
        "reason": pa.array(picks.reasons, type=pa.string()),
    }
    for j, model in enumerate(dataset.models):
        columns[f"{model}_cost"] = pa.array(dataset.cost[rows, j])
    empty = pa.nulls(rows.size, type=pa.int8())
    for model in dataset.models:
        columns[model] = empty
    return pa.table(columns)


def merge_labels(dataset: Dataset, returned: Dataset) -> tuple[Dataset, int]:
    """`dataset` with the labels of `returned`'s labelled rows (matched by query id), and
    how many queries gained labels. Rows of `returned` still unlabelled are skipped (a
    partly judged file can be merged as it fills up); labels already present are
    overwritten by the file's."""
    where = returned.source or returned.title
    missing = [m for m in dataset.models if m not in returned.models]
    if missing:
        raise DatasetError(f"{where}: no label column for {', '.join(map(repr, missing))}; "
                           "the file must have one per model of the dataset")
    rows = np.flatnonzero(returned.labelled)
    ids = dataset.query_ids.astype(str)
    order = np.argsort(ids, kind="stable")
    wanted = returned.query_ids[rows].astype(str)
    at = np.searchsorted(ids[order], wanted)
    found = (at < ids.size) & (ids[order][np.minimum(at, ids.size - 1)] == wanted)
    if not found.all():
        first = int(np.argmin(found))
        raise DatasetError(f"{where}: row {rows[first] + 1}: query_id {str(wanted[first])!r} is "
                           f"not in {dataset.source or dataset.title}")
    targets = order[at]
    columns = [returned.models.index(m) for m in dataset.models]
    labels = dataset.labels.copy()
    labels[targets] = returned.labels[rows][:, columns]
    labelled = dataset.labelled.copy()
    gained = int((~labelled[targets]).sum())
    labelled[targets] = True
    return replace(dataset, labels=labels, labelled=labelled), gained


def hidden(dataset: Dataset, labelled: np.ndarray) -> Dataset:
    """`dataset` as if only the rows in the mask `labelled` had been labelled: the other
    rows' labels are zeroed, so no strategy can peek at them."""
    return replace(dataset, labels=np.where(labelled[:, None], dataset.labels, 0).astype(
        dataset.labels.dtype), labelled=labelled.copy())


@dataclass(frozen=True)
class Round:
    """One simulated round: labelled queries, and the front's measures on the evaluated
    rows (None where undefined)."""

    round: int
    labelled: int
    share: float
    predictor: str
    hypervolume: float | None
    cost_saving_at_best_accuracy: float | None
    accuracy_gain_at_best_cost: float | None
    mean_auc: float | None

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def _finite(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def measure_round(context: LabellingContext, truth: Dataset, rows: np.ndarray, number: int
                  ) -> Round:
    """The front of the context's predictions on `rows` (unlabelled in the context),
    scored with their true labels from `truth`; the predictor's mean AUC there."""
    positions = np.searchsorted(context.unlabelled_rows, rows)
    prediction = context.prediction
    scores = prediction.scores[positions]
    cost = truth.cost[rows]
    labels = truth.labels[rows]
    front = optimize(scores, cost, context.config.method, context.config.density,
                     should_stop=context.should_stop)
    ev = evaluate(front, labels, cost, truth.models, offer_single_models=True)
    base = labels.mean(axis=0)
    q = quality_frame(list(truth.models), labels.astype(np.float64),
                      prediction.mean[positions], np.broadcast_to(base, labels.shape), base)
    auc = float(np.nanmean(q["auc"])) if q["auc"].notna().any() else None
    choice = prediction.choice
    n_labelled = context.labelled_rows.size
    return Round(number, n_labelled, n_labelled / truth.n_queries,
                 choice.candidate.name if choice is not None else context.config.learner,
                 _finite(ev.hypervolume), _finite(ev.cost_saving_at_best_accuracy),
                 _finite(ev.accuracy_gain_at_best_cost), _finite(auc))


def rows_for_share(share: float, n: int, what: str) -> int:
    """Queries making up `share` of `n` (at least one)."""
    if not 0 < share < 1:
        raise ConfigError(f"{what} must be a share between 0 and 1 (exclusive), e.g. 0.01 "
                          f"for 1%; got {share}")
    return max(1, round(share * n))


def simulate(dataset: Dataset, *, start: float, step: float, rounds: int, strategy: str,
             seed: int = 0, config: RunConfig | None = None, holdout: float = 0.0,
             progress: ProgressCallback | None = None, should_stop: ShouldStop | None = None
             ) -> list[Round]:
    """Replay labelling on fully labelled `dataset`: hide the labels, label a random
    `start` share (at least `MIN_TRAIN_ROWS` queries), then `rounds` times add a `step`
    share chosen by `strategy` and retrain. Round 0 is the random start. Each round's front
    is scored on the still-unlabelled queries (what a run would allocate) or, with
    `holdout` > 0, on that random share of queries set aside from the start and never
    labelled (the same rows every round and for every strategy, so the evaluated set does
    not depend on which queries the strategy took). Reports ("labelling", round, rounds)."""
    where = dataset.source or dataset.title
    check_strategy(strategy)
    if rounds < 0:
        raise ConfigError(f"rounds must be 0 or more; got {rounds}")
    if not dataset.labelled.all():
        raise DatasetError(f"{where}: simulating needs every query labelled; "
                           f"{dataset.n_queries - dataset.n_labelled:,} are not")
    config = config or RunConfig(seed=seed)
    n = dataset.n_queries
    n_start = max(MIN_TRAIN_ROWS, rows_for_share(start, n, "start"))
    n_step = rows_for_share(step, n, "step")
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    n_holdout = round(holdout * n) if holdout else 0
    if not 0 <= holdout < 1:
        raise ConfigError(f"holdout must be a share from 0 to below 1; got {holdout}")
    test_rows = np.sort(order[:n_holdout])
    pool = order[n_holdout:]
    if n_start + rounds * n_step >= pool.size:
        raise ConfigError(f"{where}: {n_start} + {rounds} x {n_step} labelled queries "
                          f"leave none of the {pool.size:,} to evaluate on; use fewer "
                          "rounds or smaller shares")
    labelled = np.zeros(n, dtype=bool)
    labelled[pool[:n_start]] = True
    results = []
    clusters = None
    for number in range(rounds + 1):
        check_cancelled(should_stop, "labelling")
        report(progress, "labelling", number, rounds + 1,
               f"round {number}: training on {int(labelled.sum()):,} labelled queries")
        candidates = np.flatnonzero(~labelled)
        candidates = np.setdiff1d(candidates, test_rows, assume_unique=True)
        context = LabellingContext(hidden(dataset, labelled), config, seed=seed + number,
                                   candidates=candidates, clusters=clusters,
                                   progress=relabelled(progress, "labelling", number,
                                                       rounds + 1, f"round {number}"),
                                   should_stop=should_stop)
        evaluated = test_rows if n_holdout else context.unlabelled_rows
        results.append(measure_round(context, dataset, evaluated, number))
        if number < rounds:
            labelled[pick_next(context, n_step, strategy).rows] = True
            if strategy in CLUSTERED:
                clusters = context.clusters
    report(progress, "labelling", rounds + 1, rounds + 1)
    return results
