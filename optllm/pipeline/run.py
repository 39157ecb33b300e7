"""The whole pipeline as small stages: split, featurise, predict, optimise, evaluate, export.

The CLI chains them in `run`; the TUI calls the stages one by one from its workers.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa

from optllm.config import RunConfig, allocated_rows_note
from optllm.data.dataset import Dataset, Split, split_queries
from optllm.data.files import replaced_folder, write_json, write_table
from optllm.evaluation import EXPLANATIONS, Evaluation, cheapest_reaching, evaluate
from optllm.exceptions import ConfigError
from optllm.optimizers.api import StepEvent, iter_optimize
from optllm.optimizers.front import Front
from optllm.predict import select as auto
from optllm.predict.base import Features, Featuriser, Learner, robust_score
from optllm.predict.calibration import NOMINAL_COVERAGE, Band, coverage, front_band
from optllm.predict.columns import choose_columns, featurise, used_columns
from optllm.progress import ProgressCallback, ShouldStop, check_cancelled, report

if TYPE_CHECKING:
    from optllm.pipeline.limits import LimitedRun

#: Points of a front written to front.csv and summary.json at most (evenly by cost).
MAX_FRONT_POINTS = 2000
#: Allocated queries below which a run reports no headline measures (saving, gain, IGD,
#: spread, hypervolume): on a handful of queries they jump between extremes such as -100 pp
#: and mean nothing.
MIN_EVALUATED_QUERIES = 10


#: What each entry of summary.json's timings_s measured (seconds).
TIMINGS_EXPLAINED = {
    "costs": "counting tokens and pricing the batch (--allocate only)",
    "choose": "choosing the featuriser and learner by cross-validation",
    "train": "featurising the training sample and fitting the predictor",
    "features": "featurising the queries to allocate",
    "predict": "predicting their success per model",
    "learning_curve": "the learning curve (--learning-curve only)",
    "optimise": "searching the front",
    "evaluate": "scoring the front against the labels",
    "wall": "the whole run, end to end (wall clock)",
}


@dataclass
class Prediction:
    """Predicted success per allocated query and model: mean P, spread U, robust score S.

    `predictor` and `featuriser` are None in a reopened run (predictions only); `choice`
    says which featuriser and learner were used and why, with every candidate's score.
    `calibrated` is P calibrated out of fold (None where no calibration was fitted).
    """

    mean: np.ndarray
    spread: np.ndarray
    scores: np.ndarray
    predictor: Learner | None
    quality: pd.DataFrame
    featuriser: Featuriser | None
    choice: auto.Choice | None = None
    learning_curve: pd.DataFrame | None = None
    #: The extra columns the predictor reads, and those it was offered (`feature_columns`).
    feature_columns: list[str] = field(default_factory=list)
    offered_columns: list[str] = field(default_factory=list)
    calibrated: np.ndarray | None = None

    def band(self, front: Front, position: np.ndarray | None = None) -> Band:
        """Each point's honest expected accuracy and band (`optllm.predict.calibration`):
        calibrated P less the measured selection gap where the choice has them; the
        Bernoulli band of P with its spread otherwise (a reopened run). `position` as in
        `front_band`, for a few points taken from a front."""
        gap = self.choice.gap if self.choice is not None else None
        P = self.calibrated if self.calibrated is not None else self.mean
        return front_band(front, P, self.spread, gap, position)


def train_and_predict(dataset: Dataset, split: Split, config: RunConfig, *,
                      progress: ProgressCallback | None = None,
                      should_stop: ShouldStop | None = None,
                      timings: dict[str, float] | None = None) -> Prediction:
    """Choose (or take from `config`) the featuriser and learner, fit them on the training
    sample, and predict the queries to allocate."""
    timings = timings if timings is not None else {}
    offered = choose_columns(dataset.metadata, dataset.models, config.feature_columns,
                             dataset.source or dataset.title)
    columns = dataset.metadata[offered] if offered else None
    features_all: dict[str, Features] = {}
    featuriser, predictor, choice = auto.fit_predictor(
        dataset.queries, split.train, dataset.labels[split.train],
        costs_train=dataset.cost[split.train], featuriser=config.featuriser,
        learner=config.learner, n_bootstraps=config.bootstraps,
        model_names=list(dataset.models), random_state=config.seed, n_jobs=config.n_jobs,
        progress=progress, should_stop=should_stop, timings=timings, features_out=features_all,
        columns=columns)
    t0 = time.perf_counter()
    report(progress, "features", 0, 1, "featurising the queries to allocate")
    features = (features_all["all"][split.allocate] if "all" in features_all
                else featurise(featuriser, dataset.queries[split.allocate],
                               None if columns is None else columns.iloc[split.allocate],
                               should_stop=should_stop))
    del features_all
    report(progress, "features", 1, 1)
    timings["features"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    mean, spread = predictor.predict_mean_std(features, progress=progress,
                                              should_stop=should_stop)
    timings["predict"] = time.perf_counter() - t0
    curve = None
    if config.learning_curve:
        t0 = time.perf_counter()
        curve = auto.learning_curve(dataset.queries[split.train], dataset.labels[split.train],
                                    dataset.cost[split.train], choice,
                                    random_state=config.seed, should_stop=should_stop)
        timings["learning_curve"] = time.perf_counter() - t0
    calibrated = (choice.calibration.apply(mean) if choice.calibration is not None else None)
    return Prediction(mean, spread, robust_score(mean, spread, config.alpha), predictor,
                      predictor.quality_, featuriser, choice, curve, calibrated=calibrated,
                      feature_columns=used_columns(featuriser), offered_columns=offered)


def optimise_steps(prediction: Prediction, allocated: Dataset, config: RunConfig, *,
                   should_stop: ShouldStop | None = None
                   ) -> Generator[StepEvent | Front, None, Front]:
    """The optimiser's steps on the predicted scores; ends with the Front."""
    return iter_optimize(prediction.scores, allocated.cost, config.method, config.density,
                         should_stop=should_stop)


