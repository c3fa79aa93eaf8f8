"""Out-of-time and out-of-lead splits of a (lead, cut-off) table, with a gap."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from leadml.exceptions import ConfigError, DataContractError
from leadml.features import parse_duration, to_us

__all__ = ["TimeSplit", "order_split", "time_split"]

LeadPolicy = Literal["hash", "cohort", "latest", "none"]
DEFAULT_WINDOWS = ("train", "valid", "calib", "test")
DEFAULT_FRACTIONS = (0.6, 0.1, 0.1, 0.2)


@dataclass(frozen=True)
class TimeSplit:
    """Which window each row belongs to (``None``: dropped by the gap or the lead policy).

    Attributes
    ----------
    windows : tuple of str
        Window names, earliest first.
    boundaries : list of Timestamp
        ``boundaries[i]`` is the first ``as_of`` of ``windows[i + 1]``.
    window : ndarray of object
        Per row of the input, its window name or ``None``.
    reason : ndarray of object
        Per row, why it was dropped (``"gap"``, ``"lead in another window"``) or ``""``.
    """

    windows: tuple[str, ...]
    boundaries: list[pd.Timestamp]
    window: np.ndarray
    reason: np.ndarray
    gap: pd.Timedelta
    lead_policy: str

    def mask(self, name: str) -> np.ndarray:
        """Boolean mask of the rows in window ``name``."""
        if name not in self.windows:
            raise ConfigError(f"no window {name!r}; windows are {list(self.windows)}.")
        return self.window == name

    def summary(self, frame: pd.DataFrame, label: str = "label") -> pd.DataFrame:
        """Rows, leads, positives, label rate and time range per window, plus dropped rows."""
        rows = []
        for name in [*self.windows, None]:
            m = self.window == name if name is not None else pd.isna(self.window)
            sub = frame.loc[m]
            y = (
                pd.to_numeric(sub[label], errors="coerce")
                if label in sub
                else pd.Series(dtype=float)
            )
            rows.append(
                {
                    "window": name if name is not None else "dropped",
                    "rows": int(m.sum()),
                    "leads": int(sub["lead_id"].nunique()),
                    "positives": int(np.nansum(y)),
                    "label_rate": float(np.nanmean(y)) if len(y) and y.notna().any() else np.nan,
                    "from": sub["as_of"].min() if len(sub) else pd.NaT,
                    "to": sub["as_of"].max() if len(sub) else pd.NaT,
                }
            )
        return pd.DataFrame(rows)


def time_split(
    frame: pd.DataFrame,
    *,
    windows: Sequence[str] = DEFAULT_WINDOWS,
    fractions: Sequence[float] | None = DEFAULT_FRACTIONS,
    boundaries: Sequence[str | pd.Timestamp] | None = None,
    gap: str | int | pd.Timedelta | None = None,
    gap_before: Sequence[str] | None = None,
    lead_policy: LeadPolicy = "hash",
    lead_shares: Sequence[float] | None = None,
    by: Literal["time", "rows"] = "time",
    seed: int = 0,
) -> TimeSplit:
    """Split rows into consecutive time windows, out of time and out of lead, with a gap.

    Parameters
    ----------
    frame : DataFrame
        Has ``lead_id`` and ``as_of`` (a training set; censored rows should be removed first).
    windows : names of the windows, earliest first.
    fractions : share of each window (ignored when ``boundaries`` is given). With
        ``by="time"`` (default), shares of the calendar span of ``as_of`` after the gaps are
        taken out (so a gap never swallows a window); with ``by="rows"``, boundaries at
        quantiles of the rows' ``as_of`` (with ``lead_policy="cohort"``, of the leads' first
        ``as_of``). Rows sharing an ``as_of`` stay together.
    boundaries : explicit first ``as_of`` of every window but the first.
    gap : rows of a window whose ``as_of`` is within ``gap`` of the next boundary are dropped,
        so that their label window (``as_of + horizon``) does not reach into the next window.
        Use the label horizon: then every label used before the test window was known when the
        test window starts, as it would be for a model deployed at that moment.
    gap_before : names of the windows whose start boundary gets the gap (default: all but the
        first). ``("test",)`` keeps the short validation and calibration windows whole.
    lead_policy : how a lead with rows in several windows is handled:

        - ``"hash"`` (default): every lead is assigned to one window at random (a seeded hash of
          its id, with probabilities ``lead_shares``, default ``fractions``); a row is kept
          when its time window is its lead's window. No lead is on two sides, and every window
          holds leads of all ages, as in production.
        - ``"cohort"``: the lead belongs to the window of its first row; its rows in
          other windows are dropped. No lead is on two sides; later windows hold newer leads.
        - ``"latest"``: the lead belongs to the latest window it has rows in; its earlier rows
          are dropped (fklearn's out-of-time-and-space split: the test keeps every row in its
          time range, training loses leads that are still active later).
        - ``"none"``: out of time only; a lead may have (earlier) rows in training and (later)
          rows in test, as a production model scoring its own training leads would.

    Returns
    -------
    TimeSplit
    """
    for col in ("lead_id", "as_of"):
        if col not in frame.columns:
            raise DataContractError(
                f"time_split: column {col!r} missing; received {list(frame.columns)[:10]}."
            )
    if frame["as_of"].isna().any():
        raise DataContractError(
            "time_split: as_of has missing values; an out-of-time split needs a time for every row "
            "(flat mode: pass time_column=, or use a split by row order)."
        )
    if lead_policy not in ("hash", "cohort", "latest", "none"):
        raise ConfigError(
            f"lead_policy must be 'hash', 'cohort', 'latest' or 'none', got {lead_policy!r}."
        )
    names = tuple(windows)
    if len(set(names)) != len(names) or len(names) < 2:
        raise ConfigError(f"windows: need at least two distinct names, got {list(names)}.")
    t = frame["as_of"].reset_index(drop=True)
    tv = to_us(t)
    g = parse_duration(gap, name="gap") if gap is not None else pd.Timedelta(0)
    gapped = set(names[1:] if gap_before is None else gap_before)
    unknown = gapped - set(names[1:])
    if unknown:
        raise ConfigError(f"gap_before: {sorted(unknown)} are not windows after the first.")
    if by not in ("time", "rows"):
        raise ConfigError(f"by must be 'time' or 'rows', got {by!r}.")
    if boundaries is not None:
        bounds = [_utc(b) for b in boundaries]
    else:
        if fractions is None or len(fractions) != len(names):
            raise ConfigError(
                f"fractions: give one share per window ({len(names)}), got {fractions!r}."
            )
        fr = np.asarray(fractions, dtype=float)
        if (fr <= 0).any():
            raise ConfigError(f"fractions must be positive, got {list(fractions)}.")
        cum = np.cumsum(fr / fr.sum())[:-1]
        if by == "time":
            bounds = _time_bounds(tv, cum, names, g, gapped)
        else:
            if lead_policy == "cohort":
                # shares of leads by the time they first appear (each lead lives in one window)
                first = pd.Series(tv).groupby(frame["lead_id"].to_numpy()).min().to_numpy()
                ts_sorted = np.sort(first)
            else:
                ts_sorted = np.sort(tv)
            n = len(ts_sorted)
            bounds = [
                pd.Timestamp(int(ts_sorted[min(int(q * n), n - 1)]), unit="us", tz="UTC")
                for q in cum
            ]
    if len(bounds) != len(names) - 1:
        raise ConfigError(
            f"boundaries: {len(names)} windows need {len(names) - 1} boundaries, got {len(bounds)}."
        )
    if any(a >= b for a, b in itertools.pairwise(bounds)):
        raise ConfigError(
            f"boundaries must increase; got {[str(b) for b in bounds]}. With fractions, the data "
            "may have too few distinct cut-off times for this many windows."
        )
    bounds_us = np.array([int(b.value // 1000) for b in bounds], dtype=np.int64)
    idx = np.searchsorted(bounds_us, tv, side="right")
    win = np.array(names, dtype=object)[idx]
    reason = np.full(len(t), "", dtype=object)
    g = parse_duration(gap, name="gap") if gap is not None else pd.Timedelta(0)
    if g > pd.Timedelta(0):
        in_gap = np.zeros(len(t), dtype=bool)
        gapped = set(names[1:] if gap_before is None else gap_before)
        unknown = gapped - set(names[1:])
        if unknown:
            raise ConfigError(f"gap_before: {sorted(unknown)} are not windows after the first.")
        for i in range(len(bounds)):
            if names[i + 1] not in gapped:
                continue
            in_gap |= (idx == i) & (tv > bounds_us[i] - g // pd.Timedelta(microseconds=1))
        reason[in_gap] = "gap"
    if lead_policy != "none":
        lead = frame["lead_id"].reset_index(drop=True)
        if lead_policy == "hash":
            shares = np.asarray(fractions if lead_shares is None else lead_shares, dtype=float)
            if shares.shape != (len(names),) or (shares <= 0).any():
                raise ConfigError(
                    f"lead_shares: give one positive share per window ({len(names)}), got "
                    f"{lead_shares if lead_shares is not None else fractions!r}."
                )
            pick = lead_windows(lead, shares, seed=seed)
        else:
            pick = (
                pd.Series(idx)
                .groupby(lead.to_numpy())
                .transform("min" if lead_policy == "cohort" else "max")
                .to_numpy()
            )
        other = (pick != idx) & (reason == "")
        reason[other] = "lead in another window"
    window = win.copy()
    window[reason != ""] = None
    return TimeSplit(
        windows=names,
        boundaries=bounds,
        window=window,
        reason=reason,
        gap=g,
        lead_policy=lead_policy,
    )


def _time_bounds(
    tv: np.ndarray, cum: np.ndarray, names: tuple[str, ...], gap: pd.Timedelta, gapped: set[str]
) -> list[pd.Timestamp]:
    g_us = int(gap // pd.Timedelta(microseconds=1))
    t0, t1 = int(tv.min()), int(tv.max()) + 1
    n_gaps = sum(1 for w in names[1:] if w in gapped) if g_us > 0 else 0
    span = (t1 - t0) - n_gaps * g_us
    if span <= 0:
        raise ConfigError(
            f"time_split: the data spans {pd.Timedelta(microseconds=t1 - t0)}, less than the "
            f"{n_gaps} gap(s) of {gap}. Fix: use more history or a smaller gap."
        )
    bounds, shift = [], 0
    for i, q in enumerate(cum):
        if g_us > 0 and names[i + 1] in gapped:
            shift += g_us
        b = pd.Timestamp(t0 + round(q * span) + shift, unit="us", tz="UTC").ceil("D")
        bounds.append(b)
    return bounds


def lead_windows(lead_ids: pd.Series, shares: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """Window index per row from a seeded hash of the lead id (stable across runs and machines)."""
    codes, uniq = pd.factorize(lead_ids.astype("object").map(str))
    h = pd.util.hash_array(np.asarray(uniq, dtype=object), hash_key=f"leadml{seed:010d}"[:16])
    u = (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    cum = np.cumsum(shares / shares.sum())
    win = np.minimum(np.searchsorted(cum, u, side="right"), len(shares) - 1)
    return win[codes]


def _utc(v: str | pd.Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(v)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def order_split(
    n_rows: int,
    *,
    windows: Sequence[str] = DEFAULT_WINDOWS,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    shuffle: bool = False,
    seed: int = 0,
) -> TimeSplit:
    """Split rows by position (row order is time order, e.g. bank marketing) or, with
    ``shuffle=True``, at random (only for one-row-per-lead tables with no time at all)."""
    if len(fractions) != len(windows):
        raise ConfigError(
            f"fractions: give one share per window ({len(windows)}), got {fractions!r}."
        )
    fr = np.asarray(fractions, dtype=float)
    ends = np.rint(np.cumsum(fr / fr.sum()) * n_rows).astype(int)
    idx = np.searchsorted(ends, np.arange(n_rows), side="right")
    if shuffle:
        idx = idx[np.random.default_rng(seed).permutation(n_rows)]
    window = np.array(list(windows), dtype=object)[idx]
    return TimeSplit(
        windows=tuple(windows),
        boundaries=[],
        window=window,
        reason=np.full(n_rows, "", dtype=object),
        gap=pd.Timedelta(0),
        lead_policy="random" if shuffle else "row order",
    )
