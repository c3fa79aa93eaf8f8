"""Account roll-ups: what the other leads of a lead's account did.

Definitions (missing for a lead without an account; ``aw``: the spec's account window):

- ``account_leads``: the other leads of the account created at or before ``as_of``;
- ``account_active``: those of them with an event in ``[as_of - aw, as_of)``;
- ``account_events``: their events in ``[as_of - aw, as_of)``.

Engines, side by side below:

- per cut-off (``numpy``): :func:`numpy_features`, for a few cut-offs (a single lead, a REST
  call);
- the many-cut-off plan of the feature builder (DuckDB, Spark SQL): :func:`plan_parts`, the
  account's totals at each distinct (account, as_of) minus the lead's own share.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from leadml.features._families._base import DAY_US, quote_ident
from leadml.features._spec import FeatureSpec
from leadml.features._time import to_us

__all__ = ["KINDS", "numpy_features", "plan_parts"]

KINDS = ("account_leads", "account_active", "account_events")


def numpy_features(
    spec: FeatureSpec, leads: pd.DataFrame, events: pd.DataFrame, cut: pd.DataFrame
) -> pd.DataFrame:
    """``spec``'s account features per cut-off (index reset)."""
    names = [n for n in spec.feature_names_ if spec.feature_meta_[n]["kind"] in KINDS]
    out = np.full((len(cut), len(names)), np.nan)
    if not names:
        return pd.DataFrame(out, columns=names)
    ev_lead = events["lead_id"].to_numpy(dtype=object)
    ts = to_us(events["timestamp"]) if len(events) else np.zeros(0, np.int64)
    lead_ids = leads["lead_id"].to_numpy(dtype=object)
    created = to_us(leads["created_at"])
    accounts = (
        leads["account_id"].astype(object).to_numpy()
        if "account_id" in leads.columns
        else np.full(len(leads), None, dtype=object)
    )
    aw = spec.account_window * DAY_US
    for i, (lead, t) in enumerate(
        zip(cut["lead_id"].to_numpy(dtype=object), to_us(cut["as_of"]), strict=True)
    ):
        acc = accounts[int(np.flatnonzero(lead_ids == lead)[0])]
        if acc is None or (isinstance(acc, float) and np.isnan(acc)):
            continue
        others = (accounts == acc) & (lead_ids != lead)
        seen = np.isin(ev_lead, lead_ids[others]) & (ts < t) & (ts >= t - aw)
        for j, name in enumerate(names):
            kind = spec.feature_meta_[name]["kind"]
            if kind == "account_leads":
                out[i, j] = int((created[others] <= t).sum())
            elif kind == "account_active":
                out[i, j] = len(np.unique(ev_lead[seen]))
            else:
                out[i, j] = int(seen.sum())
    return pd.DataFrame(out, columns=names)


def plan_parts(spec: FeatureSpec) -> tuple[list[str], list[str], list[str]]:
    """The feature query's common table expressions, joins and output columns for ``spec``'s
    account features (all empty when it has none)."""
    final: list[str] = []
    for name, m in spec.feature_meta_.items():
        kind, q = m["kind"], quote_ident(name)
        if kind == "account_leads":
            final.append(
                "CASE WHEN l.account_key IS NULL THEN NULL ELSE CAST(COALESCE(al.a_leads, 0) - "
                f"CASE WHEN l.created_us <= c.as_of_us THEN 1 ELSE 0 END AS DOUBLE) END AS {q}"
            )
        elif kind == "account_active":
            final.append(
                "CASE WHEN l.account_key IS NULL THEN NULL ELSE CAST(COALESCE(ae.a_active, 0) - "
                f"CASE WHEN COALESCE(own.n, 0) > 0 THEN 1 ELSE 0 END AS DOUBLE) END AS {q}"
            )
        elif kind == "account_events":
            final.append(
                "CASE WHEN l.account_key IS NULL THEN NULL ELSE "
                f"CAST(COALESCE(ae.a_events, 0) - COALESCE(own.n, 0) AS DOUBLE) END AS {q}"
            )
    if not final:
        return [], [], []
    aw = spec.account_window * DAY_US
    ctes = [
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
    joins = [
        "LEFT JOIN own ON own.row_id = c.row_id",
        "JOIN lm_leads l ON l.lead_key = c.lead_key",
        "LEFT JOIN aev ae ON ae.account_key = l.account_key AND ae.as_of_us = c.as_of_us",
        "LEFT JOIN aleads al ON al.account_key = l.account_key AND al.as_of_us = c.as_of_us",
    ]
    return ctes, joins, final