def n_steps(config: RunConfig) -> int:
    """Steps the optimiser reports: the extremes, then destruct + reconstruct d - 1 times
    from each end (one sweep for the hull)."""
    return 4 * config.density - 3 if config.method == "optllm" else 1


def call_costs(cost: np.ndarray) -> np.ndarray:
    """The cost matrix in calls to paid models: 1 per query for every model dearer (in
    total) than the cheapest, 0 for the cheapest and any model as cheap (the free or local
    baseline)."""
    totals = cost.sum(axis=0)
    paid = (totals > totals.min()).astype(np.float64)
    return np.broadcast_to(paid, cost.shape).copy()


def in_cost_unit(dataset: Dataset, unit: str) -> Dataset:
    """`dataset` with its costs in `unit` ("usd" as loaded, or "calls")."""
    return dataset if unit == "usd" else replace(dataset, cost=call_costs(dataset.cost))


def check_budget(allocated: Dataset, config: RunConfig) -> None:
    """Fail before any training when the budget cannot buy even the cheapest allocation."""
    cheapest = float(allocated.cost.min(axis=1).sum())
    if config.budget is not None and config.budget < cheapest:
        unit = "paid calls" if config.cost_unit == "calls" else "USD"
        raise ConfigError(f"budget {config.budget:.6g} {unit} is below the cheapest "
                          f"allocation of the {allocated.n_queries:,} queries "
                          f"({cheapest:.6g} {unit})")


def select_point(front: Front, config: RunConfig, expected: np.ndarray | None = None
                 ) -> int | None:
    """The point a budget or a target accuracy asks for, or None when neither is given.
    A target is met on `expected` (the honest expected accuracy per point) when given."""
    if config.budget is not None:
        return front.index_for_budget(config.budget)
    if config.target_accuracy is not None:
        return front.index_for_accuracy(config.target_accuracy, expected)
    return None


