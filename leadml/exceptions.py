"""Exceptions raised by leadml.

Every error says what was wrong, where (table, column, a few example lead ids or
row numbers) and how to fix it. All derive from :class:`LeadmlError`.
"""

from __future__ import annotations

__all__ = [
    "CalibrationWarning",
    "ConfigError",
    "DataContractError",
    "LeadmlError",
    "LeakageWarning",
    "NotFittedError",
    "RowsExcludedWarning",
]


class LeadmlError(Exception):
    """Base class of every error raised by leadml."""


class DataContractError(LeadmlError, ValueError):
    """Input data does not follow the data contract (missing columns, bad values...)."""


class ConfigError(LeadmlError, ValueError):
    """A configuration (column mapping, feature spec, scorecard rules) is invalid."""


class NotFittedError(LeadmlError, AttributeError):
    """An object that must be fitted first was used before ``fit``."""


class RowsExcludedWarning(UserWarning):
    """Rows of the input were excluded from an output; the message says which and why."""


class CalibrationWarning(UserWarning):
    """A calibration fell back to a safer form (for example a slope that would have reversed the
    model's ranking); the message says why and what was used instead."""


class LeakageWarning(UserWarning):
    """A column looks like it was filled in after the outcome (or identifies the lead)."""
