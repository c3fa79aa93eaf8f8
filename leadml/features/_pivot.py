"""Pivot of the long window counts (``window_counts_sql``) into feature columns, in one pass."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from leadml.features._spec import FeatureSpec
from leadml.features._sql import window_bounds

__all__ = ["pivot_counts"]

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
                if trend[0] >= 0:
                    if b <= trend[1]:
                        out[r, trend[0]] += v
                    elif b <= trend[2]:
                        out[r, trend[0]] -= v

        _KERNEL = scatter
    return _KERNEL


def pivot_counts(spec: FeatureSpec, long: pd.DataFrame | None, n_rows: int) -> pd.DataFrame:
    """Windowed count and trend columns (in ``spec.feature_names_`` order) from long counts.

    ``long`` has ``row_id, type_id, pair_id, wbin, n``; ``type_id``/``pair_id`` are -1 for events
    outside the vocabularies. Every long row is read once.
    """
    names = [k for k, v in spec.feature_meta_.items() if v["kind"] in ("count", "trend")]
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
    trend = np.full(3, -1, np.int64)
    for j, name in enumerate(names):
        m = spec.feature_meta_[name]
        k = bounds.index(m["window"])
        if m["kind"] == "trend":
            trend[:] = (j, k, bounds.index(2 * m["window"]))
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
        trend,
        out,
    )
    return pd.DataFrame(out, columns=names, index=pd.RangeIndex(n_rows), copy=False)


_HISTORY: Any = None
_COUNT, _LAST, _DECAY = 0, 1, 2


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
    bucket aggregates of ``history_sql`` over the distinct cut-offs ``u`` (sorted by lead, then
    time); ``u_of_row`` maps each output row to its cut-off."""
    from leadml.features._sql import DAY_US, HISTORY_KINDS

    meta = spec.feature_meta_
    names = [k for k, v in meta.items() if v["kind"] in HISTORY_KINDS]
    n_rows = len(u_of_row)
    if not names:
        return pd.DataFrame(index=pd.RangeIndex(n_rows))
    type_id = {t: i for i, t in enumerate(spec.event_types_)}
    pair_id = {p: i for i, p in enumerate(spec.details_)}
    all_cols = np.full(3, -1, np.int64)
    type_cols = np.full((max(1, len(type_id)), 3), -1, np.int64)
    pair_cols = np.full((max(1, len(pair_id)), 3), -1, np.int64)
    kind_code = {"count_ever": _COUNT, "recency": _LAST, "decay": _DECAY}
    for j, name in enumerate(names):
        m = meta[name]
        k = kind_code[m["kind"]]
        if m.get("detail") is not None:
            pair_cols[pair_id[(m["event_type"], m["detail"])], k] = j
        elif m["event_type"] is not None:
            type_cols[type_id[m["event_type"]], k] = j
        else:
            all_cols[k] = j
    kinds = np.array([kind_code[meta[n]["kind"]] for n in names], dtype=np.int64)
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
    last = out[:, is_last]
    with np.errstate(invalid="ignore"):
        out[:, is_last] = np.where(
            np.isfinite(last), (as_of_us[:, None] - last) / float(DAY_US), np.nan
        )
    return pd.DataFrame(out, columns=names, index=pd.RangeIndex(n_rows), copy=False)
