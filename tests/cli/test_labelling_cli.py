"""`optllm label-next` and `optllm simulate-labelling` (issue 15): files, output, errors."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from optllm.cli.main import main
from optllm.data.synthetic import generate
from optllm.data.tables import load_dataset, write_wide

FAST = ["--bootstraps", "2", "--learner", "logistic"]


@pytest.fixture(scope="module")
def partly_labelled(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "partly.csv"
    data = generate(200, 3, seed=5)
    write_wide(replace(data, labelled=np.arange(200) % 4 == 0), path)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".jsonl.gz", ".parquet"])
def test_label_next_writes_the_chosen_queries_in_the_input_layout(partly_labelled, tmp_path,
                                                                 capsys, suffix):
    out = tmp_path / f"next{suffix}"
    assert main(["label-next", str(partly_labelled), "--n", "7", "--out", str(out),
                 *FAST]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    back = load_dataset(out)
    source = load_dataset(partly_labelled)
    assert back.n_queries == 7 and back.n_labelled == 0 and back.models == source.models
    assert set(back.query_ids) <= set(source.query_ids[~source.labelled])
    assert all(reason for reason in back.metadata["reason"])


@pytest.mark.parametrize(("args", "message"), [
    (["--n", "0"], "asked for 0 queries"),
    (["--n", "151"], "asked for 151 queries to label, but there are 150 unlabelled"),
    (["--n", "2", "--seed", "-1"], "seed must be a whole number"),
])
def test_label_next_refuses_bad_counts_with_a_message(partly_labelled, tmp_path, capsys,
                                                      args, message):
    assert main(["label-next", str(partly_labelled), *args, "--out",
                 str(tmp_path / "x.csv"), *FAST]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "x.csv").exists()


def test_label_next_says_when_nothing_is_left_or_too_few_are_labelled(tmp_path, capsys):
    full = tmp_path / "full.csv"
    write_wide(generate(40, 2, seed=0), full)
    assert main(["label-next", str(full), "--n", "3", "--out", str(tmp_path / "a.csv")]) == 2
    assert "every query is labelled" in capsys.readouterr().err
    few = tmp_path / "few.csv"
    write_wide(replace(generate(40, 2, seed=0), labelled=np.arange(40) < 2), few)
    assert main(["label-next", str(few), "--n", "3", "--out", str(tmp_path / "b.csv")]) == 2
    assert "2 labelled queries are too few to train on" in capsys.readouterr().err
    assert main(["label-next", str(few), "--n", "3", "--out", str(tmp_path / "b.txt")]) == 2
    assert "cannot tell the format" in capsys.readouterr().err


def test_simulate_labelling_writes_rounds_and_prints_table_and_plot(tmp_path, capsys):
    data = tmp_path / "full.csv"
    write_wide(generate(300, 3, seed=2), data)
    out = tmp_path / "sim"
    assert main(["simulate-labelling", str(data), "--start", "0.05", "--step", "0.03",
                 "--rounds", "2", "--strategy", "mixed", "--seed", "1", "--out", str(out),
                 *FAST]) == 0
    rounds = json.loads((out / "rounds.json").read_text())
    assert rounds["strategy"] == "mixed" and rounds["holdout"] == 0.2
    assert [r["labelled"] for r in rounds["rounds"]] == [15, 24, 33]
    assert {"hypervolume", "cost_saving_at_best_accuracy", "accuracy_gain_at_best_cost",
            "mean_auc", "share"} <= set(rounds["rounds"][0])
    printed = capsys.readouterr().out
    assert "HV ratio" in printed and "labelled %" in printed
    assert main(["simulate-labelling", str(data), "--out", str(out)]) == 2
    assert "already holds rounds.json" in capsys.readouterr().err


def test_simulate_labelling_refuses_partly_labelled_data(partly_labelled, tmp_path, capsys):
    assert main(["simulate-labelling", str(partly_labelled), "--out", str(tmp_path / "s"),
                 *FAST]) == 2
    assert "needs every query labelled" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()
