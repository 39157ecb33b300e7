"""Unlabelled batches: batch files, the end-to-end run from a labelled history, and the
`run --allocate` command line."""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import json
import re

import numpy as np
import pandas as pd
import pytest

from optllm.cli import main as cli
from optllm.cli.run import run_batch as run_batch_command
from optllm.cli.run import uses_batch_options
from optllm.data.queries import iter_batch, load_batch
from optllm.data.synthetic import generate
from optllm.data.tables import write_wide
from optllm.exceptions import ConfigError, DatasetError
from optllm.pipeline.batch import run_batch
from optllm.pipeline.run import RunConfig, accuracy_std, write_outputs
from optllm.pricing.tokens import estimate_tokens

BUDGET = 0.1  # USD for the 60 batch queries: about halfway along the front


@pytest.fixture(scope="module")
def history():
    """150 labelled-or-not synthetic queries: every fifth row has no outcome."""
    data = generate(150, 3, seed=0)
    labelled = data.labelled.copy()
    labelled[::5] = False
    return dataclasses.replace(data, labelled=labelled)


@pytest.fixture(scope="module")
def new_queries():
    return generate(60, 3, seed=1)


@pytest.fixture(scope="module")
def batch_file(tmp_path_factory, new_queries):
    path = tmp_path_factory.mktemp("batch") / "batch.csv"
    pd.DataFrame({"query_id": new_queries.query_ids, "query": new_queries.queries}).to_csv(
        path, index=False)
    return path


@pytest.fixture(scope="module")
def result(history, batch_file):
    config = RunConfig(bootstraps=3, method="hull", budget=BUDGET)
    return run_batch(history, batch_file, config, token_method="estimate")


# ----------------------------------------------------------------------------- the run


def test_unlabelled_batch_run_end_to_end(result, new_queries, tmp_path):
    assert result.evaluation is None
    assert result.split.train.size == 120  # every labelled history row, no split
    assert result.allocated.n_queries == 60 and not result.allocated.labelled.any()
    summary = result.summary()
    assert summary["n_train"] == 120 and summary["n_allocated"] == 60
    assert all(p["true_accuracy"] is None for p in summary["front"])
    std = np.array([p["predicted_accuracy_std"] for p in summary["front"]])
    assert np.all(np.isfinite(std)) and np.all(std >= 0) and std.max() < 0.5
    assert summary["selected"]["cost"] <= BUDGET
    assert summary["costs"]["token_method"] == "estimate"
    assert summary["costs"]["batch_input_tokens"] == estimate_tokens(new_queries.queries).sum()
    assert summary["igd"] is None and summary["best_single_model"] is None

    written = write_outputs(result, tmp_path / "out")
    assert {p.name for p in written} == {"config.json", "front.csv", "summary.json",
                                         "allocation.csv"}
    allocation = pd.read_csv(tmp_path / "out" / "allocation.csv", dtype={"query_id": str})
    assert allocation["query_id"].tolist() == list(new_queries.query_ids)
    assert allocation["label"].isna().all()
    assert allocation["cost"].sum() == pytest.approx(summary["selected"]["cost"], rel=1e-9)
    assert pd.read_csv(tmp_path / "out" / "front.csv")["true_accuracy"].isna().all()
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["costs"]["models"]


def test_batch_costs_come_from_token_counts_and_prices(result, new_queries):
    model = result.cost_model
    expected = model.cost_matrix(estimate_tokens(new_queries.queries))
    np.testing.assert_allclose(result.allocated.cost, expected, rtol=1e-12)
    # a synthetic history's models are priced as its generator made their costs, output
    # tokens learnt from history costs
    assert all(p.source.startswith("synthetic generator") for p in model.prices)
    assert all(s.startswith("history") for s in model.output_tokens_source)


