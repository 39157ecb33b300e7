"""Hostile input: data whose every text is markup, answers typed twice, and storms of keys
while work runs. The app shows the text literally and only ctrl+q ends it."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from textual import events
from textual.pilot import Pilot
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static

from optllm_tui.app import OptLLMApp, make_app
from optllm_tui.commands import COMMANDS, SCREENS
from optllm_tui.screens.allocation import TITLE_NAME_WIDTH, clip
from optllm_tui.screens.base import ModeScreen
from optllm_tui.screens.modals import ConfirmModal, ValueModal
from optllm_tui.settings import Settings

from .conftest import RUN, loaded, run_opened, show, trained, until

#: Texts that are Rich / Textual markup: closing tags without an opening one (a crash when
#: parsed), tags that would vanish or turn into styles and links.
MARKUP = ("[client 1.2.3.4]", "[/INST]", "[/]", "[bold]x", "[link=http://x]y[/link]",
          "he[/she]")
MODELS = ("[/INST]", "[/]", "[link=http://x]y[/link]", "he[/she]")
#: Path parts cannot hold "/", so the file and folder names use the other tags.
FILE_NAME = "[bold]data [client 1.2.3.4].csv"


@pytest.fixture(scope="module")
def hostile_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 queries x 4 models where query ids, query texts, model names, the extra
    columns' names and values, the folder and the file name are all markup."""
    from optllm.data.synthetic import generate
    from optllm.data.tables import write_wide

    dataset = generate(300, len(MODELS), 1)
    n = dataset.n_queries
    queries = np.array([f"{MARKUP[i % len(MARKUP)]} {text}"
                        for i, text in enumerate(dataset.queries)], dtype=object)
    ids = np.array([f"[b]{i}" if i % 2 else f"{i}[/]" for i in range(n)], dtype=object)
    metadata = dataset.metadata.rename(columns={"topic": "[bold]topic",
                                                "difficulty": "[/]difficulty"})
    metadata["[link=http://x]extra[/link]"] = [MARKUP[i % len(MARKUP)] for i in range(n)]
    dataset = dataclasses.replace(dataset, models=MODELS, queries=queries, query_ids=ids,
                                  metadata=metadata, synthetic=False)
    folder = tmp_path_factory.mktemp("hostile") / "[bold]folder [client 1.2.3.4]"
    folder.mkdir()
    return write_wide(dataset, folder / FILE_NAME)


