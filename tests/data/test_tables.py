"""Dataset files: every format and layout gives the same Dataset; every malformed file fails
with a message that names the file, the row and the column."""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from optllm.data.dataset import Dataset
from optllm.data.tables import load_dataset, write_wide
from optllm.exceptions import ConfigError, DatasetError

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"

WIDE = pd.DataFrame({
    "query_id": ["q1", "q2", "q3", "q4"],
    "query": ["What is 2+2?", "Name a prime, please", 'Translate "chat"', "Summarise:\nthe case"],
    "topic": ["math", "math", "language", "law"],
    "a_cost": [0.001, 0.002, 0.0015, 0.003],
    "b_cost": [0.01, 0.02, 0.015, 0.03],
    "c_cost": [0.0001, 0.0, 0.00015, 0.0003],
    "a": pd.array([1, 0, None, 1], dtype="Int8"),
    "b": pd.array([1, 1, None, 0], dtype="Int8"),
    "c": pd.array([0, 0, None, 1], dtype="Int8"),
})
MODELS = ("a", "b", "c")


def long_from_wide(wide: pd.DataFrame) -> pd.DataFrame:
    """One row per (query, model), query-major, as a user would export it."""
    parts = [wide[["query_id", "query", "topic"]].assign(
        model=m, cost=wide[f"{m}_cost"], correct=wide[m]) for m in MODELS]
    return pd.concat(parts).sort_index(kind="stable").reset_index(drop=True)


def save(frame: pd.DataFrame, path: Path) -> Path:
    name = path.name
    if name.endswith(".parquet"):
        frame.to_parquet(path, index=False)
    elif ".csv" in name:
        frame.to_csv(path, index=False)
    else:
        frame.to_json(path, orient="records", lines=True, double_precision=15)
    return path


def expected() -> Dataset:
    labelled = np.array([True, True, False, True])
    return Dataset(
        name="expected", query_ids=WIDE["query_id"].to_numpy(object),
        queries=WIDE["query"].to_numpy(object), models=MODELS,
        cost=WIDE[[f"{m}_cost" for m in MODELS]].to_numpy(np.float64),
        labels=WIDE[list(MODELS)].fillna(0).to_numpy(np.int8), labelled=labelled,
        metadata=WIDE[["topic"]].copy())


def assert_same(got: Dataset, want: Dataset, rtol: float = 0.0) -> None:
    assert got.models == want.models
    np.testing.assert_array_equal(got.query_ids.astype(str), want.query_ids.astype(str))
    np.testing.assert_array_equal(got.queries.astype(str), want.queries.astype(str))
    np.testing.assert_allclose(got.cost, want.cost, rtol=rtol, atol=0)
    np.testing.assert_array_equal(got.labels, want.labels)
    np.testing.assert_array_equal(got.labelled, want.labelled)
    assert got.cost.dtype == np.float64 and got.labels.dtype == np.int8
    assert got.labelled.dtype == bool and got.query_ids.dtype == object
    assert all(isinstance(q, str) for q in got.query_ids)
    pd.testing.assert_frame_equal(got.metadata, want.metadata.reset_index(drop=True),
                                  check_dtype=False)


# ----------------------------------------------------------------------------- good files

FILE_NAMES = ["data.csv", "data.csv.gz", "data.parquet", "data.jsonl", "data.ndjson.gz"]


@pytest.mark.parametrize("file_name", FILE_NAMES)
@pytest.mark.parametrize("layout", ["wide", "long"])
def test_every_format_and_layout_gives_the_same_dataset(tmp_path: Path, file_name: str,
                                                        layout: str) -> None:
    frame = WIDE if layout == "wide" else long_from_wide(WIDE)
    dataset = load_dataset(save(frame, tmp_path / file_name))
    assert_same(dataset, expected())
    assert dataset.name == "data" and dataset.source == str(tmp_path / file_name)
    assert not dataset.synthetic
    assert dataset.n_labelled == 3


