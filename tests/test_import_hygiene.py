"""The library must stay free of the UI: no `optllm` module imports Textual or Rich.

Checked two ways. The source: no import statement names them. The runtime: a fresh
interpreter in which `textual` and `rich` cannot be imported (as on a machine without the
app installed) imports every `optllm` module, and neither ends up in sys.modules.
(Blocking is needed because scikit-learn >= 1.9 imports Rich on its own when it is
installed, for its optional progress bars; it falls back quietly when it is not.)
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import optllm

UI_PACKAGES = ("textual", "rich")

SCRIPT = """
import importlib, importlib.abc, json, pkgutil, sys

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("textual", "rich"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Block())
import optllm
names = sorted(m.name for m in pkgutil.walk_packages(optllm.__path__, "optllm."))
for name in names:
    importlib.import_module(name)
print(json.dumps({"modules": names,
                  "ui": sorted(m for m in sys.modules if m.split(".")[0] in ("textual", "rich"))}))
"""


def test_no_optllm_source_imports_the_ui() -> None:
    offenders = []
    for path in Path(optllm.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.name}: {n}" for n in names
                          if n.split(".")[0] in UI_PACKAGES]
    assert offenders == []


def test_every_optllm_module_imports_without_the_ui() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          timeout=180, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert "optllm.pipeline.runfile" in report["modules"]
    assert report["ui"] == []
