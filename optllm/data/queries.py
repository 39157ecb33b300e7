"""Unlabelled queries from a file: ids and texts (and, when asked, their other columns),
read whole or streamed in chunks.

A batch file has a `query` column and optionally `query_id` (else an unnamed leading index
column, else the row number); CSV (optionally gzipped), Parquet or JSON Lines. It is read in
chunks, which `optllm.pipeline.routing` streams for files larger than memory. Its other columns
are read too when asked (`with_columns`): the predictor may use extra columns the history
and the batch share (`optllm.predict.columns`), read as text.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from optllm.data.formats import READABLE, split_extension
from optllm.data.tables import (
    check_file,
    check_text,
    check_utf8,
    decode_dictionaries,
    encoding_error,
    id_texts,
    json_error,
    query_texts,
    read_errors,
)
from optllm.exceptions import ConfigError, DatasetError

DEFAULT_CHUNK_ROWS = 50_000
_INDEX_NAMES = ("", "Unnamed: 0", "__index_level_0__")
_CSV_BLOCK_BYTES = 8 << 20
_MAX_CSV_BLOCK_BYTES = 512 << 20

Chunk = tuple[np.ndarray, np.ndarray]
#: (query_ids, queries, the other columns as text): a chunk with its extra columns.
ColumnChunk = tuple[np.ndarray, np.ndarray, pd.DataFrame]


def _id_column(names: list[str]) -> str | None:
    if "query_id" in names:
        return "query_id"
    return names[0] if names and names[0] in _INDEX_NAMES else None


def _raw_chunks(path: Path, chunk_rows: int, query_column: str, with_columns: bool = False
                ) -> Iterator[tuple[pd.DataFrame, str | None]]:
    """The file's query and id columns (every column `with_columns`), chunk by chunk, with
    the id column's name."""
    fmt, gz = split_extension(path)
    if fmt is None:
        raise DatasetError(f"{path}: unknown file extension {''.join(path.suffixes)!r}; use "
                           f"{READABLE}")
    if fmt == "parquet":
        yield from _parquet_chunks(path, chunk_rows, query_column, with_columns)
        return
    check_text(path, gz)
    if fmt == "csv":
        yield from _csv_chunks(path, query_column, with_columns)
        return
    try:
        reader = pd.read_json(path, lines=True, dtype=False, chunksize=chunk_rows,
                              encoding="utf-8", compression="gzip" if gz else None)
        for frame in reader:
            if not all(isinstance(c, str) for c in frame.columns):
                raise json_error(path, gz, "a line is not a JSON object")
            id_column = _check_columns(path, list(frame.columns), query_column)
            yield (frame if with_columns else
                   frame[[c for c in (id_column, query_column) if c is not None]]), id_column
    except (ValueError, RecursionError) as exc:
        if isinstance(exc, DatasetError):
            raise
        raise json_error(path, gz, str(exc)) from None


def _parquet_chunks(path: Path, chunk_rows: int, query_column: str, with_columns: bool
                    ) -> Iterator[tuple[pd.DataFrame, str | None]]:
    try:
        parquet = pq.ParquetFile(path)
        id_column = _check_columns(path, parquet.schema_arrow.names, query_column)
        columns = (None if with_columns else
                   [c for c in (id_column, query_column) if c is not None])
        first_row = 1
        for batch in parquet.iter_batches(batch_size=chunk_rows, columns=columns):
            table = pa.Table.from_batches([batch])
            check_utf8(table, str(path), first_row)
            first_row += table.num_rows
            yield decode_dictionaries(table).to_pandas(), id_column
    except (pa.ArrowException, OSError) as exc:
        raise DatasetError(f"{path}: not a readable Parquet file ({exc})") from None


def _csv_reader(path: Path, block_bytes: int, skip_rows: int, query_column: str,
                with_columns: bool = False) -> tuple[pacsv.CSVStreamingReader, str | None]:
    """A streaming reader of the query and id columns (every column `with_columns`), as
    text, after `skip_rows` rows."""
    parse = pacsv.ParseOptions(newlines_in_values=True)
    header = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=block_bytes),
                            parse_options=parse)
    id_column = _check_columns(path, header.schema.names, query_column)
    columns = (list(header.schema.names) if with_columns else
               [c for c in (id_column, query_column) if c is not None])
    reader = pacsv.open_csv(
        path, read_options=pacsv.ReadOptions(block_size=block_bytes,
                                             skip_rows_after_names=skip_rows),
        parse_options=parse,
        convert_options=pacsv.ConvertOptions(
            include_columns=columns, column_types={c: pa.string() for c in columns},
            strings_can_be_null=True))
    return reader, id_column


