"""Seeded synthetic LLM outcome data with a documented latent model.

Why: real outcome tables are few and small. A generator gives any size (a million queries in a
few seconds) with known ground truth, for tests, benchmarks and the embedded default dataset,
and it is built so that routing pays off: no model is best everywhere, and the query text
tells a model which queries are which.

Queries
-------
Each query i has a topic t_i, uniform over the 12 `TOPICS`, and a difficulty d_i ~ U(0, 1)
rounded to 3 decimals (metadata columns `topic` and `difficulty`). Its text is

    opener  content words  closer?

- opener and closer come from one of 4 difficulty tiers, tier = floor(4 (d + N(0, 0.1)))
  clipped to 0..3: from "Briefly," / "Quick question:" up to "Prove rigorously step by step:";
- round(3 + 12 d + N(0, 1.5)) content words, clipped to 2..18, so longer texts are harder;
  each word comes from the topic's pool with probability 0.7, from a random topic's pool with
  0.1 and from a pool of filler words with 0.2 (noise).

Outcomes
--------
For model m (a row of `MODELS`) on query i:

    logit[i, m] = base[m] + skill[m, t_i] - slope[m] * d_i + h_i,   h_i ~ N(0, 0.8)
    correct[i, m] ~ Bernoulli(sigmoid(logit[i, m]))

`base` is the model's ability on easy queries, `slope` how much it loses from d = 0 to d = 1,
and h_i a hidden hardness shared by all models (not visible in the text), so outcomes are
correlated across models as in real data. `skill[m, t]` is a fixed N(0, 0.4) draw (seed
`SKILL_SEED`), except on each model's specialty topic, where it is raised until the model beats
every other model of the table by `SPECIALTY_MARGIN` logits at both d = 0 and d = 1, hence at
every difficulty. So every model is the most accurate on its specialty topic, whichever subset
is generated, and cheap models are strong somewhere.

Costs
-----
    input tokens  = ceil(characters / 4) + 60 (a system prompt)
    output tokens = ceil(verbosity[m] * (30 + 570 d_i) * LogNormal(0, 0.35))
    cost[i, m]    = (input tokens * input price[m] + output tokens * output price[m]) / 1e6  USD

Prices are list prices in USD per 1M tokens as published by each provider in July 2024
(`PRICE_DATE`, "list prices, 2024-07"): OpenAI, Anthropic, Google (prompts up to 128k tokens),
Mistral AI (mistral-large = Mistral Large 2, 2407), Cohere; Llama 3.1 at Together AI (Turbo
endpoints, input and output alike).

==================  =========  =================  ==================
model               provider   input $/1M tokens  output $/1M tokens
==================  =========  =================  ==================
gpt-4o              OpenAI     5.00               15.00
gpt-4o-mini         OpenAI     0.15               0.60
claude-3.5-sonnet   Anthropic  3.00               15.00
claude-3-haiku      Anthropic  0.25               1.25
gemini-1.5-pro      Google     3.50               10.50
gemini-1.5-flash    Google     0.35               1.05
llama-3.1-70b       Together   0.88               0.88
llama-3.1-8b        Together   0.18               0.18
mixtral-8x7b        Mistral    0.70               0.70
mistral-large       Mistral    3.00               9.00
command-r           Cohere     0.50               1.50
llama-3.1-405b      Together   5.00               5.00
==================  =========  =================  ==================

`generate(n_queries, n_models, seed)` uses the first `n_models` rows of this table. All random
draws are made for all 12 models, so a smaller `n_models` gives exactly the first columns of
the 12-model dataset with the same seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy.special import expit

from optllm.data.dataset import Dataset
from optllm.exceptions import ConfigError

PRICE_DATE = "2024-07"
SKILL_SEED = 20240701
SPECIALTY_MARGIN = 0.8
SYSTEM_PROMPT_TOKENS = 60
CHARS_PER_TOKEN = 4
MAX_WORDS = 18


@dataclass(frozen=True)
class ModelSpec:
    """One model: list prices (USD per 1M tokens) and its latent profile."""

    name: str
    provider: str
    input_price: float
    output_price: float
    base: float
    slope: float
    verbosity: float
    specialty: str


TOPICS: tuple[str, ...] = ("math", "code", "legal", "medicine", "science", "history",
                           "geography", "finance", "writing", "translation", "trivia", "sports")

MODELS: tuple[ModelSpec, ...] = (
    ModelSpec("gpt-4o", "OpenAI", 5.00, 15.00, 3.4, 3.2, 1.0, "math"),
    ModelSpec("gpt-4o-mini", "OpenAI", 0.15, 0.60, 2.7, 3.7, 0.9, "trivia"),
    ModelSpec("claude-3.5-sonnet", "Anthropic", 3.00, 15.00, 3.5, 3.1, 1.1, "code"),
    ModelSpec("claude-3-haiku", "Anthropic", 0.25, 1.25, 2.3, 3.9, 0.8, "writing"),
    ModelSpec("gemini-1.5-pro", "Google", 3.50, 10.50, 3.1, 3.3, 1.0, "science"),
    ModelSpec("gemini-1.5-flash", "Google", 0.35, 1.05, 2.4, 3.8, 0.8, "translation"),
    ModelSpec("llama-3.1-70b", "Together", 0.88, 0.88, 2.8, 3.6, 1.0, "history"),
    ModelSpec("llama-3.1-8b", "Together", 0.18, 0.18, 1.7, 4.2, 1.1, "sports"),
    ModelSpec("mixtral-8x7b", "Mistral", 0.70, 0.70, 2.0, 4.0, 1.2, "geography"),
    ModelSpec("mistral-large", "Mistral", 3.00, 9.00, 3.0, 3.4, 1.0, "legal"),
    ModelSpec("command-r", "Cohere", 0.50, 1.50, 2.1, 4.0, 0.9, "finance"),
    ModelSpec("llama-3.1-405b", "Together", 5.00, 5.00, 3.2, 3.3, 1.0, "medicine"),
)

_TOPIC_WORDS: dict[str, str] = {
    "math": "integral derivative matrix eigenvalue polynomial prime theorem lemma equation "
            "probability vector limit series convergence factorial logarithm triangle modulo "
            "inequality geometry",
    "code": "python function bug compile recursion array pointer class loop exception regex "
            "sql thread stack heap git docker json compiler javascript",
    "legal": "contract plaintiff defendant statute tort jurisdiction appeal precedent court "
             "clause negligence damages copyright lease testimony verdict attorney breach "
             "injunction arbitration",
    "medicine": "symptom diagnosis dosage patient fever antibiotic insulin cardiac tumor "
                "vaccine allergy fracture therapy chronic infection prescription migraine "
                "syndrome diabetes surgery",
    "science": "photon electron molecule enzyme entropy gravity quantum catalyst isotope "
               "velocity momentum genome protein reaction acid orbit magnetic wavelength "
               "particle nucleus",
    "history": "empire dynasty revolution treaty medieval colonial monarch pharaoh renaissance "
               "battle century ancient republic senate crusade independence roman ottoman "
               "feudal emperor",
    "geography": "river mountain continent border climate desert island ocean latitude "
                 "population region valley peninsula glacier volcano coastline province delta "
                 "plateau archipelago",
    "finance": "interest dividend portfolio inflation bond equity stock mortgage tax revenue "
               "budget loan asset yield hedge valuation cashflow audit depreciation pension",
    "writing": "essay poem story paragraph metaphor tone narrative character dialogue rewrite "
               "summary headline slogan blog outline rhyme stanza draft sonnet prose",
    "translation": "translate french spanish german japanese chinese italian portuguese idiom "
                   "phrase grammar verb noun tense dialect literal localize vocabulary korean "
                   "conjugate",
    "trivia": "famous record award movie actor singer album oscar invented largest fastest "
              "nickname celebrity festival quiz tallest oldest cartoon painting landmark",
    "sports": "football tennis olympics goal league tournament championship coach player team "
              "score match marathon cricket basketball referee stadium medal sprint rugby",
}
_FILLER = ("the of about this that following given my our some any case please need "
           "know which when where there here also really just exactly").split()
_OPENERS: tuple[tuple[str, ...], ...] = (
    ("Briefly,", "Quick question:", "In one word,", "Short answer:", "Simply,"),
    ("Can you explain", "Please describe", "What is known about", "Help me understand",
     "Give an example of"),
    ("Explain in detail", "Compare and contrast", "Analyse carefully", "Walk me through",
     "Discuss the trade-offs of"),
    ("Prove rigorously step by step:", "Derive from first principles:",
     "Considering all edge cases, determine", "Give a formal rigorous argument on",
     "Solve this multi-step problem on"),
)
_CLOSERS: tuple[tuple[str | None, ...], ...] = (
    (None, None, "thanks"),
    (None, "please", "with an example"),
    ("with your reasoning", "in depth", "citing sources"),
    ("justifying every step", "covering every edge case", "with a complete proof"),
)
_P_OWN_TOPIC, _P_ANY_TOPIC = 0.7, 0.1  # the rest are filler words


def _skill_matrix() -> np.ndarray:
    """skill[m, t]: N(0, 0.4) noise, raised on each specialty until that model wins there."""
    rng = np.random.default_rng(SKILL_SEED)
    skill = rng.normal(0.0, 0.4, size=(len(MODELS), len(TOPICS)))
    base = np.array([s.base for s in MODELS])
    slope = np.array([s.slope for s in MODELS])
    for m, spec in enumerate(MODELS):
        t = TOPICS.index(spec.specialty)
        others = np.arange(len(MODELS)) != m
        easy = base[others] + skill[others, t]  # rivals' logits at d = 0 ...
        hard = easy - slope[others]             # ... and at d = 1
        skill[m, t] = SPECIALTY_MARGIN + max(easy.max() - base[m],
                                             hard.max() - (base[m] - slope[m]))
    return skill


SKILL: np.ndarray = _skill_matrix()
SKILL.flags.writeable = False


def generate(n_queries: int = 5000, n_models: int = 8, seed: int = 0) -> Dataset:
    """A synthetic dataset: `n_queries` queries x the first `n_models` of `MODELS`.

    Deterministic for a given (n_queries, n_models, seed); see the module docstring for the
    latent model. Fully vectorised: 1,000,000 x 12 takes a few seconds.

    Examples
    --------
    >>> ds = generate(100, 3, seed=1)
    >>> ds.models
    ('gpt-4o', 'gpt-4o-mini', 'claude-3.5-sonnet')
    >>> ds.cost.shape, bool(ds.labelled.all()), ds.synthetic
    ((100, 3), True, True)
    """
    if n_queries < 1:
        raise ConfigError(f"n_queries must be at least 1, got {n_queries}")
    if not 2 <= n_models <= len(MODELS):
        raise ConfigError(f"n_models must be between 2 and {len(MODELS)}, got {n_models}")
    rng = np.random.default_rng(seed)
    n, k = n_queries, len(MODELS)
    topic = rng.integers(0, len(TOPICS), size=n)
    difficulty = np.round(rng.random(n), 3)
    texts = _texts(rng, topic, difficulty)

    # (n, 12) float arrays are updated in place: a million queries stay within a few 100 MB.
    hidden = rng.normal(0.0, 0.8, size=n)
    prob = SKILL.T[topic]  # the logit, turned into P(correct) in place
    prob += np.array([s.base for s in MODELS])
    prob -= np.multiply.outer(difficulty, [s.slope for s in MODELS])
    prob += hidden[:, None]
    expit(prob, out=prob)
    correct = rng.random((n, k), dtype=np.float32) < prob
    del prob

    cost = np.exp(rng.normal(0.0, 0.35, size=(n, k)))  # output-length noise, then tokens
    cost *= np.multiply.outer(30 + 570 * difficulty, [s.verbosity for s in MODELS])
    np.ceil(cost, out=cost)
    cost *= [s.output_price for s in MODELS]
    in_tokens = np.ceil(pc.utf8_length(texts).to_numpy() / CHARS_PER_TOKEN)
    cost += np.multiply.outer(in_tokens + SYSTEM_PROMPT_TOKENS, [s.input_price for s in MODELS])
    cost /= 1e6

    width = len(str(n))
    ids = pc.binary_join_element_wise("q", pc.utf8_lpad(pa.array(np.arange(1, n + 1)).cast(
        pa.string()), width=width, padding="0"), "")
    return Dataset(
        name="synthetic",
        query_ids=ids.to_numpy(zero_copy_only=False),
        queries=texts.to_numpy(zero_copy_only=False),
        models=tuple(s.name for s in MODELS[:n_models]),
        cost=np.ascontiguousarray(cost[:, :n_models]),
        labels=np.ascontiguousarray(correct[:, :n_models], dtype=np.int8),
        labelled=np.ones(n, dtype=bool),
        metadata=pd.DataFrame({"topic": pd.array(np.array(TOPICS)[topic], dtype="str"),
                               "difficulty": difficulty}),
        synthetic=True,
        source=f"optllm.data.synthetic.generate(n_queries={n}, n_models={n_models}, seed={seed})",
    )


def _vocabulary() -> tuple[pa.Array, dict[str, int]]:
    """All phrases in one array (index 0 is null = no word) and the offset of each pool."""
    pools: dict[str, list[str | None]] = {
        "opener": [p for tier in _OPENERS for p in tier],
        "closer": [p for tier in _CLOSERS for p in tier],
        "topic": [w for t in TOPICS for w in _TOPIC_WORDS[t].split()],
        "filler": list(_FILLER)}
    words: list[str | None] = [None]
    offsets = {}
    for pool, items in pools.items():
        offsets[pool] = len(words)
        words.extend(items)
    return pa.array(words, type=pa.string()), offsets


def _texts(rng: np.random.Generator, topic: np.ndarray, difficulty: np.ndarray) -> pa.Array:
    """Query texts, built one word slot at a time over all queries (no loop over queries)."""
    vocab, offset = _vocabulary()
    n = len(topic)
    sizes = np.array([len(_TOPIC_WORDS[t].split()) for t in TOPICS], dtype=np.int32)
    starts = offset["topic"] + np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int32)
    own_start, own_size = starts[topic], sizes[topic]
    tier = np.clip(np.floor(4 * (difficulty + rng.normal(0.0, 0.1, n))), 0, 3).astype(np.int32)
    per_tier = len(_OPENERS[0]), len(_CLOSERS[0])
    opener = offset["opener"] + tier * per_tier[0] + rng.integers(0, per_tier[0], n, np.int32)
    closer = offset["closer"] + tier * per_tier[1] + rng.integers(0, per_tier[1], n, np.int32)
    n_words = np.clip(np.round(3 + 12 * difficulty + rng.normal(0.0, 1.5, n)), 2, MAX_WORDS)

    columns = [vocab.take(pa.array(opener))]
    for slot in range(MAX_WORDS):
        kind = rng.random(n, dtype=np.float32)
        pick = rng.integers(0, 1 << 30, n, dtype=np.int32)
        word = np.where(kind < _P_OWN_TOPIC, own_start + pick % own_size,
                        np.where(kind < _P_OWN_TOPIC + _P_ANY_TOPIC,
                                 offset["topic"] + pick % sizes.sum(dtype=np.int32),
                                 offset["filler"] + pick % np.int32(len(_FILLER))))
        word[slot >= n_words] = 0  # index 0 is null: no word
        columns.append(vocab.take(pa.array(word)))
    columns.append(vocab.take(pa.array(closer)))  # a null closer is skipped like a missing word
    return pc.binary_join_element_wise(*columns, " ", null_handling="skip")
