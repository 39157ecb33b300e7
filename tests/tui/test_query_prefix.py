"""Previews leave out the prefix every query shares (a few-shot prompt) and say so."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from textual.widgets import DataTable, Static

from optllm.data.tables import load_dataset
from optllm.pipeline.run import Prediction
from optllm.pipeline.views import browser_table
from optllm_tui.app import OptLLMApp
from optllm_tui.settings import Settings

from .conftest import RUN, loaded

PROMPT = "Answer yes or no.\nExample: is water wet? yes\nExample: is fire cold? no\nQuestion: "


def prefixed_csv(small_csv: Path, folder: Path) -> Path:
    frame = pd.read_csv(small_csv)
    frame["query"] = PROMPT + frame["query"]
    path = folder / "fewshot.csv"
    frame.to_csv(path, index=False)
    return path


async def test_datasets_preview_leaves_out_the_shared_prompt(small_csv, tmp_path) -> None:
    app = OptLLMApp(Settings(data=str(prefixed_csv(small_csv, tmp_path)), run=dict(RUN),
                             config_dir=tmp_path / "config", show_timings=False))
    async with app.run_test(size=(160, 48)) as pilot:
        await loaded(pilot)
        await pilot.pause()
        cells = [str(row[1]) for row in (app.screen.query_one("#queries", DataTable)
                                         .get_row_at(i) for i in range(3))]
        assert all(not c.startswith("Answer") for c in cells), cells
        title = str(app.screen.query_one("#dataset-title", Static).render())
        assert f"the same {len(PROMPT):,} characters" in title and "Answer yes or no." in title


def test_allocation_browser_leaves_out_the_shared_prompt(small_csv, tmp_path) -> None:
    dataset = load_dataset(prefixed_csv(small_csv, tmp_path))
    n, m = dataset.n_queries, dataset.n_models
    zeros = np.zeros((n, m))
    prediction = Prediction(zeros, zeros, zeros, None, pd.DataFrame(), None)
    table = browser_table(dataset, prediction, np.zeros(n, dtype=np.intp))
    assert table.column("query").to_pylist() == [q[len(PROMPT):] for q in dataset.queries]
    assert table.schema.metadata[b"stripped_prefix"].decode() == PROMPT
