"""Errors raised by the library; they subclass built-ins so callers can catch broadly."""

from __future__ import annotations


class OptLLMError(Exception):
    """Base class of every error this library raises on purpose."""


class DatasetError(OptLLMError, ValueError):
    """A dataset file or table is malformed; the message names the file, row and column."""


class ConfigError(OptLLMError, ValueError):
    """A run parameter is out of range or inconsistent with the data."""


class NotFittedError(OptLLMError, ValueError, AttributeError):
    """An estimator was used before `fit`."""


class SavedFileError(OptLLMError, ValueError):
    """A file this library saved (predictor, routing policy, run) is unreadable, truncated,
    of another format or version; the subclass says which kind."""

    #: What the file is, in messages.
    KIND = "saved file"

    @classmethod
    def check_header(cls, path: object, header: object, file_format: str,
                     version: int) -> None:
        """Raise unless `header` (the file's parsed JSON header) names `file_format` at
        `version`: another kind of file and another version of OptLLM's get different
        messages."""
        if not isinstance(header, dict) or header.get("format") != file_format:
            raise cls(f"{path}: not an OptLLM {cls.KIND}")
        if header.get("version") != version:
            raise cls(f"{path}: {cls.KIND} version {header.get('version')!r} is not "
                      f"supported (this version reads {version})")


class ExportError(OptLLMError, OSError):
    """A result could not be written; nothing partial is left behind."""


class Cancelled(OptLLMError):
    """Long work stopped because its `should_stop` check returned True."""