def _csv_chunks(path: Path, query_column: str, with_columns: bool = False
                ) -> Iterator[tuple[pd.DataFrame, str | None]]:
    """CSV blocks as frames. pyarrow needs a whole row inside one block: on a longer row
    the block grows (up to `_MAX_CSV_BLOCK_BYTES`) and reading resumes after the rows
    already given."""
    block_bytes, done = _CSV_BLOCK_BYTES, 0
    while True:
        try:
            reader, id_column = _csv_reader(path, block_bytes, done, query_column,
                                            with_columns)
            for batch in reader:
                done += batch.num_rows
                yield batch.to_pandas(), id_column
            return
        except pa.ArrowInvalid as exc:
            if "Empty CSV file" in str(exc):
                raise DatasetError(f"{path}: the file is empty") from None
            if "straddle" in str(exc) and block_bytes < _MAX_CSV_BLOCK_BYTES:
                block_bytes *= 4
                continue
            if "straddle" in str(exc):
                raise DatasetError(f"{path}: a row after row {done} is longer than "
                                   f"{_MAX_CSV_BLOCK_BYTES >> 20} MiB") from None
            if "invalid UTF8" in str(exc):
                raise encoding_error(path, split_extension(path)[1]) from None
            raise DatasetError(f"{path}: malformed CSV ({exc})") from None
        except (pa.ArrowException, OSError) as exc:
            raise DatasetError(f"{path}: cannot read the CSV file ({exc})") from None


def _check_columns(path: Path, names: list[str], query_column: str) -> str | None:
    if query_column not in names:
        shown = ", ".join(repr(n) for n in names[:12]) or "none"
        hint = " (name the column of query text with --query-column)" if (
            query_column == "query") else ""
        raise DatasetError(f"{path}: no {query_column!r} column; columns found: {shown}{hint}")
    return _id_column(names)


def iter_batch(path: str | os.PathLike[str], chunk_rows: int = DEFAULT_CHUNK_ROWS,
               query_column: str = "query") -> Iterator[Chunk]:
    """(query_ids, queries) per chunk of a batch file, validated; rows count from 1.

    Queries are text (see `optllm.data.tables.query_texts`), kept as Python strings in object
    arrays: a fixed-width numpy string array would take rows x longest query x 4 bytes.
    """
    for ids, queries, _ in iter_batch_columns(path, chunk_rows, query_column, False):
        yield ids, queries


def iter_batch_columns(path: str | os.PathLike[str], chunk_rows: int = DEFAULT_CHUNK_ROWS,
                       query_column: str = "query", with_columns: bool = True
                       ) -> Iterator[ColumnChunk]:
    """As `iter_batch`, with each chunk's other columns (all but id and query; none unless
    `with_columns`) as a DataFrame indexed from 0."""
    path = Path(path)
    if chunk_rows < 1:
        raise ConfigError(f"chunk rows must be at least 1; got {chunk_rows}")
    check_file(path)
    first_row = 1
    with read_errors(path, split_extension(path)[1]):
        for block, id_column in _raw_chunks(path, chunk_rows, query_column, with_columns):
            for start in range(0, len(block), chunk_rows):  # CSV blocks come by bytes
                frame = block.iloc[start:start + chunk_rows]
                n = len(frame)
                queries = query_texts(frame[query_column], str(path), first_row,
                                      column=query_column)
                if id_column is None:
                    ids = np.arange(first_row, first_row + n).astype(str).astype(object)
                else:
                    ids = id_texts(frame[id_column], str(path), id_column, first_row)
                first_row += n
                extra = [c for c in frame.columns if c not in (id_column, query_column)]
                yield ids, queries, frame[extra].reset_index(drop=True)


def load_batch(path: str | os.PathLike[str], query_column: str = "query") -> Chunk:
    """All (query_ids, queries) of a batch file; ids must be unique.

    Raises DatasetError naming the file, row and column of the first problem.
    """
    return load_batch_columns(path, query_column, with_columns=False)[:2]


def load_batch_columns(path: str | os.PathLike[str], query_column: str = "query",
                       with_columns: bool = True) -> ColumnChunk:
    """As `load_batch`, with the file's other columns (see `iter_batch_columns`)."""
    chunks = list(iter_batch_columns(path, query_column=query_column,
                                     with_columns=with_columns))
    if not chunks or not sum(len(c[1]) for c in chunks):
        raise DatasetError(f"{path}: no data rows")
    ids = np.concatenate([c[0] for c in chunks])
    queries = np.concatenate([c[1] for c in chunks])
    columns = pd.concat([c[2] for c in chunks], ignore_index=True)
    repeated = pd.Series(ids).duplicated().to_numpy()
    if repeated.any():
        row = int(np.argmax(repeated))
        first = int(np.argmax(ids == ids[row]))
        raise DatasetError(f"{path}: row {row + 1}, column 'query_id': duplicate query id "
                           f"{ids[row]!r} (first at row {first + 1})")
    return ids, queries, columns
