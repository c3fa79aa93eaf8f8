"""The feature builder's many-cut-off plan: the families' parts put together.

A build is a short plan: one *stage* (a table materialised once) and up to three queries over
it, each contributed by a measure family (:mod:`leadml.features._families`):

- ``counts``: windowed counts and the trend (:func:`~leadml.features._families.windowed.window_counts_sql`),
  pivoted by :func:`~leadml.features._families.windowed.pivot_counts`;
- ``history``: counts ever, recency and decay (:func:`~leadml.features._families.history.history_sql`),
  accumulated by :func:`~leadml.features._families.history.history_features`;
- ``features``: active days and account roll-ups, one row per cut-off, from the
  families' ``plan_parts``.

Only portable SQL is used (joins with range conditions, CASE, COUNT DISTINCT, GROUP BY), so
the same text runs on DuckDB and on Spark SQL (``CACHE TABLE name AS SELECT ...`` for the stage).
Input tables:

- ``lm_c(row_id BIGINT, lead_key INT, as_of_us BIGINT)``: the cut-offs, keyed by lead;
- ``lm_events(lead_id, ts_us BIGINT, event_type STRING, detail STRING)``;
- ``lm_leads(lead_id, lead_key INT, created_us BIGINT, account_key INT)``: ``lead_key`` and
  ``account_key`` are dense integer codes (``account_key`` NULL when there is no account);
- ``lm_types(event_type STRING, type_id INT)`` and ``lm_pairs(event_type, detail, pair_id INT)``:
  the fitted vocabularies;
- ``lm_u(cut_idx BIGINT, lead_key INT, as_of_us BIGINT, prev_us BIGINT)``: the distinct
  cut-offs sorted by lead and time, with the lead's previous cut-off.

The stage ``lm_ev`` holds the events with integer lead key, type id, pair id and day (events at
or after the last cut-off are never seen and are dropped). Every join after it is on integers.
The SQL does the joins and aggregations (the work that grows with the data); the per-row
bookkeeping after it is compiled with numba in the families' modules. On Spark it runs in an
``applyInPandas`` over the long results partitioned by lead.
"""

from __future__ import annotations

from typing import Any

from leadml.features._families import accounts, active_days, history, windowed
from leadml.features._families._base import DAY_US, needs_pairs
from leadml.features._spec import FeatureSpec

__all__ = ["DAY_US", "FAR_PAST", "PLAN_KINDS", "build_plan", "feature_sql", "stage_sql"]

FAR_PAST = -(2**62)  # "no previous cut-off" (microseconds)
PLAN_KINDS = (*windowed.KINDS, *history.KINDS)
"""The feature kinds computed from the long results (the others come in ``features``)."""


def stage_sql(spec: FeatureSpec) -> list[tuple[str, str]]:
    """The tables materialised before the queries, in order: ``(name, SELECT ...)``."""
    joins, type_col, pair_col = "", "-1", "-1"
    if spec.event_types_:
        joins += "\n  LEFT JOIN lm_types ty ON e.event_type = ty.event_type"
        type_col = "COALESCE(ty.type_id, -1)"
    if spec.details_ and needs_pairs(spec):
        joins += (
            "\n  LEFT JOIN lm_pairs pa ON e.event_type = pa.event_type AND e.detail = pa.detail"
        )
        pair_col = "COALESCE(pa.pair_id, -1)"
    return [
        (
            "lm_ev",
            f"""SELECT l.lead_key, e.ts_us,
  CAST({type_col} AS INT) AS type_id,
  CAST({pair_col} AS INT) AS pair_id,
  CAST(FLOOR(e.ts_us / {float(DAY_US)!r}) AS BIGINT) AS day
FROM lm_events e
  JOIN lm_leads l ON l.lead_id = e.lead_id{joins}
WHERE e.ts_us < (SELECT MAX(as_of_us) FROM lm_c)""",
        ),
    ]


def feature_sql(spec: FeatureSpec) -> str | None:
    """The query computing ``spec``'s active-days and account features, one row per ``row_id``
    in order; ``None`` when there are none."""
    spec.check_is_fitted()
    ctes: list[str] = []
    joins: list[str] = []
    cols: list[str] = []
    for family in (active_days, accounts):
        c, j, f = family.plan_parts(spec)
        ctes += c
        joins += j
        cols += f
    if not cols:
        return None
    select = ",\n  ".join(["c.row_id", *cols])
    return (
        "WITH "
        + ",\n".join(ctes)
        + f"\nSELECT\n  {select}\nFROM lm_c c\n  "
        + "\n  ".join(joins)
        + "\nORDER BY c.row_id"
    )


def build_plan(spec: FeatureSpec) -> dict[str, Any]:
    """Stages and queries of a build: ``{"stages": [...], "queries": {"counts": ...,
    "history": ..., "features": ...}}`` (queries with nothing to compute are left out)."""
    queries = {
        "counts": windowed.window_counts_sql(spec),
        "history": history.history_sql(spec),
        "features": feature_sql(spec),
    }
    return {
        "stages": stage_sql(spec),
        "queries": {k: v for k, v in queries.items() if v is not None},
    }
