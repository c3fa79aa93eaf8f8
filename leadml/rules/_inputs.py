"""What a scorecard reads at each cut-off: profile fields and per-rule activity measures.

Activity and inactivity rules are point-in-time event measures of the core
(:func:`leadml.features.event_measures`: the same definitions, windows and engines as the model's
features), so a complete event log and one cut at ``as_of`` give the same inputs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from leadml.exceptions import DataContractError
from leadml.features import DAY_US, Aggregate, Engine, EventMeasure, event_measures, to_us
from leadml.rules._config import ActivityRule, InactivityRule, ProfileRule, ScorecardConfig
from leadml.schema import LeadData, positions

__all__ = ["input_columns", "rule_measure", "scorecard_inputs"]


def input_columns(config: ScorecardConfig) -> list[str]:
    """Columns a scorecard needs in ``X``: profile fields, then one per activity/inactivity rule."""
    fields = list(dict.fromkeys(r.field for _, r in config.rules if isinstance(r, ProfileRule)))
    rules = [r.name for _, r in config.rules if not isinstance(r, ProfileRule)]
    return fields + [n for n in rules if n not in fields]


def rule_measure(rule: ActivityRule | InactivityRule) -> EventMeasure:
    """The event measure a behaviour rule reads: an activity rule's (decayed) count of matching
    events in its window (``once``: any), an inactivity rule's latest matching event within its
    largest bin edge (older events give the same capped number of days)."""
    if isinstance(rule, ActivityRule):
        types = None if rule.events == ["*"] else tuple(rule.events)
        details = None if rule.details is None else tuple(rule.details)
        aggregate: Aggregate
        days: float | None = None
        if rule.once:
            aggregate = "any"
        elif rule.decay is None:
            aggregate = "count"
        else:
            aggregate, days = rule.decay.kind, rule.decay.days
        return EventMeasure(
            rule.name, aggregate, types, details, window_days=rule.window_days, days=days
        )
    types = None if rule.events in (None, ["*"]) else tuple(rule.events)
    window = rule.horizon_days if rule.horizon_days > 0 else None
    return EventMeasure(rule.name, "last", types, window_days=window)


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
    if beh:
        values = event_measures([rule_measure(r) for r in beh], data, out, engine=engine)
        as_of_us = to_us(out["as_of"])
        created_us = to_us(data.leads["created_at"])[pos]
        for r in beh:
            v = values[r.name].to_numpy(dtype=float)
            if isinstance(r, ActivityRule):
                cols[r.name] = v
            else:  # days since the latest matching event, or since the lead was created
                last = np.where(np.isnan(v), created_us, np.maximum(v, created_us))
                days = (as_of_us - last) / DAY_US
                cap = r.horizon_days
                cols[r.name] = np.minimum(days, cap) if cap > 0 else days
    return pd.concat([out, pd.DataFrame(cols, index=out.index)], axis=1)
