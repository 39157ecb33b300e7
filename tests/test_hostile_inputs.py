"""Hostile input files: every loader returns data or raises an OptLLMError, never anything
else, and `optllm run` turns each one into exit 2 with a message naming the file and the
row or field, never a traceback.

The hypothesis tests build malformed tables (wide and long layouts, CSV, CSV.gz, Parquet and
JSON Lines, cells of every type JSON and Parquet can hold) and damaged files (truncated,
with bytes overwritten); the command-line test replays one file of each class the
adversarial pass found.
"""

from __future__ import annotations

import gzip
import json
import math
import tempfile
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optllm.cli.main import main
from optllm.data.queries import iter_batch, load_batch
from optllm.data.tables import MAX_QUERY_CHARS, load_dataset
from optllm.exceptions import OptLLMError

FAST = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# ----------------------------------------------------------------------------- tables

WIDE_COLUMNS = ["query", "query_id", "a", "a_cost", "b", "b_cost", "c", "note", ""]
LONG_COLUMNS = ["query_id", "query", "model", "cost", "correct", "note"]
SUFFIXES = [".csv", ".csv.gz", ".parquet", ".jsonl", ".jsonl.gz"]

texts = st.one_of(st.sampled_from(["", " ", "\t\n", "q", "0", "1", "1.0", "true", "nan",
                                   "-1", "1e308", "x" * 300, "é\u200b", "a,b", '"', "\\"]),
                  st.text(max_size=20))
numbers = st.one_of(st.integers(-2**70, 2**70), st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([0, 1, 0.5, 1e308, -0.0]))
scalars = st.one_of(st.none(), st.booleans(), texts, numbers)
cells = st.one_of(scalars, st.lists(scalars, max_size=3),
                  st.dictionaries(st.sampled_from(["k", "v"]), scalars, max_size=2))


@st.composite
def tables(draw: st.DrawFn) -> dict[str, list]:
    """A table of 0..12 rows, wide or long columns (some missing, some extra), each column
    of one kind of value, or mixed, with occasional hostile cells."""
    pool = draw(st.sampled_from([WIDE_COLUMNS, LONG_COLUMNS]))
    names = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=len(pool), unique=True))
    n = draw(st.integers(0, 12))
    table = {}
    for name in names:
        kind = draw(st.sampled_from([texts, numbers, st.booleans(), scalars, cells]))
        table[name] = draw(st.lists(kind, min_size=n, max_size=n))
    return table


def write(table: dict[str, list], path: Path) -> bool:
    """Write `table` in the format of `path`'s extension; False when the format cannot hold
    it (Parquet refuses mixed columns): such an example says nothing."""
    name = path.name
    if name.endswith(".parquet"):
        try:
            pq.write_table(pa.table({k: pa.array(v) for k, v in table.items()}), path)
        except (pa.ArrowException, ValueError, TypeError, OverflowError):
            return False
        return True
    if ".jsonl" in name:
        rows = [dict(zip(table, values, strict=True)) for values in zip(*table.values(),
                                                                       strict=True)]
        text = "".join(json.dumps(row) + "\n" for row in rows)
    else:
        frame = pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in table.items()})
        text = frame.to_csv(index=False)
    data = text.encode("utf-8", "surrogatepass")
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    return True


def outcome(load, path: Path) -> str:
    """Call a loader; any OptLLMError is a fine answer, anything else fails the test."""
    try:
        load(path)
    except OptLLMError as exc:
        assert str(path) in str(exc) or path.name in str(exc), str(exc)
        return "refused"
    return "loaded"


def loaders(path: Path) -> list:
    return [load_dataset, lambda p: load_dataset(p, layout="long"), load_batch,
            lambda p: list(iter_batch(p, chunk_rows=3))]


@FAST
@given(table=tables(), suffix=st.sampled_from(SUFFIXES))
def test_malformed_tables_load_or_raise_an_optllm_error(table, suffix):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"t{suffix}"
        if not write(table, path):
            return
        for load in loaders(path):
            outcome(load, path)


