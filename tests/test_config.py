"""RunConfig.check: every parameter's allowed range is enforced with a message giving it,
and a dataset too small to learn from is refused with the rows needed and found."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from optllm.config import (
    MAX_BOOTSTRAPS,
    MAX_DENSITY,
    MAX_SEED,
    MIN_TRAIN_ROWS,
    RunConfig,
    parse_accuracy,
    parse_usd,
)
from optllm.data.dataset import split_queries
from optllm.data.synthetic import generate
from optllm.exceptions import ConfigError


@pytest.mark.parametrize(("field", "value", "words"), [
    ("seed", MAX_SEED + 1, "from 0 to 4294967295"),
    ("seed", -1, "from 0 to"),
    ("bootstraps", MAX_BOOTSTRAPS + 1, "at least 1 and at most 5000"),
    ("bootstraps", 0, "at least 1 and at most 5000"),
    ("density", MAX_DENSITY + 1, "at least 2 and at most 1000"),
    ("target_accuracy", 0.0, "above 0 and at most 1"),
    ("target_accuracy", math.nan, "above 0 and at most 1"),
    ("budget", math.nan, "budget"),
    ("train_fraction", math.nan, "train fraction"),
])
def test_out_of_range_parameters_name_their_range(field, value, words):
    with pytest.raises(ConfigError, match=words):
        RunConfig(**{field: value}).check()


def test_the_range_ends_are_accepted():
    RunConfig(seed=MAX_SEED, bootstraps=MAX_BOOTSTRAPS, density=MAX_DENSITY,
              target_accuracy=1.0).check()


def test_too_small_a_dataset_says_how_many_rows_it_needs():
    tiny = generate(MIN_TRAIN_ROWS, 3, seed=0)
    with pytest.raises(ConfigError, match=r"too small.*needs 5 labelled.*has 5 queries"):
        split_queries(tiny, 0.02, 0)
    split = split_queries(generate(MIN_TRAIN_ROWS + 1, 3, seed=0), 0.02, 0)
    assert split.train.size == MIN_TRAIN_ROWS and split.allocate.size == 1


@pytest.mark.parametrize(("typed", "value"), [
    ("0.85", 0.85), ("85%", 0.85), (" 85% ", 0.85), ("100%", 1.0),
    ("1", 1.0), ("0.5%", 0.005)])
def test_accuracies_are_fractions_or_percentages_with_their_sign(typed, value):
    assert parse_accuracy(typed) == pytest.approx(value)


@pytest.mark.parametrize(("typed", "words"), [
    ("1.5", "1.5 is above 1: give a fraction such as 0.85 or a percentage with its sign"),
    ("85", "85 is above 1"),
    ("0", "above 0 and at most 1"),
    ("-0.2", "above 0 and at most 1"),
    ("101%", "above 0% and at most 100%"),
    ("nan", "finite"), ("inf%", "finite"), ("lots", "must be a number; got 'lots'")])
def test_ambiguous_or_impossible_accuracies_are_refused(typed, words):
    with pytest.raises(ConfigError, match=words):
        parse_accuracy(typed)


@given(st.floats(min_value=1e-6, max_value=1.0))
def test_a_fraction_and_its_percentage_agree(fraction):
    assert parse_accuracy(repr(fraction)) == fraction
    assert parse_accuracy(f"{fraction * 100!r}%") == pytest.approx(fraction)


@pytest.mark.parametrize(("typed", "value"), [("12.5", 12.5), ("$1,200", 1200.0), ("0", 0.0)])
def test_budgets_as_typed(typed, value):
    assert parse_usd(typed) == value


@pytest.mark.parametrize("typed", ["-1", "nan", "$inf", "lots"])
def test_impossible_budgets_are_refused(typed):
    with pytest.raises(ConfigError, match="budget"):
        parse_usd(typed)
