"""OptLLM: assign queries to LLMs along the Pareto front of cost and expected accuracy."""

from optllm.exceptions import Cancelled, ConfigError, DatasetError, OptLLMError
from optllm.front import Front
from optllm.optimize import StepEvent, iter_optimize, optimize

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
