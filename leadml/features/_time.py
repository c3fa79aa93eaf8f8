"""Durations and the cut-off schedule."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from leadml.exceptions import ConfigError

__all__ = ["DAY_US", "make_cutoffs", "parse_duration", "to_us"]

DAY_US = 86_400_000_000  # microseconds in a day: every engine works in integer microseconds (UTC)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(d|day|days|w|week|weeks|h|hour|hours)?\s*$", re.I)


def parse_duration(
    value: str | int | float | pd.Timedelta, *, name: str = "duration"
) -> pd.Timedelta:
    """Parse ``"30d"``, ``"2w"``, ``"12h"``, a number of days, or a Timedelta."""
    if isinstance(value, pd.Timedelta):
        td = value
    elif isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        td = pd.Timedelta(days=float(value))
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        n, unit = float(m.group(1)), (m.group(2) or "d").lower()[0]
        td = (
            pd.Timedelta(days=n * 7)
            if unit == "w"
            else pd.Timedelta(hours=n)
            if unit == "h"
            else pd.Timedelta(days=n)
        )
    else:
        raise ConfigError(
            f"{name}: cannot read {value!r} as a duration. Use e.g. '30d', '2w', '12h' or 30."
        )
    if td <= pd.Timedelta(0):
        raise ConfigError(f"{name}: must be positive, got {value!r}.")
    return td


def to_us(s: pd.Series) -> np.ndarray:
    """UTC timestamps as integer microseconds since the epoch."""
    return s.astype("datetime64[us, UTC]").astype("int64").to_numpy()


def _ts(value: str | pd.Timestamp) -> pd.Timestamp:
    t = pd.Timestamp(value)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def make_cutoffs(
    leads: pd.DataFrame,
    conversions: pd.DataFrame | None = None,
    *,
    every: str | int | pd.Timedelta,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    max_age: str | int | pd.Timedelta | None = None,
) -> pd.DataFrame:
    """Cut-offs on a calendar schedule: ``start + k * every`` for ``k >= 0`` up to ``end``.

    At each cut-off ``t`` every lead that exists (``created_at <= t``), has not converted (no
    conversion at or before ``t``) and is not lost (no ``lost_at`` at or before ``t``) gets a
    row; with ``max_age``, only leads at most that old.
    ``start`` defaults to the UTC midnight of the first ``created_at``; ``end`` to the last
    ``created_at`` or conversion. Rows are sorted by ``(as_of, lead_id)``.
    """
    step = parse_duration(every, name="every")
    created = leads["created_at"]
    t0 = _ts(start) if start is not None else created.min().normalize()
    conv = None
    if conversions is not None and len(conversions):
        conv = conversions.set_index("lead_id")["converted_at"]
    t1 = (
        _ts(end)
        if end is not None
        else max(created.max(), conv.max() if conv is not None else created.max())
    )
    step_us = int(step / pd.Timedelta(microseconds=1))
    t0_us = int(t0.value // 1000)
    k_max = (int(t1.value // 1000) - t0_us) // step_us
    c_us = to_us(created)
    # first k with t0 + k*step >= created
    k_lo = np.maximum(0, -(-(c_us - t0_us) // step_us))
    k_hi = np.full(len(leads), k_max)
    if conv is not None:
        cv = leads["lead_id"].map(conv)
        has = cv.notna().to_numpy()
        cv_us = np.zeros(len(leads), dtype="int64")
        cv_us[has] = to_us(cv[has])
        # last k with t0 + k*step < converted_at
        k_hi = np.where(has, np.minimum(k_hi, (cv_us - t0_us - 1) // step_us), k_hi)
    if "lost_at" in leads.columns:
        lost = leads["lost_at"]
        has = lost.notna().to_numpy()
        if has.any():
            lost_us = np.zeros(len(leads), dtype="int64")
            lost_us[has] = to_us(lost[has])
            k_hi = np.where(has, np.minimum(k_hi, (lost_us - t0_us - 1) // step_us), k_hi)
    if max_age is not None:
        age_us = int(parse_duration(max_age, name="max_age") / pd.Timedelta(microseconds=1))
        k_hi = np.minimum(k_hi, (c_us + age_us - t0_us) // step_us)
    n = np.maximum(0, k_hi - k_lo + 1)
    idx = np.repeat(np.arange(len(leads)), n)
    k = np.repeat(k_lo, n) + (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n))
    as_of = pd.to_datetime(t0_us + k * step_us, unit="us", utc=True).astype("datetime64[us, UTC]")
    out = pd.DataFrame({"lead_id": leads["lead_id"].to_numpy()[idx], "as_of": as_of})
    if len(out) == 0:
        raise ConfigError(
            f"make_cutoffs: the schedule every {step} from {t0} to {t1} gives no cut-off for any lead. "
            "Fix: check start/end, or that leads exist before the end of the data."
        )
    return out.sort_values(["as_of", "lead_id"], kind="stable").reset_index(drop=True)
