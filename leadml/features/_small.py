"""The event features for a few cut-offs, in NumPy (single leads, REST calls).

Same definitions as the SQL of :mod:`leadml.features._sql` (an event is seen at ``as_of`` iff
``timestamp < as_of``; a window of ``w`` days holds events with ``as_of - w days <= timestamp``);
counts, recencies and account features are bit-identical, decayed sums equal to ~1e-15 relative
(the SQL rescales its sums). Tested against the DuckDB engine.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from leadml.features._spec import FeatureSpec
from leadml.features._sql import DAY_US
from leadml.features._time import to_us

__all__ = ["small_features"]


def small_features(
    spec: FeatureSpec, leads: pd.DataFrame, events: pd.DataFrame, cut: pd.DataFrame
) -> pd.DataFrame:
    """Behaviour features (everything but profile columns and ``lead_age_days``) per cut-off."""
    names = [
        n
        for n in spec.feature_names_
        if spec.feature_meta_[n]["kind"] not in ("profile", "lead_age")
    ]
    n_rows = len(cut)
    out = np.full((n_rows, len(names)), np.nan)
    col = {n: j for j, n in enumerate(names)}
    type_index = {t: i for i, t in enumerate(spec.event_types_)}
    pair_index = {p: i for i, p in enumerate(spec.details_)}
    ev_lead = events["lead_id"].to_numpy(dtype=object)
    ts = to_us(events["timestamp"]) if len(events) else np.zeros(0, np.int64)
    et = events["event_type"].astype(object).to_numpy()
    dt = (
        events["detail"].astype(object).to_numpy()
        if "detail" in events.columns
        else np.full(len(events), None)
    )
    tid = np.array([type_index.get(t, -1) for t in et], dtype=np.int64)
    pid = np.array(
        [
            pair_index.get((t, d), -1) if isinstance(d, str) else -1
            for t, d in zip(et, dt, strict=True)
        ],
        dtype=np.int64,
    )
    n_t, n_p = len(spec.event_types_), len(spec.details_)
    lead_ids = leads["lead_id"].to_numpy(dtype=object)
    created = to_us(leads["created_at"])
    accounts = (
        leads["account_id"].astype(object).to_numpy()
        if "account_id" in leads.columns
        else np.full(len(leads), None, dtype=object)
    )
    by_lead: dict[object, np.ndarray] = {}
    hl_us = float(spec.half_life_days) * DAY_US
    aw = spec.account_window * DAY_US
    for i, (lead, t) in enumerate(
        zip(cut["lead_id"].to_numpy(dtype=object), to_us(cut["as_of"]), strict=True)
    ):
        if lead not in by_lead:
            by_lead[lead] = np.flatnonzero(ev_lead == lead)
        idx = by_lead[lead]
        seen = idx[ts[idx] < t]
        age = t - ts[seen]
        s_t, s_p = tid[seen], pid[seen]
        day = ts[seen] // DAY_US
        ever_t = np.bincount(s_t[s_t >= 0], minlength=n_t)
        ever_p = np.bincount(s_p[s_p >= 0], minlength=n_p)
        win_cache: dict[int, tuple[int, np.ndarray, np.ndarray, int]] = {}
        for w in {*spec.windows, spec.trend_window, 2 * spec.trend_window}:
            m = age <= w * DAY_US
            wt, wp = s_t[m], s_p[m]
            win_cache[w] = (
                int(m.sum()),
                np.bincount(wt[wt >= 0], minlength=n_t),
                np.bincount(wp[wp >= 0], minlength=n_p),
                len(np.unique(day[m])),
            )
        window = win_cache.__getitem__

        row = out[i]
        for name, j in col.items():
            meta = spec.feature_meta_[name]
            kind = meta["kind"]
            et_: str = meta.get("event_type")  # type: ignore[assignment]
            de_: str = meta.get("detail")  # type: ignore[assignment]
            if kind == "count":
                total, ct, cp, _ = window(meta["window"])
                if et_ is None:
                    row[j] = total
                elif de_ is None:
                    row[j] = ct[type_index[et_]]
                else:
                    row[j] = cp[pair_index[(et_, de_)]]
            elif kind == "active_days":
                row[j] = window(meta["window"])[3]
            elif kind == "trend":
                w = meta["window"]
                recent = window(w)[0]
                row[j] = recent - (window(2 * w)[0] - recent)
            elif kind == "recency":
                sel = age if et_ is None else age[s_t == type_index[et_]]
                row[j] = (sel.min() / float(DAY_US)) if len(sel) else np.nan
            elif kind == "count_ever":
                row[j] = ever_t[type_index[et_]] if de_ is None else ever_p[pair_index[(et_, de_)]]
            elif kind == "decay":
                sel = age if et_ is None else age[s_t == type_index[et_]]
                row[j] = float(np.sum(np.power(2.0, -sel / hl_us))) if len(sel) else 0.0
            elif kind.startswith("account"):
                pos = int(np.flatnonzero(lead_ids == lead)[0])
                acc = accounts[pos]
                if acc is None or (isinstance(acc, float) and np.isnan(acc)):
                    row[j] = np.nan
                    continue
                others = (accounts == acc) & (lead_ids != lead)
                if kind == "account_leads":
                    row[j] = int((created[others] <= t).sum())
                else:
                    oe = np.isin(ev_lead, lead_ids[others]) & (ts < t) & (ts >= t - aw)
                    row[j] = (
                        len(np.unique(ev_lead[oe])) if kind == "account_active" else int(oe.sum())
                    )
    return pd.DataFrame(out, columns=names)
