"""Reading the contract tables for the CLI, and writing outputs atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd

from leadml.exceptions import DataContractError
from leadml.schema import ColumnMapping, read_table

__all__ = ["load_tables", "write_table"]


def load_tables(*, mapping: Path | None = None, **paths: Path | None) -> dict[str, pd.DataFrame]:
    """Read each given table and apply the column mapping; tables passed as None are left out."""
    m = ColumnMapping.from_yaml(mapping) if mapping is not None else ColumnMapping()
    return {
        name: m.apply(name, read_table(p, table=name)) for name, p in paths.items() if p is not None
    }


def write_table(df: pd.DataFrame, path: str | Path) -> None:
    """Write CSV or Parquet by extension, atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise DataContractError(
            f"output {path}: unsupported extension {suffix!r}; use .csv or .parquet."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        if suffix == ".csv":
            df.to_csv(tmp, index=False)
        else:
            df.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
