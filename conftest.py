"""pytest collects the docstring examples of every `optllm` module (pyproject.toml), which
imports each module. The pymoo baselines import pymoo, an optional extra, at the top: without
it that module is left out rather than failing the whole collection."""

try:
    import pymoo  # noqa: F401
except ImportError:
    collect_ignore = ["optllm/optimizers/evolutionary.py"]