def valid_file(folder: Path, suffix: str) -> Path:
    table = {"query_id": [f"id{i}" for i in range(8)],
             "query": [f"query number {i}" for i in range(8)],
             "a_cost": [0.1 * (i + 1) for i in range(8)], "a": [i % 2 for i in range(8)],
             "b_cost": [0.5] * 8, "b": [(i + 1) % 2 for i in range(8)]}
    path = folder / f"v{suffix}"
    assert write(table, path)
    return path


@FAST
@given(suffix=st.sampled_from(SUFFIXES), data=st.data())
def test_damaged_files_load_or_raise_an_optllm_error(suffix, data):
    with tempfile.TemporaryDirectory() as folder:
        path = valid_file(Path(folder), suffix)
        raw = bytearray(path.read_bytes())
        cut = data.draw(st.integers(0, len(raw)), label="keep bytes")
        raw = raw[:cut]
        for _ in range(data.draw(st.integers(0, 4), label="overwrites")):
            if raw:
                at = data.draw(st.integers(0, len(raw) - 1), label="at")
                raw[at] = data.draw(st.sampled_from([0, 0xFF, 0x0A, 0x22, 0x2C, 0x7B]))
        path.write_bytes(bytes(raw))
        for load in loaders(path):
            outcome(load, path)


# ----------------------------------------------------------------------------- memory


