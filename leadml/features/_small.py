"""The account roll-up features for a few cut-offs, in NumPy (single leads, REST calls).

The account family's NumPy engine; its DuckDB engine is the ``account_*`` part of
:func:`leadml.features._sql.feature_sql`, and the two are tested equal. Same definitions: the
other leads of the lead's account created at or before ``as_of`` (``account_leads``), and those
of them active, and their events, in the account window before ``as_of``
(``account_active``, ``account_events``); missing for a lead without an account. The event
families (counts, recency, decay, active days, trend) are the core's
(:mod:`leadml.features._measures`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from leadml.features._spec import FeatureSpec
from leadml.features._time import DAY_US, to_us

__all__ = ["ACCOUNT_KINDS", "small_account_features"]

ACCOUNT_KINDS = ("account_leads", "account_active", "account_events")


def small_account_features(
    spec: FeatureSpec, leads: pd.DataFrame, events: pd.DataFrame, cut: pd.DataFrame
) -> pd.DataFrame:
    """``spec``'s account features per cut-off (index reset)."""
    names = [n for n in spec.feature_names_ if spec.feature_meta_[n]["kind"] in ACCOUNT_KINDS]
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
