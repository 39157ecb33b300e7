"""Read dataset files (CSV, Parquet, JSON Lines; wide or long layout) into a validated `Dataset`.

Every problem raises `DatasetError` naming the file, the data row ("row 1" is the first row
after the header, or the first record of a JSON Lines file), the column and what is wrong, so a
user can fix the file without a debugger. Checks run on whole columns: a million-row file costs
one pandas read and a few array passes, never a Python loop per row.

Layouts (see docs/data.md):

- wide: one row per query; `query`, and per model `m` a cost column `<m>_cost` and a label
  column `<m>` (1 correct, 0 wrong, empty unlabelled). The query id comes from `query_id`, else
  from an unnamed leading index column, else it is the row number. Other columns are metadata.
- long: one row per (query, model): `query_id, query, model, cost, label` (or `correct`).
  Other columns are metadata: kept once per query when constant within a query, else spread
  to `<m>_<column>`.
"""

from __future__ import annotations

import codecs
import contextlib
import gzip
import io
import json
import math
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

from optllm.data.dataset import Dataset
from optllm.data.files import atomic_path
from optllm.data.formats import FORMAT_LABELS, READABLE, split_extension
from optllm.data.formats import FORMATS as EXTENSION_FORMATS
from optllm.exceptions import ConfigError, DatasetError

FORMATS = tuple(FORMAT_LABELS)
LAYOUTS = ("wide", "long")
LONG_COLUMNS = ("query_id", "query", "model", "cost", "correct")

# Header names an unnamed leading index column gets: raw CSV, pandas, pyarrow.
_INDEX_NAMES = ("", "Unnamed: 0", "__index_level_0__")
_LABEL_WORDS = {"0": 0.0, "1": 1.0, "0.0": 0.0, "1.0": 1.0, "false": 0.0, "true": 1.0}
_ACCEPTED_LABELS = "0/1, 0.0/1.0, True/False, or empty for unlabelled"
#: Longest query accepted, in characters: about 500,000 tokens, beyond any model's context
#: window. Why a bound: featurising and counting tokens cost grows with a query's length.
MAX_QUERY_CHARS = 2_000_000
#: Largest cost of one query on one model, in USD: far above any real call, and small enough
#: that sums over billions of queries (and prices per million tokens) stay finite.
MAX_COST = 1e12
# Bytes read to tell a text table from binary data.
_SNIFF_BYTES = 1 << 16


def load_dataset(path: str | os.PathLike[str], *, layout: str | None = None,
                 file_format: str | None = None, name: str | None = None,
                 query_column: str = "query", priced_models: Sequence[str] = ()) -> Dataset:
    """Read and validate a dataset file.

    Parameters
    ----------
    path : file to read; `.csv`, `.csv.gz`, `.parquet`, `.jsonl`/`.ndjson` (optionally `.gz`).
    layout : "wide" or "long"; detected from the columns when None (long has `model`, `cost`).
    file_format : "csv", "parquet" or "jsonl"; overrides the extension.
    name : dataset name; defaults to the file name without its extensions.
    query_column : the column holding the query text (`prompt`, say); a `query` column
        is then metadata.
    priced_models : label columns (wide layout) without a `<m>_cost` column, whose costs
        the caller computes from token counts and prices (`pricing.load_priced`); their
        costs are NaN here.

    Raises
    ------
    DatasetError
        The file is missing, unreadable or malformed; the message says where and why.

    Examples
    --------
    >>> from optllm.data.default import default_dataset_path
    >>> load_dataset(default_dataset_path()).n_models
    8
    """
    path = Path(path)
    if layout is not None and layout not in LAYOUTS:
        raise ConfigError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    if file_format is not None and file_format not in FORMATS:
        raise ConfigError(f"file_format must be one of {FORMATS}, got {file_format!r}")
    check_file(path)
    detected, gz = split_extension(path)
    fmt = file_format or detected
    if fmt is None:
        raise DatasetError(f"{path}: unknown file extension {''.join(path.suffixes)!r}; use "
                           f"{READABLE}, or pass file_format")
    frame = _read_frame(path, fmt, gz, query_column)
    if frame.shape[1] == 0:
        raise DatasetError(f"{path}: the file is empty")
    if frame.shape[0] == 0:
        raise DatasetError(f"{path}: no data rows (the file has a header only)")
    if layout is None:
        layout = "long" if {"model", "cost"} <= set(frame.columns) else "wide"
    if layout == "long":
        parsed = _parse_long(frame, str(path), query_column)
    else:
        parsed = _parse_wide(frame, str(path), query_column, priced_models)
    query_ids, queries, models, cost, label_values, metadata = parsed
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
    fmt, gz = split_extension(path)
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