def allocation_table(allocated: Dataset, prediction: Prediction, allocation: np.ndarray
                     ) -> pa.Table:
    """The chosen allocation, one row per query: id, text, model, cost, score, spread, label."""
    rows = np.arange(allocation.size)
    models = np.asarray(allocated.models, dtype=object)
    label = np.where(allocated.labelled, allocated.labels[rows, allocation], -1)
    return pa.table({
        "query_id": pa.array(allocated.query_ids, type=pa.string()),
        "query": pa.array(allocated.queries, type=pa.string()),
        "model": pa.DictionaryArray.from_arrays(
            pa.array(allocation.astype(np.int32)), pa.array(models, type=pa.string())),
        "cost": pa.array(allocated.cost[rows, allocation]),
        "score": pa.array(prediction.scores[rows, allocation]),
        "probability": pa.array(prediction.mean[rows, allocation]),
        "uncertainty": pa.array(prediction.spread[rows, allocation]),
        "label": pa.array(label.astype(np.float64), mask=label < 0).cast(pa.int8()),
    })


def accuracy_std(front: Front, spread: np.ndarray) -> np.ndarray:
    """Per front point, the std of its expected accuracy: sqrt(sum of U^2) / N over its
    allocation, treating the per-query predictions as independent."""
    return np.sqrt(front.totals(np.square(spread))) / max(front.n_queries, 1)


def front_columns(models: Sequence[str]) -> list[str]:
    """front.csv's columns in order, for every run, in memory or on the Dask engine; a
    value a run cannot give is left empty (a batch has no true accuracy, the Dask engine
    no spread, band or counts per point). Costs are in the run's unit (USD on Dask)."""
    return ["point", "cost", "predicted_accuracy", "predicted_accuracy_std",
            "expected_accuracy", "expected_low", "expected_high", "true_accuracy",
            *(f"queries_{model}" for model in models)]


def front_frame(front: Front, evaluation: Evaluation | None, spread: np.ndarray | None = None,
                max_points: int = MAX_FRONT_POINTS, models: tuple[str, ...] = (),
                band: Band | None = None) -> pd.DataFrame:
    """The front's points (at most `max_points`, evenly by cost) with true accuracy,
    given the per-query `spread` the uncertainty band of the expected accuracy, given the
    `band` the honest expected accuracy and its band (`expected_*`), and given the `models`
    the number of queries each point sends to each (`queries_<model>`)."""
    points = front.thin(max_points)
    true_acc = (evaluation.true_accuracy[points] if evaluation is not None
                else np.full(points.size, np.nan))
    frame = pd.DataFrame({
        "point": points,
        "cost": front.cost[points],
        "predicted_accuracy": front.accuracy[points],
        "true_accuracy": true_acc,
    })
    if spread is not None:
        frame.insert(3, "predicted_accuracy_std", accuracy_std(front, spread)[points])
    if band is not None:
        at = frame.columns.get_loc("true_accuracy")
        for offset, (name, values) in enumerate((("expected_accuracy", band.expected),
                                                 ("expected_low", band.low),
                                                 ("expected_high", band.high))):
            frame.insert(at + offset, name, values[points])
    if models:
        counts = front.take(points).queries_per_model(len(models))
        for j, model in enumerate(models):
            frame[f"queries_{model}"] = counts[:, j]
        frame = frame.reindex(columns=front_columns(models))
    return frame


def single_model_rows(allocated: Dataset, prediction: Prediction,
                      evaluation: Evaluation | None) -> list[dict]:
    """Every single-model allocation a user could choose instead of a front point: its
    cost, expected accuracy and (with labels) true accuracy. The front may not contain
    them (the predictor can prefer a cheaper model on some queries), so they are listed."""
    cost = allocated.cost.sum(axis=0)
    expected = prediction.scores.mean(axis=0)
    true = ({s.model: s.true_accuracy for s in evaluation.singles}
            if evaluation is not None else {})
    return [{"model": model, "cost": float(cost[j]), "predicted_accuracy": float(expected[j]),
             "true_accuracy": true.get(model)} for j, model in enumerate(allocated.models)]


