"""Atomic output: formats round-trip, failures leave nothing partial behind."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from optllm.data import files as export
from optllm.data import formats
from optllm.data.files import (
    atomic_path,
    check_replaceable,
    replaced_folder,
    write_json,
    write_table,
)
from optllm.exceptions import ExportError
from optllm.pipeline import routing

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

    def no_space(table, sink):
        sink.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pacsv, "write_csv", no_space)
    with pytest.raises(ExportError, match="No space left"):
        write_table(FRAME, tmp_path / "out.csv")
    assert list(tmp_path.iterdir()) == []


def test_json_is_clean(tmp_path):
    path = write_json({"a": np.float64(1.5), "b": float("nan"), "c": np.arange(2)},
                      tmp_path / "s.json")
    assert json.loads(path.read_text()) == {"a": 1.5, "b": None, "c": [0, 1]}


# --- file modes: like a plain open(), 0666 less the umask -------------------------------

@pytest.fixture
def umask():
    """Set a umask for the test and restore the previous one after it."""
    previous = os.umask(0o022)
    yield os.umask
    os.umask(previous)


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002], ids=oct)
def test_written_files_respect_the_umask(tmp_path, umask, mask):
    umask(mask)
    paths = [write_table(FRAME, tmp_path / f"out.{ext}") for ext in ("csv", "parquet", "jsonl")]
    paths.append(write_json({"a": 1}, tmp_path / "s.json"))
    with replaced_folder(tmp_path / "run", ["x.json"]) as staging:
        write_json({}, staging / "x.json")
    paths.append(tmp_path / "run" / "x.json")
    for path in paths:
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask, path
    assert stat.S_IMODE((tmp_path / "run").stat().st_mode) == 0o777 & ~mask


# --- leftovers of killed writers ----------------------------------------------------------

def dead_pid() -> int:
    """The pid of a process that has exited (and was reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def leftover(directory, name, pid, kind="tmp", host=None, folder=False):
    path = directory / f".{name}.optllm-{host or export._HOST}-{pid}-0123abcd.{kind}"
    if folder:
        path.mkdir()
        (path / "front.csv").write_text("left over")
    else:
        path.write_text("left over")
    return path


def test_the_next_write_removes_leftovers_of_dead_writers_only(tmp_path):
    dead = dead_pid()
    stale = [leftover(tmp_path, "out.csv", dead), leftover(tmp_path, "run", dead, folder=True),
             leftover(tmp_path, "data.csv", dead, kind="part")]
    live = [leftover(tmp_path, "out.csv", os.getpid()),
            leftover(tmp_path, "out.csv", os.getppid()),
            leftover(tmp_path, "out.csv", dead, host="another-host"),
            tmp_path / ".out.csv.abc123.tmp"]  # not ours: never touched
    live[-1].write_text("someone else's")
    write_table(FRAME, tmp_path / "out.csv")
    assert not any(path.exists() for path in stale)
    assert all(path.exists() for path in live)


def test_a_folder_set_aside_by_a_killed_swap_comes_back(tmp_path):
    dead = dead_pid()
    aside = leftover(tmp_path, "run", dead, kind="old", folder=True)
    new = leftover(tmp_path, "run", dead, kind="tmp", folder=True)
    with pytest.raises(ExportError, match=r"already holds front\.csv"):  # the restored run
        check_replaceable(tmp_path / "run", OURS)
    assert (tmp_path / "run" / "front.csv").read_text() == "left over"
    assert not aside.exists() and not new.exists()
    aside = leftover(tmp_path, "run", dead, kind="old", folder=True)  # the swap finished
    export.remove_stale(tmp_path)
    assert not aside.exists() and (tmp_path / "run").is_dir()


# --- run folders replaced all or nothing --------------------------------------------------

OURS = ("config.json", "front.csv", "allocation.csv")


def old_run(folder):
    folder.mkdir()
    for name in OURS:
        (folder / name).write_text(f"old {name}")
    (folder / "notes.txt").write_text("mine")
    return folder


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
def test_a_folder_becomes_exactly_the_new_outputs_plus_other_files(tmp_path, monkeypatch,
                                                                   exchange):
    if not exchange:
        monkeypatch.setattr(export, "_exchange", lambda first, second: False)
    folder = old_run(tmp_path / "run")
    notes = (folder / "notes.txt").stat().st_ino
    with replaced_folder(folder, OURS, force=True) as staging:
        for name in OURS[:2]:  # this run has no allocation
            (staging / name).write_text(f"new {name}")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "front.csv", "notes.txt"]
    assert (folder / "front.csv").read_text() == "new front.csv"
    assert (folder / "notes.txt").stat().st_ino == notes  # carried over, not copied
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


@pytest.mark.parametrize("error, raised", [(RuntimeError("died midway"), RuntimeError),
                                           (OSError(28, "No space left on device"),
                                            ExportError)])
