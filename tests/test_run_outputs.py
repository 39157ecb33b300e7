"""What `optllm run` tells a user in front.csv, summary.json and on stdout (issue 11)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from optllm.cli import main
from optllm.loading import write_wide
from optllm.synthetic import generate

FAST = ["--bootstraps", "2", "--learner", "prior", "--featuriser", "tfidf",
        "--train-fraction", "0.1"]


@pytest.fixture(scope="module")
def data_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "small.csv"
    write_wide(generate(400, 3, seed=3), path)
    return path


def run_cli(data: Path, out: Path, *extra: str) -> tuple[dict, pd.DataFrame]:
    assert main(["run", str(data), *FAST, *extra, "--out", str(out)]) == 0
    return json.loads((out / "summary.json").read_text()), pd.read_csv(out / "front.csv")


def test_front_csv_counts_the_queries_sent_to_each_model(data_csv, tmp_path):
    summary, front = run_cli(data_csv, tmp_path / "o")
    columns = [f"queries_{m}" for m in summary["models"]]
    assert columns == [c for c in front.columns if c.startswith("queries_")]
    assert (front[columns].sum(axis=1) == summary["n_allocated"]).all()
    allocation_run, _ = run_cli(data_csv, tmp_path / "b", "--budget",
                                str(front["cost"].iloc[len(front) // 2]))
    chosen = pd.read_csv(tmp_path / "b" / "allocation.csv")
    row = front[front["point"] == allocation_run["selected"]["point"]].iloc[0]
    counts = chosen["model"].value_counts()
    for model in summary["models"]:
        assert row[f"queries_{model}"] == counts.get(model, 0)


def test_cost_unit_calls_counts_calls_to_the_paid_models(data_csv, tmp_path):
    summary, front = run_cli(data_csv, tmp_path / "o", "--cost-unit", "calls")
    assert summary["cost_unit"] == "calls"
    cheapest = min(summary["single_models"], key=lambda s: s["cost"])["model"]
    paid = [f"queries_{m}" for m in summary["models"] if m != cheapest]
    np.testing.assert_allclose(front["cost"], front[paid].sum(axis=1))
    assert front["cost"].iloc[0] == 0
