"""What a scorecard reads at each cut-off: profile fields and per-rule activity measures.

Activity and inactivity rules are computed by one SQL query over the events strictly before each
``as_of`` (the same point-in-time rule as the features), so a complete event log and one cut at
``as_of`` give the same inputs.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from leadml.exceptions import DataContractError
from leadml.features import DAY_US, Engine, choose_engine, event_tables, run_sql, to_us
from leadml.rules._config import ActivityRule, InactivityRule, ProfileRule, ScorecardConfig
from leadml.schema import LeadData, positions

__all__ = ["input_columns", "scorecard_inputs"]


def _small_inputs(
    beh: list[ActivityRule | InactivityRule], data: LeadData, out: pd.DataFrame, pos: np.ndarray
) -> dict[str, np.ndarray]:
    ev_lead = data.events["lead_id"].to_numpy(dtype=object)
    ts = to_us(data.events["timestamp"]) if len(data.events) else np.zeros(0, np.int64)
    et = data.events["event_type"].astype(object).to_numpy()
    det = data.events["detail"].astype(object).to_numpy()
    as_of_us = to_us(out["as_of"])
    created_us = to_us(data.leads["created_at"])[pos]
    res = {r.name: np.zeros(len(out)) for r in beh}
    for i, (lead, t) in enumerate(
        zip(out["lead_id"].to_numpy(dtype=object), as_of_us, strict=True)
    ):
        m = (ev_lead == lead) & (ts < t)
        age = (t - ts[m]).astype(np.float64)
        e_t, e_d = et[m], det[m]
        for r in beh:
            if isinstance(r, ActivityRule):
                hit = np.ones(len(age), bool) if r.events == ["*"] else np.isin(e_t, r.events)
                if r.details is not None:
                    hit &= np.isin(e_d, r.details)
                if r.window_days is not None:
                    hit &= (t - ts[m]) <= round(r.window_days * DAY_US)
                if r.once:
                    res[r.name][i] = 1.0 if hit.any() else 0.0
                elif r.decay is None:
                    res[r.name][i] = float(hit.sum())
                elif r.decay.kind == "half_life":
                    res[r.name][i] = float(
                        np.sum(np.power(0.5, age[hit] / (r.decay.days * DAY_US)))
                    )
                else:
                    res[r.name][i] = float(
                        np.sum(np.maximum(0.0, 1.0 - age[hit] / (r.decay.days * DAY_US)))
                    )
            else:
                hit = (
                    np.ones(len(age), bool) if r.events in (None, ["*"]) else np.isin(e_t, r.events)
                )
                last = ts[m][hit].max() if hit.any() else created_us[i]
                days = (t - max(int(last), int(created_us[i]))) / DAY_US
                cap = r.horizon_days
                res[r.name][i] = min(days, cap) if cap > 0 else days
    return res


def input_columns(config: ScorecardConfig) -> list[str]:
    """Columns a scorecard needs in ``X``: profile fields, then one per activity/inactivity rule."""
    fields = list(dict.fromkeys(r.field for _, r in config.rules if isinstance(r, ProfileRule)))
    rules = [r.name for _, r in config.rules if not isinstance(r, ProfileRule)]
    return fields + [n for n in rules if n not in fields]


def _quote(v: str) -> str:
    return "'" + str(v).replace("'", "''") + "'"


def _in(col: str, values: list[str]) -> str:
    return f"{col} IN ({', '.join(_quote(v) for v in values)})"


def _activity_sql(rule: ActivityRule) -> str:
    cond = [
        "e.event_type IS NOT NULL" if rule.events == ["*"] else _in("e.event_type", rule.events)
    ]
    if rule.details is not None:
        cond.append(_in("e.detail", rule.details))
    if rule.window_days is not None:
        cond.append(f"e.ts_us >= c.as_of_us - {round(rule.window_days * DAY_US)}")
    where = " AND ".join(cond)
    age = "CAST(c.as_of_us - e.ts_us AS DOUBLE)"
    if rule.once:
        return f"MAX(CASE WHEN {where} THEN 1.0 ELSE 0.0 END)"
    if rule.decay is None:
        weight = "1.0"
    elif rule.decay.kind == "half_life":
        weight = f"POWER(0.5, {age} / {rule.decay.days * DAY_US!r})"
    else:
        weight = f"GREATEST(0.0, 1.0 - {age} / {rule.decay.days * DAY_US!r})"
    return f"SUM(CASE WHEN {where} THEN {weight} ELSE 0.0 END)"


def _inactivity_sql(rule: InactivityRule) -> str:
    cond = (
        "e.event_type IS NOT NULL"
        if rule.events in (None, ["*"])
        else _in("e.event_type", rule.events)
    )
    return f"MAX(CASE WHEN {cond} THEN e.ts_us END)"


def _lookback_days(config: ScorecardConfig) -> float:
    days = 0.0
    for _, r in config.rules:
        if isinstance(r, ActivityRule):
            if r.window_days is None:
                return math.inf
            days = max(days, r.window_days)
        elif isinstance(r, InactivityRule):
            days = max(days, r.horizon_days)
    return days


def _sql(config: ScorecardConfig) -> str:
    beh = [r for _, r in config.rules if not isinstance(r, ProfileRule)]
    cols = []
    for r in beh:
        body = _activity_sql(r) if isinstance(r, ActivityRule) else _inactivity_sql(r)
        cols.append(f"{body} AS {r.name}")
    lookback = _lookback_days(config)
    bound = (
        "" if math.isinf(lookback) else f" AND e.ts_us >= c.as_of_us - {round(lookback * DAY_US)}"
    )
    return (
        f"SELECT c.row_id, {', '.join(cols)}\n"
        "FROM lm_cut c LEFT JOIN lm_events e\n"
        f"  ON e.lead_id = c.lead_id AND e.ts_us < c.as_of_us{bound}\n"
        "GROUP BY c.row_id ORDER BY c.row_id"
    )


def scorecard_inputs(
    config: ScorecardConfig, data: LeadData, cut: pd.DataFrame, *, engine: Engine = "auto"
) -> pd.DataFrame:
    """Inputs of ``config`` at each cut-off row of ``cut`` (validated ``lead_id, as_of``), on
    ``engine`` (:func:`leadml.features._engines.choose_engine`).

    Returns ``lead_id, as_of`` then :func:`input_columns`, one row per cut-off in order.
    Activity columns hold the (decayed) number of matching events in the rule's window (or
    0/1 for ``once``); inactivity columns hold the days without matching activity, capped at
    the largest bin edge (which keeps every bin assignment exact).
    """
    cut = cut.reset_index(drop=True)
    out = pd.DataFrame({"lead_id": cut["lead_id"].to_numpy(), "as_of": cut["as_of"].to_numpy()})
    pos = positions(out["lead_id"], data.leads["lead_id"])
    if (pos < 0).any():
        raise DataContractError(
            "cutoffs: lead ids not in the leads table. Fix: score only known leads."
        )
    cols = {}
    for name in input_columns(config):
        if name in data.leads.columns and any(
            isinstance(r, ProfileRule) and r.field == name for _, r in config.rules
        ):
            cols[name] = data.leads[name].to_numpy()[pos]
    missing = [
        r.field
        for _, r in config.rules
        if isinstance(r, ProfileRule) and r.field not in data.leads.columns
    ]
    if missing:
        raise DataContractError(
            f"leads: column(s) {sorted(set(missing))} used by scorecard rules are missing; "
            f"received {list(data.leads.columns)}. Fix: add the column (values may be missing) "
            "or change the rules' 'field'."
        )
    beh = [r for _, r in config.rules if not isinstance(r, ProfileRule)]
    if beh and choose_engine(engine, len(out), len(data.events)) == "numpy":
        cols.update(_small_inputs(beh, data, out, pos))
    elif beh:
        as_of_us = to_us(out["as_of"])
        tables = event_tables(data, out)
        res = run_sql(_sql(config), tables)
        if len(res) != len(out):
            raise RuntimeError("leadml internal error: scorecard inputs lost rows.")
        created_us = to_us(data.leads["created_at"])[pos]
        for r in beh:
            v = res[r.name].to_numpy(dtype=float, na_value=np.nan)
            if isinstance(r, ActivityRule):
                cols[r.name] = np.nan_to_num(v, nan=0.0)
            else:
                last = np.where(np.isnan(v), created_us, np.maximum(v, created_us))
                days = (as_of_us - last) / DAY_US
                cap = r.horizon_days
                cols[r.name] = np.minimum(days, cap) if cap > 0 else days
    return pd.concat([out, pd.DataFrame(cols, index=out.index)], axis=1)
