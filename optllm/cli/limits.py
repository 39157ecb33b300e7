"""The per-model limit options of `optllm run` and `optllm compare`: --cap, --max-spend,
--min-share, each MODEL=VALUE and repeatable."""

from __future__ import annotations

import argparse

from optllm.config import LIMIT_OPTIONS, parse_limit
from optllm.exceptions import ConfigError


def add_limit_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the limit options; every allocation written then meets them all."""
    group = parser.add_argument_group(
        "limits", "capacity and spending limits every allocation must meet (repeatable; "
                  "see docs/constraints.md)")
    group.add_argument("--cap", action="append", default=[], metavar="MODEL=N",
                       help="send at most N queries to MODEL")
    group.add_argument("--max-spend", action="append", default=[], metavar="MODEL=USD",
                       help="spend at most USD on MODEL")
    group.add_argument("--min-share", action="append", default=[], metavar="MODEL=F",
                       help="send at least a share F of the queries to MODEL (0.2 or 20%%)")


def limits_from_args(args: argparse.Namespace) -> dict[str, dict[str, float]] | None:
    """The limits given as {kind: {model: value}} (RunConfig.limits), or None."""
    limits: dict[str, dict[str, float]] = {}
    for kind, option in LIMIT_OPTIONS.items():
        for given in getattr(args, option.lstrip("-").replace("-", "_")):
            model, sep, text = given.rpartition("=")
            if not sep or not model.strip():
                raise ConfigError(f"{option} takes MODEL=VALUE; got {given!r}")
            model = model.strip()
            values = limits.setdefault(kind, {})
            if model in values:
                raise ConfigError(f"{option} is given twice for model {model!r}")
            values[model] = parse_limit(kind, model, text)
    return limits or None