def test_one_long_query_costs_its_own_length_not_rows_times_it(tmp_path):
    """A fixed-width numpy string array would hold rows x longest query x 4 bytes: 400 MB
    here; as Python strings the batch takes a few MB."""
    queries = [f"short query {i}" for i in range(2000)]
    queries[7] = "long " * 10_000
    path = tmp_path / "batch.csv"
    pd.DataFrame({"query": queries}).to_csv(path, index=False)
    tracemalloc.start()
    try:
        _, loaded = load_batch(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert loaded.dtype == object and loaded[7] == queries[7]
    assert peak < 40e6


def test_a_query_longer_than_the_limit_is_refused_naming_its_row(tmp_path):
    path = tmp_path / "batch.jsonl"
    rows = [{"query": "fine"}, {"query": "y" * (MAX_QUERY_CHARS + 1)}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(OptLLMError, match=r"row 2, column 'query'.*at most 2,000,000"):
        load_batch(path)


def test_a_batch_csv_with_a_field_longer_than_a_block_is_read(tmp_path):
    path = tmp_path / "batch.csv"
    query = "z" * (1 << 20)
    other = "o" * (9 << 20)  # longer than the reader's first 8 MiB block
    path.write_text(f"query_id,query,other\n1,{query},x\n2,second,{other}\n3,third,y\n")
    ids, queries = load_batch(path)
    assert ids.tolist() == ["1", "2", "3"] and queries.tolist() == [query, "second", "third"]


# ----------------------------------------------------------------------------- command line

WIDE_HEADER = "query,a_cost,a,b_cost,b\n"


def wide_rows(n: int, query=lambda i: f"query number {i}", cost="0.5") -> str:
    return "".join(f"{query(i)},{cost},{i % 2},0.25,{(i + 1) % 2}\n" for i in range(n))


def parquet(path: Path, **columns) -> None:
    base = {"query": [f"q{i}" for i in range(10)], "a_cost": [0.1] * 10, "a": [1, 0] * 5,
            "b_cost": [0.2] * 10, "b": [0, 1] * 5}
    pq.write_table(pa.table({**base, **columns}), path)


def not_utf8_strings(n: int) -> pa.Array:
    values = pa.array([b"fine"] * (n - 1) + [b"\xff\xfe"], type=pa.binary())
    return pa.Array.from_buffers(pa.string(), n, values.buffers())


def hostile_file(kind: str, folder: Path) -> tuple[Path, str]:
    """A file of one hostile class, and the words its error must contain."""
    path = folder / {"deep": "d.jsonl", "nul": "header only.csv", "gz": "t.csv.gz",
                     "struct": "s.parquet", "utf8": "u.parquet", "stamp": "ts.parquet",
                     "blank": "b.csv", "huge": "h.csv", "nocost": "n.csv", "tiny": "tiny.csv",
                     "bigint": "big.jsonl", "listq": "l.jsonl", "latin1": "l1.csv"}[kind]
    if kind == "deep":
        path.write_text('{"query": ' + "[" * 5000 + "]" * 5000 + "}\n")
        return path, "line 1"
    if kind == "nul":
        path.write_bytes(b"\0" * 4096)
        return path, "not a text table"
    if kind == "gz":
        path.write_bytes(gzip.compress((WIDE_HEADER + wide_rows(50)).encode())[:-30])
        return path, "gzip"
    if kind == "struct":
        parquet(path, query=[{"text": f"q{i}"} for i in range(10)])
        return path, "row 1, column 'query'"
    if kind == "utf8":
        parquet(path, query=not_utf8_strings(10))
        return path, "row 10, column 'query'"
    if kind == "stamp":
        parquet(path, a_cost=pd.date_range("2024-01-01", periods=10))
        return path, "row 1, column 'a_cost'"
    if kind == "blank":
        path.write_text(WIDE_HEADER + wide_rows(9) + "   ,0.5,1,0.25,0\n")
        return path, "row 10, column 'query': only white space"
    if kind == "huge":
        path.write_text(WIDE_HEADER + wide_rows(10, cost="1e308"))
        return path, "row 1, column 'a_cost'"
    if kind == "nocost":
        path.write_text("query,a_cost,a,b_cost,b,c\n"
                        + "".join(f"q{i},0.1,1,0.2,0,{i % 2}\n" for i in range(10)))
        return path, "column 'c'"
    if kind == "tiny":
        path.write_text(WIDE_HEADER + wide_rows(3))
        return path, "too small to learn from"
    if kind == "latin1":
        path.write_bytes(WIDE_HEADER.encode() + b"fine,0.5,1,0.25,0\ncaf\xe9,0.5,1,0.25,0\n")
        return path, "byte 45 (line 3) is 0xe9"
    if kind == "bigint":
        path.write_text('{"query": "q", "a_cost": 123456789012345678901234567890}\n')
        return path, "line 1"
    path.write_text('{"query": ["a", "list"], "a_cost": 1, "a": 1, "b_cost": 1, "b": 0}\n')
    return path, "row 1, column 'query'"


KINDS = ["deep", "nul", "gz", "struct", "utf8", "stamp", "blank", "huge", "nocost", "tiny",
         "bigint", "listq", "latin1"]


def refused(capsys, args: list[str], *words: str) -> str:
    """Run `optllm`; it must exit 2 with all `words` in its message and no traceback."""
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for word in words:
        assert word in err, err
    return err


@pytest.mark.parametrize("kind", KINDS)
def test_run_refuses_a_hostile_dataset_naming_file_and_row(tmp_path, capsys, kind):
    path, words = hostile_file(kind, tmp_path)
    refused(capsys, ["run", str(path), "--out", str(tmp_path / "out")], path.name, words)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", ["deep", "nul", "gz", "struct", "utf8", "blank", "listq",
                                  "latin1"])
def test_run_allocate_refuses_a_hostile_batch(tmp_path, capsys, kind):
    path, words = hostile_file(kind, tmp_path)
    refused(capsys, ["run", "--allocate", str(path), "--out", str(tmp_path / "out")],
            path.name, words)


@pytest.mark.parametrize(("options", "words"), [
    (["--seed", str(2**32)], "seed must be a whole number from 0 to 4294967295"),
    (["--bootstraps", "100000"], "bootstraps must be at least 1 and at most 5000"),
    (["--density", "100000"], "density must be at least 2 and at most 1000"),
    (["--target-accuracy", "0"], "target accuracy"),
    (["--target-accuracy", "nan"], "target accuracy"),
    (["--budget", "nan"], "budget"),
    (["--out", ""], "--out must name a folder"),
])
def test_run_refuses_bad_options_before_reading_data(tmp_path, capsys, options, words):
    missing = tmp_path / "never-read.csv"  # an unread file: options are checked first
    args = ["run", str(missing), "--out", str(tmp_path / "out"), *options]
    refused(capsys, args, words)


