"""SQL generated from a fitted FeatureSpec.

The query reads five tables and returns one row per cut-off (``row_id``) with every event
feature. It uses only portable SQL (CASE, window functions, UNION ALL, COUNT DISTINCT), so
the same text runs on DuckDB and on Spark SQL:

- ``lm_cut(row_id BIGINT, lead_id, as_of_us BIGINT)``: the cut-offs;
- ``lm_events(lead_id, ts_us BIGINT, event_type STRING, detail STRING)``;
- ``lm_leads(lead_id, created_us BIGINT, account_id STRING)``;
- ``lm_types(event_type STRING, type_id INT)`` and ``lm_pairs(event_type, detail, pair_id INT)``:
  the fitted vocabularies.

Times are integer microseconds since the epoch (UTC). An event is seen at a cut-off iff
``ts_us < as_of_us`` (strictly before).

Windowed features come from a range join of events to the cut-offs of the same lead within the
longest window. All-history features (counts ever, last event per type, decayed engagement)
come from assigning each event to the first cut-off of its lead strictly after it, aggregating
per (lead, cut-off) and accumulating over each lead's cut-offs, so their cost grows with the
number of events plus cut-offs, not their product.
"""

from __future__ import annotations

from leadml.features._spec import FeatureSpec

__all__ = ["DAY_US", "EV_CTE", "feature_sql", "window_bounds", "window_counts_sql"]

DAY_US = 86_400_000_000


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


EV_CTE = f"""ev AS (
  SELECT e.lead_id, e.ts_us,
         COALESCE(ty.type_id, -1) AS type_id,
         COALESCE(pa.pair_id, -1) AS pair_id,
         CAST(FLOOR(e.ts_us / {float(DAY_US)!r}) AS BIGINT) AS day
  FROM lm_events e
  LEFT JOIN lm_types ty ON e.event_type = ty.event_type
  LEFT JOIN lm_pairs pa ON e.event_type = pa.event_type AND e.detail = pa.detail
  WHERE e.ts_us < (SELECT MAX(as_of_us) FROM lm_cut)
)"""


def window_bounds(spec: FeatureSpec) -> list[int]:
    """Window lengths in days, ascending: the bins of :func:`window_counts_sql`."""
    return sorted({*spec.windows, spec.trend_window, 2 * spec.trend_window})


def window_counts_sql(spec: FeatureSpec) -> str:
    """Event counts per (cut-off, event type id, pair id, window bin), in long form.

    An event at ``ts`` seen from ``as_of`` falls in bin ``k`` if ``as_of - b_k <= ts`` and in no
    smaller bin, for the ascending :func:`window_bounds` ``b``. The count in a window ``b_k`` is
    the sum over bins ``<= k``; the pivot to columns is done by the caller.
    """
    bounds = window_bounds(spec)
    wbin_sql = (
        "CASE "
        + " ".join(
            f"WHEN ev.ts_us >= c.as_of_us - {b * DAY_US} THEN {i}" for i, b in enumerate(bounds)
        )
        + f" ELSE {len(bounds)} END"
    )
    return f"""WITH {EV_CTE}
SELECT c.row_id, ev.type_id, ev.pair_id, {wbin_sql} AS wbin, COUNT(*) AS n
FROM lm_cut c
JOIN ev ON ev.lead_id = c.lead_id AND ev.ts_us < c.as_of_us AND ev.ts_us >= c.as_of_us - {bounds[-1] * DAY_US}
GROUP BY c.row_id, ev.type_id, ev.pair_id, {wbin_sql}"""


