"""Saved files hold data, never code: a zip of `manifest.json` and plain `.npy` arrays.

Policy and run files are what people pass to colleagues and servers, so opening one must not
run anything it contains (pickle does: a crafted file executes code on load). The container
is a zip archive holding `manifest.json` (format, version, and the file's plain fields), one
`arrays/<name>.npy` per array and `blobs/<name>` for opaque bytes that a library parses as
data (XGBoost's UBJSON models). Reading is defensive, because the file may come from anyone:

- every member's size is bounded before it is read, and read with a cap, so a zip bomb or a
  header that lies about sizes cannot exhaust memory;
- an array's `.npy` header is parsed first; only numeric and boolean dtypes are accepted (no
  object arrays, hence no pickle), and its declared shape must match the bytes present, so a
  declared shape of 10^10 is an error, not a MemoryError;
- every field is then checked by the reader (`Fields`): kind, shape (dimensions named and
  bound across arrays, e.g. "M" models), range and finiteness, and each problem raises the
  caller's `SavedFileError` naming the file and the field.

`skops.io` (pickle with an allow-list of types) was the alternative; it still walks pickled
object graphs and ties a file to the classes' private attributes, while plain arrays and
JSON fields are readable by any tool and validated here field by field.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar, cast, overload

import numpy as np

from optllm.data.files import atomic_path
from optllm.exceptions import SavedFileError

MANIFEST = "manifest.json"
#: Bounds on what a file may ask a reader to hold: a manifest, one member, all members.
MAX_MANIFEST_BYTES = 64 * 2**20
MAX_MEMBER_BYTES = 4 * 2**30
MAX_TOTAL_BYTES = 8 * 2**30
MAX_MEMBERS = 100_000
#: dtype kinds an array may have: bool, signed and unsigned integers, floats.
_KINDS = {"b", "i", "u", "f"}
_NAME = re.compile(r"[A-Za-z0-9_.+/-]{1,200}")
#: The Python type a manifest value is checked to have (`Fields.value`).
_Kind = TypeVar("_Kind")


@dataclass
class Stored:
    """The contents of a saved file: the manifest's fields (JSON values, read back unchecked:
    `Fields` checks them), the arrays and the blobs."""

    manifest: dict[str, object]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)

    def prefixed(self, prefix: str) -> Stored:
        """The arrays and blobs under `prefix/`, with the prefix removed (a nested part)."""
        cut = len(prefix) + 1
        return Stored({},
                      {k[cut:]: v for k, v in self.arrays.items() if k.startswith(prefix + "/")},
                      {k[cut:]: v for k, v in self.blobs.items() if k.startswith(prefix + "/")})

    def add(self, prefix: str, part: Stored) -> None:
        """Put `part`'s arrays and blobs under `prefix/` (its manifest is the caller's)."""
        self.arrays |= {f"{prefix}/{k}": v for k, v in part.arrays.items()}
        self.blobs |= {f"{prefix}/{k}": v for k, v in part.blobs.items()}


def write_saved(path: str | os.PathLike[str], stored: Stored, *, file_format: str,
                version: int, force: bool = False) -> Path:
    """Write `stored` atomically as a saved file of `file_format` at `version`."""
    manifest = {"format": file_format, "version": version, **stored.manifest}
    text = json.dumps(manifest, indent=1, allow_nan=False, default=_json_scalar)
    with atomic_path(Path(path), force=force) as tmp, zipfile.ZipFile(
            tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(MANIFEST, text)
        for name, array in stored.arrays.items():
            array = np.asarray(array)
            if array.dtype.kind not in _KINDS:
                raise TypeError(f"array {name!r} has dtype {array.dtype}; only numbers "
                                "and booleans are saved")
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            zf.writestr(f"arrays/{name}.npy", buffer.getvalue())
        for name, blob in stored.blobs.items():
            zf.writestr(f"blobs/{name}", blob)
    return Path(path)


def read_saved(path: str | os.PathLike[str], error: type[SavedFileError], file_format: str,
               version: int) -> Stored:
    """Read a saved file of `file_format` at `version`; every problem raises `error` naming
    the file (and the member) and what is wrong."""
    path = Path(path)
    if not path.is_file():
        problem = "is a directory, not a file" if path.is_dir() else "file not found"
        raise error(f"{path}: {problem}")
    try:
        with zipfile.ZipFile(path) as zf:
            members = _checked_members(path, zf, error)
            if MANIFEST not in members:
                raise error(f"{path}: not an OptLLM {error.KIND} (no {MANIFEST} inside; files "
                            "of OptLLM 0.1 held pickles, which are no longer opened because "
                            "they can run code: save it again with this version)")
            manifest = _parse_manifest(path, _read(zf, members[MANIFEST], MAX_MANIFEST_BYTES),
                                       error)
            error.check_header(path, manifest, file_format, version)
            stored = Stored(manifest)
            for name, info in members.items():
                if name.startswith("arrays/") and name.endswith(".npy"):
                    key = name[len("arrays/"):-len(".npy")]
                    stored.arrays[key] = _parse_npy(path, key, _read(zf, info), error)
                elif name.startswith("blobs/"):
                    stored.blobs[name[len("blobs/"):]] = _read(zf, info)
    except SavedFileError:
        raise
    except MemoryError:
        raise error(f"{path}: too large to read into memory") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, OSError,
            NotImplementedError, RuntimeError, zlib.error) as exc:
        # RuntimeError: an encrypted member; NotImplementedError: an unknown compression.
        raise error(f"{path}: not a readable {error.KIND} ({exc})") from None
    return stored


def _checked_members(path: Path, zf: zipfile.ZipFile, error: type[SavedFileError]
                     ) -> dict[str, zipfile.ZipInfo]:
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise error(f"{path}: {len(infos)} members in the archive (at most {MAX_MEMBERS})")
    total = sum(info.file_size for info in infos)
    if total > MAX_TOTAL_BYTES:
        raise error(f"{path}: members declare {total:,} bytes uncompressed "
                    f"(at most {MAX_TOTAL_BYTES:,})")
    members = {}
    for info in infos:
        if not _NAME.fullmatch(info.filename) or ".." in info.filename:
            raise error(f"{path}: unexpected member name {info.filename[:80]!r}")
        if info.filename in members:
            raise error(f"{path}: member {info.filename!r} appears twice")
        members[info.filename] = info
    return members


def _read(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int | None = None) -> bytes:
    """The member's bytes, never more than `limit` (default `MAX_MEMBER_BYTES`) or than its
    declared size (a header that lies about the size fails the length or CRC check)."""
    limit = MAX_MEMBER_BYTES if limit is None else limit
    if info.file_size > limit:
        raise ValueError(f"member {info.filename} declares {info.file_size:,} bytes "
                         f"(at most {limit:,})")
    with zf.open(info) as member:
        data = member.read(info.file_size + 1)
    if len(data) != info.file_size:
        raise ValueError(f"member {info.filename} is {len(data):,} bytes, "
                         f"its header says {info.file_size:,}")
    return data


def _parse_manifest(path: Path, raw: bytes, error: type[SavedFileError]
                    ) -> dict[str, object]:
    try:
        manifest = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except RecursionError:
        raise error(f"{path}: {MANIFEST} is nested too deeply") from None
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
        raise error(f"{path}: {MANIFEST} is not valid JSON ({exc})") from None
    if not isinstance(manifest, dict):
        raise error(f"{path}: {MANIFEST} is not a JSON object")
    return manifest


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number a saved file may hold")


def _parse_npy(path: Path, name: str, raw: bytes, error: type[SavedFileError]) -> np.ndarray:
    """An array from `.npy` bytes: header first, numeric dtypes only, shape matching bytes."""
    handle = io.BytesIO(raw)
    try:
        major, _ = np.lib.format.read_magic(handle)
        if major == 1:
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
    except (ValueError, TypeError, SyntaxError) as exc:
        raise error(f"{path}: field {name}: not a NumPy array ({exc})") from None
    if dtype.kind not in _KINDS or dtype.hasobject:
        raise error(f"{path}: field {name}: dtype {dtype} is not allowed "
                    "(only numbers and booleans)")
    expected = math.prod(shape) * dtype.itemsize
    present = len(raw) - handle.tell()
    if expected != present:
        raise error(f"{path}: field {name}: declared shape {shape} needs {expected:,} bytes, "
                    f"the file holds {present:,}")
    array = np.frombuffer(raw, dtype=dtype, offset=handle.tell(), count=math.prod(shape))
    return array.reshape(shape, order="F" if fortran else "C").copy()


def _json_scalar(value: object) -> object:
    """numpy scalars (an np.int64 seed, say) as plain Python numbers for JSON."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in a saved file")


