"""Write the embedded default dataset `datasets/synthetic-default.csv.gz` and `datasets/README.md`.

    python scripts/make_default_dataset.py

The output is deterministic (seeded generator, gzip without a time stamp), so rerunning it
changes nothing unless the generator changed.
"""

from __future__ import annotations

import time
from pathlib import Path

from optllm.data.dataset import Dataset
from optllm.data.default import (
    DEFAULT_FILE_NAME,
    DEFAULT_N_MODELS,
    DEFAULT_N_QUERIES,
    DEFAULT_SEED,
)
from optllm.data.synthetic import MODELS, PRICE_DATE, SPECIALTY_MARGIN, generate
from optllm.data.tables import write_wide

OUT_DIR = Path(__file__).resolve().parents[1] / "datasets"


def readme(dataset: Dataset, size_bytes: int) -> str:
    """The dataset card: what it is, how it was made, the latent model and the prices."""
    summary = dataset.model_summary()
    used = set(dataset.models)
    prices = "\n".join(
        f"| {s.name} | {s.provider} | {s.input_price:.2f} | {s.output_price:.2f} | "
        f"{s.specialty} | {'yes' if s.name in used else 'no'} |" for s in MODELS)
    outcomes = "\n".join(
        f"| {row.model} | {row.accuracy:.3f} | {row.mean_cost:.6f} |"
        for row in summary.itertuples())
    call = (f"optllm.data.synthetic.generate(n_queries={DEFAULT_N_QUERIES}, "
            f"n_models={DEFAULT_N_MODELS}, seed={DEFAULT_SEED})")
    return f"""# Embedded default dataset (synthetic)

`{DEFAULT_FILE_NAME}` ({size_bytes / 1e6:.2f} MB) is **synthetic**: no LLM was called. It is
the dataset the app opens when no file is given, so there is always something to explore.

- {dataset.n_queries:,} queries x {dataset.n_models} models, all labelled; seed {DEFAULT_SEED}.
- Made by `python scripts/make_default_dataset.py`, which calls
  `{call}`
  and writes it with `optllm.data.tables.write_wide` (wide layout, gzip).
  Any size: `python scripts/make_synthetic.py N OUT [--models M] [--seed S]`.
- Columns: `query_id`, `query`, `topic`, `difficulty` (metadata: the latent truth), then per
  model `m` the cost `<m>_cost` (USD) and the label `<m>` (1 = correct).
- Load it with `optllm.data.default.load_default()` (marked synthetic) or
  `optllm.data.tables.load_dataset(path)`.

## Latent model

Each query has a topic t (uniform over 12 topics) and a difficulty d ~ U(0, 1). Its text is
an opener and a closer from one of 4 difficulty tiers ("Briefly," ... "Prove rigorously step
by step:"), with round(3 + 12 d + noise) words drawn from the topic's word pool (70%), any
topic's pool (10%) or filler words (20%), so the text carries noisy signal about topic and
difficulty.

    logit[i, m] = base[m] + skill[m, t] - slope[m] * d + h,   h ~ N(0, 0.8) per query
    P(correct)  = sigmoid(logit)

`skill` is small noise except on each model's specialty topic, where the model beats every
other model in the table by {SPECIALTY_MARGIN} logits at every difficulty: no model dominates.

    input tokens  = ceil(characters / 4) + 60
    output tokens = ceil(verbosity[m] * (30 + 570 d) * LogNormal(0, 0.35))
    cost          = (input tokens * input price + output tokens * output price) / 1e6

See `optllm/synthetic.py` and `docs/data.md` for every constant.

## Prices (list prices, {PRICE_DATE}, USD per 1M tokens)

As published by each provider in July 2024: Google's for prompts up to 128k tokens, the
Llama 3.1 models at Together AI (Turbo endpoints), mistral-large is Mistral Large 2 (2407).

| model | provider | input | output | specialty | in this file |
|---|---|---|---|---|---|
{prices}

## Outcomes in this file

| model | accuracy | mean cost (USD) |
|---|---|---|
{outcomes}
"""


def main() -> None:
    start = time.perf_counter()
    dataset = generate(DEFAULT_N_QUERIES, DEFAULT_N_MODELS, DEFAULT_SEED)
    path = write_wide(dataset, OUT_DIR / DEFAULT_FILE_NAME)
    (OUT_DIR / "README.md").write_text(readme(dataset, path.stat().st_size), encoding="utf-8")
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB) and {OUT_DIR / 'README.md'} "
          f"in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
