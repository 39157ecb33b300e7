"""Atomic file output: allocations as CSV / Parquet / JSON Lines, fronts as CSV, JSON, and
run folders replaced as a whole.

Every temporary file or folder is named `.{name}.optllm-{host}-{pid}-{token}.{tmp|old|part}`
beside its target, so a later write recognises the leftovers of a writer killed midway (the
pid is no longer alive on this host) and removes them; a live writer's are never touched.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import json
import os
import re
import secrets
import shutil
import socket
import stat
import sys
from collections.abc import Callable, Collection, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from optllm.data.formats import output_format
from optllm.exceptions import ExportError
from optllm.formatting import rounded, rounded_array

_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"
_TEMP = re.compile(r"^\.(?P<name>.+)\.optllm-(?P<host>[A-Za-z0-9-]+)-(?P<pid>\d+)-[0-9a-f]{8}"
                   r"\.(?P<kind>tmp|old|part)$")
#: Longest target name kept whole in a temporary name (file names stop at 255 bytes).
_NAME_CHARS = 150

#: A CSV cell starting with one of these is run as a formula by spreadsheets (OWASP "CSV
#: Injection"); plain numbers such as "-0.5" are not, and stay as they are.
_FORMULA_START = r"^[=+\-@\t\r]"
_PLAIN_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"


def open_output(path: Path, gz: bool) -> pa.NativeFile:
    """A binary sink on `path`, gzip-compressed when `gz` (no time stamp in the header, so
    the same table gives the same bytes)."""
    return pa.CompressedOutputStream(str(path), "gzip") if gz else pa.OSFile(str(path), "wb")


def temp_path(target: Path, kind: str = "tmp") -> Path:
    """A fresh temporary name beside `target` that `remove_stale` recognises (`kind`: tmp for
    a file or folder being written, old for a folder set aside, part for a download)."""
    token = secrets.token_hex(4)
    name = target.name[:_NAME_CHARS]
    return target.parent / f".{name}.optllm-{_HOST}-{os.getpid()}-{token}.{kind}"


def _alive(pid: int) -> bool:
    """Whether process `pid` may still be writing: this process (another thread), one that
    exists, and any off POSIX (where kill(pid, 0) is no harmless probe)."""
    if pid == os.getpid() or os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def remove_stale(directory: Path) -> None:
    """Remove the temporary files and folders in `directory` left by OptLLM writers on this
    host that are not running any more; a folder set aside before a swap that never finished
    goes back to its name when that name is free (the old complete folder is restored)."""
    try:
        entries = [e for e in os.scandir(directory) if ".optllm-" in e.name]
    except OSError:
        return
    for entry in entries:
        match = _TEMP.match(entry.name)
        if match is None or match["host"] != _HOST or _alive(int(match["pid"])):
            continue
        path = Path(entry.path)
        original = directory / match["name"]
        with contextlib.suppress(OSError):
            if match["kind"] == "old" and not os.path.lexists(original):
                if len(match["name"]) < _NAME_CHARS:  # else its name was cut: leave it
                    os.rename(path, original)
            elif entry.is_dir(follow_symlinks=False):
                shutil.rmtree(path)
            else:
                path.unlink()


def _create(path: Path) -> None:
    """Create an empty file with the mode a plain open() gives: 0666 less the umask."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))


