"""Timestamp parsing with one format per column: detected, or given, never guessed row by row.

The rule, for every timestamp column of every table:

- datetime columns are taken as they are (naive ones are UTC, aware ones are converted to UTC);
- numbers (or text holding only numbers) are Unix epochs; the unit (s, ms, us, ns) is given
  (``"epoch_s"`` ...) or detected from the magnitude, and must put every value in the plausible range;
- text is parsed with ONE format for the whole column: the given one (a ``strftime`` pattern such
  as ``"%d/%m/%Y"``, or ``"ISO8601"``), else the single candidate format that reads every value.
  Day-first and month-first dates that both fit (every day <= 12) are ambiguous and an error;
  a column whose values need two different formats is an error that shows an example of each;
- every parsed time must lie in :data:`PLAUSIBLE` (1980 .. 2100), or the column is an error: a
  wrong epoch unit or a two-digit year otherwise goes unnoticed.

Missing values (None, NaN, empty strings) stay missing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from leadml.exceptions import DataContractError

__all__ = ["EPOCH_UNITS", "FLAT_TIME", "PLAUSIBLE", "TEXT_FORMATS", "parse_instant", "parse_times"]

PLAUSIBLE = (pd.Timestamp("1980-01-01", tz="UTC"), pd.Timestamp("2100-01-01", tz="UTC"))
FLAT_TIME = pd.Timestamp("2000-01-01", tz="UTC")
"""The creation time flat mode gives every lead (a flat table has no event times to compare)."""
EPOCH_UNITS = {"epoch_s": "s", "epoch_ms": "ms", "epoch_us": "us", "epoch_ns": "ns"}
TEXT_FORMATS: tuple[str, ...] = (
    "ISO8601",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M:%S",
    "%d.%m.%Y",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y %H:%M:%S",
    "%d-%m-%Y",
    "%m-%d-%Y",
    "%Y/%m/%d",
    "%Y/%m/%d %H:%M:%S",
    "%d %b %Y",
    "%b %d %Y",
    "%d %B %Y",
    "%B %d, %Y",
)
"""The formats detection tries, in this order (``ISO8601`` covers ``2024-03-01``,
``2024-03-01 09:30``, ``2024-03-01T09:30:00Z`` and offsets)."""
_AMBIGUOUS = {
    "%d/%m/%Y": "%m/%d/%Y",
    "%d/%m/%Y %H:%M": "%m/%d/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S": "%m/%d/%Y %H:%M:%S",
    "%d-%m-%Y": "%m-%d-%Y",
}
SAMPLE = 2000  # distinct values tried per candidate format before the whole column is parsed


def _fix(table: str, column: str) -> str:
    return (
        f"Fix: give the format, e.g. --time-format '%d/%m/%Y' (or in the column mapping: "
        f"formats: {{{table}: {{{column}: '%d/%m/%Y'}}}}), 'ISO8601', or 'epoch_s' / 'epoch_ms' for "
        "Unix times; in Python, parse the column first with pd.to_datetime(..., format=...)."
    )


def _where(values: pd.Series, mask: np.ndarray, ids: pd.Series | None) -> str:
    rows = np.flatnonzero(mask)
    shown = ", ".join(repr(str(v)) for v in pd.unique(values.to_numpy()[rows])[:3])
    if ids is not None:
        lead = ", ".join(
            repr(v.item() if isinstance(v, np.generic) else v)
            for v in pd.unique(ids.to_numpy()[rows])[:5]
        )
        return f"{shown} (lead ids {lead}; rows {', '.join(str(r) for r in rows[:5])})"
    return f"{shown} (rows {', '.join(str(r) for r in rows[:5])})"


def _check_range(
    out: pd.Series, raw: pd.Series, table: str, column: str, ids: pd.Series | None, how: str
) -> pd.Series:
    bad = (out.notna() & ((out < PLAUSIBLE[0]) | (out >= PLAUSIBLE[1]))).to_numpy()
    if bad.any():
        raise DataContractError(
            f"{table}.{column}: {int(bad.sum())} value(s) read as {how} fall outside "
            f"{PLAUSIBLE[0]:%Y}..{PLAUSIBLE[1]:%Y}: {_where(raw, bad, ids)} -> "
            f"{out[bad].iloc[0]}. A wrong epoch unit or format does this. {_fix(table, column)}"
        )
    return out


def _epoch(
    num: pd.Series, unit: str | None, raw: pd.Series, table: str, column: str, ids: pd.Series | None
) -> pd.Series:
    v = num.to_numpy(dtype=float, na_value=np.nan)
    if unit is None:
        finite = np.abs(v[np.isfinite(v)])
        if not len(finite):
            return pd.Series(pd.NaT, index=num.index, dtype="datetime64[us, UTC]")
        lo, hi = (p.value / 1e9 for p in PLAUSIBLE)  # plausible range in seconds
        med = float(np.median(finite))
        fits = [
            u for u, k in (("s", 1), ("ms", 1e3), ("us", 1e6), ("ns", 1e9)) if lo <= med / k < hi
        ]
        if not fits:
            raise DataContractError(
                f"{table}.{column}: numbers such as {_where(raw, np.isfinite(v), ids)} are no Unix "
                f"time in seconds, milliseconds, microseconds or nanoseconds between "
                f"{PLAUSIBLE[0]:%Y} and {PLAUSIBLE[1]:%Y}. {_fix(table, column)}"
            )
        unit = fits[0]
    mult = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": 0.001}[unit]
    with np.errstate(invalid="ignore", over="ignore"):
        us = np.where(np.isfinite(v), np.round(v * mult), np.nan)
    out = pd.Series(pd.to_datetime(us, unit="us", utc=True), index=num.index)
    return _check_range(out.astype("datetime64[us, UTC]"), raw, table, column, ids, f"epoch {unit}")


def _parse(text: pd.Series, fmt: str) -> pd.Series:
    if fmt == "ISO8601":
        return pd.to_datetime(text, errors="coerce", utc=True, format="ISO8601")
    return pd.to_datetime(text, errors="coerce", utc=True, format=fmt)


def parse_times(
    values: pd.Series,
    *,
    table: str,
    column: str,
    time_format: str | None = None,
    ids: pd.Series | None = None,
) -> pd.Series:
    """Parse one timestamp column to ``datetime64[us, UTC]`` with one format (see the module).

    Parameters
    ----------
    values : Series
    table, column : str
        For error messages.
    time_format : str, optional
        ``"ISO8601"``, a ``strftime`` pattern, or ``"epoch_s"`` / ``"epoch_ms"`` / ``"epoch_us"`` /
        ``"epoch_ns"``; detected when omitted.
    ids : Series, optional
        Lead ids of the rows, for error messages.
    """
    s = values
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        out = s.dt.tz_convert("UTC").astype("datetime64[us, UTC]")
        return _check_range(out, s, table, column, ids, "a datetime")
    if pd.api.types.is_datetime64_dtype(s.dtype):
        out = s.dt.tz_localize("UTC").astype("datetime64[us, UTC]")
        return _check_range(out, s, table, column, ids, "a datetime")
    if time_format in EPOCH_UNITS or (
        time_format is None
        and pd.api.types.is_numeric_dtype(s.dtype)
        and not pd.api.types.is_bool_dtype(s.dtype)
    ):
        num = pd.to_numeric(s, errors="coerce")
        bad = (num.isna() & s.notna()).to_numpy()
        if bad.any():
            raise DataContractError(
                f"{table}.{column}: {int(bad.sum())} value(s) are not numbers although the column is "
                f"read as Unix times: {_where(s, bad, ids)}. {_fix(table, column)}"
            )
        return _epoch(num, EPOCH_UNITS.get(time_format or ""), s, table, column, ids)
    raw = s.astype("object")
    blank = (raw.isna() | raw.map(lambda v: isinstance(v, str) and v.strip() == "")).to_numpy()
    text = raw.where(~blank, None).map(lambda v: v.strip() if isinstance(v, str) else v)
    present = text[~blank]
    if not len(present):
        return pd.Series(pd.NaT, index=s.index, dtype="datetime64[us, UTC]")
    given = time_format is not None
    if time_format is None:
        num = pd.to_numeric(present, errors="coerce")
        full = pd.to_numeric(text, errors="coerce")
        if num.notna().all():  # text holding Unix times
            return _epoch(full, None, s, table, column, ids)
        if num.notna().mean() > 0.5 and _parse(present, "ISO8601").isna().any():
            # mostly Unix times (and not ISO dates such as 20240101): the others are the offenders
            bad = (full.isna() & ~blank).to_numpy()
            raise DataContractError(
                f"{table}.{column}: {int(bad.sum())} value(s) are not numbers although the other "
                f"{int(num.notna().sum()):,} are (Unix times): {_where(s, bad, ids)}. "
                f"{_fix(table, column)}"
            )
        time_format = _detect(present, table, column, ids)
    parsed = _parse(text, time_format)
    bad = (parsed.isna() & ~blank).to_numpy()
    if bad.any():
        how = "given" if given else "detected: it reads the other values"
        others = [
            f
            for f in TEXT_FORMATS
            if f != time_format
            and _parse(pd.Series(s.to_numpy()[bad]).astype(str), f).notna().any()
        ]
        mix = f" Some read as {others[0]!r}: the column mixes formats." if others else ""
        raise DataContractError(
            f"{table}.{column}: {int(bad.sum())} value(s) do not match the format "
            f"{time_format!r} ({how}): {_where(s, bad, ids)}.{mix} {_fix(table, column)}"
        )
    if time_format == "ISO8601":
        _check_zones(text, blank, s, table, column, ids)
    out = parsed.astype("datetime64[us, UTC]")
    return _check_range(out, s, table, column, ids, f"format {time_format!r}")


# a zone after a time of day (a date alone, 2024-03-01, ends in digits that are not a zone)
_ZONE = r"\d:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:Z|UTC|[+-]\d{2}(?::?\d{2})?)$"


def _check_zones(
    text: pd.Series, blank: np.ndarray, s: pd.Series, table: str, column: str, ids: pd.Series | None
) -> None:
    """Times of day with a zone (``Z``, ``+02:00``) and without one in the same column are an
    error: a time without one would be read as UTC although it may be local time."""
    present = ~blank
    strings = text.astype("string")
    aware = strings.str.contains(_ZONE, regex=True).fillna(False).to_numpy(bool)
    # a time of day without a zone (a date alone is midnight UTC and is not counted)
    clock = strings.str.contains(r"\d:\d{2}", regex=True).fillna(False).to_numpy(bool)
    naive = present & clock & ~aware
    if (present & aware).any() and naive.any():
        raise DataContractError(
            f"{table}.{column}: {int((present & aware).sum()):,} value(s) carry a time zone and "
            f"{int(naive.sum()):,} do not (these would be read as UTC although they may be local "
            f"time): {_where(s, naive, ids)}. Fix: export every value with its zone (or all in "
            "UTC without one)."
        )


def _detect(present: pd.Series, table: str, column: str, ids: pd.Series | None) -> str:
    """The one format that reads a sample of the distinct values (the caller then parses the whole
    column with it, so a column mixing formats is caught there)."""
    uniq = pd.Series(pd.unique(present.to_numpy()))
    sample = uniq if len(uniq) <= SAMPLE else uniq.sample(SAMPLE, random_state=0)
    scores = {}
    for fmt in TEXT_FORMATS:
        ok = _parse(sample, fmt).notna()
        scores[fmt] = int(ok.sum())
        if not ok.all():
            continue
        other = _AMBIGUOUS.get(fmt)
        if other is not None and _parse(sample, other).notna().all():
            # the sample fits both: decide on every distinct value (rare: all days <= 12 so far)
            day_first, month_first = (_parse(uniq, f).notna().all() for f in (fmt, other))
            if day_first and month_first:
                raise DataContractError(
                    f"{table}.{column}: the dates read both day-first ({fmt!r}) and month-first "
                    f"({other!r}): every day is 12 or less, e.g. "
                    f"{', '.join(map(repr, uniq[:3].astype(str)))}. leadml does not guess. "
                    f"{_fix(table, column)}"
                )
            return fmt if day_first else other
        return fmt
    best = max(scores, key=lambda k: scores[k])
    if scores[best] == 0:
        raise DataContractError(
            f"{table}.{column}: no known time format reads values such as "
            f"{', '.join(map(repr, sample[:3].astype(str)))}. {_fix(table, column)}"
        )
    return best  # the caller parses the whole column with it and names the rows that differ


def parse_instant(value: object, *, what: str = "as_of") -> pd.Timestamp:
    """One point in time given by a person or a program (``--as-of``, ``as_of=``): an ISO date or
    time, a ``Timestamp`` or ``datetime``; naive means UTC. Anything else is a clear error."""
    try:
        t = pd.Timestamp(value)  # type: ignore[arg-type]
    except (ValueError, TypeError):
        t = pd.NaT  # type: ignore[assignment]
    if pd.isna(t):
        raise DataContractError(
            f"{what}: cannot read {value!r} as a time. Fix: use an ISO date or time, e.g. "
            "'2025-02-24' or '2025-02-24T09:00:00Z' (naive times are UTC)."
        )
    t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    if not PLAUSIBLE[0] <= t < PLAUSIBLE[1]:
        raise DataContractError(
            f"{what}: {t} is outside {PLAUSIBLE[0]:%Y}..{PLAUSIBLE[1]:%Y}. Fix: check the date."
        )
    return t


def format_list(formats: Sequence[str] = TEXT_FORMATS) -> str:
    """The detected formats, for help texts."""
    return ", ".join(formats)