def test_uncertainty_band_is_the_std_of_each_points_mean_score(result):
    front, spread = result.front, result.prediction.spread
    band = accuracy_std(front, spread)
    rows = np.arange(front.n_queries)
    for k in (0, len(front) // 2, len(front) - 1):
        picked = spread[rows, front.allocation(k)]
        assert band[k] == pytest.approx(np.sqrt(np.sum(picked ** 2)) / front.n_queries)


def test_batch_given_as_arrays_and_unusable_history(history, new_queries):
    few = dataclasses.replace(history, labelled=np.zeros(history.n_queries, bool))
    with pytest.raises(ConfigError, match="at least 5 labelled"):
        run_batch(few, (new_queries.query_ids, new_queries.queries), RunConfig(),
                  token_method="estimate")


# ----------------------------------------------------------------------------- batch files


def test_batch_files_in_every_format(tmp_path):
    texts = ["first query", "a second,\nmulti-line query", "third"]
    pd.DataFrame({"query": texts}).to_csv(tmp_path / "plain.csv", index=False)
    ids, queries = load_batch(tmp_path / "plain.csv")
    assert ids.tolist() == ["1", "2", "3"] and queries.tolist() == texts

    frame = pd.DataFrame({"query_id": [7, 9, 12], "query": texts, "extra": [1, 2, 3]})
    frame.to_parquet(tmp_path / "b.parquet", index=False)
    frame.to_json(tmp_path / "b.jsonl", orient="records", lines=True)
    with gzip.open(tmp_path / "b.csv.gz", "wt", encoding="utf-8") as handle:
        frame.to_csv(handle, index=False)
    for name in ("b.parquet", "b.jsonl", "b.csv.gz"):
        ids, queries = load_batch(tmp_path / name)
        assert ids.tolist() == ["7", "9", "12"] and queries.tolist() == texts, name
        chunks = [ids.tolist() for ids, _ in iter_batch(tmp_path / name, chunk_rows=2)]
        assert chunks == [["7", "9"], ["12"]], name
    pd.DataFrame({"query": texts}).to_csv(tmp_path / "indexed.csv")  # unnamed index column
    assert load_batch(tmp_path / "indexed.csv")[0].tolist() == ["0", "1", "2"]


@pytest.mark.parametrize("content, message", [
    ("text\nhello\n", "no 'query' column; columns found: 'text'"),
    ("query_id,query\na,hello\nb,\n", "row 2, column 'query': empty value"),
    ("query_id,query\na,hello\n,world\n", "row 2, column 'query_id': empty value"),
    ("query_id,query\na,hello\nb,hi\na,again\n", "row 3, column 'query_id': duplicate query "
                                                 "id 'a' (first at row 1)"),
    ("query_id,query\n", "no data rows"),
    ("", "the file is empty"),
])
def test_bad_batch_files_name_file_row_and_column(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DatasetError, match=re.escape(message)) as info:
        load_batch(path)
    assert str(path) in str(info.value)


def test_missing_or_unknown_batch_files(tmp_path):
    with pytest.raises(DatasetError, match="file not found"):
        load_batch(tmp_path / "nope.csv")
    (tmp_path / "b.txt").write_text("query\nx\n")
    with pytest.raises(DatasetError, match="unknown file extension"):
        load_batch(tmp_path / "b.txt")
    (tmp_path / "b.jsonl").write_text('{"query": "x"}\n{"query": \n')
    with pytest.raises(DatasetError, match="line 2: invalid JSON"):
        load_batch(tmp_path / "b.jsonl")


@pytest.mark.parametrize("name, content, message", [
    ("mixed.jsonl", b'{"query": "a"}\n{"query": 5}\n', "row 2, column 'query': must be text"),
    ("fake.csv.gz", b"query\nnot gzip\n", "gzip|cannot read"),
])
def test_unreadable_batch_files_are_dataset_errors(tmp_path, name, content, message):
    """Arrow's and zlib's own errors would name no file (and reach the app as bugs)."""
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DatasetError, match=message) as info:
        load_batch(path)
    assert str(path) in str(info.value)


# ----------------------------------------------------------------------------- command line


def parser() -> argparse.ArgumentParser:
    return cli.build_parser()


def test_run_allocate_on_the_command_line(history, batch_file, tmp_path, capsys):
    write_wide(history, tmp_path / "history.csv")
    policy = tmp_path / "cheap.policy"
    args = parser().parse_args([
        "run", str(tmp_path / "history.csv"), "--allocate", str(batch_file), "--bootstraps", "3",
        "--alpha", "0", "--method", "hull", "--budget", str(BUDGET), "--tokens", "estimate",
        "--output-tokens", "gpt-4o=400", "--out", str(tmp_path / "out"),
        "--save-policy", str(policy)])
    assert uses_batch_options(args)
    assert run_batch_command(args) == 0
    out = capsys.readouterr().out
    assert "estimate: word pieces" in out and "expected accuracy" in out and "±" in out
    assert f"wrote {policy}" in out and policy.is_file()
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["costs"]["models"][0]["output_tokens"] == 400
    assert summary["costs"]["models"][0]["output_tokens_source"] == "user"


@pytest.mark.parametrize("extra, message", [
    (["--save-policy", "p.policy", "--budget", "1"], "applies only with --allocate"),
    (["--allocate", "b.csv", "--save-policy", "p.policy"], "needs a chosen point"),
    (["--allocate", "b.csv", "--train-fraction", "0.5"], "does not apply with --allocate"),
])
def test_batch_options_misused(tmp_path, extra, message):
    args = parser().parse_args(["run", "--out", str(tmp_path), *extra])
    assert uses_batch_options(args)
    with pytest.raises(ConfigError, match=message):
        run_batch_command(args)
    assert not uses_batch_options(parser().parse_args(["run", "--out", str(tmp_path)]))
