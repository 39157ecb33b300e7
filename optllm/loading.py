"""Read dataset files (CSV, Parquet, JSON Lines; wide or long layout) into a validated `Dataset`.

Every problem raises `DatasetError` naming the file, the data row ("row 1" is the first row
after the header, or the first record of a JSON Lines file), the column and what is wrong, so a
user can fix the file without a debugger. Checks run on whole columns: a million-row file costs
one pandas read and a few array passes, never a Python loop per row.

Layouts (see docs/data.md):

- wide: one row per query; `query`, and per model `m` a cost column `<m>_cost` and a label
  column `<m>` (1 correct, 0 wrong, empty unlabelled). The query id comes from `query_id`, else
  from an unnamed leading index column, else it is the row number. Other columns are metadata.
- long: one row per (query, model): `query_id, query, model, cost, correct`. Other columns are
  metadata: kept once per query when constant within a query, else spread to `<m>_<column>`.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import re
import warnings
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from optllm.dataset import Dataset
from optllm.exceptions import ConfigError, DatasetError
from optllm.export import atomic_path

FORMATS = ("csv", "parquet", "jsonl")
LAYOUTS = ("wide", "long")
LONG_COLUMNS = ("query_id", "query", "model", "cost", "correct")

_EXTENSIONS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet",
               ".jsonl": "jsonl", ".ndjson": "jsonl"}
# Header names an unnamed leading index column gets: raw CSV, pandas, pyarrow.
_INDEX_NAMES = ("", "Unnamed: 0", "__index_level_0__")
_LABEL_WORDS = {"0": 0.0, "1": 1.0, "0.0": 0.0, "1.0": 1.0, "false": 0.0, "true": 1.0}
_ACCEPTED_LABELS = "0/1, 0.0/1.0, True/False, or empty for unlabelled"


def load_dataset(path: str | os.PathLike[str], *, layout: str | None = None,
                 file_format: str | None = None, name: str | None = None) -> Dataset:
    """Read and validate a dataset file.

    Parameters
    ----------
    path : file to read; `.csv`, `.csv.gz`, `.parquet`, `.jsonl`/`.ndjson` (optionally `.gz`).
    layout : "wide" or "long"; detected from the columns when None (long has `model`, `cost`).
    file_format : "csv", "parquet" or "jsonl"; overrides the extension.
    name : dataset name; defaults to the file name without its extensions.

    Raises
    ------
    DatasetError
        The file is missing, unreadable or malformed; the message says where and why.

    Examples
    --------
    >>> from optllm.default_data import default_dataset_path
    >>> load_dataset(default_dataset_path()).n_models
    8
    """
    path = Path(path)
    if layout is not None and layout not in LAYOUTS:
        raise ConfigError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    if file_format is not None and file_format not in FORMATS:
        raise ConfigError(f"file_format must be one of {FORMATS}, got {file_format!r}")
    if not path.is_file():
        raise DatasetError(f"{path}: file not found")
    detected, gz = detect_format(path)
    fmt = file_format or detected
    if fmt is None:
        raise DatasetError(f"{path}: unknown file extension {''.join(path.suffixes)!r}; use "
                           ".csv, .csv.gz, .parquet, .jsonl or .ndjson, or pass file_format")
    frame = _read_frame(path, fmt, gz)
    if frame.shape[1] == 0:
        raise DatasetError(f"{path}: the file is empty")
    if frame.shape[0] == 0:
        raise DatasetError(f"{path}: no data rows (the file has a header only)")
    if layout is None:
        layout = "long" if {"model", "cost"} <= set(frame.columns) else "wide"
    parse = _parse_long if layout == "long" else _parse_wide
    query_ids, queries, models, cost, label_values, metadata = parse(frame, str(path))
    labels, labelled = _label_matrix(label_values)
    return Dataset(name=name or stem(path), query_ids=query_ids, queries=queries,
                   models=models, cost=cost, labels=labels, labelled=labelled,
                   metadata=metadata, synthetic=False, source=str(path))


def write_wide(dataset: Dataset, path: str | os.PathLike[str]) -> Path:
    """Write `dataset` as a wide table; the format follows the extension, as in `load_dataset`.

    The file appears atomically (written beside the target, synced, then renamed), so a reader
    or a crash never leaves half a file. Gzip output has no time stamp or inner name, so the
    same dataset always gives the same bytes. JSON Lines keeps 15 significant digits of costs.
    """
    path = Path(path)
    fmt, gz = detect_format(path)
    if fmt is None:
        raise DatasetError(f"{path}: unknown file extension {''.join(path.suffixes)!r}")
    frame = _wide_frame(dataset)
    with atomic_path(path, force=True) as tmp:
        if fmt == "parquet":
            frame.to_parquet(tmp, index=False)
        else:
            with _text_sink(tmp, gz) as sink:
                if fmt == "csv":
                    frame.to_csv(sink, index=False)
                else:
                    frame.to_json(sink, orient="records", lines=True, force_ascii=False,
                                  double_precision=15)
    return path


# ----------------------------------------------------------------------------- reading files


def detect_format(path: Path) -> tuple[str | None, bool]:
    """(format or None, gzipped) from the extension, e.g. `x.csv.gz` -> ("csv", True)."""
    suffixes = [s.lower() for s in path.suffixes]
    gz = bool(suffixes) and suffixes[-1] == ".gz"
    if gz:
        suffixes = suffixes[:-1]
    return (_EXTENSIONS.get(suffixes[-1]) if suffixes else None), gz


def stem(path: Path) -> str:
    name = path.name
    if name.lower().endswith(".gz"):
        name = name[:-3]
    base, ext = os.path.splitext(name)
    return base if ext.lower() in _EXTENSIONS else name


def _read_frame(path: Path, fmt: str, gz: bool) -> pd.DataFrame:
    try:
        if fmt == "csv":
            return _read_csv(path, gz)
        if fmt == "parquet":
            return _read_parquet(path)
        return _read_jsonl(path, gz)
    except UnicodeDecodeError:
        raise _encoding_error(path, gz) from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise DatasetError(f"{path}: not a readable gzip file ({exc})") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the file ({exc})") from None


def _read_csv(path: Path, gz: bool) -> pd.DataFrame:
    compression = "gzip" if gz else None
    try:
        first = pd.read_csv(path, header=None, nrows=1, dtype=str, na_filter=False,
                            encoding="utf-8", compression=compression)
    except pd.errors.EmptyDataError:
        raise DatasetError(f"{path}: the file is empty") from None
    header = [str(h) for h in first.iloc[0]]
    _check_unique_columns(str(path), header)
    # Read id, text and model columns as text (keeps ids like "007"), infer the rest, then
    # re-check every cost and label column below rather than trusting the inferred types.
    names = [h or f"Unnamed: {i}" for i, h in enumerate(header)]
    text_columns = {"query_id", "query", "model"} | ({names[0]} if header[0] == "" else set())
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(path, dtype={c: str for c in text_columns if c in names},
                               keep_default_na=False, na_values=[""], index_col=False,
                               low_memory=False, encoding="utf-8", compression=compression)
    except pd.errors.ParserWarning:
        raise DatasetError(f"{path}: row 1 has more fields than the header "
                           f"({len(header)} columns)") from None
    except pd.errors.ParserError as exc:
        # pandas counts records from the header ("line 3" = data row 2), not physical lines.
        found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if found is None:
            raise DatasetError(f"{path}: malformed CSV ({exc})") from None
        expected, line, saw = (int(g) for g in found.groups())
        raise DatasetError(f"{path}: malformed CSV: row {line - 1} has {saw} fields but the "
                           f"header has {expected}") from None


def _read_parquet(path: Path) -> pd.DataFrame:
    if path.stat().st_size == 0:
        raise DatasetError(f"{path}: the file is empty")
    try:
        _check_unique_columns(str(path), pq.read_schema(path).names)
        table = pq.ParquetFile(path).read()
    except (pa.ArrowException, OSError) as exc:
        raise DatasetError(f"{path}: not a readable Parquet file ({exc})") from None
    return table.to_pandas(ignore_metadata=True)


def _read_jsonl(path: Path, gz: bool) -> pd.DataFrame:
    try:
        frame = pd.read_json(path, lines=True, dtype=False, precise_float=True, encoding="utf-8",
                             compression="gzip" if gz else None)
    except ValueError as exc:
        raise json_error(path, gz, str(exc)) from None
    if not all(isinstance(c, str) for c in frame.columns):
        raise json_error(path, gz, "a line is not a JSON object")
    return frame


def json_error(path: Path, gz: bool, detail: str) -> DatasetError:
    """Find the first bad line (only on the error path, so a line loop costs nothing normally)."""
    opener = gzip.open if gz else open
    with opener(path, "rt", encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                return DatasetError(f"{path}: line {number}: invalid JSON ({exc.msg} at "
                                    f"character {exc.colno})")
            if not isinstance(record, dict):
                return DatasetError(f"{path}: line {number}: expected a JSON object "
                                    f"{{...}}, got {type(record).__name__}")
    return DatasetError(f"{path}: cannot read JSON Lines ({detail})")


def _encoding_error(path: Path, gz: bool) -> DatasetError:
    data = gzip.decompress(path.read_bytes()) if gz else path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        where = "after decompression, " if gz else ""
        return DatasetError(f"{path}: not UTF-8 text: {where}byte {exc.start} (line {line}) is "
                            f"0x{data[exc.start]:02x}; save the file as UTF-8")
    return DatasetError(f"{path}: not UTF-8 text")


def _check_unique_columns(where: str, header: Sequence[str]) -> None:
    """Reject repeated column names, which pandas would silently rename to `x.1`."""
    seen: dict[str, int] = {}
    for position, column in enumerate(header, start=1):
        if column in seen:
            raise DatasetError(f"{where}: duplicate column {column!r} (columns "
                               f"{seen[column]} and {position}); each model and column must "
                               "appear once")
        seen[column] = position


# ----------------------------------------------------------------------------- layouts

_Parsed = tuple[np.ndarray, np.ndarray, tuple[str, ...], np.ndarray, np.ndarray, pd.DataFrame]


def _parse_wide(frame: pd.DataFrame, where: str) -> _Parsed:
    columns = [str(c) for c in frame.columns]
    present = set(columns)
    if "query" not in present:
        hint = (" (only one column was found: is the file comma-separated?)"
                if len(columns) == 1 else "")
        raise DatasetError(f"{where}: no 'query' column; columns found: "
                           f"{_names(columns)}{hint}")
    models = [c[: -len("_cost")] for c in columns if c.endswith("_cost") and c != "_cost"]
    for model in models:
        if model not in present:
            raise DatasetError(f"{where}: model {model!r} has a cost column '{model}_cost' "
                               f"but no label column {model!r}")
    for column in columns:
        model = column[: -len("_answer")]
        if column.endswith("_answer") and model in present and f"{model}_cost" not in present:
            raise DatasetError(f"{where}: model {model!r} has a label column {model!r} but no "
                               f"cost column '{model}_cost'")
    _check_model_count(where, models)
    if "query_id" in present:
        id_column: str | None = "query_id"
    else:
        id_column = columns[0] if columns[0] in _INDEX_NAMES else None
    if id_column is None:
        query_ids = np.arange(1, len(frame) + 1).astype(str).astype(object)
    else:
        query_ids = _ids(frame[id_column], where, id_column)
    _check_unique_ids(query_ids, where, id_column or "query_id")
    queries = _texts(frame["query"], where, "query")
    cost_columns = [f"{m}_cost" for m in models]
    cost = _cost_matrix([frame[c] for c in cost_columns], where, cost_columns)
    labels = _label_values([frame[m] for m in models], where, models)
    row = _first_partial_row(labels)
    if row is not None:
        missing = models[int(np.argmax(np.isnan(labels[row])))]
        raise DatasetError(f"{where}: row {row + 1}, column {missing!r}: this row is "
                           f"{_partial_text(labels[row], models)}")
    used = {*cost_columns, *models, "query", *([id_column] if id_column else [])}
    metadata = frame[[c for c in frame.columns if c not in used]].reset_index(drop=True)
    return query_ids, queries, tuple(models), cost, labels, metadata


def _parse_long(frame: pd.DataFrame, where: str) -> _Parsed:
    if frame.columns[0] in _INDEX_NAMES:  # a saved row index of the long table: no meaning
        frame = frame.drop(columns=frame.columns[0])
    missing = [c for c in LONG_COLUMNS if c not in frame.columns]
    if missing:
        raise DatasetError(f"{where}: the long layout needs columns {', '.join(LONG_COLUMNS)};"
                           f" missing: {', '.join(missing)}")
    row_ids = _ids(frame["query_id"], where, "query_id")
    row_models = _texts(frame["model"], where, "model")
    row_texts = _texts(frame["query"], where, "query")
    query_codes, query_ids = pd.factorize(row_ids)  # first-appearance order
    model_codes, model_names = pd.factorize(row_models)
    models = tuple(str(m) for m in model_names)
    _check_model_count(where, models)
    n, m = len(query_ids), len(models)
    pair = query_codes.astype(np.int64) * m + model_codes
    repeated = pd.Series(pair).duplicated().to_numpy()
    if repeated.any():
        row = int(np.argmax(repeated))
        first = int(np.argmax(pair == pair[row]))
        raise DatasetError(f"{where}: row {row + 1}, column 'model': query "
                           f"{row_ids[row]!r} has a second row for model "
                           f"{row_models[row]!r} (first at row {first + 1})")
    first_row = pd.Series(query_codes).drop_duplicates().index.to_numpy()
    cell_row = np.full(n * m, -1, dtype=np.int64)
    cell_row[pair] = np.arange(len(pair))
    if (cell_row < 0).any():
        i, j = divmod(int(np.argmax(cell_row < 0)), m)
        raise DatasetError(f"{where}: query {query_ids[i]!r} (first at row {first_row[i] + 1}) "
                           f"has no row for model {models[j]!r}; every query needs one row "
                           "per model")
    order = cell_row.reshape(n, m)
    changed = row_texts != row_texts[first_row][query_codes]
    if changed.any():
        row = int(np.argmax(changed))
        raise DatasetError(f"{where}: row {row + 1}, column 'query': query {row_ids[row]!r} "
                           f"has a different text than at row {first_row[query_codes[row]] + 1}")
    row_cost = _cost_matrix([frame["cost"]], where, ["cost"])[:, 0]
    labels = _label_values([frame["correct"]], where, ["correct"])[:, 0][order]
    i = _first_partial_row(labels)
    if i is not None:
        row = order[i, int(np.argmax(np.isnan(labels[i])))] + 1
        raise DatasetError(f"{where}: row {row}, column 'correct': query {query_ids[i]!r} is "
                           f"{_partial_text(labels[i], models)}")
    metadata = _long_metadata(frame, first_row, query_codes, order, models)
    return (np.asarray(query_ids, dtype=object), row_texts[first_row], models, row_cost[order],
            labels, metadata)


def _long_metadata(frame: pd.DataFrame, first_row: np.ndarray, query_codes: np.ndarray,
                   order: np.ndarray, models: tuple[str, ...]) -> pd.DataFrame:
    """Extra long-layout columns: one per query when constant within it, else one per model."""
    parts: dict[str, pd.Series] = {}
    for column in (c for c in frame.columns if c not in LONG_COLUMNS):
        values = frame[column].reset_index(drop=True)
        per_query = values.iloc[first_row].reset_index(drop=True)
        spread = per_query.iloc[query_codes].reset_index(drop=True)
        same = values.eq(spread).fillna(False) | (values.isna() & spread.isna())
        if same.all():
            parts[str(column)] = per_query
        else:
            for j, model in enumerate(models):
                parts[f"{model}_{column}"] = values.iloc[order[:, j]].reset_index(drop=True)
    return pd.DataFrame(parts, index=pd.RangeIndex(len(first_row)))


# ----------------------------------------------------------------------------- column checks


def _check_model_count(where: str, models: Sequence[str]) -> None:
    if not models:
        raise DatasetError(f"{where}: no models found; a wide file needs, per model m, a cost "
                           "column '<m>_cost' and a label column '<m>'")
    if len(models) < 2:
        raise DatasetError(f"{where}: found 1 model ({models[0]!r}); need at least 2 to "
                           "choose between")


def _show(value: object) -> str:
    return repr(value.item() if isinstance(value, np.generic) else value)


def _ids(series: pd.Series, where: str, column: str) -> np.ndarray:
    """Query ids as str; whole-number floats (ints with gaps in JSON/Parquet) lose the '.0'."""
    if pd.api.types.is_float_dtype(series.dtype):
        values = series.to_numpy(dtype=np.float64)
        if np.all(np.isnan(values) | (values == np.round(values))):
            series = series.astype("Int64")
    return _texts(series, where, column)


def _texts(series: pd.Series, where: str, column: str) -> np.ndarray:
    """A column as an object array of str; empty cells are an error."""
    absent = series.isna().to_numpy()
    if absent.any():
        raise DatasetError(f"{where}: row {int(np.argmax(absent)) + 1}, column {column!r}: "
                           "empty value")
    values = series.astype(str).to_numpy(dtype=object)
    blank = values == ""
    if blank.any():
        raise DatasetError(f"{where}: row {int(np.argmax(blank)) + 1}, column {column!r}: "
                           "empty value")
    return values


def _check_unique_ids(query_ids: np.ndarray, where: str, column: str) -> None:
    repeated = pd.Series(query_ids).duplicated().to_numpy()
    if repeated.any():
        row = int(np.argmax(repeated))
        first = int(np.argmax(query_ids == query_ids[row]))
        raise DatasetError(f"{where}: row {row + 1}, column {column!r}: duplicate query id "
                           f"{query_ids[row]!r} (first at row {first + 1})")


def _numbers(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Float values (NaN where empty or not a number) and a mask of non-numeric cells."""
    if pd.api.types.is_bool_dtype(series.dtype):
        return np.full(len(series), np.nan), series.notna().to_numpy()
    if pd.api.types.is_numeric_dtype(series.dtype):
        return series.to_numpy(dtype=np.float64, na_value=np.nan), np.zeros(len(series), bool)
    present = series.notna().to_numpy()
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64,
                                                             na_value=np.nan, copy=True)
    values[series.astype(str).isin(("True", "False")).to_numpy()] = np.nan  # JSON true is no cost
    return values, present & np.isnan(values)


