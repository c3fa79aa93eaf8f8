"""SQL generated from a fitted FeatureSpec.

A build is a short plan: one *stage* (a table materialised once) and up to three queries over
it. Only portable SQL is used (joins with range conditions, CASE, COUNT DISTINCT, GROUP BY), so
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

Times are integer microseconds since the epoch (UTC). An event is seen at a cut-off iff
``ts_us < as_of_us`` (strictly before); a window of ``w`` days holds the events with
``as_of_us - w days <= ts_us``.

Windowed counts come from a range join of events to the cut-offs of the same lead within the
longest window, returned in long form (:func:`window_counts_sql`) and pivoted by the caller.
All-history features (counts ever, last event per type, decayed engagement) come from assigning
each event to the first cut-off of its lead strictly after it (an interval join on the lead's
consecutive cut-offs, :func:`history_sql`), aggregating per (cut-off, type, pair) and accumulating
over each lead's cut-offs in the caller, so their cost grows with the number of events plus
cut-offs, not their product.

The SQL does the joins and aggregations (the work that grows with the data); the two steps after
it are per-row bookkeeping compiled with numba (``leadml.features._pivot``): spreading long
counts into columns, and carrying bucket aggregates over each lead's cut-offs. On Spark they fit
a ``mapInPandas`` over the long results partitioned by lead.
"""

from __future__ import annotations

from typing import Any

from leadml.features._spec import FeatureSpec
from leadml.features._time import DAY_US

__all__ = [
    "DAY_US",
    "FAR_PAST",
    "build_plan",
    "feature_sql",
    "history_sql",
    "stage_sql",
    "window_bounds",
    "window_counts_sql",
]

FAR_PAST = -(2**62)  # "no previous cut-off" (microseconds)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def stage_sql(spec: FeatureSpec) -> list[tuple[str, str]]:
    """The tables materialised before the queries, in order: ``(name, SELECT ...)``."""
    joins, type_col, pair_col = "", "-1", "-1"
    if spec.event_types_:
        joins += "\n  LEFT JOIN lm_types ty ON e.event_type = ty.event_type"
        type_col = "COALESCE(ty.type_id, -1)"
    if spec.details_ and _needs_pairs(spec):
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


def _needs_pairs(spec: FeatureSpec) -> bool:
    return any(m.get("detail") is not None for m in spec.feature_meta_.values())


def _kinds(spec: FeatureSpec) -> set[str]:
    return {m["kind"] for m in spec.feature_meta_.values()}


def window_bounds(spec: FeatureSpec) -> list[int]:
    """Window lengths in days, ascending: the bins of :func:`window_counts_sql`."""
    kinds = _kinds(spec)
    bounds: set[int] = set()
    if "count" in kinds:
        bounds |= set(spec.windows)
    if "trend" in kinds:
        bounds |= {spec.trend_window, 2 * spec.trend_window}
    return sorted(bounds)


def window_counts_sql(spec: FeatureSpec) -> str | None:
    """Event counts per (cut-off, event type id, pair id, window bin), in long form, or ``None``
    when the spec has no windowed counts.

    An event at ``ts`` seen from ``as_of`` falls in bin ``k`` if ``as_of - b_k <= ts`` and in no
    smaller bin, for the ascending :func:`window_bounds` ``b``. The count in a window ``b_k`` is
    the sum over bins ``<= k``; the pivot to columns is done by the caller.
    """
    bounds = window_bounds(spec)
    if not bounds:
        return None
    wbin_sql = (
        "CASE "
        + " ".join(
            f"WHEN ev.ts_us >= c.as_of_us - {b * DAY_US} THEN {i}" for i, b in enumerate(bounds)
        )
        + f" ELSE {len(bounds)} END"
    )
    kinds = [
        (m["event_type"], m["detail"])
        for m in spec.feature_meta_.values()
        if m["kind"] == "count" and m["event_type"] is not None
    ]
    keys = [
        "c.row_id",
        "ev.type_id" if kinds else "-1",
        "ev.pair_id" if _needs_pairs(spec) else "-1",
    ]
    group = [k for k in keys if not k.startswith("-")]
    return f"""SELECT {keys[0]} AS row_id, {keys[1]} AS type_id, {keys[2]} AS pair_id,
  {wbin_sql} AS wbin, COUNT(*) AS n
FROM lm_c c
JOIN lm_ev ev ON ev.lead_key = c.lead_key AND ev.ts_us < c.as_of_us AND ev.ts_us >= c.as_of_us - {bounds[-1] * DAY_US}
GROUP BY {", ".join([*group, "wbin"])}"""