def _fsync_dir(directory: Path) -> None:
    """Make a rename in `directory` durable (best effort: not every system allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path`, on error it
    is removed, so readers never see a half-written file."""
    path = Path(path)
    if path.exists() and not force:
        raise ExportError(f"{path} already exists; use --force to overwrite it")
    if not path.parent.is_dir():
        raise ExportError(f"{path.parent} is not an existing directory")
    remove_stale(path.parent)
    tmp = temp_path(path)
    try:
        _create(tmp)
    except OSError as exc:
        raise ExportError(f"cannot write in {path.parent}: {exc.strerror or exc}") from exc
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def replaced_folder(folder: str | Path, ours: Collection[str], *, force: bool = False
                    ) -> Iterator[Path]:
    """Yield a fresh folder to write every output into; on success it takes the place of
    `folder` in one step, so readers see the old complete set of files or the new one and
    never a mix; on error it is removed and `folder` is untouched.

    `ours` are the names the writer produces (files or sub-folders): existing ones need
    `force`, and those the new set lacks go with the old folder. Any other file in `folder`
    is kept (hard-linked, else copied, into the new folder). A folder holding another
    sub-folder, or the current directory, is refused: it cannot be carried over in one step.
    """
    shown = Path(folder)
    target = Path(os.path.realpath(shown))
    kept = check_replaceable(shown, ours, force=force)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot create {target.parent}: {exc.strerror or exc}") from exc
    staging = temp_path(target)
    try:
        os.mkdir(staging, 0o777)
    except OSError as exc:
        raise ExportError(f"cannot write in {target.parent} (the new {shown.name} is prepared "
                          f"there, then swapped in): {exc.strerror or exc}") from exc
    try:
        if target.is_dir():
            os.chmod(staging, stat.S_IMODE(target.stat().st_mode))
        for entry in kept:
            _carry(Path(entry.path), staging / entry.name)
        yield staging
        _fsync_dir(staging)
        _swap(staging, target, set(ours) | {entry.name for entry in kept})
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, OSError) and not isinstance(exc, ExportError):
            raise ExportError(f"cannot write {shown}: {exc.strerror or exc}") from exc
        raise


def check_replaceable(folder: str | Path, ours: Collection[str], *, force: bool = False
                      ) -> list[os.DirEntry]:
    """Raise ExportError unless `replaced_folder` may replace `folder` (call it before long
    work, so a refusal comes first); returns the entries it would carry over. Leftovers of
    a killed earlier writer are cleaned up first (a folder it had set aside comes back)."""
    shown = Path(folder)
    target = Path(os.path.realpath(shown))
    if target.parent.is_dir():
        remove_stale(target.parent)
    if os.path.lexists(target) and not target.is_dir():
        raise ExportError(f"{shown} exists and is not a folder")
    if not target.is_dir():
        return []
    try:
        cwd = Path.cwd().resolve()
    except OSError:  # the current directory was deleted
        cwd = None
    if cwd is not None and (cwd == target or target in cwd.parents):
        raise ExportError(f"{shown} is the current directory or holds it; write the "
                              "outputs to a sub-folder")
    try:
        entries = list(os.scandir(target))
    except OSError as exc:
        raise ExportError(f"cannot read {shown}: {exc.strerror or exc}") from exc
    clash = sorted(entry.name for entry in entries if entry.name in ours)
    if clash and not force:
        raise ExportError(f"{shown} already holds {', '.join(clash)}; use --force to "
                          "overwrite")
    kept = [entry for entry in entries if entry.name not in ours]
    folders = sorted(entry.name for entry in kept if entry.is_dir(follow_symlinks=False))
    if folders:
        raise ExportError(f"{shown} holds the folder {folders[0]!r}, which OptLLM did not "
                          "write; choose a new folder, or one holding only files, for the "
                          "outputs")
    return kept


def _carry(source: Path, destination: Path) -> None:
    """Put a file we keep into the new folder: a hard link (instant, no second copy), else
    a copy; a symbolic link stays a link."""
    if source.is_symlink():
        os.symlink(os.readlink(source), destination)
        return
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)


def _swap(staging: Path, target: Path, known: set[str]) -> None:
    """Put `staging` in the place of `target` in one step where the system can (Linux
    renameat2), else by two renames; then delete the old version, whose entries are all
    `known` (replaced or carried over) unless one arrived meanwhile."""
    if not os.path.lexists(target):
        os.rename(staging, target)
        _fsync_dir(target.parent)
        return
    if _exchange(staging, target):
        old = staging
    else:
        old = temp_path(target, "old")
        os.rename(target, old)
        try:
            os.rename(staging, target)
        except OSError:
            os.rename(old, target)
            raise
    _fsync_dir(target.parent)
    with contextlib.suppress(OSError):  # a file that arrived after we looked: keep it
        for entry in os.scandir(old):
            if entry.name not in known and not os.path.lexists(target / entry.name):
                os.rename(entry.path, target / entry.name)
    shutil.rmtree(old, ignore_errors=True)


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths atomically with Linux's renameat2(RENAME_EXCHANGE); False where the
    C library, kernel or file system cannot (the caller then falls back to two renames)."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second),
                 _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(second))


