"""The point-in-time core: one public function per question, the families' engines behind it.

An event measure (:class:`EventMeasure`, semantics in :mod:`leadml.features._families._base`)
is evaluated by the family that owns its aggregate (:mod:`leadml.features._families`):

  ========================  =================================================================
  ``count``                 number of matching events (counts in windows, counts ever)
  ``any``                   1.0 if at least one matching event, else 0.0
  ``half_life`` (days d)    sum of ``0.5 ** (age / d)`` (decayed engagement)
  ``linear`` (days d)       sum of ``max(0, 1 - age / d)``
  ``last``                  microseconds of the latest matching event, NaN if none (recency)
  ``active_days``           distinct UTC days with a matching event
  ========================  =================================================================

The model's features (:class:`~leadml.features.FeatureSpec`: counts per type and detail in
windows, counts ever, recency, decay, active days, trend) and the scorecard's activity and
inactivity rules are both asked of :func:`event_measures` / :func:`spec_event_features`, on one
``engine=`` (:func:`leadml.features.choose_engine`):

- ``numpy``: each family's ``numpy_value`` per cut-off (a few cut-offs: a single lead, a REST
  call). This loop applies the filter and window; the family applies the aggregate.
- ``duckdb``: one SQL query, a range join of the cut-offs to the events within the longest
  window, one family ``sql_value`` aggregate per measure (portable SQL: the same text runs on
  Spark SQL).
- ``spark``: that query on Spark SQL (:mod:`leadml.features._spark`).

For many cut-offs the feature builder uses the families' plan parts instead
(:mod:`leadml.features._plan`); all are tested equal on the same data
(``tests/features/test_measures.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from leadml.exceptions import ConfigError
from leadml.features._engines import Engine, choose_engine, run_sql
from leadml.features._families import FAMILY_OF, active_days, history, windowed
from leadml.features._families._base import (
    AGGREGATES,
    DAY_US,
    Aggregate,
    EventMeasure,
    sql_in,
)
from leadml.features._spec import FeatureSpec
from leadml.features._time import to_us
from leadml.schema import LeadData

__all__ = [
    "AGGREGATES",
    "DAY_US",
    "EVENT_KINDS",
    "Aggregate",
    "EventMeasure",
    "event_measures",
    "feature_measures",
    "measures_sql",
    "spec_event_features",
]


def event_measures(
    measures: Sequence[EventMeasure],
    data: LeadData,
    cut: pd.DataFrame,
    *,
    engine: Engine = "auto",
) -> pd.DataFrame:
    """Each measure at each row of ``cut`` (validated ``lead_id, as_of``), one float64 column
    per measure, in the order of ``cut`` (index reset)."""
    cut = cut.reset_index(drop=True)
    names = [m.name for m in measures]
    if len(set(names)) != len(names):
        raise ConfigError(f"event_measures: duplicate measure names {sorted(names)}.")
    return pd.DataFrame(_values(measures, data, cut, engine), columns=names)


def _values(
    measures: Sequence[EventMeasure], data: LeadData, cut: pd.DataFrame, engine: Engine
) -> np.ndarray:
    """The measures as a float64 matrix (rows of ``cut``, columns in the order of ``measures``)."""
    if not measures:
        return np.zeros((len(cut), 0))
    chosen = choose_engine(engine, len(cut), len(data.events))
    if chosen == "numpy":
        return _numpy(measures, data, cut)
    return _sql(measures, data, cut, chosen)


# ------------------------------------------------------------------- the model's features
EVENT_KINDS = (*windowed.KINDS, *history.KINDS, *active_days.KINDS)
"""Feature kinds that are event measures of the families (the others: profile columns, the
lead's age, account roll-ups)."""


def feature_measures(spec: FeatureSpec) -> list[EventMeasure]:
    """The event measures behind ``spec``'s event features (a trend reads two counts: the last
    ``w`` days and the ``w`` days before them)."""
    out: dict[str, EventMeasure] = {}
    for name, m in spec.feature_meta_.items():
        kind = m["kind"]
        if kind not in EVENT_KINDS:
            continue
        et, de = m.get("event_type"), m.get("detail")
        types = None if et is None else (et,)
        details = None if de is None else (de,)
        if kind == "count":
            out[name] = EventMeasure(name, "count", types, details, window_days=m["window"])
        elif kind == "count_ever":
            out[name] = EventMeasure(name, "count", types, details)
        elif kind == "recency":
            out[name] = EventMeasure(name, "last", types, details)
        elif kind == "decay":
            hl = float(m.get("half_life_days", spec.half_life_days))
            out[name] = EventMeasure(name, "half_life", types, details, days=hl)
        elif kind == "active_days":
            out[name] = EventMeasure(name, "active_days", window_days=m["window"])
        else:  # trend
            w = m["window"]
            for k in (1, 2):
                key = f"__events_{k * w}d"
                out[key] = EventMeasure(key, "count", window_days=k * w)
    return list(out.values())


def spec_event_features(
    spec: FeatureSpec, data: LeadData, cut: pd.DataFrame, *, engine: Engine = "auto"
) -> pd.DataFrame:
    """``spec``'s event features (the :data:`EVENT_KINDS`) at each row of ``cut``, from the
    core's measures: recency in days, trend as recent minus previous window."""
    cut = cut.reset_index(drop=True)
    measures = feature_measures(spec)
    values = _values(measures, data, cut, engine)
    col = {m.name: j for j, m in enumerate(measures)}
    as_of_us = to_us(cut["as_of"]).astype(float)
    names = [n for n, m in spec.feature_meta_.items() if m["kind"] in EVENT_KINDS]
    out = np.empty((len(cut), len(names)))
    for k, name in enumerate(names):
        m = spec.feature_meta_[name]
        if m["kind"] == "recency":
            out[:, k] = history.recency_days(as_of_us, values[:, col[name]])
        elif m["kind"] == "trend":
            w = m["window"]
            recent, both = values[:, col[f"__events_{w}d"]], values[:, col[f"__events_{2 * w}d"]]
            out[:, k] = windowed.trend(recent, both)
        else:
            out[:, k] = values[:, col[name]]
    return pd.DataFrame(out, columns=names)


# ------------------------------------------------------------------------------------ numpy
def _numpy(measures: Sequence[EventMeasure], data: LeadData, cut: pd.DataFrame) -> np.ndarray:
    ev = data.events
    ev_lead = ev["lead_id"].to_numpy(dtype=object)
    ts = to_us(ev["timestamp"]) if len(ev) else np.zeros(0, np.int64)
    # event types and details as integer codes of the values the measures name (-1: other)
    type_index = pd.Index(sorted({x for m in measures for x in m.types or ()}), dtype=object)
    detail_index = pd.Index(sorted({x for m in measures for x in m.details or ()}), dtype=object)
    type_code = {v: k for k, v in enumerate(type_index)}
    detail_code = {v: k for k, v in enumerate(detail_index)}
    et = type_index.get_indexer(pd.Index(ev["event_type"].astype(object))).astype(np.int64)
    det = (
        detail_index.get_indexer(pd.Index(ev["detail"].astype(object))).astype(np.int64)
        if "detail" in ev.columns
        else np.full(len(ev), -1, dtype=np.int64)
    )
    codes = [
        (
            None if m.types is None else np.array([type_code[x] for x in m.types]),
            None if m.details is None else np.array([detail_code[x] for x in m.details]),
        )
        for m in measures
    ]
    out = np.zeros((len(cut), len(measures)))
    by_lead: dict[object, np.ndarray] = {}
    for i, (lead, t) in enumerate(
        zip(cut["lead_id"].to_numpy(dtype=object), to_us(cut["as_of"]), strict=True)
    ):
        if lead not in by_lead:
            by_lead[lead] = np.flatnonzero(ev_lead == lead)
        idx = by_lead[lead]
        idx = idx[ts[idx] < t]
        e_ts, e_t, e_d = ts[idx], et[idx], det[idx]
        age = t - e_ts
        # many measures share a filter or a window: each mask is computed once per cut-off
        filters: dict[tuple[object, object], np.ndarray] = {}
        windows: dict[int, np.ndarray] = {}
        for j, m in enumerate(measures):
            key = (m.types, m.details)
            hit = filters.get(key)
            if hit is None:
                tc, dc = codes[j]
                hit = np.ones(len(idx), dtype=bool) if tc is None else _match(e_t, tc)
                if dc is not None:
                    hit &= _match(e_d, dc)
                filters[key] = hit
            if m.window_us is not None:
                inside = windows.get(m.window_us)
                if inside is None:
                    inside = windows[m.window_us] = age <= m.window_us
                hit = hit & inside
            out[i, j] = FAMILY_OF[m.aggregate].numpy_value(m, hit, age, e_ts)
    return out


def _match(values: np.ndarray, codes: np.ndarray) -> np.ndarray:
    return values == codes[0] if len(codes) == 1 else np.isin(values, codes)


# ----------------------------------------------------------------------------------- duckdb
def measure_sql(m: EventMeasure) -> str:
    """The aggregate of one measure over ``lm_cut c LEFT JOIN lm_events e`` (see
    :func:`measures_sql`): its filter and window here, its aggregate from its family."""
    cond = ["e.event_type IS NOT NULL" if m.types is None else sql_in("e.event_type", m.types)]
    if m.details is not None:
        cond.append(sql_in("e.detail", m.details))
    if m.window_us is not None:
        cond.append(f"e.ts_us >= c.as_of_us - {m.window_us}")
    age = "CAST(c.as_of_us - e.ts_us AS DOUBLE)"
    return FAMILY_OF[m.aggregate].sql_value(m, " AND ".join(cond), age)


def measures_sql(measures: Sequence[EventMeasure]) -> str:
    """One query for all ``measures``: the cut-offs ``lm_cut(row_id, lead_id, as_of_us)`` joined
    to the events ``lm_events(lead_id, ts_us, event_type, detail)`` seen before each cut-off and
    within the longest window; one row per ``row_id``, in order."""
    windows = [m.window_us for m in measures]
    bound = (
        "" if any(w is None for w in windows) else f" AND e.ts_us >= c.as_of_us - {max(windows)}"  # type: ignore[type-var]
    )
    # columns by position (m0, m1, ...): a measure's name (a rule name) can never clash with
    # row_id or with another name that differs only in case
    cols = ", ".join(f"{measure_sql(m)} AS m{j}" for j, m in enumerate(measures))
    return (
        f"SELECT c.row_id, {cols}\n"
        "FROM lm_cut c LEFT JOIN lm_events e\n"
        f"  ON e.lead_id = c.lead_id AND e.ts_us < c.as_of_us{bound}\n"
        "GROUP BY c.row_id ORDER BY c.row_id"
    )


def _sql(
    measures: Sequence[EventMeasure],
    data: LeadData,
    cut: pd.DataFrame,
    engine: Literal["duckdb", "spark"] = "duckdb",
) -> np.ndarray:
    tables = {
        "lm_cut": pd.DataFrame(
            {
                "row_id": np.arange(len(cut), dtype="int64"),
                "lead_id": cut["lead_id"].reset_index(drop=True),
                "as_of_us": to_us(cut["as_of"]),
            }
        ),
        "lm_events": pd.DataFrame(
            {
                "lead_id": data.events["lead_id"].reset_index(drop=True),
                "ts_us": to_us(data.events["timestamp"]),
                "event_type": data.events["event_type"].reset_index(drop=True),
                "detail": data.events["detail"].reset_index(drop=True),
            }
        ),
    }
    res = run_sql(measures_sql(measures), tables, engine=engine)
    res = res.sort_values("row_id", kind="stable").reset_index(drop=True)
    if len(res) != len(cut) or not np.array_equal(res["row_id"].to_numpy(), np.arange(len(cut))):
        raise RuntimeError("leadml internal error: the measure query did not return every row.")
    return np.column_stack(
        [res[f"m{j}"].to_numpy(dtype=float, na_value=np.nan) for j in range(len(measures))]
    )
