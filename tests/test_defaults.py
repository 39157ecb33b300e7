"""One definition of the run defaults: `run`, `compare` and the app's help all take
RunConfig's, and say the values they use."""

from __future__ import annotations

import dataclasses

import pytest

from optllm.cli.main import build_parser
from optllm.config import RunConfig
from optllm_tui.cli import parser as tui_parser

DEFAULTS = RunConfig()


@pytest.mark.parametrize("command", [["run", "--out", "x"], ["compare", "--out", "x"]])
def test_run_and_compare_start_from_the_same_defaults(command: list[str]) -> None:
    args = vars(build_parser().parse_args(command))
    # None (run's alpha and train fraction): "not given", resolved to RunConfig's later
    shared = {name for name in {f.name for f in dataclasses.fields(RunConfig)} & set(args)
              if args[name] is not None}
    assert {"bootstraps", "learner", "featuriser"} <= shared
    assert {name: args[name] for name in shared} == {
        name: getattr(DEFAULTS, name) for name in shared}


def help_of(parser, option: str) -> str:
    return next(a.help for a in parser._actions if option in a.option_strings)


def test_every_help_states_the_default_in_use() -> None:
    subparsers = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for parser in (subparsers["run"], subparsers["compare"], tui_parser()):
        assert f"default {DEFAULTS.bootstraps}" in help_of(parser, "--bootstraps")
        assert f"default {DEFAULTS.train_fraction}" in help_of(parser, "--train-fraction")
