"""Costs of new queries from token counts and per-model prices.

For query i and model j:

    cost[i, j] = (input_tokens[i] * input_price[j] + output_tokens[j] * output_price[j]) / 1e6

with prices in USD per million tokens. Why: the queries to allocate are new, so nobody has
been billed for them yet; their length and the providers' prices are all that is known.

- Prices come from the `genai-prices` table bundled in that package (no network; see
  docs/pricing.md for why this table), at its base tier (prompts below the long-context
  threshold) and today's date. A TOML file overrides or adds models (private or local ones)::

      [models."my-model"]
      input_per_mtok = 0.2
      output_per_mtok = 0.4
      output_tokens = 150          # optional: expected output tokens per answer

      [models."llama-3.1-70b"]
      price_of = "meta-llama/Meta-Llama-3.1-70B-Instruct-Turbo"   # price as this table entry
      provider = "together"                                       # optional provider id

  A model found in neither gets a `ConfigError` naming it: never a silent price of zero.
- Input tokens are counted offline by `optllm.pricing.tokens`; the method is kept with the costs.
- Expected output tokens per model: the user's value if given, else the mean of the
  history's `<m>_output_tokens` metadata column, else the mean of what the history's
  recorded costs imply: `(<m>_cost - input cost) / output price`. The mean, not the median:
  costs add up over queries, and output lengths are skewed (on the synthetic default the
  median put an allocation's billed cost 35% too low, the mean 25%).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

import numpy as np

from optllm.data.dataset import Dataset
from optllm.exceptions import ConfigError, DatasetError
from optllm.pricing.tokens import TokenCounts, count_tokens, describe, resolve_method

PER_MTOK = 1e6
_TOML_KEYS = {"input_per_mtok", "output_per_mtok", "output_tokens", "price_of", "provider"}
# Token counts priced to read per-token rates off the table: far below any tier threshold.
_PROBE_TOKENS = 1000
#: Largest price (USD per million tokens) and expected output tokens accepted: far above any
#: real figure, and small enough that costs stay finite.
MAX_PRICE = 1e9
MAX_TOKENS = 1e9


@dataclass(frozen=True)
class ModelPrice:
    """USD per million input and output tokens of one model, and where the figures came from."""

    model: str
    input_per_mtok: float
    output_per_mtok: float
    source: str


@dataclass(frozen=True)
class Overrides:
    """A user's prices file, parsed: prices, table aliases and expected output tokens."""

    prices: dict[str, ModelPrice] = field(default_factory=dict)
    aliases: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    output_tokens: dict[str, float] = field(default_factory=dict)