def feature_sql(spec: FeatureSpec) -> str | None:
    """The query computing ``spec``'s event features other than the windowed counts (see the
    module docstring), one row per ``row_id`` in order; ``None`` when there are none."""
    spec.check_is_fitted()
    meta = spec.feature_meta_
    day_cols: list[str] = []
    final_cols: list[str] = []
    accounts = False
    for name, m in meta.items():
        kind = m["kind"]
        if kind in ("profile", "lead_age", "count", "trend", "recency", "count_ever", "decay"):
            continue  # built in Python, or from window_counts_sql / history_sql
        if kind == "active_days":
            w = m["window"] * DAY_US
            day_cols.append(
                f"CAST(SUM(CASE WHEN d.last_us >= c.as_of_us - {w} THEN 1 ELSE 0 END) AS DOUBLE) AS {_q(name)}"
            )
            final_cols.append(f"COALESCE(ad.{_q(name)}, 0.0) AS {_q(name)}")
        elif kind == "account_leads":
            accounts = True
            final_cols.append(
                "CASE WHEN l.account_key IS NULL THEN NULL ELSE CAST(COALESCE(al.a_leads, 0) - "
                f"CASE WHEN l.created_us <= c.as_of_us THEN 1 ELSE 0 END AS DOUBLE) END AS {_q(name)}"
            )
        elif kind == "account_active":
            accounts = True
            final_cols.append(
                "CASE WHEN l.account_key IS NULL THEN NULL ELSE CAST(COALESCE(ae.a_active, 0) - "
                f"CASE WHEN COALESCE(own.n, 0) > 0 THEN 1 ELSE 0 END AS DOUBLE) END AS {_q(name)}"
            )
        elif kind == "account_events":
            accounts = True
            final_cols.append(
                "CASE WHEN l.account_key IS NULL THEN NULL ELSE "
                f"CAST(COALESCE(ae.a_events, 0) - COALESCE(own.n, 0) AS DOUBLE) END AS {_q(name)}"
            )
    if not final_cols:
        return None

    ctes: list[str] = []
    joins: list[str] = []
    if day_cols:
        maxd = max(spec.windows) * DAY_US
        ctes += [
            """evd AS (
  SELECT lead_key, day, MIN(ts_us) AS first_us, MAX(ts_us) AS last_us FROM lm_ev GROUP BY lead_key, day
)""",
            f"""ad AS (
  SELECT c.row_id,
    {("," + chr(10) + "    ").join(day_cols)}
  FROM lm_c c
  JOIN evd d ON d.lead_key = c.lead_key AND d.first_us < c.as_of_us AND d.last_us >= c.as_of_us - {maxd}
  GROUP BY c.row_id
)""",
        ]
        joins.append("LEFT JOIN ad ON ad.row_id = c.row_id")
    if accounts:
        aw = spec.account_window * DAY_US
        ctes += [
            """acut AS (
  SELECT DISTINCT l.account_key, c.as_of_us
  FROM lm_c c JOIN lm_leads l ON l.lead_key = c.lead_key
  WHERE l.account_key IS NOT NULL
)""",
            f"""aev AS (
  SELECT a.account_key, a.as_of_us, COUNT(DISTINCT ev.lead_key) AS a_active, COUNT(*) AS a_events
  FROM acut a
  JOIN lm_leads l ON l.account_key = a.account_key
  JOIN lm_ev ev ON ev.lead_key = l.lead_key AND ev.ts_us < a.as_of_us AND ev.ts_us >= a.as_of_us - {aw}
  GROUP BY a.account_key, a.as_of_us
)""",
            """aleads AS (
  SELECT a.account_key, a.as_of_us, COUNT(*) AS a_leads
  FROM acut a JOIN lm_leads l ON l.account_key = a.account_key AND l.created_us <= a.as_of_us
  GROUP BY a.account_key, a.as_of_us
)""",
            f"""own AS (
  SELECT c.row_id, COUNT(*) AS n
  FROM lm_c c JOIN lm_ev ev ON ev.lead_key = c.lead_key AND ev.ts_us < c.as_of_us AND ev.ts_us >= c.as_of_us - {aw}
  GROUP BY c.row_id
)""",
        ]
        joins += [
            "LEFT JOIN own ON own.row_id = c.row_id",
            "JOIN lm_leads l ON l.lead_key = c.lead_key",
            "LEFT JOIN aev ae ON ae.account_key = l.account_key AND ae.as_of_us = c.as_of_us",
            "LEFT JOIN aleads al ON al.account_key = l.account_key AND al.as_of_us = c.as_of_us",
        ]
    select = ",\n  ".join(["c.row_id", *final_cols])
    return (
        "WITH "
        + ",\n".join(ctes)
        + f"\nSELECT\n  {select}\nFROM lm_c c\n  "
        + "\n  ".join(joins)
        + "\nORDER BY c.row_id"
    )


