"""Atomic output: formats round-trip, failures leave nothing partial behind."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

from optllm.exceptions import ExportError
from optllm.export import atomic_path, write_json, write_table

FRAME = pd.DataFrame({"query_id": ["a", "b"], "model": ["x", "y"], "cost": [0.1, 0.2],
                      "label": pd.array([1, None], dtype="Int8")})


@pytest.mark.parametrize("name", ["out.csv", "out.parquet", "out.jsonl"])
def test_formats_round_trip(tmp_path, name):
    path = write_table(FRAME, tmp_path / name)
    if name.endswith(".csv"):
        back = pd.read_csv(path)
    elif name.endswith(".parquet"):
        back = pd.read_parquet(path)
    else:
        back = pd.read_json(path, lines=True)
    assert back["query_id"].tolist() == ["a", "b"]
    assert back["cost"].tolist() == [0.1, 0.2]
    assert back["label"].isna().tolist() == [False, True]
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_existing_file_needs_force(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("keep me")
    with pytest.raises(ExportError, match="already exists"):
        write_table(FRAME, target)
    assert target.read_text() == "keep me"
    write_table(FRAME, target, force=True)
    assert target.read_text().startswith('"query_id"')


def test_failure_midway_keeps_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target, force=True) as tmp:
        tmp.write_text("half")
        raise RuntimeError("writer died")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_missing_directory_and_unknown_extension(tmp_path):
    with pytest.raises(ExportError, match="not an existing directory"):
        write_table(FRAME, tmp_path / "nope" / "out.csv")
    with pytest.raises(ExportError, match="extension"):
        write_table(FRAME, tmp_path / "out.xlsx")


def test_unwritable_directory(tmp_path):
    # Root ignores permission bits, so use a directory no one can create files in.
    if os.geteuid() == 0:
        locked = "/proc"
    else:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
    with pytest.raises(ExportError, match="cannot write"):
        write_table(FRAME, f"{locked}/out.csv")


def test_full_disk_is_reported_and_leaves_nothing(tmp_path, monkeypatch):
    import pyarrow.csv as pacsv

    def no_space(table, path):
        with open(path, "w") as handle:
            handle.write("partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pacsv, "write_csv", no_space)
    with pytest.raises(ExportError, match="No space left"):
        write_table(FRAME, tmp_path / "out.csv")
    assert list(tmp_path.iterdir()) == []


def test_json_is_clean(tmp_path):
    path = write_json({"a": np.float64(1.5), "b": float("nan"), "c": np.arange(2)},
                      tmp_path / "s.json")
    assert json.loads(path.read_text()) == {"a": 1.5, "b": None, "c": [0, 1]}
