"""Reading the contract tables for the CLI, and writing outputs atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd

from leadml._files import check_output_file, publish_file
from leadml.exceptions import ConfigError, DataContractError
from leadml.schema import ColumnMapping, parse_times, read_table

__all__ = ["check_output", "load_tables", "write_table"]


TIMESTAMPS = {
    "leads": ("created_at", "lost_at"),
    "events": ("timestamp",),
    "conversions": ("converted_at",),
    "cutoffs": ("as_of",),
}


def time_formats(given: str | list[str] | None) -> tuple[str | None, dict[str, dict[str, str]]]:
    """Split ``--time-format`` values into one format for every column and per-column formats
    (``table.column=FORMAT``)."""
    values = [given] if isinstance(given, str) else list(given or [])
    default: str | None = None
    per: dict[str, dict[str, str]] = {}
    for v in values:
        head, sep, fmt = v.partition("=")
        if sep and "." in head and "%" not in head:
            table, _, column = head.partition(".")
            if table not in TIMESTAMPS or column not in TIMESTAMPS[table]:
                raise ConfigError(
                    f"--time-format {v!r}: {head!r} is not a timestamp column; use one of "
                    f"{[f'{t}.{c}' for t, cs in TIMESTAMPS.items() for c in cs]}."
                )
            per.setdefault(table, {})[column] = fmt
        elif default is None:
            default = v
        else:
            raise ConfigError(
                f"--time-format: two formats for every column ({default!r}, {v!r}). Fix: scope "
                "them, e.g. --time-format 'leads.created_at=%d/%m/%Y'."
            )
    return default, per


def load_tables(
    *,
    mapping: Path | None = None,
    time_format: str | list[str] | None = None,
    **paths: Path | None,
) -> dict[str, pd.DataFrame]:
    """Read each given table, apply the column mapping, and parse its timestamp columns with one
    format per column: ``time_format`` scoped to a column (``"leads.created_at=%d/%m/%Y"``), the
    mapping's ``formats``, an unscoped ``time_format`` for every column, else detected. Tables
    passed as None are left out."""
    m = ColumnMapping.from_yaml(mapping) if mapping is not None else ColumnMapping()
    default, per = time_formats(time_format)
    out = {}
    for name, p in paths.items():
        if p is None:
            continue
        df = m.apply(name, read_table(p, table=name))
        for col in TIMESTAMPS.get(name, ()):
            if col in df.columns:
                ids = df["lead_id"] if "lead_id" in df.columns else None
                df[col] = parse_times(
                    df[col],
                    table=name,
                    column=col,
                    time_format=per.get(name, {}).get(col) or m.time_format(name, col, default),
                    ids=ids,
                )
        out[name] = df
    return out


def check_output(path: str | Path) -> Path:
    """Raise now, before any work, if ``path`` cannot be written as a ``.csv`` / ``.parquet``."""
    return check_output_file(path)


def write_table(df: pd.DataFrame, path: str | Path) -> None:
    """Write CSV or Parquet by extension, atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise DataContractError(
            f"output {path}: unsupported extension {suffix!r}; use .csv or .parquet."
        )
    check_output_file(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        if suffix == ".csv":
            df.to_csv(tmp, index=False)
        else:
            df.to_parquet(tmp, index=False)
        publish_file(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
