"""The one table from file extension to table format, for reading and writing, and what
follows from it. Light (no pandas or pyarrow): the app checks typed names with it."""

from __future__ import annotations

import os
from pathlib import Path

from optllm.exceptions import ExportError

#: The one extension -> table format map, for reading and for writing; a further `.gz`
#: (e.g. `x.csv.gz`) means gzip-compressed CSV or JSON Lines.
FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl",
           ".ndjson": "jsonl"}
#: Each format's name for people and the extension a new file of it gets.
FORMAT_LABELS = {"csv": "CSV", "parquet": "Parquet", "jsonl": "JSON Lines"}
EXTENSIONS = {"csv": ".csv", "parquet": ".parquet", "jsonl": ".jsonl"}
GZIP = ".gz"
#: The extensions a reader takes, for messages.
READABLE = ", ".join([*FORMATS, ".csv.gz", ".jsonl.gz"])


def split_extension(path: str | os.PathLike[str]) -> tuple[str | None, bool]:
    """(format or None, gzipped) from the name; the case of the extension does not matter.

    >>> split_extension("runs/batch.CSV.gz"), split_extension("x.parquet")
    (('csv', True), ('parquet', False))
    >>> split_extension("notes.txt")
    (None, False)
    """
    suffixes = [s.lower() for s in Path(path).suffixes]
    gz = bool(suffixes) and suffixes[-1] == GZIP
    if gz:
        suffixes = suffixes[:-1]
    return (FORMATS.get(suffixes[-1]) if suffixes else None), gz


def output_format(path: str | os.PathLike[str], file_format: str | None = None) -> tuple[str, bool]:
    """(format, gzipped) of an output file. The extension decides; an explicit format only
    names one for a file without a known extension, and one that contradicts the extension
    is refused (a `.jsonl` file that held Parquet would fool every later reader).

    >>> output_format("out.jsonl.gz"), output_format("out", "parquet")
    (('jsonl', True), ('parquet', False))
    >>> output_format("out.jsonl", "csv")
    Traceback (most recent call last):
    ...
    optllm.exceptions.ExportError: out.jsonl: the extension says JSON Lines but CSV was ...
    """
    if file_format is not None and file_format not in FORMAT_LABELS:
        raise ExportError(f"unknown format {file_format!r}; choose csv, parquet or jsonl")
    named, gz = split_extension(path)
    if named is not None and file_format is not None and named != file_format:
        raise ExportError(f"{path}: the extension says {FORMAT_LABELS[named]} but "
                          f"{FORMAT_LABELS[file_format]} was asked for; change one of them")
    kind = named or file_format
    if kind is None:
        raise ExportError(f"{path}: cannot tell the format from the extension "
                          f"{''.join(Path(path).suffixes)!r}; use .csv, .parquet or .jsonl "
                          "(.csv.gz and .jsonl.gz compressed)")
    if gz and kind == "parquet":
        raise ExportError(f"{path}: Parquet is compressed inside the file; drop the .gz")
    return kind, gz


def with_format(path: str, file_format: str) -> str:
    """`path` with its format extension (and any .gz) replaced by `file_format`'s usual
    one; a name without a known extension gets it appended."""
    named, gz = split_extension(path)
    name = Path(path).name
    if named is not None:
        name = name[: len(name) - len(Path(name).suffix)]
        if gz:
            name = name[: len(name) - len(Path(name).suffix)]
    if not name:
        return path
    return str(Path(path).with_name(name + EXTENSIONS[file_format]))
