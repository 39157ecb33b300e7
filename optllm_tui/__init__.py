"""OptLLM terminal app: a thin Textual layer over the `optllm` library.

Importing it imports `optllm` first, which sets OpenMP's passive waiting before XGBoost loads.
"""

import optllm  # noqa: F401
