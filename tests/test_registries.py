"""One registry per concept: the command's choices, the app's lists and the config checks
all derive from it (adding a name in one place reaches every front end)."""

from __future__ import annotations

import argparse

import pytest

from optllm.cli.main import build_parser
from optllm.config import RunConfig
from optllm.exceptions import ConfigError
from optllm.optimizers.registry import METHODS, RUN_METHODS
from optllm.pipeline.compare import RUNNERS
from optllm.predict.registry import (
    FEATURISER_CHOICES,
    FEATURISERS,
    LEARNER_CHOICES,
    LEARNERS,
    featuriser_class,
    learner_class,
)


def _choices(command: str, option: str) -> tuple[str, ...]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    action = next(a for a in sub.choices[command]._actions if option in a.option_strings)
    return tuple(action.choices or ())


def test_the_command_offers_exactly_the_registered_names() -> None:
    assert _choices("run", "--learner") == LEARNER_CHOICES
    assert _choices("run", "--featuriser") == FEATURISER_CHOICES
    assert _choices("run", "--method") == RUN_METHODS
    assert _choices("compare", "--learner") == LEARNER_CHOICES
    assert _choices("compare", "--featuriser") == FEATURISER_CHOICES


def test_the_config_accepts_every_registered_name_and_nothing_else() -> None:
    for learner in LEARNER_CHOICES:
        RunConfig(learner=learner).check()
    for featuriser in FEATURISER_CHOICES:
        RunConfig(featuriser=featuriser).check()
    for method in RUN_METHODS:
        RunConfig(method=method).check()
    for field in ("learner", "featuriser", "method"):
        with pytest.raises(ConfigError, match=field):
            RunConfig(**{field: "unregistered"}).check()


def test_every_entry_names_a_class_that_exists() -> None:
    for name in LEARNERS:
        assert learner_class(name).__name__ == LEARNERS[name].path.rpartition(":")[2]
    for name in FEATURISERS:
        assert featuriser_class(name).__name__ == FEATURISERS[name].path.rpartition(":")[2]
    with pytest.raises(ConfigError, match="choose one of"):
        learner_class("unregistered")


def test_every_method_runs_somewhere() -> None:
    assert list(RUNNERS) == list(METHODS)
    assert set(RUN_METHODS) <= set(METHODS)


def test_the_app_lists_come_from_the_registries() -> None:
    from optllm_tui.app import OptLLMApp
    from optllm_tui.commands import SCREENS
    from optllm_tui.screens.optimise import METHODS as OPTIMISE_LIST

    assert [name for _, name in OPTIMISE_LIST] == list(RUN_METHODS)
    assert list(OptLLMApp.MODES) == [mode for mode, _, _ in SCREENS]
    for mode, key, title in SCREENS:
        screen = OptLLMApp.MODES[mode]
        assert screen.SCOPE == mode and screen.TITLE == f"OptLLM - {key} {title}"
