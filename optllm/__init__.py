"""OptLLM: assign queries to LLMs along the Pareto front of cost and expected accuracy.

The curated public API, imported lazily: `import optllm` loads no pandas, scikit-learn or
XGBoost; each name loads its module on first use.

>>> import optllm
>>> front = optllm.optimize([[0.2, 0.9], [0.5, 0.6]], [[1.0, 3.0], [1.0, 2.0]], method="hull")
>>> front.cost.tolist(), front.accuracy.round(2).tolist()
([2.0, 4.0, 5.0], [0.35, 0.7, 0.75])
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING

# XGBoost's OpenMP threads busy-wait between parallel regions by default. Sharing the CPU
# with a UI thread (and, on a busy machine, with anything else) that spinning starves
# everyone: 3 members on 60 rows took 180 s instead of 1 s on a loaded 2-core machine.
# Passive waiting must be chosen before xgboost loads OpenMP, hence at the package's import.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

#: Public name -> the module that defines it.
_EXPORTS: dict[str, str] = {
    "load_dataset": "optllm.data.tables",
    "Dataset": "optllm.data.dataset",
    "RunConfig": "optllm.config",
    "run": "optllm.pipeline.run",
    "RunResult": "optllm.pipeline.run",
    "run_batch": "optllm.pipeline.batch",
    "compare": "optllm.pipeline.compare",
    "optimize": "optllm.optimizers.api",
    "iter_optimize": "optllm.optimizers.api",
    "StepEvent": "optllm.optimizers.api",
    "Front": "optllm.optimizers.front",
    "Policy": "optllm.pipeline.routing",
    "OptLLMError": "optllm.exceptions",
    "DatasetError": "optllm.exceptions",
    "ConfigError": "optllm.exceptions",
    "NotFittedError": "optllm.exceptions",
    "SavedFileError": "optllm.exceptions",
    "ExportError": "optllm.exceptions",
    "Cancelled": "optllm.exceptions",
    "FetchError": "optllm.data.public",
    "PolicyFileError": "optllm.pipeline.routing",
    "RunFileError": "optllm.pipeline.runfile",
}
__all__ = [
    "Cancelled",
    "ConfigError",
    "Dataset",
    "DatasetError",
    "ExportError",
    "FetchError",
    "Front",
    "NotFittedError",
    "OptLLMError",
    "Policy",
    "PolicyFileError",
    "RunConfig",
    "RunFileError",
    "RunResult",
    "SavedFileError",
    "StepEvent",
    "compare",
    "iter_optimize",
    "load_dataset",
    "optimize",
    "run",
    "run_batch",
]

if TYPE_CHECKING:
    from optllm.config import RunConfig
    from optllm.data.dataset import Dataset
    from optllm.data.public import FetchError
    from optllm.data.tables import load_dataset
    from optllm.exceptions import (
        Cancelled,
        ConfigError,
        DatasetError,
        ExportError,
        NotFittedError,
        OptLLMError,
        SavedFileError,
    )
    from optllm.optimizers.api import StepEvent, iter_optimize, optimize
    from optllm.optimizers.front import Front
    from optllm.pipeline.batch import run_batch
    from optllm.pipeline.compare import compare
    from optllm.pipeline.routing import Policy, PolicyFileError
    from optllm.pipeline.run import RunResult, run
    from optllm.pipeline.runfile import RunFileError


def __getattr__(name: str) -> object:
    """Load a public name's module on first use (PEP 562)."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'optllm' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