def check_file(path: Path) -> None:
    """Raise DatasetError unless `path` is a file, saying whether it is missing or a
    folder (a folder named by mistake is not "not found")."""
    if not path.is_file():
        problem = "is a directory, not a data file" if path.is_dir() else "file not found"
        raise DatasetError(f"{path}: {problem}")


def stem(path: Path) -> str:
    name = path.name
    if name.lower().endswith(".gz"):
        name = name[:-3]
    base, ext = os.path.splitext(name)
    return base if ext.lower() in EXTENSION_FORMATS else name


def _read_frame(path: Path, fmt: str, gz: bool, query_column: str = "query") -> pd.DataFrame:
    with read_errors(path, gz):
        if fmt == "parquet":
            return _read_parquet(path)
        check_text(path, gz)
        if fmt == "csv":
            return _read_csv(path, gz, query_column)
        return _read_jsonl(path, gz)


@contextlib.contextmanager
def read_errors(path: Path, gz: bool) -> Iterator[None]:
    """Turn the errors of reading a file (encoding, gzip, I/O) into DatasetErrors."""
    try:
        yield
    except UnicodeDecodeError:
        raise encoding_error(path, gz) from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise DatasetError(f"{path}: not a readable gzip file ({exc or 'truncated'})") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the file ({exc})") from None


