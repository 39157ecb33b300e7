"""What the subcommands share: the run defaults, output checks made before any work, the
query column option and the exit code of an unmet budget.

Errors are raised as `OptLLMError`s, which `optllm.cli.main.main` prints and turns into exit 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from optllm.config import RunConfig
from optllm.exceptions import ConfigError, ExportError

if TYPE_CHECKING:
    from optllm.pipeline.run import RunResult

#: The one definition of every run default: `run`, `compare` and the app's help take theirs.
DEFAULTS = RunConfig()


def _writable_ancestor(path: Path, option: str) -> None:
    """Raise ExportError unless the nearest existing folder above `path` is a writable
    folder (the rest of the way can be created)."""
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ExportError(f"{option} {path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ExportError(f"{option} {path}: cannot write in {parent} (permission denied)")


def check_out_dir(out: str, names: Sequence[str], *, force: bool,
                  option: str = "--out") -> Path:
    """Check before any work that the folder `out` can receive `names` (see
    `optllm.data.files.check_replaceable`) and can be created, so a run never fails at its end
    on a bad output path."""
    from optllm.data.files import check_replaceable

    if not out.strip():
        raise ConfigError(f"{option} must name a folder; got an empty string")
    folder = Path(out)
    check_replaceable(folder, names, force=force)
    _writable_ancestor(folder, option)
    return folder


def check_out_file(path: str, *, force: bool, option: str) -> Path:
    """Check before any work that the file `path` can be written: not empty, not a folder,
    new unless `force`, in an existing writable folder."""
    if not path.strip():
        raise ConfigError(f"{option} must name a file; got an empty string")
    target = Path(path)
    if target.is_dir():
        raise ExportError(f"{option} {target} is a folder, not a file")
    if target.exists() and not force:
        raise ExportError(f"{target} already exists; use --force to overwrite it")
    if not target.parent.is_dir():
        raise ExportError(f"{option} {target}: the folder {target.parent} does not exist")
    _writable_ancestor(target, option)
    return target


#: `--feature-columns` of every command that trains a predictor.
FEATURE_COLUMNS_HELP = ("extra columns the predictor may use: auto (default: those with few "
                        "distinct values, at most ~1%% of the rows), none, or comma-separated "
                        "names; never a model's own columns (<model>_...)")


def add_query_column(parser: argparse.ArgumentParser) -> None:
    """--query-column: the column of query text when it is not called `query`."""
    parser.add_argument("--query-column", default="query", metavar="NAME",
                        help="the column holding the query text, in the data and in batches "
                             "(default: query)")


def report_unmet(result: RunResult) -> int:
    """Exit code 2, saying why, when the budget or target was out of the front's reach (the
    front and summary were written, no allocation); else 0."""
    if result.unmet is None:
        return 0
    print(f"optllm: no allocation written: {result.unmet}", file=sys.stderr)
    return 2
