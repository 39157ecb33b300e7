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


class ExportError(OptLLMError, OSError):
    """A result could not be written; nothing partial is left behind."""


class Cancelled(OptLLMError):
    """Long work stopped because its `should_stop` check returned True."""
