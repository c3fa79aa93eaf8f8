"""Active days: the distinct UTC days with a matching event in a window before ``as_of``.

Definition: ``active_days`` is the number of distinct ``floor(ts / 1 day)`` over the matching
events seen strictly before ``as_of`` (and within the window). Feature kind ``active_days``
(any event type, per window of the spec).

Engines, side by side below:

- per cut-off (``numpy``): :func:`numpy_value`;
- one generic query (``duckdb``, ``spark``): :func:`sql_value`;
- the many-cut-off plan of the feature builder: :func:`plan_parts`, the lead's event days
  (first and last event of each day) range-joined to its cut-offs within the longest window.
  A day counts in a window when its last event is inside it and its first is before ``as_of``.
"""

from __future__ import annotations

import numpy as np

from leadml.features._families._base import DAY_US, EventMeasure, quote_ident
from leadml.features._spec import FeatureSpec

__all__ = ["AGGREGATES", "KINDS", "numpy_value", "plan_parts", "sql_value"]

AGGREGATES = ("active_days",)
KINDS = ("active_days",)


def numpy_value(m: EventMeasure, hit: np.ndarray, age: np.ndarray, ts: np.ndarray) -> float:
    """The measure over the events ``hit`` selects."""
    return float(len(np.unique(ts[hit] // DAY_US)))


def sql_value(m: EventMeasure, where: str, age: str) -> str:
    """The measure's aggregate over ``lm_cut c LEFT JOIN lm_events e``."""
    day = f"CAST(FLOOR(e.ts_us / {float(DAY_US)!r}) AS BIGINT)"
    return f"CAST(COUNT(DISTINCT CASE WHEN {where} THEN {day} END) AS DOUBLE)"


def plan_parts(spec: FeatureSpec) -> tuple[list[str], list[str], list[str]]:
    """The feature query's common table expressions, joins and output columns for ``spec``'s
    active-days features (all empty when it has none)."""
    cols: list[str] = []
    final: list[str] = []
    for name, m in spec.feature_meta_.items():
        if m["kind"] == "active_days":
            w = m["window"] * DAY_US
            cols.append(
                f"CAST(SUM(CASE WHEN d.last_us >= c.as_of_us - {w} THEN 1 ELSE 0 END) AS DOUBLE) "
                f"AS {quote_ident(name)}"
            )
            final.append(f"COALESCE(ad.{quote_ident(name)}, 0.0) AS {quote_ident(name)}")
    if not cols:
        return [], [], []
    longest = max(m["window"] for m in spec.feature_meta_.values() if m["kind"] == "active_days")
    ctes = [
        """evd AS (
  SELECT lead_key, day, MIN(ts_us) AS first_us, MAX(ts_us) AS last_us FROM lm_ev GROUP BY lead_key, day
)""",
        f"""ad AS (
  SELECT c.row_id,
    {("," + chr(10) + "    ").join(cols)}
  FROM lm_c c
  JOIN evd d ON d.lead_key = c.lead_key AND d.first_us < c.as_of_us AND d.last_us >= c.as_of_us - {longest * DAY_US}
  GROUP BY c.row_id
)""",
    ]
    return ctes, ["LEFT JOIN ad ON ad.row_id = c.row_id"], final
