"""A batch of new unlabelled queries set on the Datasets screen: trained on every labelled
history row, allocated with costs from token counts x prices, optimised, exported."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from textual.widgets import Input, Static

from optllm_tui.app import OptLLMApp

from .conftest import loaded, show, until

N_BATCH = 40


def write_batch(folder: Path) -> tuple[Path, Path]:
    from optllm.data.synthetic import generate

    new = generate(N_BATCH, 4, seed=7)
    batch = folder / "new-queries.csv"
    pd.DataFrame({"query_id": [f"new-{i}" for i in range(N_BATCH)],
                  "query": new.queries}).to_csv(batch, index=False)
    prices = folder / "prices.toml"
    prices.write_text('[models."gpt-4o"]\ninput_per_mtok = 2.5\noutput_per_mtok = 10.0\n')
    return batch, prices


async def test_batch_flow(app: OptLLMApp, tmp_path: Path) -> None:
    batch, prices = write_batch(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        session = app.session
        await loaded(pilot)
        history = session.dataset
        assert history is not None
        await pilot.press("a")
        await pilot.press(*str(batch), "enter")
        await until(pilot, lambda: session.batch is not None, "the batch")
        await pilot.press("p")
        app.screen.query_one("#prices-path", Input).value = str(prices)
        await pilot.press("enter")
        assert session.prices == str(prices.resolve())
        preview = str(app.screen.query_one("#batch-preview", Static).render())
        assert f"{N_BATCH:,} new unlabelled queries" in preview
        assert "token counts x prices" in preview and "new-0" in preview

        await show(pilot, "2")
        hint = str(app.screen.query_one("#train-hint", Static).render())
        assert f"all {history.n_labelled:,} labelled history rows" in hint
        assert "not used" in hint
        await pilot.press("t")
        await until(pilot, lambda: session.prediction is not None, "training")
        assert session.split is not None and session.allocated is not None
        assert session.split.train.size == history.n_labelled  # no train fraction
        assert session.allocated.n_queries == N_BATCH
        assert not session.allocated.labelled.any()
        assert session.cost_model is not None
        sources = {m["model"]: m["price_source"] for m in session.cost_model.as_dict()["models"]}
        assert "prices.toml" in sources["gpt-4o"]

        await show(pilot, "3")
        await pilot.press("r")
        await until(pilot, lambda: session.front is not None, "the front")
        assert session.evaluation is None
        await pilot.press("4")
        await until(pilot, lambda: session.details is not None, "point details")
        assert session.details is not None and session.details.true_accuracy is None
        assert not session.details.baseline_is_true
        assert session.details.band >= 0
        start = session.selected
        assert start is not None
        await pilot.press("left")
        await until(pilot, lambda: session.details is not None
                    and session.details.index == session.selected, "the moved point")
        assert session.selected == max(0, start - 1)
        assert "unlabelled" in str(app.screen.query_one("#point").render())
        plotted = app.screen.query_one("#front-plot")._data  # no true accuracy, no singles
        assert plotted is not None and plotted.true_accuracy is None and not plotted.singles

        await show(pilot, "1")
        preview = str(app.screen.query_one("#batch-preview", Static).render())
        assert "Token counting:" in preview and "Prices:" in preview

        await pilot.press("6")
        target = tmp_path / "allocation.csv"
        app.screen.query_one("#export-path", Input).value = str(target)
        await pilot.press("e")
        await until(pilot, target.exists, "the export")
        frame = pd.read_csv(target, dtype={"query_id": str})
        assert frame["query_id"].tolist() == [f"new-{i}" for i in range(N_BATCH)]
        assert frame["label"].isna().all()
        assert (frame["cost"] > 0).all()


async def test_malformed_batch_shows_error(app: OptLLMApp, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("query_id,query\n1,hello\n2,\n")
    async with app.run_test(size=(120, 40)) as pilot:
        session = app.session
        await loaded(pilot)
        await pilot.press("a")
        app.screen.query_one("#batch-path", Input).value = str(bad)
        await pilot.press("enter")
        status = app.screen.query_one("#batch-status", Static)
        await until(pilot, lambda: "error" in status.classes, "the error")
        text = str(status.render())
        assert "bad.csv" in text and "row 2" in text and "'query'" in text
        assert session.batch is None
        # The app keeps running: a good batch still loads, and x clears it.
        good, _ = write_batch(tmp_path)
        await pilot.press("a")
        app.screen.query_one("#batch-path", Input).value = str(good)
        await pilot.press("enter")
        await until(pilot, lambda: session.batch is not None, "the good batch")
        await pilot.press("x")
        assert session.batch is None