def feature_sql(spec: FeatureSpec) -> str:
    """The SQL query computing ``spec``'s event features (see module docstring)."""
    spec.check_is_fitted()
    meta = spec.feature_meta_
    type_id = {t: i for i, t in enumerate(spec.event_types_)}
    pair_id = {p: i for i, p in enumerate(spec.details_)}
    hl = f"{float(spec.half_life_days) * DAY_US!r}"

    day_cols: list[str] = []
    hist_agg: list[str] = [
        "COUNT(*) AS c_all",
        "MAX(t) AS l_all",
        f"SUM(POW(2.0, (t - bucket) / {hl})) AS d_all",
    ]
    for k in type_id.values():
        hist_agg += [
            f"SUM(CASE WHEN type_id = {k} THEN 1 ELSE 0 END) AS c_{k}",
            f"MAX(CASE WHEN type_id = {k} THEN t END) AS l_{k}",
            f"SUM(CASE WHEN type_id = {k} THEN POW(2.0, (t - bucket) / {hl}) ELSE 0 END) AS d_{k}",
        ]
    hist_agg += [
        f"SUM(CASE WHEN pair_id = {k} THEN 1 ELSE 0 END) AS c_p{k}" for k in pair_id.values()
    ]
    hist_cols: list[str] = []
    final_cols: list[str] = []
    for name, m in meta.items():
        kind = m["kind"]
        if kind in ("count", "trend"):
            continue  # pivoted from window_counts_sql (see leadml.features._builder)
        if kind == "active_days":
            w = m["window"] * DAY_US
            day_cols.append(
                f"CAST(SUM(CASE WHEN d.last_us >= c.as_of_us - {w} THEN 1 ELSE 0 END) AS DOUBLE) AS {_q(name)}"
            )
            final_cols.append(f"COALESCE(ad.{_q(name)}, 0.0) AS {_q(name)}")
        elif kind in ("recency", "count_ever", "decay"):
            t = m["event_type"]
            key: str = "all" if t is None else str(type_id[t])
            if m.get("detail") is not None:
                key = f"p{pair_id[(t, m['detail'])]}"
            if kind == "recency":
                hist_cols.append(
                    f"(h.as_of_us - MAX(a.l_{key}) OVER w) / {float(DAY_US)!r} AS {_q(name)}"
                )
            elif kind == "count_ever":
                hist_cols.append(
                    f"CAST(SUM(COALESCE(a.c_{key}, 0)) OVER w AS DOUBLE) AS {_q(name)}"
                )
            else:
                hist_cols.append(
                    f"SUM(COALESCE(a.d_{key}, 0) * POW(2.0, (h.as_of_us - h.ref_us) / {hl})) OVER w "
                    f"* POW(2.0, -(h.as_of_us - h.ref_us) / {hl}) AS {_q(name)}"
                )
            final_cols.append(f"hist.{_q(name)}")
        elif kind == "account_leads":
            final_cols.append(
                "CASE WHEN l.account_id IS NULL THEN NULL ELSE CAST(COALESCE(al.a_leads, 0) - "
                f"CASE WHEN l.created_us <= c.as_of_us THEN 1 ELSE 0 END AS DOUBLE) END AS {_q(name)}"
            )
        elif kind == "account_active":
            final_cols.append(
                "CASE WHEN l.account_id IS NULL THEN NULL ELSE CAST(COALESCE(ae.a_active, 0) - "
                f"CASE WHEN COALESCE(own.n, 0) > 0 THEN 1 ELSE 0 END AS DOUBLE) END AS {_q(name)}"
            )
        elif kind == "account_events":
            final_cols.append(
                "CASE WHEN l.account_id IS NULL THEN NULL ELSE "
                f"CAST(COALESCE(ae.a_events, 0) - COALESCE(own.n, 0) AS DOUBLE) END AS {_q(name)}"
            )
    aw = spec.account_window * DAY_US
    maxd = max(spec.windows) * DAY_US

    ctes = [
        EV_CTE,
        """evd AS (
  SELECT lead_id, day, MIN(ts_us) AS first_us, MAX(ts_us) AS last_us FROM ev GROUP BY lead_id, day
)""",
        f"""ad AS (
  SELECT c.row_id,
    {("," + chr(10) + "    ").join(day_cols)}
  FROM lm_cut c
  JOIN evd d ON d.lead_id = c.lead_id AND d.first_us < c.as_of_us AND d.last_us >= c.as_of_us - {maxd}
  GROUP BY c.row_id
)""",
        """cuts AS (
  SELECT lead_id, as_of_us, MIN(as_of_us) OVER (PARTITION BY lead_id) AS ref_us
  FROM (SELECT DISTINCT lead_id, as_of_us FROM lm_cut) d
)""",
        """u AS (
  SELECT lead_id, ts_us AS t, 1 AS kind, type_id, pair_id, CAST(NULL AS BIGINT) AS as_of_us FROM ev
  UNION ALL
  SELECT lead_id, as_of_us AS t, 0 AS kind, -2 AS type_id, -2 AS pair_id, as_of_us FROM cuts
)""",
        """b AS (
  SELECT lead_id, t, kind, type_id, pair_id,
         MIN(as_of_us) OVER (PARTITION BY lead_id ORDER BY t, kind
                             ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS bucket
  FROM u
)""",
        f"""agg AS (
  SELECT lead_id, bucket AS as_of_us,
    {("," + chr(10) + "    ").join(hist_agg)}
  FROM b WHERE kind = 1 AND bucket IS NOT NULL
  GROUP BY lead_id, bucket
)""",
        f"""hist AS (
  SELECT h.lead_id, h.as_of_us,
    {("," + chr(10) + "    ").join(hist_cols) if hist_cols else "0 AS _none"}
  FROM cuts h LEFT JOIN agg a ON a.lead_id = h.lead_id AND a.as_of_us = h.as_of_us
  WINDOW w AS (PARTITION BY h.lead_id ORDER BY h.as_of_us ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
)""",
    ]
    joins = [
        "LEFT JOIN ad ON ad.row_id = c.row_id",
        "JOIN hist ON hist.lead_id = c.lead_id AND hist.as_of_us = c.as_of_us",
    ]
    if spec.has_accounts_:
        ctes += [
            """acut AS (
  SELECT DISTINCT l.account_id, c.as_of_us
  FROM cuts c JOIN lm_leads l ON l.lead_id = c.lead_id
  WHERE l.account_id IS NOT NULL
)""",
            f"""aev AS (
  SELECT a.account_id, a.as_of_us, COUNT(DISTINCT e.lead_id) AS a_active, COUNT(*) AS a_events
  FROM acut a
  JOIN lm_leads l ON l.account_id = a.account_id
  JOIN lm_events e ON e.lead_id = l.lead_id AND e.ts_us < a.as_of_us AND e.ts_us >= a.as_of_us - {aw}
  GROUP BY a.account_id, a.as_of_us
)""",
            """aleads AS (
  SELECT a.account_id, a.as_of_us, COUNT(*) AS a_leads
  FROM acut a JOIN lm_leads l ON l.account_id = a.account_id AND l.created_us <= a.as_of_us
  GROUP BY a.account_id, a.as_of_us
)""",
        ]
        ctes.append(
            f"""own AS (
  SELECT c.row_id, COUNT(*) AS n
  FROM lm_cut c JOIN ev ON ev.lead_id = c.lead_id AND ev.ts_us < c.as_of_us AND ev.ts_us >= c.as_of_us - {aw}
  GROUP BY c.row_id
)"""
        )
        joins += [
            "LEFT JOIN own ON own.row_id = c.row_id",
            "LEFT JOIN lm_leads l ON l.lead_id = c.lead_id",
            "LEFT JOIN aev ae ON ae.account_id = l.account_id AND ae.as_of_us = c.as_of_us",
            "LEFT JOIN aleads al ON al.account_id = l.account_id AND al.as_of_us = c.as_of_us",
        ]
    select = ",\n  ".join(["c.row_id", *final_cols])
    return (
        "WITH "
        + ",\n".join(ctes)
        + f"\nSELECT\n  {select}\nFROM lm_cut c\n  "
        + "\n  ".join(joins)
        + "\nORDER BY c.row_id"
    )