def _cost_matrix(columns: Sequence[pd.Series], where: str, names: Sequence[str]) -> np.ndarray:
    """(N, M) float64 costs; the first bad cell (row-major) is reported."""
    cost = np.empty((len(columns[0]), len(columns)))
    bad = np.zeros(cost.shape, dtype=bool)
    text = np.zeros(cost.shape, dtype=bool)
    for j, series in enumerate(columns):
        cost[:, j], text[:, j] = _numbers(series)
        with np.errstate(invalid="ignore"):
            bad[:, j] = text[:, j] | ~np.isfinite(cost[:, j]) | (cost[:, j] < 0)
    if bad.any():
        row, j = divmod(int(np.argmax(bad)), cost.shape[1])
        value, raw = cost[row, j], columns[j].iloc[row]
        if text[row, j]:
            problem = f"cost {_show(raw)} is not a number"
        elif np.isnan(value):
            problem = "missing cost (empty, null or NaN)"
        elif np.isinf(value):
            problem = f"cost {_show(raw)} is infinite"
        else:
            problem = f"cost {_show(raw)} is negative"
        raise DatasetError(f"{where}: row {row + 1}, column {names[j]!r}: {problem}")
    return cost


def _labels(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Label values as float (NaN = unlabelled) and a mask of cells that are not a label."""
    if pd.api.types.is_bool_dtype(series.dtype):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        return values, np.zeros(len(series), bool)
    if pd.api.types.is_numeric_dtype(series.dtype):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        return values, ~np.isnan(values) & (values != 0) & (values != 1)
    present = series.notna().to_numpy(copy=True)
    words = series[present].astype(str).str.strip().str.lower()
    values = np.full(len(series), np.nan)
    values[present] = words.map(_LABEL_WORDS).to_numpy(dtype=np.float64, na_value=np.nan)
    present[present] = (words != "").to_numpy()
    return values, present & np.isnan(values)


def _label_values(columns: Sequence[pd.Series], where: str,
                  names: Sequence[str]) -> np.ndarray:
    """(N, M) labels as float, NaN = unlabelled; the first invalid cell is reported."""
    values = np.empty((len(columns[0]), len(columns)))
    invalid = np.zeros(values.shape, dtype=bool)
    for j, series in enumerate(columns):
        values[:, j], invalid[:, j] = _labels(series)
    if invalid.any():
        row, j = divmod(int(np.argmax(invalid)), values.shape[1])
        raise DatasetError(f"{where}: row {row + 1}, column {names[j]!r}: label "
                           f"{_show(columns[j].iloc[row])} is not 0 or 1 "
                           f"(accepted: {_ACCEPTED_LABELS})")
    return values


def _first_partial_row(labels: np.ndarray) -> int | None:
    """The first query labelled for some models but not all (labels: NaN = unlabelled)."""
    known = ~np.isnan(labels)
    partial = known.any(axis=1) & ~known.all(axis=1)
    return int(np.argmax(partial)) if partial.any() else None


def _partial_text(row: np.ndarray, models: Sequence[str]) -> str:
    have = ", ".join(repr(m) for m, v in zip(models, row, strict=True) if not np.isnan(v))
    lack = ", ".join(repr(m) for m, v in zip(models, row, strict=True) if np.isnan(v))
    return f"labelled for {have} but not for {lack}; label every model of a query or none"


def _label_matrix(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labelled = ~np.isnan(values).any(axis=1)
    return np.where(np.isnan(values), 0, values).astype(np.int8), labelled


def _names(columns: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(repr(c) for c in columns[:limit])
    return shown + (f", ... ({len(columns)} in all)" if len(columns) > limit else "")


# ----------------------------------------------------------------------------- writing


def _wide_frame(dataset: Dataset) -> pd.DataFrame:
    n = dataset.n_queries
    unlabelled = ~np.asarray(dataset.labelled, dtype=bool)
    labels = {m: pd.arrays.IntegerArray(dataset.labels[:, j].astype(np.int8), unlabelled.copy())
              for j, m in enumerate(dataset.models)}
    parts = [
        pd.DataFrame({"query_id": dataset.query_ids, "query": dataset.queries}),
        dataset.metadata.reset_index(drop=True) if len(dataset.metadata.columns) else None,
        pd.DataFrame(dataset.cost, columns=[f"{m}_cost" for m in dataset.models]),
        pd.DataFrame(labels, index=pd.RangeIndex(n)),
    ]
    frame = pd.concat([p for p in parts if p is not None], axis=1)
    _check_unique_columns(f"dataset {dataset.name!r}", [str(c) for c in frame.columns])
    return frame


@contextlib.contextmanager
def _text_sink(path: Path, gz: bool) -> Iterator[io.TextIOBase]:
    """A UTF-8 text handle on `path`, gzip-compressed reproducibly when `gz`."""
    with open(path, "wb") as raw:
        if not gz:
            with io.TextIOWrapper(raw, encoding="utf-8", newline="") as text:
                yield text
            return
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as packed, \
                io.TextIOWrapper(packed, encoding="utf-8", newline="") as text:
            yield text
