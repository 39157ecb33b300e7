"""End to end: `optllm run` on the embedded default and on the real overruling data."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from optllm.cli.main import build_parser, main
from optllm.cli.run import config_from_args

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"

SUMMARY_KEYS = {"models", "n_train", "n_allocated", "front", "single_models",
                "best_single_model", "cost_saving_at_best_accuracy", "accuracy_gain_at_best_cost",
                "igd", "spread", "hypervolume", "timings_s"}


def check_outputs(out: Path, *, allocation: bool) -> dict:
    summary = json.loads((out / "summary.json").read_text())
    assert SUMMARY_KEYS <= set(summary)
    assert set(summary["timings_s"]) >= {"features", "train", "predict", "optimise", "evaluate"}
    front = pd.read_csv(out / "front.csv")
    assert list(front.columns) == ["point", "cost", "predicted_accuracy",
                                   "predicted_accuracy_std", "true_accuracy",
                                   *(f"queries_{m}" for m in summary["models"])]
    assert front["cost"].is_monotonic_increasing
    assert front["predicted_accuracy"].is_monotonic_increasing
    assert len(summary["front"]) == len(front)
    assert {"cost", "predicted_accuracy", "true_accuracy"} <= set(summary["front"][0])
    config = json.loads((out / "config.json").read_text())
    assert config["method"] in ("optllm", "hull")
    assert (out / "allocation.csv").exists() == allocation
    return summary


def test_run_on_the_embedded_default_with_a_budget(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["run", "--bootstraps", "4", "--budget", "2.0", "--out", str(out)])
    assert code == 0
    summary = check_outputs(out, allocation=True)
    assert "synthetic" in summary["dataset"]
    assert summary["n_train"] + summary["n_allocated"] == 5000
    assert summary["n_train"] == 100
    assert summary["hypervolume"] > 0.3
    assert summary["selected"]["cost"] <= 2.0
    allocation = pd.read_csv(out / "allocation.csv")
    assert len(allocation) == summary["n_allocated"]
    assert set(allocation["model"]) <= set(summary["models"])
    assert allocation["cost"].sum() == pytest.approx(summary["selected"]["cost"], rel=1e-6)
    assert {"query_id", "query", "model", "cost", "score", "uncertainty", "label"} <= set(
        allocation.columns)
    printed = capsys.readouterr().out
    assert "cost saving" in printed
    # 4,900 of 5,000 rows: the output says which queries are missing and why
    note = f"{len(allocation):,} of 5,000 queries: the 100 labelled queries the predictor"
    assert summary["allocation_rows"].startswith(note)
    assert f"allocation: {note}" in printed


def test_run_refuses_to_overwrite_without_force(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "--bootstraps", "2", "--method", "hull", "--out", str(out)]) == 0
    before = (out / "summary.json").read_text()
    capsys.readouterr()
    assert main(["run", "--bootstraps", "2", "--method", "hull", "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert (out / "summary.json").read_text() == before
    assert main(["run", "--bootstraps", "2", "--method", "hull", "--out", str(out),
                 "--force"]) == 0


@pytest.mark.parametrize(("args", "message"), [
    (["run", "does-not-exist.csv"], "does-not-exist.csv"),
    (["run", "--train-fraction", "1.5"], "train fraction"),
    (["run", "--density", "1"], "density"),
    (["run", "--target-accuracy", "1.01"], "target accuracy"),
    (["run", "--target-accuracy", "1.5"], "target accuracy 1.5 is above 1: give a fraction"),
    (["run", "--budget", "nan"], "budget must be a finite number"),
    (["run", "--bootstraps", "2", "--budget", "0.0001"], "below the cheapest"),
])
def test_user_mistakes_exit_2_with_a_message(tmp_path, capsys, args, message):
    assert main([*args, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_malformed_file_through_the_console_script(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("query,a_cost,a,b_cost,b\nq1,0.1,1,0.2,0\nq2,-3,0,0.2,1\n")
    exe = shutil.which("optllm") or f"{sys.executable} -m optllm.cli.main"
    proc = subprocess.run([*exe.split(), "run", str(bad), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "bad.csv" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.skipif(not (SHARED / "overruling.csv").exists(),
                    reason=f"real data not found: {SHARED / 'overruling.csv'}")
def test_run_on_overruling(tmp_path):
    out = tmp_path / "over"
    assert main(["run", str(SHARED / "overruling.csv"), "--bootstraps", "10",
                 "--target-accuracy", "0.85", "--out", str(out)]) == 0
    summary = check_outputs(out, allocation=True)
    assert len(summary["models"]) == 12
    assert summary["n_train"] == 43 and summary["n_allocated"] == 2117
    assert summary["best_single_model"] == "gpt-4"
    assert 0 < summary["hypervolume"] <= 1.0
    assert summary["selected"]["predicted_accuracy"] >= 0.85
    assert summary["predictor"]["verdict"]


@pytest.mark.parametrize(("typed", "value"), [("85%", 0.85), ("0.85", 0.85)])
def test_target_accuracy_as_fraction_or_percentage(typed, value):
    args = build_parser().parse_args(["run", "--target-accuracy", typed, "--out", "o"])
    assert config_from_args(args).target_accuracy == pytest.approx(value)
