"""What every measure family shares: the measure, its time semantics, the SQL helpers.

An :class:`EventMeasure` aggregates the events of a lead seen at a cut-off ``as_of``:

- *seen*: ``timestamp < as_of`` (strictly before), so a complete log and one cut at ``as_of``
  give the same value;
- *filter*: event types (``None``: any event) and, optionally, details;
- *window*: ``as_of - window_days <= timestamp`` (``None``: the whole history);
- *aggregate*: one of :data:`AGGREGATES`, each owned by one family module.

Times are integer microseconds since the epoch (UTC) on every engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from leadml.exceptions import ConfigError
from leadml.features._spec import FeatureSpec
from leadml.features._time import DAY_US

__all__ = [
    "AGGREGATES",
    "DAY_US",
    "Aggregate",
    "EventMeasure",
    "needs_pairs",
    "quote_ident",
    "spec_kinds",
    "sql_in",
]

AGGREGATES = ("count", "any", "half_life", "linear", "last", "active_days")
Aggregate = Literal["count", "any", "half_life", "linear", "last", "active_days"]


@dataclass(frozen=True)
class EventMeasure:
    """One point-in-time event measure (see the module docstring for the semantics)."""

    name: str
    aggregate: Aggregate = "count"
    types: tuple[str, ...] | None = None
    details: tuple[str, ...] | None = None
    window_days: float | None = None
    days: float | None = None  # the half-life or the linear decay length

    def __post_init__(self) -> None:
        if self.aggregate not in AGGREGATES:
            raise ConfigError(
                f"measure {self.name!r}: unknown aggregate {self.aggregate!r}; use one of "
                f"{list(AGGREGATES)}."
            )
        if self.aggregate in ("half_life", "linear") and not (self.days and self.days > 0):
            raise ConfigError(f"measure {self.name!r}: {self.aggregate} needs days > 0.")
        if self.window_days is not None and not self.window_days > 0:
            raise ConfigError(f"measure {self.name!r}: window_days must be > 0.")

    @property
    def window_us(self) -> int | None:
        return None if self.window_days is None else round(self.window_days * DAY_US)

    @property
    def days_us(self) -> float:
        """The half-life or the linear decay length in microseconds."""
        return float(self.days or 0) * DAY_US


def _quote(v: str) -> str:
    return "'" + str(v).replace("'", "''") + "'"


def sql_in(col: str, values: Sequence[str]) -> str:
    """``col IN ('a', 'b')`` with the values quoted."""
    return f"{col} IN ({', '.join(_quote(v) for v in values)})"


def quote_ident(name: str) -> str:
    """A column name quoted for SQL (feature names are user-derived)."""
    return '"' + name.replace('"', '""') + '"'


def spec_kinds(spec: FeatureSpec) -> set[str]:
    """The feature kinds ``spec`` builds."""
    return {m["kind"] for m in spec.feature_meta_.values()}


def needs_pairs(spec: FeatureSpec) -> bool:
    """Whether some feature of ``spec`` reads an (event type, detail) pair."""
    return any(m.get("detail") is not None for m in spec.feature_meta_.values())