def test_output_paths_are_checked_before_training(tmp_path, capsys):
    data = tmp_path / "d.csv"
    data.write_text(WIDE_HEADER + wide_rows(40))
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    refused(capsys, ["run", str(data), "--out", str(a_file)], "not a folder")
    refused(capsys, ["run", str(data), "--out", str(a_file / "sub")], "not a folder")
    out = tmp_path / "out"
    refused(capsys, ["run", str(data), "--allocate", str(data), "--budget", "5",
                     "--out", str(out), "--save-policy", str(tmp_path / "no" / "p.json")],
            "--save-policy", "does not exist")
    assert not out.exists()  # refused before the run, so nothing was written
    refused(capsys, ["run", str(data), "--allocate", str(data), "--budget", "5",
                     "--out", str(out), "--save-policy", str(tmp_path)], "is a folder")
    refused(capsys, ["run", str(data), "--allocate", str(data), "--budget", "5",
                     "--out", str(out), "--save-policy", ""], "--save-policy must name a file")


def test_a_degenerate_evaluation_prints_no_nonsense(tmp_path, capsys):
    data = tmp_path / "d.csv"
    data.write_text(WIDE_HEADER + wide_rows(8))
    assert main(["run", str(data), "--bootstraps", "2", "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "nan" not in out and "-100.0 pp" not in out
    assert "too few allocated queries" in out
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["hypervolume"] is None and summary["accuracy_gain_at_best_cost"] is None
    assert not any(isinstance(v, float) and math.isnan(v) for v in summary.values())
    assert np.isfinite([p["cost"] for p in summary["front"]]).all()


def test_route_checks_its_output_file_before_reading_the_policy(tmp_path, capsys):
    queries = tmp_path / "q.csv"
    queries.write_text("query\nhello\n")
    policy = tmp_path / "never-read.policy"
    refused(capsys, ["route", str(policy), str(queries), "--out", ""], "--out must name a file")
    refused(capsys, ["route", str(policy), str(queries), "--out", str(tmp_path)], "is a folder")
    refused(capsys, ["route", str(policy), str(queries), "--out",
                     str(tmp_path / "missing" / "r.csv")], "does not exist")


@pytest.mark.parametrize("line", [
    '{"query": "a", "a_cost": 1e400}', '{"query": "a", "n": 1.5e-400}',
    '{"query": "a", "n": -9223372036854775809}', '{"query": "a", "n": 18446744073709551616}',
    '{"query": "a"} trailing', '{"query": ' + "[" * 3000 + "]" * 3000 + "}", '["a", "list"]'])
def test_json_lines_errors_give_the_line_not_a_character_position(tmp_path, line):
    path = tmp_path / "d.jsonl"
    path.write_text('{"query": "fine"}\n' + line + "\n")
    with pytest.raises(OptLLMError) as info:
        load_dataset(path)
    message = str(info.value)
    assert f"{path}: line 2" in message, message
    assert "position" not in message and "character" not in message


def test_routing_keeps_one_long_query_id_its_own_size():
    """Routed ids go to Arrow as they are: a numpy `astype(str)` of 1,000 ids, one of them
    200,000 characters long, would take 800 MB."""
    from types import SimpleNamespace

    from optllm.pipeline.routing import route_queries

    n = 1000
    ids = [f"id{i}" for i in range(n)]
    ids[3] = "i" * 200_000
    ones = np.ones((n, 2))
    policy = SimpleNamespace(predict=lambda queries, columns=None: (ones, ones, ones * 0, ones),
                             rate=1.0, models=("a", "b"), model_prices=None)
    tracemalloc.start()
    try:
        table = route_queries(policy, ids, ["q"] * n)[0]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert table.column("query_id").to_pylist() == ids
    assert peak < 40e6
