"""What the app is started with: the CLI (or a test) fills this in and hands it to `make_app`."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from platformdirs import user_config_dir


def default_config_dir() -> Path:
    """Where the app keeps its small state (the recent files list): $OPTLLM_CONFIG_DIR,
    else the platform's user config directory."""
    return Path(os.environ.get("OPTLLM_CONFIG_DIR") or user_config_dir("optllm"))


@dataclass(frozen=True)
class Settings:
    """Start-up options of one app instance.

    `run_file` is a saved run to open at start-up instead of `data`.
    `run` holds `RunConfig` field overrides (e.g. `{"bootstraps": 5}` from
    `--bootstraps 5`); they are checked by `RunConfig.check` when first used.
    `show_timings` off hides elapsed and time-left figures, so screenshots of a run are
    identical every time (snapshot tests).
    """

    data: str | None = None
    layout: str | None = None
    run_file: str | None = None
    run: dict[str, Any] = field(default_factory=dict)
    config_dir: Path = field(default_factory=default_config_dir)
    show_timings: bool = True
    max_table_rows: int = 100_000
