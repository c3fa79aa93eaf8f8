"""The engines that compute point-in-time measures, and the one switch between them.

- ``duckdb``: the generated SQL (the feature builder's plan, :mod:`leadml.features._plan`, and
  the one query of :func:`leadml.features.event_measures` that the scorecard's measures use) on
  an in-memory DuckDB database. Its cost grows with events plus
  cut-offs; it pays a fixed start-up per query.
- ``numpy``: the same definitions evaluated per cut-off in NumPy (each family's
  ``numpy_value``, :mod:`leadml.features._families`), for a few cut-offs (a single
  lead, a REST call) where the SQL's start-up dominates.
- ``spark``: the same SQL and kernels on Apache Spark (:mod:`leadml.features._spark`), for event
  logs that outgrow one machine; only ever used when asked for.
- ``auto`` (the default everywhere): :func:`choose_engine`, by the size of the input.

Every engine is tested equal to the pandas reference and to each other on the same data
(``tests/features/test_builder.py``).
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Any, Literal

import pandas as pd

from leadml.exceptions import ConfigError

__all__ = [
    "ENGINES",
    "SMALL_CUTOFFS",
    "SMALL_EVENTS",
    "Engine",
    "choose_engine",
    "run_plan",
    "run_sql",
]

Engine = Literal["auto", "duckdb", "numpy", "spark"]
ENGINES = ("auto", "duckdb", "numpy", "spark")
SMALL_CUTOFFS = 64  # "auto" picks numpy for at most this many cut-offs ...
SMALL_EVENTS = 200_000  # ... and at most this many events


def choose_engine(
    engine: str, n_cutoffs: int, n_events: int
) -> Literal["duckdb", "numpy", "spark"]:
    """The engine that computes measures for ``n_cutoffs`` cut-offs over ``n_events`` events:
    ``engine`` itself unless it is ``auto``, which picks ``numpy`` for small inputs (and never
    ``spark``)."""
    if engine == "auto":
        small = n_cutoffs <= SMALL_CUTOFFS and n_events <= SMALL_EVENTS
        return "numpy" if small else "duckdb"
    if engine in ("duckdb", "numpy", "spark"):
        return engine  # type: ignore[return-value]
    raise ConfigError(f"engine: unknown engine {engine!r}; use one of {list(ENGINES)}.")


def run_sql(
    sql: str,
    tables: dict[str, pd.DataFrame],
    *,
    engine: Literal["duckdb", "spark"] = "duckdb",
) -> pd.DataFrame:
    """Run ``sql`` over in-memory ``tables`` and return a pandas DataFrame, on DuckDB or on
    Spark SQL (the SQL uses only constructs both have; see ``leadml.features._plan``)."""
    if engine == "duckdb":
        return _run_duckdb(sql, tables)
    if engine == "spark":
        from leadml.features._spark import run_sql_spark

        return run_sql_spark(sql, tables)
    raise ConfigError(f"unknown engine {engine!r}; use 'duckdb' or 'spark'.")


def run_plan(
    plan: dict[str, Any],
    tables: dict[str, pd.DataFrame],
    *,
    engine: Literal["duckdb"] = "duckdb",
) -> dict[str, pd.DataFrame]:
    """Materialise ``plan["stages"]`` in order, then run each of ``plan["queries"]``.

    One connection for the whole plan, so the stages are computed once.
    """
    if engine != "duckdb":
        raise ConfigError(f"unknown engine {engine!r}; use 'duckdb'.")
    con = _connect()
    try:
        for name, df in tables.items():
            con.register(name, df)
        for name, sql in plan["stages"]:
            con.execute(f"CREATE TEMP TABLE {name} AS {sql}")
        return {name: con.sql(sql).df() for name, sql in plan["queries"].items()}
    finally:
        con.close()


_LOCAL = threading.local()
SMALL_ROWS = 50_000  # inputs below this many rows reuse one connection per thread


def _connect() -> Any:
    import duckdb

    threads = int(os.environ.get("LEADML_THREADS", os.cpu_count() or 1))
    con = duckdb.connect(config={"threads": threads})
    # no progress bar on terminals; in Jupyter it is already off without ipywidgets
    with contextlib.suppress(duckdb.Error):
        con.execute("SET enable_progress_bar = false")
    return con


def _run_duckdb(sql: str, tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    small = sum(len(df) for df in tables.values()) < SMALL_ROWS
    if not small:  # a fresh in-memory database: its memory is returned when it closes
        con = _connect()
        try:
            for name, df in tables.items():
                con.register(name, df)
            return con.sql(sql).df()
        finally:
            con.close()
    # small inputs (single leads, REST calls): a connection kept per thread saves its start-up
    con = getattr(_LOCAL, "con", None)
    if con is None:
        con = _LOCAL.con = _connect()
    try:
        for name, df in tables.items():
            con.register(name, df)
        return con.sql(sql).df()
    finally:
        for name in tables:
            with contextlib.suppress(Exception):
                con.unregister(name)
