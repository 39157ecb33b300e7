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
    offenders = [f"{name}: {module}" for name, path in _modules().items()
                 if name.split(".")[0] == "optllm"
                 for module, _, _ in _imports(name, path)
                 if module.split(".")[0] in UI_PACKAGES]
    assert offenders == []


def test_every_optllm_module_imports_without_the_ui() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          timeout=180, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert "optllm.pipeline.runfile" in report["modules"]
    assert report["ui"] == []


def _modules() -> dict[str, Path]:
    """Every module of `optllm` and `optllm_tui` by dotted name."""
    found = {}
    for package in ("optllm", "optllm_tui"):
        root = Path(optllm.__file__).parent.parent
        for path in (root / package).rglob("*.py"):
            parts = list(path.relative_to(root).with_suffix("").parts)
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(name: str, path: Path) -> list[tuple[str, list[str], bool]]:
    """(module, imported names, type-only) of every import statement in module `name`."""
    found: list[tuple[str, list[str], bool]] = []
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]

    def visit(node: ast.AST, type_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            guarded = type_only or (isinstance(child, ast.If)
                                    and "TYPE_CHECKING" in ast.unparse(child.test))
            if isinstance(child, ast.Import):
                found.extend((alias.name, [], type_only) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = package[:len(package) - child.level + 1] if child.level else []
                module = ".".join([*base, *([child.module] if child.module else [])])
                found.append((module, [a.name for a in child.names], type_only))
            visit(child, guarded)

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return found


def test_no_import_cycle_and_no_private_name_crosses_a_module() -> None:
    modules = _modules()
    edges: dict[str, set[str]] = {name: set() for name in modules}
    private = []
    for name, path in modules.items():
        for module, names, type_only in _imports(name, path):
            private += [f"{name} imports {module}.{n}" for n in names
                        if n.startswith("_") and module in modules and module != name]
            if type_only:
                continue  # a type-only back-edge (screens -> app) is no cycle at run time
            for target in [f"{module}.{n}" for n in names] + [module]:
                if target in modules and target != name:
                    edges[name].add(target)
                    break
    assert private == []

    def reach(start: str) -> set[str]:
        seen, todo = set(), list(edges[start])
        while todo:
            node = todo.pop()
            if node not in seen:
                seen.add(node)
                todo += edges[node]
        return seen

    assert [name for name in modules if name in reach(name)] == []


def test_import_optllm_and_the_command_parser_load_no_heavy_library() -> None:
    """`import optllm` is light (its API loads lazily) and `optllm --help` needs no numpy."""
    script = ("import sys, optllm, optllm.cli.main as m; m.build_parser(); "
              "print(sorted(x for x in ('numpy', 'pandas', 'sklearn', 'xgboost', 'scipy') "
              "if x in sys.modules))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, check=True)
    assert done.stdout.strip() == "[]"
    assert callable(optllm.optimize) and issubclass(optllm.PolicyFileError, optllm.OptLLMError)
