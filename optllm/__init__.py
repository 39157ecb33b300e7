"""OptLLM: assign queries to LLMs along the Pareto front of cost and expected accuracy."""

import os

# XGBoost's OpenMP threads busy-wait by default; on a shared machine (or beside a UI thread)
# that spinning makes training several times slower. libgomp reads this when it loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from optllm.exceptions import Cancelled, ConfigError, DatasetError, OptLLMError
from optllm.optimizers.api import StepEvent, iter_optimize, optimize
from optllm.optimizers.front import Front

__all__ = [
    "Cancelled",
    "ConfigError",
    "DatasetError",
    "Front",
    "OptLLMError",
    "StepEvent",
    "iter_optimize",
    "optimize",
]
