"""All-history measures: recency, decayed engagement, and (with the counts) counts ever.

Definitions (over the matching events seen strictly before ``as_of``; ``age = as_of - ts``):

- ``last``: microseconds of the latest matching event, NaN if none. Feature kind ``recency``
  reads it as days since that event (:func:`recency_days`);
- ``half_life`` (days ``d``): the sum of ``0.5 ** (age / d)``. Feature kind ``decay``;
- ``linear`` (days ``d``): the sum of ``max(0, 1 - age / d)`` (scorecard rules);
- feature kind ``count_ever``: the ``count`` aggregate with no window
  (:mod:`leadml.features._families.windowed`), accumulated here in the many-cut-off plan.

Engines, side by side below:

- per cut-off (``numpy``): :func:`numpy_value`;
- one generic query (``duckdb``, ``spark``): :func:`sql_value`;
- the many-cut-off plan of the feature builder, whose cost grows with events plus cut-offs,
  not their product: :func:`history_sql` assigns each event to the first cut-off of its lead
  strictly after it and aggregates per (cut-off, type, pair): ``n`` events, ``last_us`` the
  latest, ``dec`` the sum of ``2 ** ((ts - as_of) / half_life)``; :func:`history_features`
  carries the buckets over each lead's cut-offs in one compiled pass (counts add, the latest
  is a max, decayed sums carry over times ``2 ** (-gap / half_life)``), so nothing overflows
  however long the history.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from leadml.features._families._base import DAY_US, EventMeasure, needs_pairs, spec_kinds
from leadml.features._spec import FeatureSpec

__all__ = [
    "AGGREGATES",
    "KINDS",
    "history_features",
    "history_sql",
    "numpy_value",
    "recency_days",
    "sql_value",
]

AGGREGATES = ("last", "half_life", "linear")
KINDS = ("recency", "count_ever", "decay")  # the feature kinds of the many-cut-off plan's buckets


# --------------------------------------------------------------------- the definitions
def numpy_value(m: EventMeasure, hit: np.ndarray, age: np.ndarray, ts: np.ndarray) -> float:
    """The measure over the events ``hit`` selects (``age``: as_of - timestamp)."""
    if m.aggregate == "half_life":
        return float(np.sum(np.power(0.5, age[hit] / m.days_us)))
    if m.aggregate == "linear":
        return float(np.sum(np.maximum(0.0, 1.0 - age[hit] / m.days_us)))
    return float(ts[hit].max()) if hit.any() else math.nan  # last


def recency_days(as_of_us: np.ndarray, last_us: np.ndarray) -> np.ndarray:
    """Days since the last event (NaN when there is none) from the ``last`` measure."""
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(last_us), (as_of_us - last_us) / float(DAY_US), np.nan)


# -------------------------------------------------------------------- one generic query
def sql_value(m: EventMeasure, where: str, age: str) -> str:
    """The measure's aggregate over ``lm_cut c LEFT JOIN lm_events e`` (``where``: its filter
    and window as a condition)."""
    if m.aggregate == "half_life":
        return f"SUM(CASE WHEN {where} THEN POWER(0.5, {age} / {m.days_us!r}) ELSE 0.0 END)"
    if m.aggregate == "linear":
        weight = f"GREATEST(0.0, 1.0 - {age} / {m.days_us!r})"
        return f"SUM(CASE WHEN {where} THEN {weight} ELSE 0.0 END)"
    return f"CAST(MAX(CASE WHEN {where} THEN e.ts_us END) AS DOUBLE)"  # last


# ------------------------------------------------------------- the many-cut-off plan
def history_sql(spec: FeatureSpec) -> str | None:
    """All-history aggregates per (distinct cut-off, event type id, pair id), in long form, or
    ``None`` when the spec has no all-history features.

    Reads ``lm_u(cut_idx, lead_key, as_of_us, prev_us)``: the distinct cut-offs, ``prev_us`` being
    the lead's previous cut-off (or the far past). Each event falls in exactly one bucket.
    """
    if not spec_kinds(spec) & set(KINDS):
        return None
    hl = f"{float(spec.half_life_days) * DAY_US!r}"
    pair = "ev.pair_id" if needs_pairs(spec) else "-1"
    return f"""SELECT u.cut_idx, ev.type_id, {pair} AS pair_id, COUNT(*) AS n,
  MAX(ev.ts_us) AS last_us, SUM(POW(2.0, (ev.ts_us - u.as_of_us) / {hl})) AS dec