@dataclass
class RunResult:
    """Everything a run produced, ready to be written or shown."""

    dataset: Dataset
    config: RunConfig
    split: Split
    prediction: Prediction
    front: Front
    evaluation: Evaluation | None
    selected: int | None
    timings: dict[str, float] = field(default_factory=dict)
    #: Why no point was selected although a budget or target was given (it is out of the
    #: front's reach); the front and summary are still written, the allocation is not.
    unmet: str | None = None
    #: Each point's honest expected accuracy and band (`Prediction.band`).
    band: Band | None = None
    #: The run's per-model limits and the point solved under them (config.limits).
    limits: LimitedRun | None = None

    @property
    def allocated(self) -> Dataset:
        return self.dataset.subset(self.split.allocate)

    def _predictor_summary(self) -> dict:
        """Which learner and featuriser, why, how well against the prior, and whether more
        labels would pay."""
        p = self.prediction
        return {
            "learner": p.choice.candidate.learner if p.choice else self.config.learner,
            "featuriser": p.choice.candidate.featuriser if p.choice else self.config.featuriser,
            "requested": {"learner": self.config.learner, "featuriser": self.config.featuriser,
                          "feature_columns": self.config.feature_columns},
            "feature_columns": p.feature_columns,
            "feature_columns_offered": p.offered_columns,
            "bootstraps": self.config.bootstraps,
            "alpha": self.config.alpha,
            "quality": p.quality.to_dict(orient="records"),
            "verdict": auto.verdict(p.quality),
            "reason": p.choice.reason if p.choice else None,
            "candidates": p.choice.scores.to_dict(orient="records") if p.choice else None,
            "learning_curve": (p.learning_curve.to_dict(orient="records")
                               if p.learning_curve is not None else None),
        }

    def _band_fields(self, k: int) -> dict[str, float]:
        """Point k's honest expected accuracy and band, for summary.json."""
        if self.band is None:
            return {}
        return {"expected_accuracy": float(self.band.expected[k]),
                "expected_low": float(self.band.low[k]),
                "expected_high": float(self.band.high[k])}

    def calibration_report(self) -> dict | None:
        """How the expected accuracy was made honest, and (with labels on enough allocated
        queries) how honest it was: band coverage and the mean gap expected - true over the
        front's points."""
        if self.band is None:
            return None
        calibration = self.prediction.choice.calibration if self.prediction.choice else None
        gap = self.prediction.choice.gap if self.prediction.choice else None
        report: dict = {
            "method": calibration.method if calibration else None,
            "method_log_loss": calibration.log_loss if calibration else None,
            "selection_gap_folds": gap.n_folds if gap else None,
            "nominal": NOMINAL_COVERAGE, "coverage": None, "mean_gap": None,
            "mean_abs_gap": None}
        if self.measures()["hypervolume"] is not None and self.evaluation is not None:
            report |= coverage(self.band, self.evaluation.true_accuracy)
        return report

    def measures(self) -> dict[str, float | None]:
        """The headline measures of the evaluation: None each when there is no evaluation,
        when it has fewer than `MIN_EVALUATED_QUERIES` queries or a true front of one point
        (nothing to trade), and where a measure is undefined (NaN)."""
        ev = self.evaluation
        names = ("cost_saving_at_best_accuracy", "accuracy_gain_at_best_cost", "igd", "spread",
                 "hypervolume")
        if ev is None or self.split.allocate.size < MIN_EVALUATED_QUERIES or ev.truth.cost.size < 2:
            return dict.fromkeys(names)
        values = ev.as_dict()
        return {name: None if values[name] is None or not np.isfinite(values[name])
                else float(values[name]) for name in names}

    def quality_report(self) -> dict | None:
        """The cheapest choice (a front point or a single model) reaching `report_at` of the
        best single model's accuracy: true accuracy with labels, expected without."""
        share = self.config.report_at
        if share is None:
            return None
        singles = single_model_rows(self.allocated, self.prediction, self.evaluation)
        basis = "true" if self.evaluation is not None else "predicted"
        front_accuracy = (self.evaluation.true_accuracy if self.evaluation is not None
                          else self.front.accuracy)
        single_accuracy = np.array([s[f"{basis}_accuracy"] for s in singles], dtype=float)
        single_cost = np.array([s["cost"] for s in singles])
        best = int(np.lexsort((single_cost, -single_accuracy))[0])
        target = share * single_accuracy[best]
        n = len(self.front)
        costs = np.concatenate((self.front.cost, single_cost))
        accuracies = np.concatenate((front_accuracy, single_accuracy))
        k = cheapest_reaching(costs, accuracies, target)
        report = {"share": share, "basis": basis, "reference_model": singles[best]["model"],
                  "reference_accuracy": float(single_accuracy[best]),
                  "target_accuracy": float(target), "choice": None, "cost": None,
                  "accuracy": None, "saving": None}
        if k is not None:
            report.update(
                choice=f"front point {k}" if k < n else f"all queries to {singles[k - n]['model']}",
                cost=float(costs[k]), accuracy=float(accuracies[k]),
                saving=float(1 - costs[k] / single_cost[best]) if single_cost[best] > 0 else None)
        return report

    def summary(self) -> dict:
        """The contents of summary.json."""
        ev = self.evaluation
        frame = front_frame(self.front, ev, self.prediction.spread, band=self.band)
        summary = {
            "dataset": self.dataset.title,
            "synthetic": self.dataset.synthetic,
            "models": list(self.dataset.models),
            "n_train": int(self.split.train.size),
            "n_allocated": int(self.split.allocate.size),
            "allocation_rows": allocated_rows_note(self.split.train.size,
                                                   self.split.allocate.size),
            "method": self.front.method,
            "cost_unit": self.config.cost_unit,
            "status": self.front.status,
            "front_points_total": len(self.front),
            "front": [
                {"point": int(r.point), "cost": r.cost,
                 "predicted_accuracy": r.predicted_accuracy,
                 "predicted_accuracy_std": r.predicted_accuracy_std,
                 **self._band_fields(int(r.point)),
                 "true_accuracy": None if np.isnan(r.true_accuracy) else r.true_accuracy}
                for r in frame.itertuples()
            ],
            "single_models": single_model_rows(self.allocated, self.prediction, ev),
            "best_single_model": ev.best_single.model if ev else None,
            **self.measures(),
            "explanations": EXPLANATIONS,
            "predictor": self._predictor_summary(),
            "calibration": self.calibration_report(),
            "timings_s": self.timings,
            "timings_explained": TIMINGS_EXPLAINED,
        }
        if self.config.report_at is not None:
            summary["at_quality"] = self.quality_report()
        if self.unmet is not None:
            summary["no_allocation_reason"] = self.unmet
        if self.limits is not None:
            summary["limits"] = self.limits.as_dict()
        if self.selected is not None:
            k = self.selected
            summary["selected"] = {
                "point": k, "cost": float(self.front.cost[k]),
                "predicted_accuracy": float(self.front.accuracy[k]),
                "predicted_accuracy_std": float(
                    accuracy_std(self.front.take(np.array([k])), self.prediction.spread)[0]),
                **self._band_fields(k),
                "true_accuracy": float(ev.true_accuracy[k]) if ev else None,
            }
        return summary


