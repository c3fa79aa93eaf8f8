"""A slow, obviously-correct reference implementation of the event features (one loop per row)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from leadml.features import FeatureSpec

DAY = pd.Timedelta(days=1)


def reference_features(
    spec: FeatureSpec, leads: pd.DataFrame, events: pd.DataFrame, cut: pd.DataFrame
) -> pd.DataFrame:
    rows = []
    created = leads.set_index("lead_id")["created_at"]
    account = leads.set_index("lead_id")["account_id"] if "account_id" in leads.columns else None
    for lead, as_of in zip(cut["lead_id"], cut["as_of"], strict=True):
        ev = events[(events["lead_id"] == lead) & (events["timestamp"] < as_of)]
        r: dict[str, float] = {"lead_age_days": (as_of - created[lead]) / DAY}
        for name, m in spec.feature_meta_.items():
            k = m["kind"]
            if k == "count":
                e = ev[ev["timestamp"] >= as_of - m["window"] * DAY]
                if m["event_type"] is not None:
                    e = e[e["event_type"] == m["event_type"]]
                if m["detail"] is not None:
                    e = e[e["detail"] == m["detail"]]
                r[name] = float(len(e))
            elif k == "active_days":
                e = ev[ev["timestamp"] >= as_of - m["window"] * DAY]
                r[name] = float(e["timestamp"].dt.floor("D").nunique())
            elif k == "trend":
                w = m["window"] * DAY
                recent = (ev["timestamp"] >= as_of - w).sum()
                before = ((ev["timestamp"] < as_of - w) & (ev["timestamp"] >= as_of - 2 * w)).sum()
                r[name] = float(recent - before)
            elif k == "recency":
                e = ev if m["event_type"] is None else ev[ev["event_type"] == m["event_type"]]
                r[name] = (as_of - e["timestamp"].max()) / DAY if len(e) else np.nan
            elif k == "count_ever":
                hit = ev["event_type"] == m["event_type"]
                if m["detail"] is not None:
                    hit &= ev["detail"] == m["detail"]
                r[name] = float(hit.sum())
            elif k == "decay":
                e = ev if m["event_type"] is None else ev[ev["event_type"] == m["event_type"]]
                age = (as_of - e["timestamp"]) / DAY
                r[name] = float(np.sum(0.5 ** (age.to_numpy(dtype=float) / m["half_life_days"])))
            elif k in ("account_leads", "account_active", "account_events"):
                acc = account[lead] if account is not None else None
                if acc is None or pd.isna(acc):
                    r[name] = np.nan
                    continue
                others = [x for x in account.index[account == acc] if x != lead]
                if k == "account_leads":
                    r[name] = float(sum(created[o] <= as_of for o in others))
                    continue
                w = spec.account_window * DAY
                oe = events[
                    events["lead_id"].isin(others)
                    & (events["timestamp"] < as_of)
                    & (events["timestamp"] >= as_of - w)
                ]
                r[name] = float(oe["lead_id"].nunique() if k == "account_active" else len(oe))
        rows.append(r)
    return pd.DataFrame(rows)
