"""The embedded default dataset: synthetic, 5,000 queries x 8 models, seed 0.

It ships as `datasets/synthetic-default.csv.gz` in the repository (written by
`scripts/make_default_dataset.py`). An install without that file (a wheel, say) regenerates
the same data from the seeded generator into the user cache, so the app always has data to
show without a download.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from platformdirs import user_cache_dir

from optllm.data.dataset import Dataset
from optllm.data.synthetic import generate
from optllm.data.tables import load_dataset, write_wide

DEFAULT_NAME = "synthetic-default"
DEFAULT_FILE_NAME = f"{DEFAULT_NAME}.csv.gz"
DEFAULT_N_QUERIES = 5000
DEFAULT_N_MODELS = 8
DEFAULT_SEED = 0
BUNDLED_PATH = Path(__file__).resolve().parents[2] / "datasets" / DEFAULT_FILE_NAME


def default_dataset_path() -> Path:
    """The default dataset file: the bundled one, else a copy generated once into the cache."""
    if BUNDLED_PATH.is_file():
        return BUNDLED_PATH
    cached = Path(user_cache_dir("optllm")) / DEFAULT_FILE_NAME
    if not cached.is_file():
        cached.parent.mkdir(parents=True, exist_ok=True)
        write_wide(generate(DEFAULT_N_QUERIES, DEFAULT_N_MODELS, DEFAULT_SEED), cached)
    return cached


def load_default() -> Dataset:
    """Load the default dataset, marked synthetic so every screen says so.

    Examples
    --------
    >>> ds = load_default()
    >>> ds.title, ds.cost.shape
    ('synthetic-default (synthetic)', (5000, 8))
    """
    dataset = load_dataset(default_dataset_path(), name=DEFAULT_NAME)
    return dataclasses.replace(dataset, synthetic=True)