def test_unlabelled_rows_have_zero_labels_and_a_false_mask(tmp_path: Path) -> None:
    dataset = load_dataset(save(WIDE, tmp_path / "d.csv"))
    assert dataset.labelled.tolist() == [True, True, False, True]
    assert dataset.labels[2].tolist() == [0, 0, 0]


def test_wide_metadata_keeps_every_other_column(tmp_path: Path) -> None:
    frame = WIDE.assign(a_answer=["4", "7", "chat", "x"], ref_answer="r", system="s")
    dataset = load_dataset(save(frame, tmp_path / "d.csv"))
    assert list(dataset.metadata.columns) == ["topic", "a_answer", "ref_answer", "system"]
    assert dataset.metadata["a_answer"].tolist() == ["4", "7", "chat", "x"]


def test_query_ids_default_to_row_numbers(tmp_path: Path) -> None:
    dataset = load_dataset(save(WIDE.drop(columns="query_id"), tmp_path / "d.csv"))
    assert dataset.query_ids.tolist() == ["1", "2", "3", "4"]


def test_unnamed_index_column_gives_the_ids(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    WIDE.drop(columns="query_id").set_axis([10, 11, 12, 13]).to_csv(path)  # header starts ","
    dataset = load_dataset(path)
    assert dataset.query_ids.tolist() == ["10", "11", "12", "13"]
    assert list(dataset.metadata.columns) == ["topic"]


def test_ids_are_read_as_text(tmp_path: Path) -> None:
    path = save(WIDE.assign(query_id=["007", "7", "1e3", "0x1"]), tmp_path / "d.csv")
    assert load_dataset(path).query_ids.tolist() == ["007", "7", "1e3", "0x1"]


def test_utf8_byte_order_mark_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbf" + WIDE.to_csv(index=False).encode())
    assert_same(load_dataset(path), expected())


def test_numeric_json_ids_become_strings(tmp_path: Path) -> None:
    path = save(WIDE.assign(query_id=[5, 6, 7, 8]), tmp_path / "d.jsonl")
    assert load_dataset(path).query_ids.tolist() == ["5", "6", "7", "8"]


@pytest.mark.parametrize(("true", "false"), [("True", "False"), ("1.0", "0.0"), ("true", "0")])
def test_label_spellings(tmp_path: Path, true: str, false: str) -> None:
    path = tmp_path / "d.csv"
    path.write_text(f"query,a_cost,b_cost,a,b\nx,1,2,{true},{false}\ny,1,2,,\n")
    dataset = load_dataset(path)
    assert dataset.labels.tolist() == [[1, 0], [0, 0]]
    assert dataset.labelled.tolist() == [True, False]


def test_json_labels_may_be_booleans_or_strings(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"query":"x","a_cost":1,"b_cost":2,"a":true,"b":"0"}\n'
                    '{"query":"y","a_cost":1.5,"b_cost":2,"a":null,"b":null}\n')
    dataset = load_dataset(path)
    assert dataset.labels.tolist() == [[1, 0], [0, 0]]
    assert dataset.labelled.tolist() == [True, False]


def test_layout_override(tmp_path: Path) -> None:
    # `model` and `cost` metadata columns make a wide file look long.
    path = save(WIDE.assign(model="judge-1", cost=1.0), tmp_path / "d.csv")
    with pytest.raises(DatasetError, match="missing: correct"):
        load_dataset(path)
    dataset = load_dataset(path, layout="wide")
    assert dataset.models == MODELS
    assert list(dataset.metadata.columns) == ["topic", "model", "cost"]


def test_file_format_override(tmp_path: Path) -> None:
    path = tmp_path / "export.txt"
    WIDE.to_csv(path, index=False)
    assert_same(load_dataset(path, file_format="csv", name="x"), expected())
    assert load_dataset(path, file_format="csv", name="x").name == "x"