def _number(value: object, where: str, limit: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= limit:
        raise ConfigError(f"{where} must be a number from 0 to {limit:.0e}; got {value!r}")
    return float(value)


def parse_overrides(models: Mapping[str, object], where: str) -> Overrides:
    """Validate the `[models."name"]` tables of a prices file (`where` names it in errors)."""
    overrides = Overrides()
    for model, entry in models.items():
        here = f"{where}: [models.{model!r}]"
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{here} must be a table of keys")
        unknown = set(entry) - _TOML_KEYS
        if unknown:
            raise ConfigError(f"{here}: unknown key(s) {', '.join(sorted(unknown))}; "
                              f"allowed: {', '.join(sorted(_TOML_KEYS))}")
        given = [k for k in ("input_per_mtok", "output_per_mtok") if k in entry]
        if len(given) == 1:
            raise ConfigError(f"{here}: give both input_per_mtok and output_per_mtok")
        if given and "price_of" in entry:
            raise ConfigError(f"{here}: give prices or price_of, not both")
        if given:
            overrides.prices[model] = ModelPrice(
                model, _number(entry["input_per_mtok"], f"{here} input_per_mtok", MAX_PRICE),
                _number(entry["output_per_mtok"], f"{here} output_per_mtok", MAX_PRICE), where)
        if "price_of" in entry:
            provider = entry.get("provider")
            if not isinstance(entry["price_of"], str) or not (
                    provider is None or isinstance(provider, str)):
                raise ConfigError(f"{here}: price_of and provider must be strings")
            overrides.aliases[model] = (entry["price_of"], provider)
        elif "provider" in entry:
            raise ConfigError(f"{here}: provider is only used together with price_of")
        if "output_tokens" in entry:
            overrides.output_tokens[model] = _number(entry["output_tokens"],
                                                     f"{here} output_tokens", MAX_TOKENS)
    return overrides


def load_overrides(path: str | os.PathLike[str]) -> Overrides:
    """Read a prices TOML file (see the module docstring)."""
    path = Path(path)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the prices file ({exc.strerror or exc})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a valid TOML file ({exc})") from None
    extra = set(document) - {"models"}
    if extra:
        raise ConfigError(f"{path}: unknown top-level key(s) {', '.join(sorted(extra))}; "
                          'prices go in [models."name"] tables')
    models = document.get("models", {})
    if not isinstance(models, Mapping):
        raise ConfigError(f"{path}: 'models' must be a table")
    return parse_overrides(models, str(path))


def parse_output_tokens(spec: str) -> dict[str, float]:
    """`"model-a=120,model-b=300"` (as given on the command line) as a mapping."""
    result: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        model, sep, value = item.rpartition("=")
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        if not sep or not model or not 0 <= number <= MAX_TOKENS:
            raise ConfigError(f"--output-tokens: {item!r} is not MODEL=N with N from 0 to "
                              f"{MAX_TOKENS:.0e} tokens")
        result[model.strip()] = number
    return result


@cache
def _table_version() -> str:
    from importlib.metadata import version
    return f"genai-prices {version('genai-prices')}"


def table_price(model: str, ref: str | None = None, provider: str | None = None
                ) -> ModelPrice | None:
    """The bundled table's price of `ref` (default: the model's own name), or None."""
    from genai_prices import Usage, calc_price

    try:
        found = calc_price(Usage(input_tokens=_PROBE_TOKENS, output_tokens=_PROBE_TOKENS),
                           ref or model, provider_id=provider)
    except LookupError:
        return None
    scale = PER_MTOK / _PROBE_TOKENS
    return ModelPrice(model, float(found.input_price) * scale, float(found.output_price) * scale,
                      f"{_table_version()}: {found.provider.id}/{found.model.id}")


def lookup_prices(models: Sequence[str], overrides: Overrides | None = None
                  ) -> tuple[ModelPrice, ...]:
    """Each model's price: the user's file first, then the bundled table.

    Raises ConfigError naming every model priced by neither.
    """
    overrides = overrides or Overrides()
    found: list[ModelPrice | None] = []
    for model in models:
        if model in overrides.prices:
            found.append(overrides.prices[model])
        elif model in overrides.aliases:
            ref, provider = overrides.aliases[model]
            price = table_price(model, ref, provider)
            if price is None:
                raise ConfigError(f"model {model!r}: price_of {ref!r} is not in "
                                  f"{_table_version()}")
            found.append(price)
        else:
            found.append(table_price(model))
    missing = [m for m, p in zip(models, found, strict=True) if p is None]
    if missing:
        names = ", ".join(repr(m) for m in missing)
        raise ConfigError(
            f"no price for model(s) {names}: not in {_table_version()} nor in a prices file. "
            f'Add to a TOML file [models."{missing[0]}"] input_per_mtok = ... and '
            f'output_per_mtok = ... (or price_of = "a-known-model") and pass it with --prices')
    return tuple(p for p in found if p is not None)


@dataclass(frozen=True)
class CostModel:
    """Everything needed to price a new query for each model: prices, expected output tokens
    (M,) and the token-counting method. `costs(texts)` is the (N, M) USD matrix."""

    prices: tuple[ModelPrice, ...]
    output_tokens: np.ndarray
    output_tokens_source: tuple[str, ...]
    token_method: str

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(p.model for p in self.prices)

    def cost_matrix(self, input_tokens: np.ndarray) -> np.ndarray:
        """(N, M) USD for (N,) input token counts."""
        p_in = np.array([p.input_per_mtok for p in self.prices])
        p_out = np.array([p.output_per_mtok for p in self.prices])
        tokens = np.asarray(input_tokens, dtype=np.float64)
        return (np.multiply.outer(tokens, p_in) + self.output_tokens * p_out) / PER_MTOK

    def costs(self, texts: Iterable[object]) -> tuple[np.ndarray, TokenCounts]:
        """The (N, M) cost matrix of `texts` and their input-token counts."""
        counts = count_tokens(texts, self.token_method)
        return self.cost_matrix(counts.tokens), counts

    def as_dict(self) -> dict:
        """A JSON-ready description (summary.json, policy files); `from_dict` reads it back."""
        return {
            "token_method": self.token_method,
            "token_counting": describe(self.token_method),
            "models": [
                {"model": p.model, "input_per_mtok": p.input_per_mtok,
                 "output_per_mtok": p.output_per_mtok, "price_source": p.source,
                 "output_tokens": float(tokens), "output_tokens_source": source}
                for p, tokens, source in zip(self.prices, self.output_tokens,
                                             self.output_tokens_source, strict=True)],
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> CostModel:
        rows = data["models"]
        return cls(
            prices=tuple(ModelPrice(str(r["model"]), float(r["input_per_mtok"]),
                                    float(r["output_per_mtok"]), str(r["price_source"]))
                         for r in rows),
            output_tokens=np.array([float(r["output_tokens"]) for r in rows]),
            output_tokens_source=tuple(str(r["output_tokens_source"]) for r in rows),
            token_method=str(data["token_method"]),
        )


def token_counts(history: Dataset, column: str) -> np.ndarray:
    """A history's token-count metadata column as float (NaN where empty); a cell that is
    not a count from 0 to `MAX_TOKENS` is a DatasetError naming its row."""
    from optllm.data.tables import numeric_cells

    series = history.metadata[column]
    values, text = numeric_cells(series)
    with np.errstate(invalid="ignore"):
        bad = text | (values < 0) | (values > MAX_TOKENS)
    if bad.any():
        row = int(np.argmax(bad))
        raise DatasetError(f"{history.source or history.title}: row {row + 1}, column "
                           f"{column!r}: token count {series.iloc[row]!r} is not a number "
                           f"from 0 to {MAX_TOKENS:.0e}")
    return values


def learned_output_tokens(history: Dataset, prices: Sequence[ModelPrice],
                          input_tokens: np.ndarray) -> tuple[np.ndarray, list[str | None]]:
    """Per model, the mean output tokens the history shows (NaN where it cannot tell),
    and where each figure came from."""
    tokens = np.full(len(prices), np.nan)
    sources: list[str | None] = [None] * len(prices)
    meta = history.metadata
    for j, price in enumerate(prices):
        column = f"{price.model}_output_tokens"
        if column in meta.columns:
            values = token_counts(history, column)
            if np.isfinite(values).any():
                tokens[j] = float(np.nanmean(values))
                sources[j] = f"history: mean of {column}"
                continue
        known = price.model in history.models and np.isfinite(
            history.cost[:, history.models.index(price.model)]).all()
        if price.output_per_mtok > 0 and history.n_queries and known:
            model_index = history.models.index(price.model)
            spent = history.cost[:, model_index] * PER_MTOK - input_tokens * price.input_per_mtok
            tokens[j] = max(0.0, float(np.mean(spent / price.output_per_mtok)))
            sources[j] = "history: mean of (cost - input cost) / output price"
    return tokens, sources


def _with_generator_prices(overrides: Overrides | None, models: Sequence[str]) -> Overrides:
    """`overrides` with the synthetic generator's prices for its models that the user did
    not price: the synthetic history's costs were made from them, so the batch is priced
    like its history (the table has no entry for some of them, and other figures for
    the rest)."""
    from optllm.data.synthetic import MODELS

    overrides = overrides or Overrides()
    generator = {spec.name: ModelPrice(spec.name, spec.input_price, spec.output_price,
                                       "synthetic generator (optllm.data.synthetic)")
                 for spec in MODELS if spec.name in models
                 and spec.name not in overrides.prices and spec.name not in overrides.aliases}
    return Overrides({**generator, **overrides.prices}, overrides.aliases,
                     overrides.output_tokens)


def build_cost_model(models: Sequence[str], history: Dataset | None = None, *,
                     prices: Overrides | str | os.PathLike[str] | None = None,
                     output_tokens: Mapping[str, float] | None = None,
                     token_method: str = "auto") -> CostModel:
    """Prices, expected output tokens and token method for `models`.

    `prices` is a prices TOML path or parsed `Overrides`; `output_tokens` (model -> tokens)
    takes precedence over the file's and over what `history` implies. A synthetic history
    (the embedded default) prices its models as its generator did, unless `prices` says
    otherwise.
    """
    overrides = prices if isinstance(prices, Overrides) or prices is None else (
        load_overrides(prices))
    if history is not None and history.synthetic:
        overrides = _with_generator_prices(overrides, models)
    table = lookup_prices(models, overrides)
    method = resolve_method(token_method)
    user = {**(overrides.output_tokens if overrides else {}), **(output_tokens or {})}
    unknown = set(user) - set(models)
    if unknown:
        raise ConfigError(f"output tokens given for unknown model(s) "
                          f"{', '.join(sorted(map(repr, unknown)))}; models: {', '.join(models)}")
    if history is not None:
        history_tokens = count_tokens(history.queries, method).tokens
        tokens, sources = learned_output_tokens(history, table, history_tokens)
    else:
        tokens, sources = np.full(len(models), np.nan), [None] * len(models)
    for j, model in enumerate(models):
        if model in user:
            tokens[j], sources[j] = user[model], "user"
    missing = [m for m, s in zip(models, sources, strict=True) if s is None]
    if missing:
        raise ConfigError(
            f"no expected output tokens for model(s) {', '.join(map(repr, missing))}: the "
            f"history has no '<model>_output_tokens' column and cannot imply them from costs "
            f"(output price 0); give them with --output-tokens {missing[0]}=N or "
            f"output_tokens in the prices file")
    return CostModel(table, tokens, tuple(s for s in sources if s is not None), method)


def load_priced(path: str | os.PathLike[str], *, layout: str | None = None,
                query_column: str = "query",
                prices: Overrides | str | os.PathLike[str] | None = None,
                output_tokens: Mapping[str, float] | None = None,
                token_method: str = "auto") -> tuple[Dataset, CostModel | None]:
    """A labelled history whose label columns lack `<m>_cost` for the models named in the
    prices file or in `output_tokens`: their costs come from the queries' token counts and
    the prices, as for a batch. Returns the dataset and the cost model (None when every
    model had costs in the file)."""
    from optllm.data.tables import load_dataset

    overrides = prices if isinstance(prices, Overrides) or prices is None else (
        load_overrides(prices))
    named = [*(output_tokens or {})]
    if overrides is not None:
        named += [*overrides.prices, *overrides.aliases, *overrides.output_tokens]
    dataset = load_dataset(path, layout=layout, query_column=query_column,
                           priced_models=list(dict.fromkeys(named)))
    missing = np.isnan(dataset.cost).any(axis=0)
    if not missing.any():
        return dataset, None
    models = [m for m, gap in zip(dataset.models, missing, strict=True) if gap]
    cost_model = build_cost_model(models, dataset, prices=overrides,
                                  output_tokens=output_tokens, token_method=token_method)
    priced, _ = cost_model.costs(dataset.queries)
    cost = dataset.cost.copy()
    cost[:, missing] = priced
    return replace(dataset, cost=cost), cost_model
