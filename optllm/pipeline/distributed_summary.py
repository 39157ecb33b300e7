"""front.csv and summary.json of a run on the Dask engine, in the in-memory run's words
where they mean the same (`optllm.pipeline.report` prints both)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from optllm.config import RunConfig
from optllm.data.dataset import Dataset
from optllm.pipeline.distributed import DistributedAllocation
from optllm.pipeline.routing import Policy
from optllm.pipeline.run import front_columns
from optllm.predict import select as auto


def _front_points(result: DistributedAllocation) -> pd.DataFrame:
    """The front's points: moves applied (the in-memory hull front's point index before
    equal points are merged), total cost, expected accuracy."""
    return pd.DataFrame({"moves": result.front_moves, "cost": result.front_cost,
                         "predicted_accuracy": result.front_accuracy})


def front_table(result: DistributedAllocation) -> pd.DataFrame:
    """front.csv: the in-memory run's columns (`front_columns`), "point" the moves applied;
    what the engine does not compute per point is left empty."""
    frame = _front_points(result).rename(columns={"moves": "point"})
    return frame.reindex(columns=front_columns(result.models))


def summary(result: DistributedAllocation, config: RunConfig, policy: Policy,
            choice: auto.Choice, history: Dataset, batch: str,
            offered: Sequence[str] = ()) -> dict:
    """summary.json: sizes, the front, single models, the chosen point, what was written,
    the predictor and the prices."""
    content: dict = {
        "dataset": batch, "history": history.title, "engine": "dask", "method": "hull",
        "cost_unit": "usd", "models": list(result.models),
        "n_train": int(history.n_labelled), "n_allocated": result.n_queries,
        "front_points_total": result.n_moves + 1, "front_moves_total": result.n_moves,
        "front": _front_points(result).to_dict(orient="records"),
        "single_models": [
            {"model": m, "cost": float(c), "predicted_accuracy": float(a),
             "true_accuracy": None}
            for m, c, a in zip(result.models, result.model_cost, result.model_accuracy,
                               strict=True)],
        "predictor": {"learner": choice.candidate.learner,
                      "featuriser": choice.candidate.featuriser, "alpha": config.alpha,
                      "bootstraps": config.bootstraps, "reason": choice.reason,
                      "verdict": auto.verdict(policy.predictor.quality_),
                      "feature_columns": policy.feature_columns,
                      "feature_columns_offered": list(offered)},
        "costs": policy.cost_model.as_dict(),
        "timings_s": result.timings,
    }
    if result.unmet is not None:
        content["no_allocation_reason"] = result.unmet
    point = result.point
    if point is not None:
        content["selected"] = {
            "point": point.n_moves, "cost": point.cost,
            "predicted_accuracy": point.score / result.n_queries,
            "rate": point.rate if np.isfinite(point.rate) else None}
    if result.limits is not None:
        content["limits"] = result.limits.as_dict()
        content["front_note"] = ("the front is without the per-model limits; the selected "
                                 "point meets them")
        limited = result.limits.point
        if limited is not None:
            content["selected"] = {"point": None, "cost": limited.cost,
                                   "predicted_accuracy": limited.accuracy, "rate": None}
    if result.written is not None:
        content["allocation"] = {
            "files": [f.name for f in result.files],
            "queries_per_model": dict(zip(result.models, result.written.counts.tolist(),
                                          strict=True))}
    return content


def print_summary(content: dict) -> None:
    """The front, the single models and the chosen point, on stdout."""
    from optllm.pipeline import report as summary_text

    predictor = content["predictor"]
    print(f"predictor: {predictor['learner']} on {predictor['featuriser']} features")
    print(summary_text.feature_columns_line(predictor))
    print(summary_text.front_line(content) + " (exact; expected accuracy only)")
    lines = summary_text.single_model_lines(content)
    lines += summary_text.choice_lines(content)
    lines += summary_text.limit_lines(content)
    print("\n".join(lines))
