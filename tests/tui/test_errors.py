"""Every error path: the message appears in the app, and the app keeps running."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input, Static

from optllm_tui.app import OptLLMApp, make_app
from optllm_tui.screens.modals import ConfirmModal
from optllm_tui.settings import Settings

from .conftest import loaded, run_opened, show, until


def status_text(app: OptLLMApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def open_path(app: OptLLMApp, pilot, path: str) -> None:
    await pilot.press("o")
    app.screen.query_one("#path", Input).value = path
    await pilot.press("enter")


@pytest.mark.parametrize(("name", "error"), [("nope.csv", "file not found"),
                                             ("folder", "is a directory, not a data file")])
async def test_missing_file_is_reported(app: OptLLMApp, tmp_path: Path, name: str,
                                        error: str) -> None:
    """A folder given as data is called a folder, not "file not found" (issue 11)."""
    (tmp_path / "folder").mkdir()
    async with app.run_test() as pilot:
        await loaded(pilot)
        before = app.session.dataset
        await open_path(app, pilot, str(tmp_path / name))
        await until(pilot, lambda: error in status_text(app, "#load-status"), "error")
        assert name in status_text(app, "#load-status")
        assert app.session.dataset is before
        assert app.is_running


async def test_malformed_file_names_row_and_column(app: OptLLMApp, tmp_path: Path,
                                                   small_csv: Path) -> None:
    lines = small_csv.read_text().splitlines()
    header = lines[0].split(",")
    column = next(name for name in header if name.endswith("_cost"))
    row = lines[3].split(",")
    row[header.index(column)] = "lots"
    lines[3] = ",".join(row)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    async with app.run_test() as pilot:
        await loaded(pilot)
        await open_path(app, pilot, str(bad))
        await until(pilot, lambda: "bad.csv" in status_text(app, "#load-status"), "error")
        text = status_text(app, "#load-status")
        assert column in text and "row" in text
        assert app.session.dataset is not None and app.session.dataset.name == "small"
        await show(pilot, "2")  # still usable


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("bootstraps", "0", "bootstraps must be at least 1"),
    ("train_fraction", "1.5", "train fraction must be between 0 and 1"),
    ("train_fraction", "", "train fraction must be a number"),
    ("alpha", "-", "alpha must be a number"),
    ("seed", "-3", "seed must be 0 or more"),
    ("seed", "4294967296", "seed must be a whole number from 0 to 4294967295"),
])
async def test_bad_parameters_show_a_message(app: OptLLMApp, field: str, value: str,
                                             expected: str) -> None:
    async with app.run_test() as pilot:
        await loaded(pilot)
        await show(pilot, "2")
        app.screen.query_one(f"#{field}", Input).value = value
        await pilot.press("t")
        assert expected in status_text(app, "#param-status")
        assert not app.jobs.running("train")
        assert app.session.prediction is None


async def test_budget_below_cheapest_and_target_too_high(run_settings: Settings) -> None:
    app = make_app(run_settings)
    async with app.run_test() as pilot:
        await run_opened(pilot)
        await pilot.press("4")
        selected = app.session.selected
        messages: list[str] = []
        app.session_changed.subscribe(app.screen, lambda c: messages.append(c.text), True)
        await pilot.press("b", *"0.000001", "enter")
        assert any("below the cheapest allocation" in m for m in messages)
        await pilot.press("t", *"99%", "enter")
        assert any("above the best reachable" in m for m in messages)
        await pilot.press("b", *"lots", "enter")
        assert any("budget must be a number; got 'lots'" in m for m in messages)
        assert app.session.selected == selected


async def test_export_to_unwritable_places(run_settings: Settings, tmp_path: Path) -> None:
    app = make_app(run_settings)
    async with app.run_test() as pilot:
        await run_opened(pilot)
        await pilot.press("6")
        path_input = app.screen.query_one("#export-path", Input)
        for target, expected in ((tmp_path / "missing" / "out.csv", "not an existing directory"),
                                 (Path("/proc/optllm-out.csv"), "cannot write")):
            path_input.value = str(target)
            await pilot.press("e")
            await until(pilot, lambda e=expected: e in status_text(app, "#export-status"),
                        expected)
            assert not target.exists()
        assert not list(tmp_path.rglob("*.tmp"))
        assert app.is_running


async def test_existing_file_asks_before_overwriting(run_settings: Settings,
                                                     tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text("keep me\n")
    app = make_app(run_settings)
    async with app.run_test() as pilot:
        await run_opened(pilot)
        await pilot.press("6")
        app.screen.query_one("#export-path", Input).value = str(target)
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal), "the question")
        # the status under the question says what the app waits for ("Writing ..." did)
        status = str(app.screen_stack[0].query_one("#export-status", Static).render())
        assert "exists: overwrite it?" in status and "Writing" not in status
        await pilot.press("n")
        await until(pilot, lambda: "Not written" in status_text(app, "#export-status"), "no")
        assert target.read_text() == "keep me\n"

        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal), "the question")
        await pilot.press("y")
        await until(pilot, lambda: "Wrote" in status_text(app, "#export-status"), "written")
        assert target.read_text().startswith('"query_id"')
        assert not list(tmp_path.glob(".*.tmp"))


async def test_corrupt_run_file_is_reported(settings: Settings, tmp_path: Path) -> None:
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    app = make_app(settings)
    async with app.run_test() as pilot:
        await loaded(pilot)
        await pilot.press("f3")
        app.screen.query_one(Input).value = str(broken)
        await pilot.press("enter")
        await until(pilot, lambda: "broken.npz" in status_text(app, "#load-status"), "error")
        assert "not a readable run file" in status_text(app, "#load-status")
        assert app.session.dataset is not None and app.session.front is None
