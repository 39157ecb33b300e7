"""The docstring examples run with the tests (pyproject.toml: --doctest-modules on optllm),
so collecting them imports every optllm module; that must not need the optional extras."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Collect optllm's doctests in a fresh interpreter where `import pymoo` fails.
_WITHOUT_PYMOO = (
    "import sys; sys.modules['pymoo'] = None; import pytest; "
    "sys.exit(pytest.main(['--collect-only', '-q', '-p', 'no:cacheprovider', 'optllm']))"
)


def test_collecting_the_doctests_works_without_pymoo() -> None:
    """The pymoo baselines module is left out (conftest.py), not a collection error."""
    result = subprocess.run([sys.executable, "-c", _WITHOUT_PYMOO], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "optllm/optimizers/api.py::optllm.optimizers.api.optimize" in result.stdout
