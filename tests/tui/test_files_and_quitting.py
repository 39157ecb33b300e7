"""Files, dialogs, the palette and quitting (issue 11): the typed extension decides the
export format, nothing trained is thrown away without a question, `q` quits, every command
is reachable from the palette anywhere, paths are shown whole and completed with Tab."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from textual.command import CommandList, CommandPalette
from textual.pilot import Pilot
from textual.widgets import Input, Label, RadioSet
from textual.widgets._footer import FooterKey

from optllm_tui.app import make_app
from optllm_tui.screens.export import FORMATS
from optllm_tui.screens.modals import ConfirmModal, ValueModal
from optllm_tui.settings import Settings
from optllm_tui.widgets.key_footer import KeyFooter
from optllm_tui.widgets.path_input import complete_path

from .conftest import loaded, run_opened, show, trained, until
from .test_errors import status_text


async def test_the_typed_extension_decides_the_export_format(run_settings: Settings,
                                                             tmp_path: Path) -> None:
    """`test.jsonl` came out as Parquet when that radio was set: now the radio follows
    the typed name, and choosing a radio renames the file."""
    app = make_app(run_settings)
    async with app.run_test() as pilot:
        await run_opened(pilot)
        await pilot.press("6")
        path_input = app.screen.query_one("#export-path", Input)
        radios = app.screen.query_one("#format", RadioSet)
        radios.query("RadioButton")[FORMATS.index("parquet")].value = True
        await pilot.pause()
        assert path_input.value.endswith(".parquet")
        target = tmp_path / "test.jsonl"
        path_input.value = str(target)
        await pilot.pause()
        assert FORMATS[radios.pressed_index] == "jsonl"
        await pilot.press("e")
        await until(pilot, lambda: "Wrote" in status_text(app, "#export-status"), "written")
        first = target.read_text(encoding="utf-8").splitlines()[0]
        assert "query_id" in json.loads(first)

        gzipped = tmp_path / "test.csv.gz"
        path_input.value = str(gzipped)
        await pilot.pause()
        assert FORMATS[radios.pressed_index] == "csv"
        await pilot.press("e")
        await until(pilot, gzipped.exists, "the gzipped export")
        assert gzipped.read_bytes().startswith(b"\x1f\x8b")


# ------------------------------------------------------------------ losing work, quitting


async def test_loading_other_data_asks_before_throwing_away_a_trained_predictor(
        settings: Settings) -> None:
    """`d` (and Enter on a recent file, a typed path, F3, a batch) replaced a predictor
    trained for minutes without a word; now a question comes first, No by default."""
    app = make_app(settings)
    async with app.run_test() as pilot:
        await trained(pilot)
        prediction = app.session.prediction
        await show(pilot, "1")
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal), "the question")
        await pilot.press("enter")  # the focused button is No
        await until(pilot, lambda: not isinstance(app.screen, ConfirmModal), "the answer")
        await app.workers.wait_for_complete()
        assert app.session.prediction is prediction
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal), "the question")
        await pilot.press("y")
        await until(pilot, lambda: app.session.prediction is None, "the default dataset")


async def test_q_quits_asking_only_when_work_is_unsaved(settings: Settings,
                                                       tmp_path: Path) -> None:
    app = make_app(settings)
    async with app.run_test() as pilot:
        await trained(pilot)
        await show(pilot, "1")
        await pilot.press("o", "q")  # in a text field q is a letter
        assert app.screen.query_one("#path", Input).value == "q"
        await pilot.press("escape", "q")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal), "the question")
        assert "not saved" in str(app.screen.query_one(Label).render())
        await pilot.press("n")
        await pilot.pause()
        assert app.is_running
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal), "the question")
        await pilot.press("y")
        await until(pilot, lambda: not app.is_running, "the app to exit")


async def test_q_quits_at_once_when_the_run_is_saved(run_settings: Settings) -> None:
    app = make_app(run_settings)
    async with app.run_test() as pilot:
        await run_opened(pilot)
        for key in "4567":
            await show(pilot, key)
        await pilot.press("q")
        await until(pilot, lambda: not app.is_running, "the app to exit")


@pytest.mark.parametrize("width", [60, 80, 100, 200])
async def test_the_footer_shows_quit_and_the_palette_first_at_every_width(
        run_settings: Settings, width: int) -> None:
    app = make_app(run_settings)
    async with app.run_test(size=(width, 30)) as pilot:
        await run_opened(pilot)
        for key in "1234567":
            await show(pilot, key)
            await pilot.pause()
            footer = app.screen.query_one(KeyFooter)
            keys = [key for key in footer.query(FooterKey) if key.display]
            assert [key.action for key in keys[:2]] == ["quit", "command_palette"], key
            assert all(key.region.right <= width and key.region.width > 0 for key in keys[:2])


# ------------------------------------------------------------------------------ palette


async def palette_run(pilot: Pilot[None], text: str) -> None:
    app = pilot.app
    await pilot.press("ctrl+p")
    await pilot.press(*text)
    await until(pilot, lambda: isinstance(app.screen, CommandPalette)
                and app.screen.query_one(CommandList).option_count > 0, "hits")
    hit = app.screen.query_one(CommandList).get_option_at_index(0)
    assert text in str(hit.prompt)
    await pilot.press("enter")


async def test_the_palette_runs_any_screens_command_from_anywhere(settings: Settings) -> None:
    """The palette knew only the current screen's commands: now a command of another
    screen switches to it and runs there."""
    app = make_app(settings)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        assert app.current_mode == "datasets"
        await palette_run(pilot, "Predictor: Train the")
        await until(pilot, lambda: app.current_mode == "predictor", "the Predictor screen")
        await until(pilot, lambda: app.jobs.running("train")
                    or app.session.prediction is not None, "training from the palette")


async def test_the_palette_selects_a_point_from_the_compare_screen(
        run_settings: Settings) -> None:
    app = make_app(run_settings)
    async with app.run_test(size=(120, 40)) as pilot:
        await run_opened(pilot)
        await show(pilot, "7")
        await palette_run(pilot, "Front: Select the cheapest")
        await until(pilot, lambda: app.current_mode == "front" and app.session.selected == 0,
                    "the cheapest point")


# -------------------------------------------------------------------------------- paths


def test_complete_path_extends_as_far_as_the_names_agree(tmp_path: Path) -> None:
    (tmp_path / "results").mkdir()
    (tmp_path / "run-a.optllm").touch()
    (tmp_path / "run-b.optllm").touch()
    (tmp_path / ".hidden").touch()
    base = str(tmp_path) + "/"
    assert complete_path(base + "res") == base + "results/"
    assert complete_path(base + "ru") == base + "run-"
    assert complete_path(base + "run-a") == base + "run-a.optllm"
    assert complete_path(base + "x") is None
    assert complete_path(base) == base + "r"  # hidden files are left out unless typed
    assert complete_path(base + ".h") == base + ".hidden"
    assert complete_path(str(tmp_path / "missing" / "a")) is None


async def test_outputs_default_to_an_absolute_path_in_the_last_folder(
        run_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Export and F2 offered bare names in wherever the app was started; now the whole
    path, in the folder last used (the opened run's, then the last written to, remembered
    across sessions), and F3 offers the run just saved."""
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "outputs"
    out.mkdir()
    app = make_app(run_settings)
    async with app.run_test() as pilot:
        await run_opened(pilot)
        await pilot.press("6")
        path_input = app.screen.query_one("#export-path", Input)
        assert path_input.value == str(Path(str(run_settings.run_file)).parent
                                       / "optllm-allocation.csv")
        path_input.value = str(out / "mine.csv")
        await pilot.press("e")
        await until(pilot, (out / "mine.csv").exists, "the export")
        await pilot.press("f2")
        await until(pilot, lambda: isinstance(app.screen, ValueModal), "the save dialog")
        assert app.screen.query_one("#value", Input).value == str(run_settings.run_file)
        app.screen.query_one("#value", Input).value = str(out / "again.optllm")
        await pilot.press("enter")
        await until(pilot, (out / "again.optllm").exists, "the saved run")
        await pilot.press("f3")
        await until(pilot, lambda: isinstance(app.screen, ValueModal), "the open dialog")
        assert app.screen.query_one("#value", Input).value == str(out / "again.optllm")
        await pilot.press("escape")

    again = make_app(dataclasses.replace(run_settings, run_file=None))  # same config folder
    async with again.run_test() as pilot:
        await pilot.press("6")
        assert again.screen.query_one("#export-path", Input).value == str(
            out / "optllm-allocation.csv")