FROM lm_u u
JOIN lm_ev ev ON ev.lead_key = u.lead_key AND ev.ts_us < u.as_of_us AND ev.ts_us >= u.prev_us
GROUP BY u.cut_idx, ev.type_id{", ev.pair_id" if pair != "-1" else ""}
ORDER BY u.cut_idx, ev.type_id{", ev.pair_id" if pair != "-1" else ""}"""


_HISTORY: Any = None
_COUNT, _LAST, _DECAY = 0, 1, 2
_CODE = {"count_ever": _COUNT, "recency": _LAST, "decay": _DECAY}


def _history_kernel() -> Any:
    global _HISTORY
    if _HISTORY is None:
        import numba

        @numba.njit(cache=True)
        def history(  # type: ignore[no-untyped-def]
            cut_idx,
            typ,
            pair,
            n,
            last,
            dec,
            all_cols,
            type_cols,
            pair_cols,
            kinds,
            u_lead,
            u_as_of,
            hl_us,
            acc,
        ):
            # 1. each bucket's own events
            for i in range(cut_idx.shape[0]):
                u, t, p = cut_idx[i], typ[i], pair[i]
                for k in range(3):
                    for j in (
                        all_cols[k],
                        type_cols[t, k] if t >= 0 else -1,
                        pair_cols[p, k] if p >= 0 else -1,
                    ):
                        if j < 0:
                            continue
                        if k == 0:
                            acc[u, j] += n[i]
                        elif k == 1:
                            if last[i] > acc[u, j]:
                                acc[u, j] = last[i]
                        else:
                            acc[u, j] += dec[i]
            # 2. carried over each lead's earlier cut-offs (sorted by lead, then time)
            for u in range(1, acc.shape[0]):
                if u_lead[u] != u_lead[u - 1]:
                    continue
                f = 2.0 ** (-(u_as_of[u] - u_as_of[u - 1]) / hl_us)
                for j in range(acc.shape[1]):
                    if kinds[j] == 0:
                        acc[u, j] += acc[u - 1, j]
                    elif kinds[j] == 1:
                        if acc[u - 1, j] > acc[u, j]:
                            acc[u, j] = acc[u - 1, j]
                    elif kinds[j] == 2:
                        acc[u, j] += acc[u - 1, j] * f

        _HISTORY = history
    return _HISTORY


def history_features(
    spec: FeatureSpec,
    long: pd.DataFrame | None,
    u_lead: np.ndarray,
    u_as_of: np.ndarray,
    u_of_row: np.ndarray,
    as_of_us: np.ndarray,
) -> pd.DataFrame:
    """Counts ever, days since the last event and decayed engagement per row, from the long
    bucket aggregates of :func:`history_sql` over the distinct cut-offs ``u`` (sorted by lead,
    then time); ``u_of_row`` maps each output row to its cut-off."""
    meta = spec.feature_meta_
    names = [k for k, v in meta.items() if v["kind"] in KINDS]
    n_rows = len(u_of_row)
    if not names:
        return pd.DataFrame(index=pd.RangeIndex(n_rows))
    type_id = {t: i for i, t in enumerate(spec.event_types_)}
    pair_id = {p: i for i, p in enumerate(spec.details_)}
    all_cols = np.full(3, -1, np.int64)
    type_cols = np.full((max(1, len(type_id)), 3), -1, np.int64)
    pair_cols = np.full((max(1, len(pair_id)), 3), -1, np.int64)
    for j, name in enumerate(names):
        m = meta[name]
        k = _CODE[m["kind"]]
        if m.get("detail") is not None:
            pair_cols[pair_id[(m["event_type"], m["detail"])], k] = j
        elif m["event_type"] is not None:
            type_cols[type_id[m["event_type"]], k] = j
        else:
            all_cols[k] = j
    kinds = np.array([_CODE[meta[n]["kind"]] for n in names], dtype=np.int64)
    acc = np.zeros((len(u_lead), len(names)), dtype=np.float64)
    is_last = kinds == _LAST
    acc[:, is_last] = -np.inf
    if long is not None and len(long):
        cols = [long[c].to_numpy(dtype=np.int64) for c in ("cut_idx", "type_id", "pair_id")]
        ranges = {"cut_idx": (0, len(u_lead)), "type_id": (-1, len(type_id))}
        ranges["pair_id"] = (-1, len(pair_id))
        for c, (name, (lo, hi)) in zip(cols, ranges.items(), strict=True):
            if len(c) and (c.min() < lo or c.max() >= hi):  # the kernel does not check bounds
                raise RuntimeError(f"leadml internal error: history has {name} out of range.")
        _history_kernel()(
            *cols,
            long["n"].to_numpy(dtype=np.float64),
            long["last_us"].to_numpy(dtype=np.float64),
            long["dec"].to_numpy(dtype=np.float64),
            all_cols,
            type_cols,
            pair_cols,
            kinds,
            np.ascontiguousarray(u_lead, dtype=np.int64),
            np.ascontiguousarray(u_as_of, dtype=np.int64),
            float(spec.half_life_days) * DAY_US,
            acc,
        )
    out = acc[u_of_row]
    out[:, is_last] = recency_days(as_of_us[:, None], out[:, is_last])
    return pd.DataFrame(out, columns=names, index=pd.RangeIndex(n_rows), copy=False)