def test_a_failure_midway_leaves_the_old_folder_whole(tmp_path, error, raised):
    folder = old_run(tmp_path / "run")
    before = {p.name: p.read_text() for p in folder.iterdir()}
    with pytest.raises(raised, match=str(error.args[-1])), \
            replaced_folder(folder, OURS, force=True) as staging:
        (staging / "config.json").write_text("new")
        raise error
    assert {p.name: p.read_text() for p in folder.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_a_folder_is_refused_without_force_or_with_foreign_folders(tmp_path, monkeypatch):
    folder = old_run(tmp_path / "run")
    with pytest.raises(ExportError, match=r"already holds allocation\.csv, config\.json, "
                                          r"front\.csv; use --force"):
        check_replaceable(folder, OURS)
    (folder / "plots").mkdir()
    with pytest.raises(ExportError, match="holds the folder 'plots'"):
        check_replaceable(folder, OURS, force=True)
    monkeypatch.chdir(folder / "plots")
    with pytest.raises(ExportError, match="current directory"):
        check_replaceable(folder, OURS, force=True)
    (tmp_path / "file").write_text("")
    with pytest.raises(ExportError, match="not a folder"):
        check_replaceable(tmp_path / "file", OURS)
    assert check_replaceable(tmp_path / "new" / "run", OURS) == []


def test_a_linked_folder_is_replaced_where_it_points(tmp_path):
    real = old_run(tmp_path / "real")
    (tmp_path / "link").symlink_to(real)
    with replaced_folder(tmp_path / "link", OURS, force=True) as staging:
        (staging / "front.csv").write_text("new")
    assert (tmp_path / "link").is_symlink()
    assert (real / "front.csv").read_text() == "new"


# --- CSV injection --------------------------------------------------------------------------

RISKY = ["=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tx", "\rx", "-0.5", "1e3",
         "plain", None]


@pytest.mark.parametrize("write", ["write_table", "route_writer"])
def test_csv_cells_that_spreadsheets_run_are_neutralised(tmp_path, write):
    table = pa.table({"query": pa.array(RISKY),
                      "model": pa.DictionaryArray.from_arrays(
                          pa.array([0, 1] * 5, pa.int32()), pa.array(["=m", "m"])),
                      "cost": pa.array([-0.5] * 10)})
    path = tmp_path / "out.csv"
    if write == "write_table":
        write_table(table, path)
    else:
        writer = routing._Writer(path, "csv", False, table.schema)
        writer.write(table.slice(0, 5))
        writer.write(table.slice(5))
        writer.close()
    back = pd.read_csv(path, keep_default_na=False, na_values=[""])
    assert back["query"].tolist()[:6] == ["'" + cell for cell in RISKY[:6]]
    assert back["query"].tolist()[6:9] == ["-0.5", "1e3", "plain"]  # numbers are no formulas
    assert back["model"].tolist() == ["'=m", "m"] * 5
    assert back["cost"].tolist() == [-0.5] * 10


@pytest.mark.parametrize("name", ["out.parquet", "out.jsonl"])
def test_parquet_and_json_lines_stay_exact(tmp_path, name):
    path = write_table(pd.DataFrame({"query": RISKY}), tmp_path / name)
    back = pd.read_parquet(path) if name.endswith("parquet") else pd.read_json(
        path, lines=True, dtype=False)
    assert back["query"].tolist()[:9] == RISKY[:9]


# ------------------------------------------------------------ extension decides the format


@pytest.mark.parametrize("name", ["out.csv.gz", "out.jsonl.gz", "out.ndjson", "out.pq"])
def test_every_readable_extension_is_written_in_its_format(tmp_path, name):
    """One table maps extensions to formats: what `load_dataset` reads from a name is what
    `write_table` writes to it, gzip included."""
    from optllm.data.formats import split_extension

    path = write_table(FRAME, tmp_path / name)
    kind, gz = split_extension(path)
    if kind == "parquet":
        back = pd.read_parquet(path)
    elif kind == "csv":
        back = pd.read_csv(path, compression="gzip" if gz else None)
    else:
        back = pd.read_json(path, lines=True, compression="gzip" if gz else None)
    assert back["query_id"].tolist() == ["a", "b"]
    assert gz == path.read_bytes().startswith(b"\x1f\x8b")


@pytest.mark.parametrize(("name", "asked"), [("test.jsonl", "parquet"), ("x.csv.gz", "jsonl"),
                                             ("y.parquet", "csv")])
def test_a_format_contradicting_the_extension_is_refused(tmp_path, name, asked):
    with pytest.raises(ExportError, match="the extension says"):
        write_table(FRAME, tmp_path / name, file_format=asked)
    assert list(tmp_path.iterdir()) == []


def test_an_explicit_format_names_one_for_an_unknown_extension(tmp_path):
    path = write_table(FRAME, tmp_path / "out.txt", file_format="jsonl")
    assert pd.read_json(path, lines=True)["model"].tolist() == ["x", "y"]
    with pytest.raises(ExportError, match=r"drop the \.gz"):
        write_table(FRAME, tmp_path / "out.parquet.gz")


@pytest.mark.parametrize(("path", "kind", "expected"), [
    ("a/out.csv", "parquet", "a/out.parquet"), ("out.csv.gz", "jsonl", "out.jsonl"),
    ("out", "csv", "out.csv"), ("v1.2/out.jsonl", "csv", "v1.2/out.csv")])
def test_with_format_swaps_only_the_format_extension(path, kind, expected):
    assert formats.with_format(path, kind) == expected
