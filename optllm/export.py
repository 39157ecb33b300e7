"""Atomic file output: allocations as CSV / Parquet / JSON Lines, fronts as CSV, JSON."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from optllm.exceptions import ExportError

FORMATS = {".csv": "csv", ".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}


def format_for(path: str | Path, file_format: str | None = None) -> str:
    """The output format: given explicitly, else from the file extension."""
    if file_format is not None:
        if file_format not in set(FORMATS.values()):
            raise ExportError(f"unknown format {file_format!r}; choose csv, parquet or jsonl")
        return file_format
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ExportError(f"{path}: cannot tell the format from the extension {suffix!r}; "
                          "use .csv, .parquet or .jsonl")
    return FORMATS[suffix]


@contextlib.contextmanager
def atomic_path(path: str | Path, *, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path`, on error it
    is removed, so readers never see a half-written file."""
    path = Path(path)
    if path.exists() and not force:
        raise ExportError(f"{path} already exists; use --force to overwrite it")
    if not path.parent.is_dir():
        raise ExportError(f"{path.parent} is not an existing directory")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise ExportError(f"cannot write in {path.parent}: {exc.strerror or exc}") from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_table(table: pa.Table | pd.DataFrame, path: str | Path, *,
                file_format: str | None = None, force: bool = False) -> Path:
    """Write a table atomically as CSV, Parquet or JSON Lines."""
    kind = format_for(path, file_format)
    if isinstance(table, pd.DataFrame):
        table = pa.Table.from_pandas(table, preserve_index=False)
    with atomic_path(path, force=force) as tmp:
        if kind == "csv":
            pacsv.write_csv(table, tmp)
        elif kind == "parquet":
            pq.write_table(table, tmp)
        else:
            _write_jsonl(table, tmp)
    return Path(path)


def _write_jsonl(table: pa.Table, path: Path, batch_rows: int = 100_000) -> None:
    """One JSON object per line, in batches so a million rows stay in bounded memory."""
    with open(path, "w", encoding="utf-8") as out:
        for start in range(0, table.num_rows, batch_rows):
            frame = table.slice(start, batch_rows).to_pandas()
            text = frame.to_json(orient="records", lines=True, force_ascii=False)
            out.write(text if text.endswith("\n") or not text else text + "\n")


def write_json(data: dict, path: str | Path, *, force: bool = False) -> Path:
    """Write a JSON document atomically (NaN becomes null)."""
    text = json.dumps(_clean(data), indent=2, allow_nan=False)
    with atomic_path(path, force=force) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")
    return Path(path)


def _clean(value: object) -> object:
    """Make numpy scalars and non-finite floats JSON-safe."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_clean(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
