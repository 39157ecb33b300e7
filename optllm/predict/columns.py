"""Extra columns of a table as predictor features: which to use, and their one-hot encoding.

Real tables carry columns that say much about how hard a query is for which model (task
category, source system, language, tenant). Any extra column may be used, except those that
belong to a model (`<m>`, `<m>_cost`, `<m>_answer`, any `<m>_...`): a model's output is not
known before the query is sent to it, so using it would fake the results. Columns holding a
reference answer (a name ending in "answer") are the truth the labels were made from; they
are never chosen automatically either.

`--feature-columns auto` (the default) takes the extra columns of low cardinality: at least
two distinct values and at most `AUTO_MAX_SHARE` of the rows (at least `AUTO_MIN_LEVELS`), the
shape of a category. `none` uses none; a list names them.

`CategoryEncoder` turns the chosen columns into sparse one-hot columns (levels seen at fit;
an unseen level or a missing cell is all-zero, so a linear model gives it no effect and the
group-rate learner the model's overall rate). `ColumnFeaturiser` puts a text featuriser and
the encoder side by side, for learners that use both.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Self

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin

from optllm.config import parse_feature_columns
from optllm.exceptions import ConfigError, NotFittedError
from optllm.predict.base import Features, Featuriser
from optllm.progress import ShouldStop

AUTO = "auto"
NONE = "none"
#: `auto` takes a column when its distinct values are at most this share of the rows...
AUTO_MAX_SHARE = 0.01
#: ...or at most this many (so a small table can still use a category of a few values).
AUTO_MIN_LEVELS = 5

FeatureColumns = str | tuple[str, ...]


def model_owned(column: str, models: Sequence[str]) -> bool:
    """Whether `column` belongs to a model: `<m>` itself or any `<m>_...` (its cost,
    answer, tokens...), known only after the query was sent to that model."""
    return any(column == m or column.startswith(f"{m}_") for m in models)


def candidate_columns(metadata: pd.DataFrame, models: Sequence[str]) -> list[str]:
    """The extra columns a predictor may use: every column not owned by a model."""
    return [str(c) for c in metadata.columns if not model_owned(str(c), models)]


def auto_columns(metadata: pd.DataFrame, models: Sequence[str]) -> list[str]:
    """The candidate columns shaped like a category (see the module docstring)."""
    limit = max(AUTO_MIN_LEVELS, int(AUTO_MAX_SHARE * len(metadata)))
    chosen = []
    for column in candidate_columns(metadata, models):
        if column.lower().endswith("answer"):
            continue
        distinct = metadata[column].nunique(dropna=True)
        if 2 <= distinct <= limit:
            chosen.append(column)
    return chosen


def choose_columns(metadata: pd.DataFrame, models: Sequence[str], spec: FeatureColumns,
                   where: str = "the data") -> list[str]:
    """The feature columns `spec` asks for; a name that is not an extra column, or that
    belongs to a model, is a ConfigError listing the columns available."""
    if isinstance(spec, str):
        spec = parse_feature_columns(spec)
    if spec == AUTO:
        return auto_columns(metadata, models)
    if spec == NONE:
        return []
    available = candidate_columns(metadata, models)
    for name in spec:
        if model_owned(name, models) and name in metadata.columns:
            raise ConfigError(f"feature column {name!r} belongs to a model: a model's output "
                              "is not known before the query is sent, so it cannot be a "
                              "feature")
        if name not in available:
            shown = ", ".join(repr(c) for c in available) or "none"
            raise ConfigError(f"{where} has no feature column {name!r}; extra columns "
                              f"available: {shown}")
    return list(dict.fromkeys(spec))


def category_values(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A column's cells as str (object array); missing cells as ""."""
    return frame[column].astype(object).where(frame[column].notna(), "").astype(str).to_numpy(
        dtype=object)


