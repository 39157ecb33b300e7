"""OptLLM terminal app: a thin Textual layer over the `optllm` library."""

import os

# XGBoost's OpenMP threads busy-wait between parallel regions by default. Sharing the CPU
# with the UI thread (and, on a busy machine, with anything else) that spinning starves
# everyone: 3 members on 60 rows took 180 s instead of 1 s on a loaded 2-core machine.
# Passive waiting must be chosen before xgboost loads OpenMP, hence here.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
