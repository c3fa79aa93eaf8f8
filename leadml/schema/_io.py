"""Reading contract tables from CSV or Parquet files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from leadml.exceptions import DataContractError

__all__ = ["read_table"]


def read_table(
    source: str | Path | pd.DataFrame, *, table: str = "table", sep: str | None = None
) -> pd.DataFrame:
    """Read a CSV (``.csv``, ``.csv.gz``, ``.txt``) or Parquet file, a folder of Parquet parts
    (read in name order), or pass a DataFrame through.

    Parameters
    ----------
    source : path or DataFrame
    table : str
        The contract table's name, used in error messages.
    sep : str, optional
        CSV separator; sniffed when omitted.
    """
    if isinstance(source, pd.DataFrame):
        return source
    path = Path(source)
    if not path.exists():
        raise DataContractError(f"{table}: file not found: {path}. Fix: check the path.")
    if path.is_dir():
        parts = sorted(path.glob("*.parquet")) + sorted(path.glob("*.pq"))
        if not parts:
            raise DataContractError(
                f"{table}: {path} is a folder without Parquet files (*.parquet). Fix: point at "
                "the file, or at a folder of Parquet parts of the table."
            )
        return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    name = path.name.lower()
    known = name.endswith((".parquet", ".pq", ".csv", ".csv.gz", ".txt", ".tsv"))
    if known and path.is_file() and path.stat().st_size == 0:
        raise DataContractError(
            f"{table}: {path} is an empty file (0 bytes, not even a header). Fix: export the "
            "table again (a header row at least)."
        )
    if name.endswith((".parquet", ".pq")):
        return pd.read_parquet(path)
    if name.endswith((".csv", ".csv.gz", ".txt", ".tsv")):
        if sep is None:
            return (
                pd.read_csv(path, sep=None, engine="python")
                if name.endswith(".txt")
                else _csv(path)
            )
        return pd.read_csv(path, sep=sep)
    raise DataContractError(
        f"{table}: unsupported file type {path.suffix!r} for {path}. Fix: use .csv or .parquet."
    )


def _csv(path: Path) -> pd.DataFrame:
    with open(path, "rb") as fh:
        head = fh.readline().decode("utf-8", errors="replace")
    sep = ";" if head.count(";") > head.count(",") else ","
    return pd.read_csv(path, sep=sep)