class CategoryEncoder(TransformerMixin, BaseEstimator):
    """One-hot encoding of categorical columns, sparse, levels learnt at fit.

    Parameters: `columns`, the column names (in order). Fitted attributes: `levels_` (per
    column, the sorted distinct values as str), `n_features_out_` (total levels).
    `transform(frame)` returns CSR float32 (n, n_features_out_); a value not seen at fit
    (or an empty cell not seen at fit) is all-zero in its column's block.
    """

    def __init__(self, columns: tuple[str, ...] = ()) -> None:
        self.columns = columns

    def fit(self, frame: pd.DataFrame, y: object = None) -> CategoryEncoder:
        """Learn each column's levels from `frame`; returns self."""
        self._check_frame(frame)
        self.levels_ = [np.unique(category_values(frame, c)).astype(str).tolist()
                        for c in self.columns]
        self.n_features_out_ = sum(len(levels) for levels in self.levels_)
        return self

    def _check_frame(self, frame: pd.DataFrame) -> None:
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            shown = ", ".join(repr(str(c)) for c in frame.columns) or "none"
            raise ConfigError(f"the predictor needs feature column(s) "
                              f"{', '.join(repr(c) for c in missing)}; columns found: {shown}")

    def transform(self, frame: pd.DataFrame) -> sp.csr_matrix:
        """One-hot rows of `frame`: (n, n_features_out_) CSR float32."""
        if not hasattr(self, "levels_"):
            raise NotFittedError("CategoryEncoder is not fitted; call fit(frame) first")
        self._check_frame(frame)
        n = len(frame)
        rows, cols = [], []
        offset = 0
        for column, levels in zip(self.columns, self.levels_, strict=True):
            codes = pd.Index(levels).get_indexer(category_values(frame, column))
            seen = np.flatnonzero(codes >= 0)
            rows.append(seen)
            cols.append(codes[seen].astype(np.int64) + offset)
            offset += len(levels)
        r = np.concatenate(rows) if rows else np.empty(0, np.int64)
        c = np.concatenate(cols) if cols else np.empty(0, np.int64)
        return sp.csr_matrix((np.ones(r.size, np.float32), (r, c)),
                             shape=(n, self.n_features_out_), dtype=np.float32)

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "levels_")


class ColumnFeaturiser(TransformerMixin, BaseEstimator):
    """A fitted text featuriser and a fitted `CategoryEncoder`, blocks side by side.

    `use_text` False leaves the text block out (a learner on the columns alone).
    `transform(texts, columns)` needs the encoder's columns (a DataFrame, one row per text);
    a missing column is a ConfigError naming it. Output as in `hstack_blocks`.
    """

    def __init__(self, text: Featuriser, encoder: CategoryEncoder, use_text: bool = True) -> None:
        self.text = text
        self.encoder = encoder
        self.use_text = use_text

    @property
    def n_features_out_(self) -> int:
        text = self.text.n_features_out_ if self.use_text else 0
        return int(text + self.encoder.n_features_out_)

    @property
    def feature_columns(self) -> list[str]:
        """The extra columns this featuriser reads."""
        return list(self.encoder.columns)

    def fit(self, texts: Iterable[object], y: object = None, *,
            should_stop: ShouldStop | None = None) -> Self:
        """The parts come fitted (the text block on every query, the encoder on the labelled
        rows' columns); fitting again refits the text block only."""
        self.text.fit(texts, should_stop=should_stop)
        return self

    def transform(self, texts: Iterable[object], columns: pd.DataFrame | None = None, *,
                  should_stop: ShouldStop | None = None) -> Features:
        """Text features (when used) then the one-hot columns of `columns`."""
        if columns is None:
            raise ConfigError(f"the predictor needs the feature column(s) "
                              f"{', '.join(repr(c) for c in self.encoder.columns)}")
        onehot = self.encoder.transform(columns)
        if not self.use_text:
            return onehot
        return hstack_blocks(self.text.transform(texts, should_stop=should_stop), onehot)


def hstack_blocks(text: Features, onehot: sp.csr_matrix) -> Features:
    """Text features beside the one-hot columns: CSR when the text block is sparse, else
    dense float32 (gradient boosting on an SVD projection)."""
    if onehot.shape[1] == 0:
        return text
    if sp.issparse(text):
        return sp.hstack([text, onehot], format="csr", dtype=np.float32)
    return np.hstack([np.asarray(text, dtype=np.float32), onehot.toarray()])


def featurise(featuriser: Featuriser, texts: Iterable[object],
              columns: pd.DataFrame | None = None, *,
              should_stop: ShouldStop | None = None) -> Features:
    """Features of `texts` by any fitted featuriser: a `ColumnFeaturiser` also reads
    `columns`, a text featuriser ignores them."""
    if isinstance(featuriser, ColumnFeaturiser):
        return featuriser.transform(texts, columns, should_stop=should_stop)
    return featuriser.transform(texts, should_stop=should_stop)


def used_columns(featuriser: Featuriser | None) -> list[str]:
    """The extra columns a fitted featuriser reads (none for a text featuriser)."""
    return featuriser.feature_columns if isinstance(featuriser, ColumnFeaturiser) else []