def screen_text(app: OptLLMApp) -> str:
    """Every character on the active screen, as the terminal would show it."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def status(app: OptLLMApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


def alive(app: OptLLMApp) -> bool:
    return app.is_running and app._exception is None and app.return_code in (None, 0)


async def burst(pilot: Pilot[None], *keys: str) -> None:
    """Send `keys` the way a fast typist (or a slow SSH link) delivers them: all queued
    before the app handles the first, then let the app handle them."""
    driver = pilot.app._driver
    assert driver is not None
    for key in keys:
        event = events.Key(key, "\r" if key == "enter" else key if len(key) == 1 else None)
        event.set_sender(pilot.app)
        driver.send_message(event)
    await pilot.pause()
    await pilot.pause()


async def shows(pilot: Pilot[None], *texts: str) -> None:
    """Wait until every one of `texts` is on the screen, literally."""
    app = pilot.app
    try:
        await until(pilot, lambda: all(t in screen_text(app) for t in texts), "", timeout=10)
    except pytest.fail.Exception:
        pytest.fail(f"not all of {texts} on the screen:\n{screen_text(app)}")


async def test_markup_in_the_data_is_shown_literally(hostile_csv: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    app = make_app(Settings(data=str(hostile_csv), run=dict(RUN),
                            config_dir=tmp_path / "config", show_timings=False))
    async with app.run_test(size=(160, 48)) as pilot:
        session = app.session
        await loaded(pilot)
        # The preview: ids, texts, model names and the title, as they are in the file.
        await shows(pilot, "[client 1.2.3.4] ", "[/INST] ", "he[/she] ", "[bold]x ",
                    "[link=http://x]y[/link]", "0[/]", "[b]1",
                    "[bold]data [client 1.2.3.4]: 300 queries")
        assert "[bold]data [client 1.2.3.4]" in app.sub_title
        recent = app.screen.query_one("#sources", OptionList).get_option_at_index(1)
        assert str(recent.prompt).endswith(FILE_NAME)
        await pilot.press("ctrl+p", *"[/]", "[", "backspace")  # markup as a search
        await pilot.pause(0.3)
        await pilot.press("escape")

        await trained(pilot)
        await shows(pilot, *(model[:12] for model in MODELS))  # the quality table

        await show(pilot, "3")
        await pilot.press("r")
        await until(pilot, lambda: session.front is not None, "the front")

        await show(pilot, "4")
        await pilot.press("right")
        await until(pilot, lambda: session.details is not None
                    and session.details.index == session.selected, "point details")
        await shows(pilot, *MODELS)  # the model shares beside the plot

        await show(pilot, "5")
        for model in MODELS:  # filter to each model in turn: it is named in the title
            await pilot.press("m")
            await until(pilot, lambda m=model: session.allocation_view is not None
                        and session.allocation_view.model == m, f"filter {model}")
            await shows(pilot, f"model: {clip(model, TITLE_NAME_WIDTH)}")
        await pilot.press("m")  # all models again
        await until(pilot, lambda: session.allocation_view is not None
                    and session.allocation_view.model is None, "no filter")
        await shows(pilot, "[client 1.2.3.4] ", "he[/she] ")  # the browser's query column

        # Export twice to a markup name: the overwrite question names it literally.
        target = tmp_path / "[link=http:]out he[_she].csv"
        await show(pilot, "6")
        app.screen.query_one("#export-path", Input).value = str(target)
        await pilot.press("e")
        await until(pilot, target.exists, "the export")
        await shows(pilot, "[link=http:]out he[_she].csv")
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal), "the question")
        await shows(pilot, "[link=http:]out he[_she].csv exists")
        await pilot.press("y")
        await until(pilot, lambda: not isinstance(app.screen, ModalScreen), "the answer")

        # Save the run to a markup name, twice: saved, then the overwrite question.
        run_path = tmp_path / "[bold]run [client 1.2.3.4].npz"
        for _ in range(2):
            await pilot.press("f2")
            await until(pilot, lambda: isinstance(app.screen, ValueModal), "the dialog")
            app.screen.query_one(Input).value = str(run_path)
            await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal), "the question")
        await shows(pilot, "[bold]run [client 1.2.3.4].npz exists")
        await pilot.press("n")

        # Errors that quote the file: a missing path and a bad cell, both with markup.
        bad = tmp_path / "[b]bad[i].csv"
        frame = pd.read_csv(hostile_csv, dtype=str, keep_default_na=False)
        frame.loc[1, f"{MODELS[0]}_cost"] = "[/she]"
        frame.to_csv(bad, index=False)
        await show(pilot, "1")
        for path, quoted in ((tmp_path / "[client 1.2.3.4] missing.csv", "not found"),
                             (bad, "column '[/INST]_cost': cost '[/she]'")):
            await pilot.press("o")
            app.screen.query_one("#path", Input).value = str(path)
            await pilot.press("enter")
            await until(pilot, lambda p=path, q=quoted: p.name in status(app, "#load-status")
                        and q in status(app, "#load-status"), f"the error about {path.name}")

        # The comparison: methods' names and the dataset's in the status line.
        await show(pilot, "7")
        await pilot.press("c")
        await until(pilot, lambda: session.compare_state.phase in ("done", "failed"),
                    "the comparison", timeout=120)
        await shows(pilot, "[bold]data [client 1.2.3.4]"[:10])
        assert alive(app)


# ------------------------------------------------------------------- answered twice

async def _open_save(pilot: Pilot[None], tmp_path: Path) -> None:
    await pilot.press("f2")
    pilot.app.screen.query_one(Input).value = str(tmp_path / "run.npz")


async def _open_open(pilot: Pilot[None], tmp_path: Path) -> None:
    await pilot.press("f3")
    pilot.app.screen.query_one(Input).value = str(tmp_path / "missing.npz")


async def _open_budget(pilot: Pilot[None], tmp_path: Path) -> None:
    await show(pilot, "4")
    await pilot.press("b", *"1")


async def _open_target(pilot: Pilot[None], tmp_path: Path) -> None:
    await show(pilot, "4")
    await pilot.press("t", *"0.5")


async def _open_export_exists(pilot: Pilot[None], tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text("keep me\n")
    await show(pilot, "6")
    pilot.app.screen.query_one("#export-path", Input).value = str(target)
    await pilot.press("e")
    await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmModal), "the question")


async def _open_save_exists(pilot: Pilot[None], tmp_path: Path) -> None:
    (tmp_path / "run.npz").write_text("keep me\n")
    await _open_save(pilot, tmp_path)
    await pilot.press("enter")
    await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmModal), "the question")


async def _open_help(pilot: Pilot[None], tmp_path: Path) -> None:
    await pilot.press("f1")


async def _open_palette(pilot: Pilot[None], tmp_path: Path) -> None:
    from textual.command import CommandList

    await pilot.press("ctrl+p", *"Go to the Front")
    await until(pilot, lambda: bool(pilot.app.screen.query(CommandList))
                and pilot.app.screen.query_one(CommandList).option_count > 0, "commands")


DIALOGS = {"save run": _open_save, "open run": _open_open, "budget": _open_budget,
           "target": _open_target, "export overwrite": _open_export_exists,
           "save overwrite": _open_save_exists, "help": _open_help,
           "command palette": _open_palette}


@pytest.mark.parametrize("keys", [("enter", "enter"), ("enter", "escape")], ids="+".join)
@pytest.mark.parametrize("dialog", list(DIALOGS))
async def test_a_dialog_answered_twice_is_answered_once(
        run_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        dialog: str, keys: tuple[str, ...]) -> None:
    """Keys that reach a dialog before it has gone: the first answer counts and closes
    it; the app stays up (keys after the answer go to the screen below)."""
    monkeypatch.chdir(tmp_path)
    app = make_app(run_settings)
    async with app.run_test() as pilot:
        await run_opened(pilot)
        await DIALOGS[dialog](pilot, tmp_path)
        await until(pilot, lambda: isinstance(app.screen, ModalScreen), "the dialog")
        if dialog == "help":
            keys = tuple("escape" if key == "enter" else key for key in keys)
        await burst(pilot, *keys)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert alive(app)
        assert isinstance(app.screen, ModeScreen)


# ---------------------------------------------------------------------- key storms

#: Every key the app binds (q and ctrl+q aside: quitting is the one action that may end
#: it), the keys widgets handle themselves, and some typing.
STORM_KEYS = sorted({key for command in COMMANDS for key in command.keys.split(",")
                     if command.action not in ("quit", "quit_now")}
                    | {"enter", "escape", "tab", "shift+tab", "up", "down", "left", "right",
                       "space", "backspace", "delete", "home", "end", "pageup", "pagedown",
                       "ctrl+c", "x", "y", "n", "0", "5", "9", ".", "%", "$", "-", "/"})
#: Bootstrap members enough that training is still running while the keys arrive.
STORM_RUN = {**RUN, "bootstraps": 40}


async def _storm(run_file: Path, config_dir: Path, work: str, screen: str,
                 bursts: list[list[str]]) -> None:
    app = make_app(Settings(run_file=str(run_file), run=dict(STORM_RUN),
                            config_dir=config_dir, show_timings=False))
    async with app.run_test() as pilot:
        await run_opened(pilot)
        if work == "train":
            app.start_training(app.session.config)
        elif work == "optimise":
            app.optimiser_reset()
            app.optimiser_advance(None)
        else:
            app.start_compare(["optllm", "hull", "random"], 2, 20, 10)
        await show(pilot, screen)
        for keys in bursts:
            await burst(pilot, *keys)
            assert alive(app), keys
        assert alive(app)
        await app.jobs.stop_all()


@settings(max_examples=10, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(work=st.sampled_from(["train", "optimise", "compare"]),
       screen=st.sampled_from([key for _, key, _ in SCREENS]),
       bursts=st.lists(st.lists(st.sampled_from(STORM_KEYS), min_size=1, max_size=8),
                       min_size=1, max_size=6))
def test_no_key_storm_ends_the_app(run_file: Path, tmp_path: Path, work: str, screen: str,
                                   bursts: list[list[str]]) -> None:
    """Keys fired at any screen while training, the optimiser or a comparison runs in a
    worker: the app is still running afterwards, with no exception recorded."""
    with contextlib.chdir(tmp_path):  # F2, F8 and e write files into the working directory
        asyncio.run(_storm(run_file, tmp_path / "config", work, screen, bursts))


# ------------------------------------------------------------- errors a user can cause

async def test_an_unknown_home_in_a_typed_path_is_a_missing_file(app: OptLLMApp) -> None:
    """`~nobody/...` cannot be expanded (Path.expanduser raises RuntimeError): the load
    reports the file as typed instead of the key press ending the app."""
    async with app.run_test() as pilot:
        await loaded(pilot)
        for field, shown in (("#path", "#load-status"), ("#batch-path", "#batch-status"),
                             ("#prices-path", None)):
            app.screen.query_one(field, Input).value = "~nobody-optllm/x.csv"
            app.screen.query_one(field, Input).focus()
            await pilot.press("enter")
            if shown is not None:
                await until(pilot, lambda s=shown: "~nobody-optllm/x.csv: file not found"
                            in status(app, s), f"the error in {shown}")
        assert app.session.prices == "~nobody-optllm/x.csv"  # read (and reported) at training
        assert alive(app)


async def test_an_unexpected_error_is_logged_and_shown_literally(
        app: OptLLMApp, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug in a job (here: the loader raising KeyError): the message says so literally,
    the traceback goes to the errors log, and the app keeps running."""
    import optllm.data.tables

    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("[/INST] he[/she]")

    monkeypatch.setattr(optllm.data.tables, "load_dataset", broken)
    async with app.run_test() as pilot:
        await until(pilot, lambda: "unexpected error" in status(app, "#load-status"), "error")
        text = status(app, "#load-status")
        log = settings.config_dir / "errors.log"
        assert "KeyError: '[/INST] he[/she]'" in text and str(log) in text
        assert "Traceback" in log.read_text() and "in broken" in log.read_text()
        assert alive(app)


