"""Column mapping: rename a user's columns into the contract's names."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from leadml.exceptions import ConfigError, DataContractError
from leadml.schema._contract import CONVERSIONS, CUTOFFS, EVENTS, LEADS

__all__ = ["ColumnMapping"]

_TABLES = {t.name: t for t in (LEADS, EVENTS, CONVERSIONS, CUTOFFS)}


@dataclass(frozen=True)
class ColumnMapping:
    """Per-table renames from the contract's column names to the user's.

    The YAML form is:

        leads:
          lead_id: Id
          created_at: CreatedDate
        events:
          lead_id: LeadId
          timestamp: ActivityDate
          event_type: ActivityType
          detail: Url
        formats:               # optional: one time format per timestamp column
          leads: {created_at: "%d/%m/%Y"}
          events: {timestamp: epoch_ms}

    Examples
    --------
    >>> import pandas as pd
    >>> m = ColumnMapping({"leads": {"lead_id": "Id", "created_at": "Created"}})
    >>> m.apply("leads", pd.DataFrame({"Id": [1], "Created": ["2024-01-01"]})).columns.tolist()
    ['lead_id', 'created_at']
    """

    tables: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    formats: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for table, cols in self.formats.items():
            spec = _TABLES.get(table)
            if spec is None or not isinstance(cols, Mapping):
                raise ConfigError(
                    f"column mapping: formats.{table}: expected one of {sorted(_TABLES)} mapping "
                    "timestamp columns to a format, e.g. formats: {leads: {created_at: '%d/%m/%Y'}}."
                )
            stamps = {*spec.timestamps, *(["lost_at"] if table == "leads" else [])}
            bad = [c for c in cols if c not in stamps]
            if bad:
                raise ConfigError(
                    f"column mapping: formats.{table}: {bad} are not timestamp columns of {table} "
                    f"({sorted(stamps)}); use the contract's column names."
                )
        for table, renames in self.tables.items():
            if table not in _TABLES:
                raise ConfigError(
                    f"column mapping: unknown table {table!r}; expected one of {sorted(_TABLES)}."
                )
            if not isinstance(renames, Mapping):
                raise ConfigError(
                    f"column mapping: {table!r} must map contract column -> your column, "
                    f"got {type(renames).__name__}."
                )
            for contract_col, user_col in renames.items():
                if not isinstance(user_col, str):
                    raise ConfigError(
                        f"column mapping: {table}.{contract_col} must be a column name (string), "
                        f"got {user_col!r}."
                    )

    @classmethod
    def from_yaml(cls, path: str | Path) -> ColumnMapping:
        """Read a mapping from a YAML file."""
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"column mapping {path}: invalid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(
                f"column mapping {path}: expected a mapping of tables at the top level."
            )
        formats = data.pop("formats", None) or {}
        return cls(data, formats)

    def time_format(self, table: str, column: str, default: str | None = None) -> str | None:
        """The format given for ``table.column`` (contract name), else ``default``."""
        return self.formats.get(table, {}).get(column, default)

    def apply(self, table: str, df: pd.DataFrame) -> pd.DataFrame:
        """Return a copy of ``df`` with ``table``'s columns renamed to contract names."""
        renames = dict(self.tables.get(table, {}))
        missing = [u for u in renames.values() if u not in df.columns]
        if missing:
            raise DataContractError(
                f"{table}: the column mapping names column(s) {missing} that are not in the table; "
                f"received {list(df.columns)}. Fix: correct the mapping for {table!r}."
            )
        inverse = {user: contract for contract, user in renames.items()}
        clash = [c for c in inverse.values() if c in df.columns and c not in inverse]
        if clash:
            raise DataContractError(
                f"{table}: mapping onto {clash} but the table already has column(s) with that name. "
                "Fix: drop or rename the existing column(s) first."
            )
        return df.rename(columns=inverse)
