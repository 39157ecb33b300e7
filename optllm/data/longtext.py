"""Seeded synthetic long texts: exam-like questions of about 1,000 characters.

Why: the predictor must stay fast on real tables whose texts are long (a multiple-choice
question with its options runs to ~1,000 characters), and a benchmark needs such data
without copying a real data set. The outcomes and costs are those of
`optllm.data.synthetic.generate` (same latent model, same signal in the question); each
query's text is that question followed by four options of words drawn like the question's
(mostly its topic's pool, some filler), until the text is about `chars` characters long.
Costs are recomputed for the longer prompt (input tokens = characters / 4 + the system
prompt), so the expensive part of a long query is its input, as in real exams.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from optllm.data.dataset import Dataset
from optllm.data.synthetic import (
    CHARS_PER_TOKEN,
    FILLER_WORDS,
    MODELS,
    TOPIC_WORDS,
    TOPICS,
    generate,
)
from optllm.exceptions import ConfigError

#: Options per question, as in a four-way multiple-choice exam.
N_OPTIONS = 4


def generate_long(n_queries: int = 12_000, n_models: int = 11, chars: int = 1_000,
                  seed: int = 0) -> Dataset:
    """`generate(n_queries, n_models, seed)` with each text lengthened to about `chars`
    characters by four options; deterministic for given arguments, no loop over queries."""
    if chars < 50:
        raise ConfigError(f"chars must be at least 50, got {chars}")
    ds = generate(n_queries, n_models, seed)
    rng = np.random.default_rng([seed, chars])
    topic_index = {t: i for i, t in enumerate(TOPICS)}
    topic = np.array([topic_index[t] for t in ds.metadata["topic"]])
    pools = [TOPIC_WORDS[t].split() for t in TOPICS]
    vocab = pa.array([w for pool in pools for w in pool] + list(FILLER_WORDS)
                     + [f"{chr(65 + k)})" for k in range(N_OPTIONS)])
    sizes = np.array([len(p) for p in pools])
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    filler_start = int(sizes.sum())
    marker_start = filler_start + len(FILLER_WORDS)
    mean_word = 7  # characters per word with its space, near enough to size the slots
    slots = max(N_OPTIONS, (chars - int(np.median([len(q) for q in ds.queries]))) // mean_word)
    per_option = slots // N_OPTIONS
    columns = [pa.array(ds.queries, type=pa.string())]
    for slot in range(per_option * N_OPTIONS):
        option, at = divmod(slot, per_option)
        if at == 0:  # each option opens with its marker, "A)" ...
            word = np.full(n_queries, marker_start + option)
        else:
            own = rng.random(n_queries) < 0.6
            pick = rng.integers(0, 1 << 30, n_queries)
            word = np.where(own, starts[topic] + pick % sizes[topic],
                            filler_start + pick % len(FILLER_WORDS))
        columns.append(vocab.take(pa.array(word)))
    texts = pc.binary_join_element_wise(*columns, " ")
    in_tokens = np.ceil(pc.utf8_length(texts).to_numpy() / CHARS_PER_TOKEN)
    short_tokens = np.ceil(np.array([len(q) for q in ds.queries]) / CHARS_PER_TOKEN)
    input_price = np.array([s.input_price for s in MODELS[:n_models]])
    cost = ds.cost + np.multiply.outer(in_tokens - short_tokens, input_price) / 1e6
    return replace(ds, name="synthetic-long", queries=texts.to_numpy(zero_copy_only=False),
                   cost=np.ascontiguousarray(cost),
                   source=f"optllm.data.longtext.generate_long(n_queries={n_queries}, "
                          f"n_models={n_models}, chars={chars}, seed={seed})")
