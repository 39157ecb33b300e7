"""What the app shows of a front point, built off the UI thread: the point's details
(cost, honest expected accuracy and band, baseline, model shares) and the allocation
browser's table, filtered and sorted with pyarrow compute."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from optllm.data.dataset import Dataset
from optllm.evaluation import Evaluation
from optllm.optimizers.front import Front
from optllm.pipeline.run import Prediction, single_model_rows
from optllm.predict.calibration import relative_position


@dataclass(frozen=True)
class PointDetails:
    """What the Front screen shows beside the plot for one point.

    `expected` is the honest expected accuracy and `band` the half-width of its
    `NOMINAL_COVERAGE` band, the predictor's own error included (`Prediction.band`, as in
    front.csv and summary.json).
    The baseline is the best single model: by true accuracy when labels exist, else by
    expected accuracy.
    """

    index: int
    cost: float
    expected: float
    band: float
    true_accuracy: float | None
    baseline_model: str
    baseline_cost: float
    baseline_accuracy: float
    baseline_is_true: bool
    shares: tuple[tuple[str, float], ...]
    #: Every single-model allocation (model, cost, expected, true accuracy or None): a
    #: user's other choices, which the front may not contain.
    singles: tuple[tuple[str, float, float, float | None], ...] = ()


def point_details(front: Front, index: int, prediction: Prediction, allocated: Dataset,
                  evaluation: Evaluation | None) -> PointDetails:
    """Cost, expected and true accuracy, uncertainty band, baseline and model shares of a
    point (see PointDetails for the band and the baseline)."""
    allocation = front.allocation(index)
    models = allocated.models
    shares = np.bincount(allocation, minlength=len(models)) / max(1, allocation.size)
    if evaluation is not None:
        best = evaluation.best_single
        baseline = (best.model, best.cost, best.true_accuracy, True)
        true_accuracy: float | None = float(evaluation.true_accuracy[index])
    else:
        expected = prediction.scores.mean(axis=0)
        totals = allocated.cost.sum(axis=0)
        j = int(np.lexsort((totals, -expected))[0])
        baseline = (models[j], float(totals[j]), float(expected[j]), False)
        true_accuracy = None
    band = prediction.band(front.take(np.array([index])),
                           relative_position(front)[index:index + 1])
    return PointDetails(
        index=index,
        cost=float(front.cost[index]),
        expected=float(band.expected[0]),
        band=float(band.half_width[0]),
        true_accuracy=true_accuracy,
        baseline_model=baseline[0],
        baseline_cost=baseline[1],
        baseline_accuracy=baseline[2],
        baseline_is_true=baseline[3],
        shares=tuple(zip(models, (float(s) for s in shares), strict=True)),
        singles=tuple((s["model"], s["cost"], s["predicted_accuracy"], s["true_accuracy"])
                      for s in single_model_rows(allocated, prediction, evaluation)),
    )


def browser_table(allocated: Dataset, prediction: Prediction, allocation: np.ndarray
                  ) -> pa.Table:
    """What the allocation browser shows of a point, the long query text last.

    The export writes `pipeline.allocation_table` (every column); this builds only the
    shown ones, and builds the text columns with Arrow straight from the object arrays:
    the library's numpy `astype(str)` takes 2.7 s per million queries (and a fixed-width
    copy of every text), which alone would blow the one-second budget of this screen.
    The query prefix every query shares (a few-shot prompt) is left out, and named in
    the table's metadata (`stripped_prefix`).
    """
    rows = np.arange(allocation.size)
    label = np.where(allocated.labelled, allocated.labels[rows, allocation], -1)
    return pa.table({
        "query_id": pa.array(allocated.query_ids, type=pa.string()),
        "model": pa.DictionaryArray.from_arrays(pa.array(allocation.astype(np.int32)),
                                                pa.array(list(allocated.models))),
        "cost": pa.array(allocated.cost[rows, allocation]),
        "score": pa.array(prediction.scores[rows, allocation]),
        "uncertainty": pa.array(prediction.spread[rows, allocation]),
        "label": pa.array(label, mask=label < 0, type=pa.int8()),
        "query": pc.utf8_slice_codeunits(pa.array(allocated.queries, type=pa.string()),
                                         len(allocated.shared_prefix)),
    }, metadata={"stripped_prefix": allocated.shared_prefix})


def table_view(table: pa.Table, sort: str | None, descending: bool, model: str | None,
               limit: int, text: str | None = None) -> tuple[pa.Table, int]:
    """The first `limit` rows of the browser table filtered to one model and to queries
    containing `text` (ignoring case), sorted, and the number of rows before the cut, with
    pyarrow compute. Only the rows shown are gathered and rounded for reading (costs as
    8-decimal numbers, not 2.985e-05)."""
    view = table
    if model is not None:
        view = view.filter(pc.equal(view["model"], model))
    if text:
        view = view.filter(pc.match_substring(view["query"], text, ignore_case=True))
    rows = view.num_rows
    if sort is not None:
        order = "descending" if descending else "ascending"
        view = view.take(pc.sort_indices(view, sort_keys=[(sort, order)])[:limit])
    else:
        view = view.slice(0, limit)
    cost = pc.cast(pc.round(view["cost"], 8), pa.decimal128(18, 8), safe=False)
    view = view.set_column(view.schema.get_field_index("cost"), "cost", cost)
    for name in ("score", "uncertainty"):
        view = view.set_column(view.schema.get_field_index(name), name,
                               pc.round(view[name], 4))
    return view, rows