async def test_tab_completes_a_typed_path(settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "history-2024.csv").write_text("x\n")
    app = make_app(settings)
    async with app.run_test() as pilot:
        await loaded(pilot)
        await pilot.press("o")
        path_input = app.screen.query_one("#path", Input)
        await pilot.press(*f"{tmp_path}/hist")
        await pilot.press("tab")
        assert path_input.value == f"{tmp_path}/history-2024.csv"
        assert path_input.has_focus
        await pilot.press("tab")  # nothing more to complete: on to the next field
        assert not path_input.has_focus


async def test_the_export_screen_says_the_training_queries_are_left_out(
        run_settings: Settings) -> None:
    app = make_app(run_settings)
    async with app.run_test(size=(160, 40)) as pilot:
        await run_opened(pilot)
        await pilot.press("6")
        split = app.session.split
        assert split is not None
        what = status_text(app, "#export-what")
        assert (f"{split.allocate.size:,} of {split.allocate.size + split.train.size:,} "
                f"queries: the {split.train.size:,} labelled queries the predictor was "
                "trained on are left out") in " ".join(what.split())


async def test_ctrl_q_quits_at_once_even_with_unsaved_work(settings: Settings) -> None:
    """q asks before losing a trained run; ctrl+q is the hard quit and never asks."""
    app = make_app(settings)
    async with app.run_test() as pilot:
        await trained(pilot)
        assert app.session.unsaved_work is not None
        await pilot.press("ctrl+q")
        await until(pilot, lambda: not app.is_running, "the app to exit")