@dataclass(frozen=True)
class Spec:
    """What an array field must be: a shape of dimension names (bound on first use, e.g. "M"
    models) or fixed sizes, a dtype kind ("f" float, "i" integer, "b" bool), and a range.
    `nan` allows NaN (missing values); infinities are never allowed."""

    shape: tuple[str | int, ...]
    kind: str = "f"
    low: float | None = None
    high: float | None = None
    nan: bool = False


class Fields:
    """Checks a saved file's fields; each failure raises `error` naming the file and field.

    `dims` holds the named dimensions bound so far, so that one array's shape constrains the
    next ("M" is the number of models everywhere in the file)."""

    def __init__(self, path: str | os.PathLike[str], error: type[SavedFileError],
                 stored: Stored, prefix: str = "") -> None:
        self.path = Path(path)
        self.error = error
        self.stored = stored
        self.prefix = prefix
        self.dims: dict[str, int] = {}

    def fail(self, name: str, problem: str) -> SavedFileError:
        """The error for field `name` (shown with this part's prefix)."""
        return self.error(f"{self.path}: field {(self.prefix + name).rstrip('/')}: {problem}")

    def part(self, prefix: str) -> Fields:
        """A checker for the nested part `prefix/` (its own dimensions, same file)."""
        nested = Fields(self.path, self.error, self.stored.prefixed(prefix),
                        f"{self.prefix}{prefix}/")
        return nested

    def array(self, name: str, spec: Spec) -> np.ndarray:
        """The array `name`, checked against `spec`."""
        if name not in self.stored.arrays:
            raise self.fail(name, "missing")
        a = self.stored.arrays[name]
        if len(spec.shape) != a.ndim:
            raise self.fail(name, f"has {a.ndim} dimensions, expected {len(spec.shape)}")
        for axis, (dim, size) in enumerate(zip(spec.shape, a.shape, strict=True)):
            want = dim if isinstance(dim, int) else self.dims.setdefault(dim, size)
            if size != want:
                raise self.fail(name, f"has shape {a.shape}; axis {axis} should be {want}"
                                + ("" if isinstance(dim, int) else f" ({dim})"))
        if spec.kind == "f" and a.dtype.kind not in "fiu":
            raise self.fail(name, f"has dtype {a.dtype}, expected numbers")
        if spec.kind == "i" and a.dtype.kind not in "iu":
            raise self.fail(name, f"has dtype {a.dtype}, expected integers")
        if spec.kind == "b" and a.dtype.kind != "b":
            raise self.fail(name, f"has dtype {a.dtype}, expected booleans")
        if spec.kind == "f":
            a = a.astype(np.float64, copy=False) if a.dtype.kind != "f" else a
            bad = np.isinf(a) | (np.isnan(a) if not spec.nan else False)
            if bad.any():
                raise self.fail(name, f"holds {a.flat[np.flatnonzero(bad)[0]]} "
                                f"at position {int(np.flatnonzero(bad)[0])}")
        if a.size and spec.kind != "b":
            values = a[~np.isnan(a)] if spec.kind == "f" and spec.nan else a
            if values.size and spec.low is not None and values.min() < spec.low:
                raise self.fail(name, f"holds {values.min()}, below {spec.low}")
            if values.size and spec.high is not None and values.max() > spec.high:
                raise self.fail(name, f"holds {values.max()}, above {spec.high}")
        return a

    @overload
    def value(self, data: Mapping[str, object], name: str, kind: type[_Kind], *,
              low: float | None = None, high: float | None = None,
              optional: Literal[False] = False) -> _Kind: ...

    @overload
    def value(self, data: Mapping[str, object], name: str, kind: type[_Kind], *,
              low: float | None = None, high: float | None = None,
              optional: bool) -> _Kind | None: ...

    def value(self, data: Mapping[str, object], name: str, kind: type[_Kind], *,
              low: float | None = None, high: float | None = None,
              optional: bool = False) -> _Kind | None:
        """The manifest value `data[name]` of `kind` (int, float, str, bool, list, dict);
        numbers must be finite and within [low, high]; a bool is not a number."""
        if name not in data:
            raise self.fail(name, "missing")
        value = data[name]
        if value is None and optional:
            return None
        number = kind in (int, float)
        kinds = (int, float) if kind is float else kind
        if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kinds):
            raise self.fail(name, f"is {value!r}, expected {kind.__name__}")
        if number:
            x = cast("float | int", value)
            if kind is float:
                try:
                    x = float(x)
                except OverflowError:
                    x = math.inf
            if not math.isfinite(x):
                raise self.fail(name, f"is {value!r}, expected a finite number")
            if (low is not None and x < low) or (high is not None and x > high):
                raise self.fail(name, f"is {value!r}, expected between {low} and {high}")
            return cast("_Kind", x)  # an int, or a float where `kind` is float
        return cast("_Kind", value)  # checked to be an instance of `kind` above

    def strings(self, data: Mapping[str, object], name: str, length: str | None = None,
                unique: bool = False) -> list[str]:
        """A list of strings; `length` binds or checks a named dimension."""
        values = self.value(data, name, list)
        if not all(isinstance(v, str) for v in values):
            raise self.fail(name, "must be a list of strings")
        if length is not None and self.dims.setdefault(length, len(values)) != len(values):
            raise self.fail(name, f"has {len(values)} entries, expected {self.dims[length]}")
        if unique and len(set(values)) != len(values):
            raise self.fail(name, "has repeated entries")
        return values