def check_text(path: Path, gz: bool) -> None:
    """Refuse binary data (a NUL byte in the first 64 KiB) before parsing it as a table:
    CSV readers would take a NUL-filled file for a header without rows."""
    opener = gzip.open if gz else open
    with opener(path, "rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    nul = head.find(b"\0")
    if nul >= 0:
        where = "after decompression, " if gz else ""
        raise DatasetError(f"{path}: not a text table: {where}byte {nul} is a NUL byte "
                           "(binary data, or a text encoding such as UTF-16); save the table "
                           "as UTF-8 CSV or JSON Lines")


def _read_csv(path: Path, gz: bool, query_column: str = "query") -> pd.DataFrame:
    compression = "gzip" if gz else None
    try:
        first = pd.read_csv(path, header=None, nrows=1, dtype=str, na_filter=False,
                            encoding="utf-8", compression=compression)
    except pd.errors.EmptyDataError:
        raise DatasetError(f"{path}: the file is empty") from None
    except pd.errors.ParserError as exc:
        raise DatasetError(f"{path}: malformed CSV header ({exc})") from None
    header = [str(h) for h in first.iloc[0]]
    _check_unique_columns(str(path), header)
    # Read id, text and model columns as text (keeps ids like "007"), infer the rest, then
    # re-check every cost and label column below rather than trusting the inferred types.
    names = [h or f"Unnamed: {i}" for i, h in enumerate(header)]
    text_columns = {"query_id", query_column, "model"} | ({names[0]} if header[0] == "" else set())
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
    check_utf8(table, str(path))
    table = decode_dictionaries(table)
    try:
        return table.to_pandas(ignore_metadata=True)
    except (pa.ArrowException, ValueError) as exc:
        raise DatasetError(f"{path}: cannot convert the Parquet table ({exc})") from None


def decode_dictionaries(table: pa.Table) -> pa.Table:
    """Dictionary-encoded columns as plain ones, so pandas sees values, not categories."""
    for i, column in enumerate(table.columns):
        if pa.types.is_dictionary(column.type):
            table = table.set_column(i, table.field(i).name, column.cast(column.type.value_type))
    return table


def check_utf8(table: pa.Table, where: str, first_row: int = 1) -> None:
    """Refuse a string column holding bytes that are not UTF-8 (Parquet does not check),
    naming its row; `first_row` is the number of the table's first row."""
    for name, column in zip(table.column_names, table.columns, strict=True):
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            continue
        offset = first_row
        for chunk in column.chunks:
            try:
                chunk.validate(full=True)
            except pa.ArrowInvalid as exc:
                found = re.search(r"string index (\d+)", str(exc))
                row = f"row {offset + int(found.group(1))}, " if found else ""
                raise DatasetError(f"{where}: {row}column {name!r}: not UTF-8 text; save the "
                                   "strings as UTF-8") from None
            offset += len(chunk)


def _read_jsonl(path: Path, gz: bool) -> pd.DataFrame:
    try:
        frame = pd.read_json(path, lines=True, dtype=False, precise_float=True, encoding="utf-8",
                             compression="gzip" if gz else None)
    except (ValueError, RecursionError) as exc:
        raise json_error(path, gz, str(exc)) from None
    if not all(isinstance(c, str) for c in frame.columns):
        raise json_error(path, gz, "a line is not a JSON object")
    return frame


# Integers pandas' JSON parser reads: signed or unsigned 64 bits.
_JSON_INTS = range(-2**63, 2**64)


def _json_int(text: str) -> int:
    value = int(text)
    if value not in _JSON_INTS:
        raise ValueError(f"the number {text[:20]}... does not fit in 64 bits")
    return value


def _json_float(text: str) -> float:
    """A JSON number as pandas reads it: out of float range is an error, not inf or 0."""
    value = float(text)
    if math.isinf(value) or (value == 0 and re.search(r"[1-9]", re.split("[eE]", text)[0])):
        raise ValueError(f"the number {text[:20]} is out of the range of a float")
    return value


def json_error(path: Path, gz: bool, detail: str) -> DatasetError:
    """Find the first bad line (only on the error path, so a line loop costs nothing
    normally) and name it: a line number, never a character position in the file."""
    opener = gzip.open if gz else open
    with opener(path, "rt", encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            here = f"{path}: line {number}"
            try:
                record = json.loads(line, parse_int=_json_int, parse_float=_json_float)
            except json.JSONDecodeError as exc:
                return DatasetError(f"{here}: invalid JSON ({exc.msg})")
            except RecursionError:
                return DatasetError(f"{here}: JSON nested too deeply")
            except ValueError as exc:
                return DatasetError(f"{here}: {exc}")
            if not isinstance(record, dict):
                return DatasetError(f"{here}: expected a JSON object {{...}}, got "
                                    f"{type(record).__name__}")
    detail = re.sub(r" at (position|character) \d+", "", detail)
    return DatasetError(f"{path}: cannot read JSON Lines ({detail})")


def encoding_error(path: Path, gz: bool) -> DatasetError:
    """The error naming the first byte of `path` that is not UTF-8, and its line; the file is
    decoded block by block, so a large file is never held in memory at once."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, lines = 0, 0
    opener = gzip.open if gz else open
    with opener(path, "rb") as handle:
        while True:
            block = handle.read(1 << 20)
            pending = decoder.getstate()[0]  # an unfinished character from the last block
            data = pending + block
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                line = lines + data.count(b"\n", 0, exc.start) + 1
                where = "after decompression, " if gz else ""
                return DatasetError(f"{path}: not UTF-8 text: {where}byte "
                                    f"{offset - len(pending) + exc.start} (line {line}) is "
                                    f"0x{data[exc.start]:02x}; save the file as UTF-8")
            if not block:
                return DatasetError(f"{path}: not UTF-8 text")
            offset += len(block)
            lines += block.count(b"\n")


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


def _check_query_column(where: str, columns: Sequence[str], query_column: str) -> None:
    """Name the missing query column and the columns there are."""
    if query_column in columns:
        return
    hint = (" (only one column was found: is the file comma-separated?)"
            if len(columns) == 1 else
            " (name the column of query text with --query-column)" if query_column == "query"
            else "")
    raise DatasetError(f"{where}: no {query_column!r} column; columns found: "
                       f"{_names(columns)}{hint}")


def _parse_wide(frame: pd.DataFrame, where: str, query_column: str = "query",
                priced_models: Sequence[str] = ()) -> _Parsed:
    columns = [str(c) for c in frame.columns]
    present = set(columns)
    _check_query_column(where, columns, query_column)
    models = [c[: -len("_cost")] for c in columns if c.endswith("_cost") and c != "_cost"]
    priced = [m for m in priced_models if m in present and f"{m}_cost" not in present]
    for model in models:
        if model not in present:
            raise DatasetError(f"{where}: model {model!r} has a cost column '{model}_cost' "
                               f"but no label column {model!r}")
    for column in columns:
        model = column[: -len("_answer")]
        if column.endswith("_answer") and model in present and f"{model}_cost" not in present:
            raise DatasetError(f"{where}: model {model!r} has a label column {model!r} but no "
                               f"cost column '{model}_cost'")
    _check_model_count(where, [*models, *priced])
    if "query_id" in present:
        id_column: str | None = "query_id"
    else:
        id_column = columns[0] if columns[0] in _INDEX_NAMES else None
    if id_column is None:
        query_ids = np.arange(1, len(frame) + 1).astype(str).astype(object)
    else:
        query_ids = id_texts(frame[id_column], where, id_column)
    _check_unique_ids(query_ids, where, id_column or "query_id")
    queries = query_texts(frame[query_column], where, column=query_column)
    cost_columns = [f"{m}_cost" for m in models]
    known = (_cost_matrix([frame[c] for c in cost_columns], where, cost_columns)
             if cost_columns else np.empty((len(frame), 0)))
    cost = np.hstack([known, np.full((len(frame), len(priced)), np.nan)])
    models += priced
    labels = _label_values([frame[m] for m in models], where, models)
    row = _first_partial_row(labels)
    if row is not None:
        missing = models[int(np.argmax(np.isnan(labels[row])))]
        raise DatasetError(f"{where}: row {row + 1}, column {missing!r}: this row is "
                           f"{_partial_text(labels[row], models)}")
    used = {*cost_columns, *models, query_column, *([id_column] if id_column else [])}
    _check_label_like(frame, where, [c for c in columns if c not in used])
    metadata = frame[[c for c in frame.columns if c not in used]].reset_index(drop=True)
    return query_ids, queries, tuple(models), cost, labels, metadata


def _parse_long(frame: pd.DataFrame, where: str, query_column: str = "query") -> _Parsed:
    if frame.columns[0] in _INDEX_NAMES:  # a saved row index of the long table: no meaning
        frame = frame.drop(columns=frame.columns[0])
    # The outcome column is `label` (the word used everywhere); `correct` is also accepted.
    label = "label" if "label" in frame.columns and "correct" not in frame.columns else (
        "correct")
    needed = tuple({"query": query_column, "correct": label}.get(c, c) for c in LONG_COLUMNS)
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise DatasetError(f"{where}: the long layout needs columns {', '.join(needed)};"
                           f" missing: {', '.join(missing)}")
    row_ids = id_texts(frame["query_id"], where, "query_id")
    row_models = id_texts(frame["model"], where, "model")
    row_texts = query_texts(frame[query_column], where, column=query_column)
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
        raise DatasetError(f"{where}: row {row + 1}, column {query_column!r}: query "
                           f"{row_ids[row]!r} has a different text than at row "
                           f"{first_row[query_codes[row]] + 1}")
    row_cost = _cost_matrix([frame["cost"]], where, ["cost"])[:, 0]
    labels = _label_values([frame[label]], where, [label])[:, 0][order]
    partial = _first_partial_row(labels)
    if partial is not None:
        row = order[partial, int(np.argmax(np.isnan(labels[partial])))] + 1
        raise DatasetError(f"{where}: row {row}, column {label!r}: query "
                           f"{query_ids[partial]!r} is {_partial_text(labels[partial], models)}")
    metadata = _long_metadata(frame, first_row, query_codes, order, models, needed)
    return (np.asarray(query_ids, dtype=object), row_texts[first_row], models, row_cost[order],
            labels, metadata)


def _long_metadata(frame: pd.DataFrame, first_row: np.ndarray, query_codes: np.ndarray,
                   order: np.ndarray, models: tuple[str, ...],
                   used: Sequence[str] = LONG_COLUMNS) -> pd.DataFrame:
    """Extra long-layout columns: one per query when constant within it, else one per model."""
    parts: dict[str, pd.Series] = {}
    for column in (c for c in frame.columns if c not in used):
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


def _check_label_like(frame: pd.DataFrame, where: str, columns: Sequence[str]) -> None:
    """Refuse a column holding only labels, both 0 and 1 (or True and False), without its
    `<m>_cost`: it is a model whose cost column is missing, which would otherwise be dropped
    without a word. (A constant column is metadata, such as a fixed `cost = 1.0`.)"""
    for column in columns:
        series = frame[column]
        known = series.dropna()
        if known.empty or not (pd.api.types.is_bool_dtype(series.dtype)
                               or str(known.iloc[0]).strip().lower() in _LABEL_WORDS):
            continue  # the first value is no label: not a label column, at no cost
        values, invalid = _labels(series)
        if not invalid.any() and (values == 0).any() and (values == 1).any():
            raise DatasetError(f"{where}: column {column!r} holds only labels (0/1) but there "
                               f"is no cost column '{column}_cost'; add it to compare model "
                               f"{column!r}, or drop the column (a metadata flag cannot be told "
                               "from labels)")


def _check_model_count(where: str, models: Sequence[str]) -> None:
    if not models:
        raise DatasetError(f"{where}: no models found; a wide file needs, per model m, a cost "
                           "column '<m>_cost' and a label column '<m>'")
    if len(models) < 2:
        raise DatasetError(f"{where}: found 1 model ({models[0]!r}); need at least 2 to "
                           "choose between")


def _show(value: object) -> str:
    return repr(value.item() if isinstance(value, np.generic) else value)


# Kinds of values (pandas' infer_dtype) an id or a model name may hold: text and numbers.
_ID_KINDS = {"string", "empty", "integer", "mixed-integer", "floating", "mixed-integer-float",
             "decimal"}


def id_texts(series: pd.Series, where: str, column: str, first_row: int = 1) -> np.ndarray:
    """Ids (or model names) as str: text or numbers, not empty; whole-number floats (ints
    with gaps in JSON/Parquet, exact below 2**53) lose the '.0'. `first_row` numbers the
    series' first row."""
    if pd.api.types.is_float_dtype(series.dtype):
        values = series.to_numpy(dtype=np.float64)
        with np.errstate(invalid="ignore"):
            whole = (values == np.round(values)) & (np.abs(values) < 2**53)
        if np.all(np.isnan(values) | whole):
            series = series.astype("Int64")
    elif pd.api.types.infer_dtype(series, skipna=True) not in _ID_KINDS:
        raise _not_text(series, where, column, first_row, "text or a number")
    return _texts(series, where, column, first_row)


def query_texts(series: pd.Series, where: str, first_row: int = 1, column: str = "query"
                ) -> np.ndarray:
    """The `query` column as an object array of str (never a fixed-width numpy string array,
    which would take rows x longest text x 4 bytes): text only, not blank, and at most
    `MAX_QUERY_CHARS` characters. `first_row` numbers the series' first row."""
    if pd.api.types.infer_dtype(series, skipna=True) not in ("string", "empty"):
        raise _not_text(series, where, column, first_row, "text")
    values = _texts(series, where, column, first_row)
    too_long = (series.str.len() > MAX_QUERY_CHARS).to_numpy()
    if too_long.any():
        row = int(np.argmax(too_long))
        raise DatasetError(f"{where}: row {first_row + row}, column {column!r}: the query has "
                           f"{len(values[row]):,} characters; at most {MAX_QUERY_CHARS:,} are "
                           "accepted")
    return values


def _texts(series: pd.Series, where: str, column: str, first_row: int = 1) -> np.ndarray:
    """A column as an object array of str; empty or blank (white space only) cells are an
    error."""
    absent = series.isna().to_numpy()
    if absent.any():
        raise DatasetError(f"{where}: row {first_row + int(np.argmax(absent))}, column "
                           f"{column!r}: empty value")
    text = series.astype(str)
    blank = (text.str.len() == 0) | text.str.isspace()
    if blank.any():
        row = int(np.argmax(blank.to_numpy()))
        what = "empty value" if text.iloc[row] == "" else "only white space"
        raise DatasetError(f"{where}: row {first_row + row}, column {column!r}: {what}")
    return text.to_numpy(dtype=object)


def _kind(value: object) -> str:
    """What a non-text cell holds, in words."""
    if isinstance(value, dict):
        return "an object (JSON object or Parquet struct)"
    if isinstance(value, list | tuple | np.ndarray):
        return "a list"
    if isinstance(value, bytes | bytearray):
        return "bytes"
    if isinstance(value, bool | np.bool_):
        return f"the boolean {value}"
    if isinstance(value, int | float | np.number):
        return f"the number {value}"
    return f"a {type(value).__name__} value"


def _not_text(series: pd.Series, where: str, column: str, first_row: int,
              expected: str) -> DatasetError:
    """The error for the first cell that is not text (or, for ids, a number); found by a
    loop over the cells, which runs on this error path only."""
    allowed = (str,) if expected == "text" else (str, int, float, np.integer, np.floating)
    for row, value in enumerate(series.array):
        if isinstance(value, allowed) and not isinstance(value, bool | np.bool_):
            continue
        if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
            continue
        return DatasetError(f"{where}: row {first_row + row}, column {column!r}: must be "
                            f"{expected}; got {_kind(value)}")
    return DatasetError(f"{where}: column {column!r} must be {expected}")


def _check_unique_ids(query_ids: np.ndarray, where: str, column: str) -> None:
    repeated = pd.Series(query_ids).duplicated().to_numpy()
    if repeated.any():
        row = int(np.argmax(repeated))
        first = int(np.argmax(query_ids == query_ids[row]))
        raise DatasetError(f"{where}: row {row + 1}, column {column!r}: duplicate query id "
                           f"{query_ids[row]!r} (first at row {first + 1})")


def numeric_cells(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Float values (NaN where empty or not a number) and a mask of non-numeric cells."""
    present = series.notna().to_numpy()
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_complex_dtype(dtype) or not (
            pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_object_dtype(dtype)
            or pd.api.types.is_string_dtype(dtype)):  # booleans, time stamps, durations
        return np.full(len(series), np.nan), present
    if pd.api.types.is_numeric_dtype(dtype):
        return series.to_numpy(dtype=np.float64, na_value=np.nan), np.zeros(len(series), bool)
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
        cost[:, j], text[:, j] = numeric_cells(series)
        with np.errstate(invalid="ignore"):
            bad[:, j] = (text[:, j] | ~np.isfinite(cost[:, j]) | (cost[:, j] < 0)
                         | (cost[:, j] > MAX_COST))
    if bad.any():
        row, j = divmod(int(np.argmax(bad)), cost.shape[1])
        value, raw = cost[row, j], columns[j].iloc[row]
        if text[row, j]:
            problem = f"cost {_show(raw)} is not a number"
        elif np.isnan(value):
            problem = "missing cost (empty, null or NaN)"
        elif np.isinf(value):
            problem = f"cost {_show(raw)} is infinite"
        elif value > MAX_COST:
            problem = (f"cost {_show(raw)} is too large (at most {MAX_COST:.0e} USD per query "
                       "and model)")
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