def evaluate_front(front: Front, allocated: Dataset) -> Evaluation | None:
    """Evaluate against the labels when every allocated query has them, else None."""
    if allocated.n_queries == 0 or not allocated.labelled.all():
        return None
    return evaluate(front, allocated.labels, allocated.cost, allocated.models,
                    offer_single_models=True)


@dataclass(frozen=True)
class TrainedSplit:
    """A split's data in the run's cost unit, its queries to allocate and their prediction:
    what `optllm run` and the app's Train step both build, with `train_split`."""

    dataset: Dataset
    allocated: Dataset
    prediction: Prediction


def train_split(dataset: Dataset, split: Split, config: RunConfig, *,
                progress: ProgressCallback | None = None, should_stop: ShouldStop | None = None,
                timings: dict[str, float] | None = None) -> TrainedSplit:
    """Put the costs in `config.cost_unit`, check the budget can be met at all and the
    limits name known models, then train on `split.train` and predict `split.allocate`."""
    dataset = in_cost_unit(dataset, config.cost_unit)
    allocated = dataset.subset(split.allocate)
    check_budget(allocated, config)
    if config.limits:
        from optllm.pipeline.limits import check_limit_models

        check_limit_models(config, allocated.models, allocated.n_queries)
    prediction = train_and_predict(dataset, split, config, progress=progress,
                                   should_stop=should_stop, timings=timings)
    return TrainedSplit(dataset, allocated, prediction)


