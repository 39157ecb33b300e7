"""Label next on the Predictor screen (issue 15): choose, list with reasons, export, merge the
filled-in file back and retrain."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from textual.widgets import DataTable, Input, Static

from optllm_tui.app import OptLLMApp, make_app
from optllm_tui.screens.label_next import LabelNextScreen
from optllm_tui.settings import Settings

from .conftest import RUN, app_of, loaded, show, until

N = 300


@pytest.fixture
def partly(tmp_path: Path) -> tuple[Path, object]:
    from optllm.data.synthetic import generate
    from optllm.data.tables import write_wide

    full = generate(N, 4, seed=1)
    path = tmp_path / "partly.csv"
    write_wide(replace(full, labelled=np.arange(N) % 3 == 0), path)
    return path, full


@pytest.fixture
def label_app(tmp_path: Path, partly: tuple[Path, object]) -> OptLLMApp:
    return make_app(Settings(data=str(partly[0]), run=dict(RUN), config_dir=tmp_path / "cfg",
                             show_timings=False))


async def submit(pilot, field: str, value: str) -> None:
    dialog = app_of(pilot).screen
    box = dialog.query_one(field, Input)
    box.value = value
    box.focus()
    await pilot.press("enter")


async def test_label_next_lists_exports_merges_and_retrains(label_app, partly, tmp_path):
    _, full = partly
    async with label_app.run_test(size=(120, 40)) as pilot:
        app = app_of(pilot)
        await loaded(pilot)
        assert app.session.dataset.n_labelled == N // 3
        await show(pilot, "2")
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, LabelNextScreen), "the dialog")
        dialog = app.screen
        await submit(pilot, "#count", "6")
        await until(pilot, lambda: dialog.picks is not None, "the chosen queries")
        table = dialog.query_one("#picks", DataTable)
        assert table.row_count == 6
        reasons = [str(table.get_row_at(i)[1]) for i in range(6)]
        assert all("cluster" in r for r in reasons)  # the default, mixed, says why

        out = tmp_path / "next.csv"
        await submit(pilot, "#export-path", str(out))
        await until(pilot, out.exists, "the exported file")
        picked = pd.read_csv(out)
        assert list(picked.columns[:3]) == ["query_id", "query", "reason"]
        ids = full.query_ids.astype(str)
        rows = np.searchsorted(ids, picked["query_id"].astype(str))
        assert not app.session.dataset.labelled[rows].any()

        for j, model in enumerate(full.models):  # the models answered, the answers judged
            picked[model] = full.labels[rows, j]
        filled = tmp_path / "filled.csv"
        picked.to_csv(filled, index=False)
        await submit(pilot, "#merge-path", str(filled))
        await until(pilot, lambda: not isinstance(app.screen, LabelNextScreen), "the merge")
        assert app.session.dataset.n_labelled == N // 3 + 6
        assert app.session.dataset.labelled[rows].all()
        await until(pilot, lambda: app.session.prediction is not None, "retraining")
        assert app.session.split.train.size == N // 3 + 6  # every labelled query trains


async def test_label_next_shows_errors_in_the_dialog(label_app, tmp_path):
    async with label_app.run_test(size=(120, 40)) as pilot:
        app = app_of(pilot)
        await loaded(pilot)
        await show(pilot, "2")
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, LabelNextScreen), "the dialog")
        dialog = app.screen
        status = dialog.query_one("#label-status", Static)
        await submit(pilot, "#count", "1000")
        await until(pilot, lambda: "asked for 1000 queries" in str(status.render()),
                    "the count error")
        await submit(pilot, "#export-path", str(tmp_path / "x.csv"))
        assert "Choose the queries first" in str(status.render())
        bad = tmp_path / "bad.csv"
        bad.write_text("query_id,query\nnope,text\n")
        await submit(pilot, "#merge-path", str(bad))
        await until(pilot, lambda: "bad.csv: no models found" in str(status.render()),
                    "the merge error")
        assert isinstance(app.screen, LabelNextScreen)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, LabelNextScreen), "closing")