def test_long_keeps_first_appearance_order(tmp_path: Path) -> None:
    long = long_from_wide(WIDE).iloc[::-1].reset_index(drop=True)
    dataset = load_dataset(save(long, tmp_path / "d.csv"))
    assert dataset.query_ids.tolist() == ["q4", "q3", "q2", "q1"]
    assert dataset.models == ("c", "b", "a")
    assert dataset.cost[0].tolist() == [0.0003, 0.03, 0.003]


def test_long_ignores_a_saved_row_index(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    long_from_wide(WIDE).to_csv(path)  # leading unnamed index column, one value per row
    assert_same(load_dataset(path), expected())


def test_long_extra_columns_varying_by_model_are_spread(tmp_path: Path) -> None:
    long = long_from_wide(WIDE)
    long["answer"] = long["model"] + "-" + long["query_id"]
    dataset = load_dataset(save(long, tmp_path / "d.parquet"))
    assert list(dataset.metadata.columns) == ["topic", "a_answer", "b_answer", "c_answer"]
    assert dataset.metadata["b_answer"].tolist() == ["b-q1", "b-q2", "b-q3", "b-q4"]


@pytest.mark.parametrize("file_name", ["out.csv", "out.csv.gz", "out.parquet", "out.jsonl"])
def test_write_wide_round_trip(tmp_path: Path, file_name: str) -> None:
    want = expected()
    path = write_wide(want, tmp_path / file_name)
    assert path == tmp_path / file_name
    assert_same(load_dataset(path), want, rtol=1e-14)
    assert [p.name for p in tmp_path.iterdir()] == [file_name]


def test_write_wide_gzip_is_reproducible(tmp_path: Path) -> None:
    first = write_wide(expected(), tmp_path / "a.csv.gz").read_bytes()
    second = write_wide(expected(), tmp_path / "b.csv.gz").read_bytes()
    assert first == second


def test_write_wide_failure_keeps_the_old_file(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "out.csv"
    path.write_text("old contents")

    def half_write(self: pd.DataFrame, sink: object, **kwargs: object) -> None:
        sink.write("query_id,qu")  # type: ignore[attr-defined]
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", half_write)
    with pytest.raises(OSError, match="disk full"):
        write_wide(expected(), path)
    assert path.read_text() == "old contents"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_bad_arguments_are_config_errors(tmp_path: Path) -> None:
    path = save(WIDE, tmp_path / "d.csv")
    with pytest.raises(ConfigError, match="layout"):
        load_dataset(path, layout="tall")
    with pytest.raises(ConfigError, match="file_format"):
        load_dataset(path, file_format="xlsx")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"nothere\.csv: file not found"):
        load_dataset(tmp_path / "nothere.csv")


# ----------------------------------------------------------------------------- bad files

HEAD = "query_id,query,a_cost,b_cost,a,b\n"
LONG_HEAD = "query_id,query,model,cost,correct\n"


def parquet(table: Callable[[], pa.Table]) -> Callable[[Path], None]:
    return lambda path: pq.write_table(table(), path)


def good_table(**override: pa.Array) -> pa.Table:
    columns = {"query": pa.array(["x", "y"]), "a_cost": pa.array([0.1, 0.2]),
               "b_cost": pa.array([0.3, 0.4]), "a": pa.array([1, 0]), "b": pa.array([0, 1])}
    return pa.table({**columns, **override})


BAD_FILES = [
    # wide CSV
    ("bad.csv", "query_id,text,a_cost,b_cost,a,b\nq1,x,0.1,0.2,1,0\n",
     ["bad.csv", "no 'query' column", "'text'"]),
    ("bad.csv", "query;a_cost;b_cost;a;b\nx;1;2;1;0\n", ["no 'query' column", "comma-separated"]),
    ("bad.csv", "query,a_cost,b_cost,b\nx,0.1,0.2,1\n",
     ["model 'a'", "'a_cost'", "no label column"]),
    ("bad.csv", "query,a_answer,a,b_cost,b,c_cost,c\nx,4,1,0.2,1,0.3,0\n",
     ["model 'a'", "no cost column 'a_cost'"]),
    ("bad.csv", HEAD + "q1,x,0.1,0.2,1,0\nq2,y,0.1,abc,1,0\n",
     ["bad.csv", "row 2", "column 'b_cost'", "'abc'", "not a number"]),
    ("bad.csv", HEAD + "q1,x,0.1,0.2,1,0\nq2,y,0.1,0.2,1,0\nq3,z,-0.5,0.2,1,0\n",
     ["row 3", "column 'a_cost'", "-0.5", "negative"]),
    ("bad.csv", HEAD + "q1,x,nan,0.2,1,0\n", ["row 1", "column 'a_cost'", "'nan'"]),
    ("bad.csv", HEAD + "q1,x,0.1,0.2,1,0\nq2,y,0.1,,1,0\n",
     ["row 2", "column 'b_cost'", "missing cost"]),
    ("bad.csv", HEAD + "q1,x,0.1,0.2,1,0\nq2,y,inf,0.2,1,0\n",
     ["row 2", "column 'a_cost'", "infinite"]),
    ("bad.csv", HEAD + "q1,x,0.1,0.2,1,0\nq2,y,0.1,0.2,1,2\n",
     ["row 2", "column 'b'", "label 2", "not 0 or 1"]),
    ("bad.csv", HEAD + "q1,x,0.1,0.2,yes,0\n", ["row 1", "column 'a'", "'yes'"]),
    ("bad.csv", HEAD + "q1,x,0.1,0.2,1,0\nq2,y,0.1,0.2,1,0\nq3,z,0.1,0.2,0.5,0\n",
     ["row 3", "column 'a'", "0.5"]),
    ("bad.csv", HEAD + "q1,x,0.1,0.2,1,0\nq2,y,0.1,0.2,1,\n",
     ["row 2", "column 'b'", "labelled for 'a' but not for 'b'"]),
    ("bad.csv", "query,a_cost,b_cost,a,b,a\nx,0.1,0.2,1,0,1\n",
     ["duplicate column 'a'", "columns 4 and 6"]),
    ("bad.csv", "query,a_cost,a_cost,a,b_cost,b\nx,0.1,0.2,1,0.3,0\n",
     ["duplicate column 'a_cost'"]),
    ("bad.csv", HEAD + "q1,x,0.1,0.2,1,0\nq2,y,0.1,0.2,1,0\nq1,z,0.1,0.2,1,0\n",
     ["row 3", "column 'query_id'", "duplicate query id 'q1'", "first at row 1"]),
    ("bad.csv", HEAD + "q1,x,0.1,0.2,1,0\n,y,0.1,0.2,1,0\n",
     ["row 2", "column 'query_id'", "empty"]),
    ("bad.csv", HEAD + "q1,x,0.1,0.2,1,0\nq2,,0.1,0.2,1,0\n", ["row 2", "column 'query'", "empty"]),
    ("bad.csv", "query,a_cost,a\nx,0.1,1\n", ["found 1 model ('a')", "at least 2"]),
    ("bad.csv", "query,topic\nx,y\n", ["no models found"]),
    ("bad.csv", "", ["bad.csv", "empty"]),
    ("bad.csv", "query,a_cost,b_cost,a,b\n", ["no data rows"]),
    ("bad.csv", HEAD + "q1,x,0.1,0.2,1,0\nq2,y,0.1,0.2,1,0,7\n",
     ["malformed CSV", "row 2 has 7 fields", "header has 6"]),
    ("bad.csv", HEAD + 'q1,"two\nlines",0.1,0.2,1,0\nq2,y,0.1,0.2,1,0\nq3,z,1,2,3,4,5\n',
     ["row 3 has 7 fields"]),
    ("bad.csv", HEAD + "q1,x,0.1,0.2,1,0,7\n", ["row 1", "more fields than the header"]),
    ("bad.csv", b"query,a_cost,b_cost,a,b\ncaf\xe9,0.1,0.2,1,0\n",
     ["bad.csv", "not UTF-8", "byte 27", "line 2"]),
    ("bad.csv.gz", b"query,a_cost\nx,1\n", ["bad.csv.gz", "gzip"]),
    ("bad.csv.gz", gzip.compress((HEAD + "q1,x,0.1,0.2,1,0\n" * 50).encode())[:60],
     ["bad.csv.gz", "gzip"]),
    ("bad.jsonl.gz", b'{"query": "x"}\n', ["bad.jsonl.gz", "gzip"]),
    ("bad.csv.gz", gzip.compress(b"query,a_cost,b_cost,a,b\n\xff,1,2,1,0\n"),
     ["not UTF-8", "byte 24"]),
    ("bad.xlsx", "query\n", ["bad.xlsx", "unknown file extension '.xlsx'"]),
    # long CSV
    ("bad.csv", LONG_HEAD + "q1,x,a,0.1,1\nq1,x,b,0.2,0\nq2,y,a,0.1,1\nq1,x,a,0.3,1\n",
     ["row 4", "query 'q1'", "second row for model 'a'", "first at row 1"]),
    ("bad.csv", LONG_HEAD + "q1,x,a,0.1,1\nq1,x,b,0.2,0\nq2,y,a,0.1,1\n",
     ["query 'q2'", "first at row 3", "no row for model 'b'"]),
    ("bad.csv", "query_id,query,model,cost\nq1,x,a,0.1\n", ["long layout", "missing: correct"]),
    ("bad.csv", LONG_HEAD + "q1,x,a,0.1,1\nq1,x,b,lots,0\n",
     ["row 2", "column 'cost'", "'lots'"]),
    ("bad.csv", LONG_HEAD + "q1,x,a,0.1,1\nq1,x,b,0.2,0\nq2,y,a,0.1,maybe\nq2,y,b,0.1,1\n",
     ["row 3", "column 'correct'", "'maybe'"]),
    ("bad.csv", LONG_HEAD + "q1,x,a,0.1,1\nq1,x,b,0.2,0\nq2,y,a,0.1,1\nq2,y,b,0.1,\n",
     ["row 4", "column 'correct'", "query 'q2'", "labelled for 'a' but not for 'b'"]),
    ("bad.csv", LONG_HEAD + "q1,x,a,0.1,1\nq1,x2,b,0.2,0\n",
     ["row 2", "column 'query'", "different text than at row 1"]),
    ("bad.csv", LONG_HEAD + "q1,x,a,0.1,1\nq2,y,a,0.2,0\n", ["found 1 model ('a')"]),
    ("bad.csv", LONG_HEAD + "q1,x,a,0.1,1\nq1,x,,0.2,0\n", ["row 2", "column 'model'", "empty"]),
    # Parquet
    ("bad.parquet", b"PAR1 this is not parquet", ["bad.parquet", "not a readable Parquet file"]),
    ("bad.parquet", b"", ["bad.parquet", "empty"]),
    ("bad.parquet", parquet(lambda: pa.Table.from_arrays(
        [pa.array(["x"]), pa.array([0.1]), pa.array([1]), pa.array([0.2]), pa.array([1])],
        names=["query", "a_cost", "a", "b_cost", "a"])), ["duplicate column 'a'"]),
    ("bad.parquet", parquet(lambda: good_table(a_cost=pa.array(["0.1", "cheap"]))),
     ["row 2", "column 'a_cost'", "'cheap'"]),
    ("bad.parquet", parquet(lambda: good_table(b=pa.array([None, 1], pa.int8()))),
     ["row 1", "column 'b'", "labelled for 'a' but not for 'b'"]),
    ("bad.parquet", parquet(lambda: good_table().slice(0, 0)), ["no data rows"]),
    # JSON Lines
    ("bad.jsonl", '{"query":"x","a_cost":1,"b_cost":2,"a":1,"b":0}\n{"query": "y", "a_cost": }\n',
     ["bad.jsonl", "line 2", "invalid JSON"]),
    ("bad.jsonl", "[1, 2]\n[3, 4]\n", ["line 1", "expected a JSON object"]),
    ("bad.jsonl", '{"query":"x","a_cost":1,"b_cost":2,"a":1,"b":0}\n'
                  '{"query":"y","a_cost":1,"a":1,"b":0}\n',
     ["row 2", "column 'b_cost'", "missing cost"]),
    ("bad.jsonl", '{"query":"x","a_cost":true,"b_cost":2,"a":1,"b":0}\n',
     ["row 1", "column 'a_cost'", "True", "not a number"]),
    ("bad.jsonl", "", ["bad.jsonl", "empty"]),
]


@pytest.mark.parametrize(("file_name", "content", "needles"), BAD_FILES,
                         ids=[f"{i:02d}-{case[0]}" for i, case in enumerate(BAD_FILES)])
def test_malformed_file_is_reported_precisely(tmp_path: Path, file_name: str,
                                              content: str | bytes | Callable[[Path], None],
                                              needles: list[str]) -> None:
    path = tmp_path / file_name
    if callable(content):
        content(path)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(DatasetError) as caught:
        load_dataset(path)
    message = str(caught.value)
    assert str(path) in message
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"


def test_the_corpus_is_large() -> None:
    assert len(BAD_FILES) >= 24


# ----------------------------------------------------------------------------- real data


def shared_file(name: str) -> Path:
    path = SHARED / name
    if not path.is_file():
        pytest.skip(f"real dataset {path} not found (the shared data lives outside the repo)")
    return path


def test_overruling() -> None:
    dataset = load_dataset(shared_file("overruling.csv"))
    assert dataset.cost.shape == (2160, 12)
    assert dataset.models == (
        "gptneox_20B", "gptj_6B", "fairseq_gpt_13B", "text-davinci-002", "text-curie-001",
        "gpt-3.5-turbo", "gpt-4", "j1-jumbo", "j1-grande", "j1-large", "xlarge", "medium")
    assert dataset.query_ids[:3].tolist() == ["0", "1", "2"]
    assert dataset.labelled.all()
    assert {"ref_answer", "content", "gpt-4_answer"} <= set(dataset.metadata.columns)
    accuracy = dict(zip(dataset.models, dataset.labels.mean(axis=0), strict=True))
    assert accuracy["gpt-4"] == pytest.approx(0.95, abs=0.01)
    assert accuracy["medium"] == pytest.approx(0.51, abs=0.01)


def test_logparsing_is_fast() -> None:
    path = shared_file("logparsing.csv")
    start = time.perf_counter()
    dataset = load_dataset(path)
    elapsed = time.perf_counter() - start
    assert dataset.cost.shape == (16000, 8)
    assert dataset.models == ("j2_mid", "j2_ultra", "Mixtral_8x7B", "llama2_7b", "llama2_13b",
                              "llama2_70b", "Yi_34B", "Yi_6B")
    assert "system" in dataset.metadata.columns
    assert dataset.metadata["system"].value_counts().eq(2000).all()
    assert elapsed < 2.0


def test_a_folder_given_as_data_is_called_a_folder(tmp_path):
    """A directory named by mistake read "file not found", which sends the user looking
    for a typo instead of the right file inside it."""
    from optllm.data.queries import iter_batch

    with pytest.raises(DatasetError, match="is a directory, not a data file"):
        load_dataset(tmp_path)
    with pytest.raises(DatasetError, match="is a directory, not a data file"):
        next(iter_batch(tmp_path, 10))