HISTORY_KINDS = ("recency", "count_ever", "decay")


def history_sql(spec: FeatureSpec) -> str | None:
    """All-history aggregates per (distinct cut-off, event type id, pair id), in long form, or
    ``None`` when the spec has no all-history features.

    Reads ``lm_u(cut_idx, lead_key, as_of_us, prev_us)``: the distinct cut-offs, ``prev_us`` being
    the lead's previous cut-off (or the far past). Each event falls in exactly one bucket, the
    first cut-off of its lead strictly after it; per bucket: ``n`` events, ``last_us`` the latest,
    ``dec`` the sum of ``2 ** ((ts - as_of) / half_life)``. The caller accumulates buckets over
    each lead's cut-offs (counts add, latest is a max, decayed sums carry over times
    ``2 ** (-gap / half_life)``), so nothing overflows however long the history.
    """
    kinds = _kinds(spec)
    if not kinds & set(HISTORY_KINDS):
        return None
    hl = f"{float(spec.half_life_days) * DAY_US!r}"
    pair = "ev.pair_id" if _needs_pairs(spec) else "-1"
    return f"""SELECT u.cut_idx, ev.type_id, {pair} AS pair_id, COUNT(*) AS n,
  MAX(ev.ts_us) AS last_us, SUM(POW(2.0, (ev.ts_us - u.as_of_us) / {hl})) AS dec
FROM lm_u u
JOIN lm_ev ev ON ev.lead_key = u.lead_key AND ev.ts_us < u.as_of_us AND ev.ts_us >= u.prev_us
GROUP BY u.cut_idx, ev.type_id{", ev.pair_id" if pair != "-1" else ""}
ORDER BY u.cut_idx, ev.type_id{", ev.pair_id" if pair != "-1" else ""}"""


def build_plan(spec: FeatureSpec) -> dict[str, Any]:
    """Stages and queries of a build: ``{"stages": [...], "queries": {"counts": ...,
    "history": ..., "features": ...}}`` (queries with nothing to compute are left out)."""
    queries = {
        "counts": window_counts_sql(spec),
        "history": history_sql(spec),
        "features": feature_sql(spec),
    }
    return {
        "stages": stage_sql(spec),
        "queries": {k: v for k, v in queries.items() if v is not None},
    }
