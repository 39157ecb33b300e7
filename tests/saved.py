"""Helpers for tests of saved files: copy a file, changing its manifest, arrays or blobs."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np


def npy_bytes(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def set_path(document: dict, dotted: str, value: Any) -> None:
    """Set `document["a"]["b"]...` for "a.b..."; a list index is a number ("models.0")."""
    *parents, last = dotted.split(".")
    node: Any = document
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def rewrite(path: Path, target: Path, *, manifest: dict[str, Any] | None = None,
            arrays: dict[str, np.ndarray] | None = None,
            members: dict[str, bytes] | None = None, drop: tuple[str, ...] = (),
            raw_manifest: str | None = None) -> Path:
    """Copy the saved file `path` to `target`: `manifest` sets dotted fields, `arrays`
    replaces arrays by name, `members` replaces or adds raw members, `drop` removes members."""
    with zipfile.ZipFile(path) as zf:
        contents = {name: zf.read(name) for name in zf.namelist()}
    document = json.loads(contents["manifest.json"])
    for dotted, value in (manifest or {}).items():
        set_path(document, dotted, value)
    contents["manifest.json"] = (raw_manifest if raw_manifest is not None
                                 else json.dumps(document)).encode()
    for name, array in (arrays or {}).items():
        contents[f"arrays/{name}.npy"] = npy_bytes(array)
    contents |= members or {}
    with zipfile.ZipFile(target, "w") as zf:
        for name, data in contents.items():
            if name not in drop:
                zf.writestr(name, data)
    return target


def read_array(path: Path, name: str) -> np.ndarray:
    with zipfile.ZipFile(path) as zf:
        return np.load(io.BytesIO(zf.read(f"arrays/{name}.npy")), allow_pickle=False)
