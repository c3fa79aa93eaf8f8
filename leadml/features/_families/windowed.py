"""Events in a window: counts (in windows and, with no window, ever), ``any``, and the trend.

Definitions (an event is *matching* when it passes the measure's filter and window, and is
seen strictly before ``as_of``):

- ``count``: the number of matching events. Feature kinds ``count`` (per type and per (type,
  detail) in each of the spec's windows) and ``count_ever`` (no window);
- ``any``: 1.0 if at least one matching event, else 0.0 (scorecard rules);
- trend (feature kind ``trend``): events in the last ``w`` days minus events in the ``w`` days
  before them, i.e. ``2 * count(w) - count(2w)``.

Engines, side by side below:

- per cut-off (``numpy``): :func:`numpy_value`, over the events a cut-off sees;
- one generic query (``duckdb``, ``spark``): :func:`sql_value`, a ``CASE`` aggregate over the
  cut-offs joined to their events;
- the many-cut-off plan of the feature builder: :func:`window_counts_sql` counts events per
  (cut-off, type, pair, window bin) in long form, and :func:`pivot_counts` spreads the bins
  into the ``count`` and ``trend`` columns in one compiled pass (counts ever are accumulated
  with the all-history family, :mod:`leadml.features._families.history`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from leadml.features._families._base import DAY_US, EventMeasure, needs_pairs, spec_kinds
from leadml.features._spec import FeatureSpec

__all__ = [
    "AGGREGATES",
    "KINDS",
    "numpy_value",
    "pivot_counts",
    "sql_value",
    "trend",
    "window_bounds",
    "window_counts_sql",
]

AGGREGATES = ("count", "any")
KINDS = ("count", "trend")  # the feature kinds of the many-cut-off plan's window counts


# --------------------------------------------------------------------- the definitions
def numpy_value(m: EventMeasure, hit: np.ndarray, age: np.ndarray, ts: np.ndarray) -> float:
    """The measure over the events ``hit`` selects (``age``: as_of - timestamp)."""
    if m.aggregate == "count":
        return float(np.count_nonzero(hit))
    return 1.0 if hit.any() else 0.0  # any


def trend(recent: np.ndarray, within_two: np.ndarray) -> np.ndarray:
    """The trend from the counts in the last ``w`` and the last ``2w`` days."""
    return recent - (within_two - recent)


# -------------------------------------------------------------------- one generic query
def sql_value(m: EventMeasure, where: str, age: str) -> str:
    """The measure's aggregate over ``lm_cut c LEFT JOIN lm_events e`` (``where``: its filter
    and window as a condition)."""
    if m.aggregate == "count":
        return f"CAST(COUNT(CASE WHEN {where} THEN 1 END) AS DOUBLE)"
    return f"MAX(CASE WHEN {where} THEN 1.0 ELSE 0.0 END)"  # any


# ------------------------------------------------------------- the many-cut-off plan
def window_bounds(spec: FeatureSpec) -> list[int]:
    """Window lengths in days, ascending: the bins of :func:`window_counts_sql`."""
    kinds = spec_kinds(spec)
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
    the sum over bins ``<= k`` (:func:`pivot_counts`).
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
    typed = [
        m
        for m in spec.feature_meta_.values()
        if m["kind"] == "count" and m["event_type"] is not None
    ]
    keys = [
        "c.row_id",
        "ev.type_id" if typed else "-1",
        "ev.pair_id" if needs_pairs(spec) else "-1",
    ]
    group = [k for k in keys if not k.startswith("-")]
    return f"""SELECT {keys[0]} AS row_id, {keys[1]} AS type_id, {keys[2]} AS pair_id,
  {wbin_sql} AS wbin, COUNT(*) AS n
FROM lm_c c
JOIN lm_ev ev ON ev.lead_key = c.lead_key AND ev.ts_us < c.as_of_us AND ev.ts_us >= c.as_of_us - {bounds[-1] * DAY_US}
GROUP BY {", ".join([*group, "wbin"])}"""


_KERNEL: Any = None


def _kernel() -> Any:
    global _KERNEL
    if _KERNEL is None:
        import numba

        @numba.njit(cache=True)
        def scatter(row, typ, pair, wbin, n, all_col, type_col, pair_col, trend, out):  # type: ignore[no-untyped-def]
            n_bins = all_col.shape[0]
            for i in range(row.shape[0]):
                r, b, v = row[i], wbin[i], n[i]
                t, p = typ[i], pair[i]
                for k in range(b, n_bins):  # the event is in every window from its bin up
                    j = all_col[k]
                    if j >= 0:
                        out[r, j] += v
                    if t >= 0:
                        j = type_col[t, k]
                        if j >= 0:
                            out[r, j] += v
                    if p >= 0:
                        j = pair_col[p, k]
                        if j >= 0:
                            out[r, j] += v
                if trend[0] >= 0:  # the trend: + in the last w days, - in the w days before
                    if b <= trend[1]:
                        out[r, trend[0]] += v
                    elif b <= trend[2]:
                        out[r, trend[0]] -= v

        _KERNEL = scatter
    return _KERNEL


def pivot_counts(spec: FeatureSpec, long: pd.DataFrame | None, n_rows: int) -> pd.DataFrame:
    """Windowed count and trend columns (in ``spec.feature_names_`` order) from the long counts
    of :func:`window_counts_sql`.

    ``long`` has ``row_id, type_id, pair_id, wbin, n``; ``type_id``/``pair_id`` are -1 for events
    outside the vocabularies. Every long row is read once.
    """
    names = [k for k, v in spec.feature_meta_.items() if v["kind"] in KINDS]
    out = np.zeros((n_rows, len(names)), dtype=np.float64)
    if not names or long is None or len(long) == 0:
        return pd.DataFrame(out, columns=names, index=pd.RangeIndex(n_rows), copy=False)
    bounds = window_bounds(spec)
    n_bins = len(bounds)
    type_id = {t: i for i, t in enumerate(spec.event_types_)}
    pair_id = {p: i for i, p in enumerate(spec.details_)}
    all_col = np.full(n_bins, -1, np.int64)
    type_col = np.full((max(1, len(type_id)), n_bins), -1, np.int64)
    pair_col = np.full((max(1, len(pair_id)), n_bins), -1, np.int64)
    trend_col = np.full(3, -1, np.int64)
    for j, name in enumerate(names):
        m = spec.feature_meta_[name]
        k = bounds.index(m["window"])
        if m["kind"] == "trend":
            trend_col[:] = (j, k, bounds.index(2 * m["window"]))
        elif m["detail"] is not None:
            pair_col[pair_id[(m["event_type"], m["detail"])], k] = j
        elif m["event_type"] is not None:
            type_col[type_id[m["event_type"]], k] = j
        else:
            all_col[k] = j
    cols = [long[c].to_numpy(dtype=np.int64) for c in ("row_id", "type_id", "pair_id", "wbin")]
    ranges = {"row_id": (0, n_rows), "type_id": (-1, len(type_id))}
    ranges |= {"pair_id": (-1, len(pair_id)), "wbin": (0, n_bins)}
    for c, (name, (lo, hi)) in zip(cols, ranges.items(), strict=True):
        if len(c) and (c.min() < lo or c.max() >= hi):  # the kernel does not check bounds
            raise RuntimeError(f"leadml internal error: long counts have {name} out of range.")
    _kernel()(
        *cols,
        long["n"].to_numpy(dtype=np.float64),
        all_col,
        type_col,
        pair_col,
        trend_col,
        out,
    )
    return pd.DataFrame(out, columns=names, index=pd.RangeIndex(n_rows), copy=False)
