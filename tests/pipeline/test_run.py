"""What `optllm run` tells a user in front.csv, summary.json and on stdout (issue 11)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from optllm.cli.main import main
from optllm.data.synthetic import generate
from optllm.data.tables import write_wide
from optllm.formatting import WRITTEN_DIGITS, rounded_array

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


def test_saving_and_gain_count_the_single_models_a_user_could_choose():
    """The front holds only cheap-model points; the best model (all queries to it) is
    still a choice, so the saving at its accuracy is 0, not n/a."""
    from optllm.evaluation import evaluate
    from optllm.optimizers.front import Front

    labels = np.array([[1, 1], [0, 1], [0, 1], [1, 0]])
    costs = np.array([[1.0, 3.0]] * 4)
    allocations = np.zeros((1, 4), dtype=np.int16)
    front = Front.from_allocations(allocations, labels.astype(float), costs, method="optllm")
    ev = evaluate(front, labels, costs, ("cheap", "strong"), offer_single_models=True)
    assert ev.best_single.model == "strong"
    assert ev.cost_saving_at_best_accuracy == 0.0
    assert ev.accuracy_gain_at_best_cost == 0.0
    alone = evaluate(front, labels, costs, ("cheap", "strong"))
    assert alone.cost_saving_at_best_accuracy is None


def test_summary_lists_every_single_model_with_expected_and_true_accuracy(data_csv, tmp_path,
                                                                          capsys):
    summary, _ = run_cli(data_csv, tmp_path / "o")
    singles = summary["single_models"]
    assert [s["model"] for s in singles] == summary["models"]
    for s in singles:
        assert 0 <= s["predicted_accuracy"] <= 1 and 0 <= s["true_accuracy"] <= 1
    out = capsys.readouterr().out
    assert all(s["model"] in out.split("single models")[1] for s in singles)
    assert summary["cost_saving_at_best_accuracy"] is not None


def test_report_at_gives_the_cost_at_a_share_of_the_best_accuracy(data_csv, tmp_path,
                                                                  capsys):
    summary, front = run_cli(data_csv, tmp_path / "o", "--report-at", "0.95")
    report = summary["at_quality"]
    best = next(s for s in summary["single_models"] if s["model"] == report["reference_model"])
    assert report["target_accuracy"] == pytest.approx(0.95 * best["true_accuracy"])
    assert report["accuracy"] >= report["target_accuracy"]
    assert report["cost"] <= best["cost"]
    cheaper = front[front["cost"] < report["cost"]]
    assert (cheaper["true_accuracy"] < report["target_accuracy"]).all()
    assert "cost at 95.0% of" in capsys.readouterr().out


def test_measures_are_explained_in_the_output_and_the_summary(data_csv, tmp_path, capsys):
    summary, _ = run_cli(data_csv, tmp_path / "o")
    assert set(summary["explanations"]) >= {"igd", "spread", "hypervolume"}
    out = capsys.readouterr().out
    for text in (summary["explanations"][name] for name in ("igd", "spread", "hypervolume")):
        assert text in out
    assert "percentage points (pp)" in out


@pytest.mark.parametrize("share", ["0", "1.5", "nan"])
def test_report_at_out_of_range_is_a_user_error(data_csv, tmp_path, capsys, share):
    assert main(["run", str(data_csv), "--report-at", share, "--out", str(tmp_path / "o")]) == 2
    assert "report-at" in capsys.readouterr().err


def significant_digits(number: str) -> int:
    """Digits of a written number without its leading and trailing zeros."""
    return len(number.lstrip("-").split("e")[0].replace(".", "").strip("0"))


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300, max_value=1e300))
def test_written_floats_are_short_decimals(value):
    written = rounded_array(np.array([value]))[0]
    assert significant_digits(repr(float(written))) <= WRITTEN_DIGITS
    assert written == pytest.approx(value, rel=6e-10, abs=0)


def test_outputs_have_no_float_noise(data_csv, tmp_path):
    out = tmp_path / "o"
    run_cli(data_csv, out, "--budget", "0.5")
    for name in ("front.csv", "allocation.csv", "summary.json"):
        numbers = re.findall(r"-?\d+\.\d+(?:e-?\d+)?", (out / name).read_text())
        assert numbers
        noisy = [n for n in numbers if significant_digits(n) > WRITTEN_DIGITS]
        assert not noisy, (name, noisy[:3])


def test_summary_times_the_choose_stage_and_the_whole_run(data_csv, tmp_path):
    summary, _ = run_cli(data_csv, tmp_path / "o")
    timings = summary["timings_s"]
    assert {"choose", "train", "features", "predict", "optimise", "evaluate", "wall"} <= set(
        timings)
    stages = sum(v for k, v in timings.items() if k != "wall")
    assert stages <= timings["wall"] * 1.01 + 1e-3
    assert set(timings) <= set(summary["timings_explained"])


def test_query_column_names_the_text_of_datasets_and_batches(data_csv, tmp_path):
    frame = pd.read_csv(data_csv).rename(columns={"query": "prompt"})
    frame["query"] = "not the text"
    renamed = tmp_path / "prompt.csv"
    frame.to_csv(renamed, index=False)
    batch = tmp_path / "batch.csv"
    frame[["prompt"]].head(30).to_csv(batch, index=False)
    from optllm.data.queries import load_batch
    from optllm.data.tables import load_dataset

    dataset = load_dataset(renamed, query_column="prompt")
    assert list(dataset.queries) == list(frame["prompt"])
    assert "query" in dataset.metadata.columns
    assert list(load_batch(batch, query_column="prompt")[1]) == list(frame["prompt"].head(30))
    out = tmp_path / "o"
    assert main(["run", str(renamed), "--query-column", "prompt", "--allocate", str(batch),
                 "--bootstraps", "2", "--learner", "prior", "--featuriser", "tfidf",
                 "--target-accuracy", "0.5", "--save-policy", str(tmp_path / "p.json"),
                 "--out", str(out)]) == 0
    assert list(pd.read_csv(out / "allocation.csv")["query"]) == list(frame["prompt"].head(30))
    routed = tmp_path / "routed.csv"
    assert main(["route", str(tmp_path / "p.json"), str(batch), "--query-column", "prompt",
                 "--out", str(routed)]) == 0
    assert len(pd.read_csv(routed)) == 30


def test_long_layout_takes_the_query_column_too(tmp_path):
    from optllm.data.tables import load_dataset

    path = tmp_path / "long.csv"
    pd.DataFrame({"query_id": ["a", "a", "b", "b"], "prompt": ["x", "x", "y", "y"],
                  "model": ["m1", "m2", "m1", "m2"], "cost": [1.0, 2.0, 1.0, 2.0],
                  "correct": [0, 1, 1, 1]}).to_csv(path, index=False)
    assert list(load_dataset(path, query_column="prompt").queries) == ["x", "y"]


@pytest.mark.parametrize("column", [None, "prompt"])
def test_a_missing_query_column_is_named(data_csv, tmp_path, capsys, column):
    frame = pd.read_csv(data_csv).rename(columns={"query": "text"})
    path = tmp_path / "text.csv"
    frame.to_csv(path, index=False)
    args = [] if column is None else ["--query-column", column]
    assert main(["run", str(path), *args, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert f"no {column or 'query'!r} column" in err and "'text'" in err
    assert ("--query-column" in err) == (column is None)


def test_a_history_without_cost_columns_is_priced_from_tokens(data_csv, tmp_path):
    frame = pd.read_csv(data_csv)
    models = [c[:-len("_cost")] for c in frame.columns if c.endswith("_cost")]
    unpriced = tmp_path / "labels_only.csv"
    frame.drop(columns=[f"{m}_cost" for m in models]).to_csv(unpriced, index=False)
    tokens = ",".join(f"{m}=200" for m in models)
    from optllm.pricing.prices import load_priced

    dataset, cost_model = load_priced(unpriced, output_tokens={m: 200.0 for m in models},
                                      token_method="estimate")
    assert dataset.models == tuple(models) and cost_model is not None
    expected, _ = cost_model.costs(dataset.queries)
    np.testing.assert_allclose(dataset.cost, expected)
    assert (dataset.cost > 0).all()
    summary, front = run_cli(unpriced, tmp_path / "o", "--output-tokens", tokens,
                             "--tokens", "estimate")
    assert summary["models"] == models
    assert front["cost"].iloc[-1] > 0


@pytest.mark.parametrize("outcome", ["label", "correct"])
def test_long_layout_outcome_column_is_label_or_correct(tmp_path, outcome):
    from optllm.data.tables import load_dataset

    path = tmp_path / "long.csv"
    pd.DataFrame({"query_id": ["a", "a", "b", "b"], "query": ["x", "x", "y", "y"],
                  "model": ["m1", "m2", "m1", "m2"], "cost": [1.0, 2.0, 1.0, 2.0],
                  outcome: [0, 1, 1, 1]}).to_csv(path, index=False)
    assert load_dataset(path).labels.tolist() == [[0, 1], [1, 1]]


def test_one_word_per_idea_in_the_summary(data_csv, tmp_path):
    summary, _ = run_cli(data_csv, tmp_path / "o")
    assert "spread" in summary and "delta" not in summary
    assert "optimise" in summary["timings_s"] and "optimize" not in summary["timings_s"]


def test_a_budget_in_calls_is_checked_in_calls(data_csv, tmp_path, capsys):
    assert main(["run", str(data_csv), *FAST, "--cost-unit", "calls", "--budget", "-1",
                 "--out", str(tmp_path / "o")]) == 2
    assert main(["run", str(data_csv), *FAST, "--cost-unit", "calls", "--budget", "0",
                 "--out", str(tmp_path / "o")]) == 0
    assert "$" not in capsys.readouterr().out.split("selected point")[1].splitlines()[0]