def run_split(dataset: Dataset, split: Split, config: RunConfig, *,
              progress: ProgressCallback | None = None, should_stop: ShouldStop | None = None,
              timings: dict[str, float] | None = None) -> RunResult:
    """Train on `split.train`, then predict, optimise, evaluate and select on
    `split.allocate`, timing each stage into `timings`."""
    timings = timings if timings is not None else {}
    trained = train_split(dataset, split, config, progress=progress, should_stop=should_stop,
                          timings=timings)
    dataset, allocated, prediction = trained.dataset, trained.allocated, trained.prediction
    t0 = time.perf_counter()
    front = None
    for item in optimise_steps(prediction, allocated, config, should_stop=should_stop):
        if isinstance(item, Front):
            front = item
        else:
            report(progress, "optimise", item.step, n_steps(config), f"{item.side} {item.phase}")
    assert front is not None
    check_cancelled(should_stop, "optimise")
    limits, limits_unmet = None, None
    if config.limits:
        from optllm.pipeline.limits import limited_front

        front, limits, limits_unmet = limited_front(
            front, prediction.scores, allocated.cost, config, allocated.models,
            should_stop=should_stop, progress=progress)
    timings["optimise"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    evaluation = evaluate_front(front, allocated)
    timings["evaluate"] = time.perf_counter() - t0
    band = prediction.band(front)
    try:
        selected, unmet = select_point(front, config, band.expected), limits_unmet
    except ConfigError as exc:
        selected, unmet = None, limits_unmet or str(exc)
    if limits_unmet is not None:
        selected = None
    return RunResult(dataset, config, split, prediction, front, evaluation, selected, timings,
                     unmet, band, limits)


def run(dataset: Dataset, config: RunConfig, *, progress: ProgressCallback | None = None,
        should_stop: ShouldStop | None = None) -> RunResult:
    """Split the labelled queries, then train, predict, optimise, evaluate and select."""
    config.check()
    started = time.perf_counter()
    split = split_queries(dataset, config.train_fraction, config.seed)
    result = run_split(dataset, split, config, progress=progress, should_stop=should_stop)
    result.timings["wall"] = time.perf_counter() - started
    return result


#: The files `write_outputs` produces; a run folder is replaced as a whole (see
#: `export.replaced_folder`), so an allocation.csv of an earlier run never outlives it.
OUTPUT_NAMES = ("config.json", "front.csv", "summary.json", "allocation.csv")


def write_outputs(result: RunResult, out_dir: str | Path, *, force: bool = False) -> list[Path]:
    """Write config.json, front.csv, summary.json and (with a selected point)
    allocation.csv into `out_dir`, all or nothing: a crash or an error leaves the folder's
    earlier files, a success leaves exactly this run's (other files in it are kept)."""
    out = Path(out_dir)
    with replaced_folder(out, OUTPUT_NAMES, force=force) as staging:
        write_json({"dataset": result.dataset.source or result.dataset.title,
                    **result.config.as_dict()}, staging / "config.json")
        write_table(front_frame(result.front, result.evaluation, result.prediction.spread,
                                models=result.dataset.models, band=result.band),
                    staging / "front.csv")
        write_json(result.summary(), staging / "summary.json")
        names: tuple[str, ...] = OUTPUT_NAMES[:3]
        if result.selected is not None:
            table = allocation_table(result.allocated, result.prediction,
                                     result.front.allocation(result.selected))
            write_table(table, staging / "allocation.csv")
            names = OUTPUT_NAMES
    return [out / name for name in names]
