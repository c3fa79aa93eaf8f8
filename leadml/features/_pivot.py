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