@functools.cache
def _renameat2() -> Callable[..., int] | None:
    """glibc's renameat2 (2.28 and later), or None off Linux or without it."""
    if not sys.platform.startswith("linux"):
        return None
    function = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if function is not None:
        function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                             ctypes.c_uint]
        function.restype = ctypes.c_int
    return function


def neutralise_formulas(table: pa.Table) -> pa.Table:
    """`table` with every text cell that a spreadsheet would run as a formula (starting with
    = + - @, tab or carriage return, and not a plain number) prefixed with a single quote,
    as OWASP advises against CSV injection; for CSV output only. Types are unchanged."""
    for i, field in enumerate(table.schema):
        column = table.column(i)
        if pa.types.is_dictionary(field.type) and _is_text(field.type.value_type):
            column = pa.chunked_array(
                [pa.DictionaryArray.from_arrays(chunk.indices, _quoted(chunk.dictionary))
                 for chunk in column.chunks], field.type)
        elif _is_text(field.type):
            column = _quoted(column)
        else:
            continue
        table = table.set_column(i, field, column)
    return table


def _quoted(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """`values` with formula-like cells quoted (see `neutralise_formulas`)."""
    risky = pc.match_substring_regex(values, _FORMULA_START)
    if not pc.any(risky).as_py():
        return values
    risky = pc.and_(risky, pc.invert(pc.match_substring_regex(values, _PLAIN_NUMBER)))
    quoted = pc.binary_join_element_wise(pa.scalar("'", values.type), values,
                                         pa.scalar("", values.type))
    return pc.if_else(risky, quoted, values)


def _is_text(data_type: pa.DataType) -> bool:
    return pa.types.is_string(data_type) or pa.types.is_large_string(data_type)


def without_float_noise(table: pa.Table) -> pa.Table:
    """`table` with its float64 columns at `WRITTEN_DIGITS` significant digits: a CSV reads
    0.0000894, not the sum's 0.00008939999999999999."""
    for i, field in enumerate(table.schema):
        if pa.types.is_float64(field.type):
            column = table.column(i)
            values = rounded_array(column.to_numpy(zero_copy_only=False))
            table = table.set_column(i, field, pa.array(values, mask=column.is_null().to_numpy(
                zero_copy_only=False)))
    return table


def write_table(table: pa.Table | pd.DataFrame, path: str | Path, *,
                file_format: str | None = None, force: bool = False) -> Path:
    """Write a table atomically as CSV (formula-like text neutralised, floats without
    noise), Parquet or JSON Lines (both exact); CSV and JSON Lines gzip-compressed for a
    `.gz` name."""
    kind, gz = output_format(path, file_format)
    if isinstance(table, pd.DataFrame):
        table = pa.Table.from_pandas(table, preserve_index=False)
    with atomic_path(path, force=force) as tmp:
        if kind == "parquet":
            pq.write_table(table, tmp)
        else:
            with open_output(tmp, gz) as sink:
                if kind == "csv":
                    pacsv.write_csv(neutralise_formulas(without_float_noise(table)), sink)
                else:
                    write_jsonl(table, sink)
    return Path(path)


def write_jsonl(table: pa.Table, sink: pa.NativeFile, batch_rows: int = 100_000) -> None:
    """One JSON object per line, in batches so a million rows stay in bounded memory."""
    for start in range(0, table.num_rows, batch_rows):
        frame = table.slice(start, batch_rows).to_pandas()
        text = frame.to_json(orient="records", lines=True, force_ascii=False)
        sink.write((text if text.endswith("\n") or not text else text + "\n").encode())


def write_json(data: dict, path: str | Path, *, force: bool = False) -> Path:
    """Write a JSON document atomically (NaN becomes null)."""
    text = json.dumps(_clean(data), indent=2, allow_nan=False)
    with atomic_path(path, force=force) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")
    return Path(path)


def _clean(value: object) -> object:
    """Make numpy scalars and non-finite floats JSON-safe, floats without noise."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_clean(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return rounded(value) if np.isfinite(value) else None
    return value