async def test_damaged_files_are_reported_as_user_errors(
        app: OptLLMApp, tmp_path: Path, small_csv: Path) -> None:
    """Files of the wrong kind, truncated or mixed up, as data, as a batch and as a run:
    each error names the file; none is an 'unexpected error'."""
    text = small_csv.read_text()
    files = {
        "empty.csv": b"", "garbage.parquet": b"PAR1 not parquet", "list.jsonl": b"[1, 2]\n",
        "mixed.jsonl": b'{"query": "a", "m_cost": 1, "m": 1}\n{"query": 5, "m_cost": 1}\n',
        "fake.csv.gz": text.encode(), "half.csv": text[: len(text) // 2].encode() + b'"',
        "run.npz": b"PK\x03\x04 not a zip",
    }
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    async with app.run_test() as pilot:
        await loaded(pilot)
        for name in files:
            path = str(tmp_path / name)
            for field, selector in (("#path", "#load-status"),
                                    ("#batch-path", "#batch-status")):
                app.screen.query_one(field, Input).value = path
                app.screen.query_one(field, Input).focus()
                await pilot.press("enter")
                await until(pilot, lambda s=selector, n=name: n in status(app, s), name)
                assert "unexpected" not in status(app, selector), status(app, selector)
            await pilot.press("f3")
            await until(pilot, lambda: isinstance(app.screen, ValueModal), "the dialog")
            app.screen.query_one(Input).value = path
            await pilot.press("enter")
            await until(pilot, lambda n=name: n in status(app, "#load-status")
                        and "run" in status(app, "#load-status"), f"{name} as a run")
            assert "unexpected" not in status(app, "#load-status")
        assert alive(app)


# ------------------------------------------------------------------- typed values

async def test_save_with_an_empty_path_says_so_and_stays(run_settings: Settings) -> None:
    app = make_app(run_settings)
    async with app.run_test() as pilot:
        await run_opened(pilot)
        for key in ("f2", "f3"):
            await pilot.press(key)
            await until(pilot, lambda: isinstance(app.screen, ValueModal), "the dialog")
            app.screen.query_one(Input).value = "   "
            await pilot.press("enter")
            assert isinstance(app.screen, ValueModal)
            assert "Type a file path first" in status(app, "#value-hint")
            await pilot.press("escape")
            assert not isinstance(app.screen, ModalScreen)
        assert alive(app)


@pytest.mark.parametrize(("key", "typed", "message"), [
    ("b", "nan", "budget must be a finite number; got 'nan'"),
    ("b", "inf", "budget must be a finite number; got 'inf'"),
    ("t", "nan", "target accuracy must be a finite number; got 'nan'"),
    ("t", "nan%", "target accuracy must be a finite number; got 'nan%'"),
    ("t", "1.5", "target accuracy 1.5 is above 1: give a fraction such as 0.85 or a "
                 "percentage with its sign such as 85%"),
    ("t", "0", "target accuracy must be above 0"),
])
async def test_budget_and_target_refuse_nan(run_settings: Settings, key: str, typed: str,
                                            message: str) -> None:
    app = make_app(run_settings)
    async with app.run_test() as pilot:
        await run_opened(pilot)
        await show(pilot, "4")
        selected = app.session.selected
        texts: list[str] = []
        app.session_changed.subscribe(app.screen, lambda c: texts.append(c.text), True)
        await pilot.press(key, *typed, "enter")
        assert any(message in text for text in texts), texts
        assert app.session.selected == selected


async def test_changing_the_format_with_no_file_name(run_settings: Settings) -> None:
    """The extension follows the format; an empty field (no name to give one) stays."""
    app = make_app(run_settings)
    async with app.run_test() as pilot:
        await run_opened(pilot)
        await show(pilot, "6")
        app.screen.query_one("#export-path", Input).value = ""
        app.screen.query_one("#format").focus()
        await pilot.press("down", "enter")
        assert app.screen.query_one("#export-path", Input).value == ""
        assert alive(app)


@pytest.mark.parametrize("page", ["pageup", "pagedown"])
async def test_paging_the_palette_as_it_opens(app: OptLLMApp, page: str) -> None:
    """PageUp/PageDown typed right after ctrl+p can reach the palette's list before it has
    a size: Textual's OptionList raised KeyError there and the app ended."""
    async with app.run_test() as pilot:
        await loaded(pilot)
        for _ in range(5):
            await burst(pilot, "ctrl+p", page)
            assert alive(app)
            await burst(pilot, "escape")


async def test_paging_a_list_that_has_no_size(app: OptLLMApp) -> None:
    """The same for any OptionList (Select's overlay, SelectionList, the sources list)
    that has options but no size yet: paging leaves the highlight where it is."""
    from textual.widgets import OptionList

    async with app.run_test() as pilot:
        await loaded(pilot)
        options = OptionList("a", "b", "c")
        options.display = False
        await app.screen.mount(options)
        options.highlighted = 1
        options.action_page_down()
        options.action_page_up()
        assert options.highlighted == 1
        assert alive(app)
