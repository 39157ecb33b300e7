"""Test-wide setup that must happen before any test module imports xgboost."""

import os

# XGBoost's OpenMP threads busy-wait by default; with pytest-xdist workers sharing a few
# cores that spinning made 3 bootstrap members on 60 rows take minutes instead of a second.
# libgomp reads this when it loads, so it is set here, ahead of every test module.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from hypothesis import settings

# CI replays the same examples every run (a failure there is reproducible); locally
# hypothesis explores new ones.
settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")
