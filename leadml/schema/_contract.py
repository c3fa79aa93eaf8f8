"""The data contract: table definitions, timestamp normalisation and validation."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from leadml.exceptions import DataContractError, RowsExcludedWarning
from leadml.schema._times import parse_times

__all__ = [
    "CONVERSIONS",
    "CUTOFFS",
    "EVENTS",
    "LEADS",
    "LeadData",
    "TableSpec",
    "examples",
    "to_utc",
    "validate_conversions",
    "validate_cutoffs",
    "validate_events",
    "validate_lead_data",
    "validate_leads",
]

UnknownLeads = Literal["error", "drop", "ignore"]
"""Rows for lead ids not in the leads table: ``error`` (the default), ``drop`` them with a
warning, or ``ignore`` them (keep the known leads' rows, no warning: scoring a few leads with
the full event log, where the other leads' events are not inputs)."""
N_EXAMPLES = 5


@dataclass(frozen=True)
class TableSpec:
    """Name, required and optional columns, and timestamp columns of one contract table."""

    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    timestamps: tuple[str, ...] = field(default=())


LEADS = TableSpec("leads", ("lead_id", "created_at"), ("account_id", "lost_at"), ("created_at",))
EVENTS = TableSpec("events", ("lead_id", "timestamp", "event_type"), ("detail",), ("timestamp",))
CONVERSIONS = TableSpec("conversions", ("lead_id", "converted_at"), (), ("converted_at",))
CUTOFFS = TableSpec("cutoffs", ("lead_id", "as_of"), (), ("as_of",))


def examples(values: Iterable[Any], n: int = N_EXAMPLES) -> str:
    """Format a few example values for an error message: ``'a', 'b', 'c' (and 7 more)``."""
    vals = list(dict.fromkeys(values))  # unique, order kept
    shown = ", ".join(repr(v.item() if isinstance(v, np.generic) else v) for v in vals[:n])
    more = len(vals) - n
    return shown + (f" (and {more} more)" if more > 0 else "")


def check_columns(df: pd.DataFrame, spec: TableSpec) -> None:
    if not isinstance(df, pd.DataFrame):
        raise DataContractError(
            f"{spec.name}: expected a pandas DataFrame, got {type(df).__name__}. "
            "Read files with leadml.schema.read_table(path)."
        )
    missing = [c for c in spec.required if c not in df.columns]
    if missing:
        received = [str(c) for c in df.columns]
        lines = []
        for col in missing:
            close = difflib.get_close_matches(col, received, n=1, cutoff=0.5)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            lines.append(f"  - {col}{hint}")
        diff = "\n".join(lines)
        raise DataContractError(
            f"{spec.name}: missing required column(s):\n{diff}\n"
            f"  expected: {list(spec.required)} (optional: {list(spec.optional)})\n"
            f"  received: {received}\n"
            "Fix: rename your columns with a column mapping (ColumnMapping / --mapping M.yaml)."
        )
    if df.columns.duplicated().any():
        dups = df.columns[df.columns.duplicated()].tolist()
        raise DataContractError(
            f"{spec.name}: duplicate column names {examples(dups)}. Fix: give each column a unique name."
        )
    if len(df) == 0 and spec.name != "events":  # no events yet is a normal state for a lead
        raise DataContractError(
            f"{spec.name}: the table is empty (0 rows). Fix: pass a table with at least one row."
        )


def _ids_at(df: pd.DataFrame, mask: np.ndarray | pd.Series) -> str:
    m = np.asarray(mask, dtype=bool)
    rows = np.flatnonzero(m)
    if "lead_id" in df.columns:
        ids = df["lead_id"].to_numpy()[rows]
        return f"lead ids {examples(ids)} (rows {examples(rows.tolist())})"
    return f"rows {examples(rows.tolist())}"


def to_utc(
    values: pd.Series,
    *,
    table: str,
    column: str,
    frame: pd.DataFrame | None = None,
    time_format: str | None = None,
) -> pd.Series:
    """Parse a column to ``datetime64[us, UTC]`` with one format for the whole column.

    Naive timestamps are taken to be in UTC; timezone-aware ones are converted to UTC; numbers
    are Unix times (unit detected or given); text uses ``time_format`` or the one format that
    reads every value (see :func:`leadml.schema.parse_times`). Values that do not fit, ambiguous
    day/month orders and implausible times raise :class:`DataContractError` naming the rows.
    Missing values (None, NaN, empty string) stay missing (NaT).
    """
    ids = frame["lead_id"] if frame is not None and "lead_id" in frame.columns else None
    return parse_times(values, table=table, column=column, time_format=time_format, ids=ids)


def _normalise(df: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    check_columns(df, spec)
    out = df.copy()
    out.index = pd.RangeIndex(len(out))
    if out["lead_id"].isna().any():
        rows = np.flatnonzero(out["lead_id"].isna().to_numpy())
        raise DataContractError(
            f"{spec.name}.lead_id: {len(rows)} missing value(s) at rows {examples(rows.tolist())}. "
            "Fix: every row needs a lead id."
        )
    for col in spec.timestamps:
        out[col] = to_utc(out[col], table=spec.name, column=col, frame=out)
        if out[col].isna().any():
            raise DataContractError(
                f"{spec.name}.{col}: {int(out[col].isna().sum())} missing timestamp(s) at "
                f"{_ids_at(out, out[col].isna().to_numpy())}. Fix: fill them or remove those rows "
                "before calling leadml."
            )
    return out


def _text(s: pd.Series) -> pd.Series:
    """A text column as pandas' string dtype (missing stays missing), without a Python loop."""
    if pd.api.types.is_string_dtype(s.dtype) and not pd.api.types.is_object_dtype(s.dtype):
        return s
    return s.astype("string[pyarrow]").astype(pd.StringDtype("pyarrow", na_value=np.nan))


def _unify_ids(ids: pd.Series, reference: pd.Series, table: str) -> pd.Series:
    """Cast lead ids to the dtype of the leads table (integer ids stay integers)."""
    if pd.api.types.is_integer_dtype(reference.dtype):
        if pd.api.types.is_integer_dtype(ids.dtype):
            return ids.astype("int64")
        num = pd.to_numeric(ids, errors="coerce")
        bad = num.isna() | (num != np.floor(num))
        if bool(bad.any()):
            raise DataContractError(
                f"{table}.lead_id: leads.lead_id is an integer column but {table} has ids that are "
                f"not integers: {examples(ids[bad].tolist())}. Fix: use the same id type in every table."
            )
        return num.astype("int64")
    return _text(ids.astype(str)) if not pd.api.types.is_string_dtype(ids.dtype) else _text(ids)


def validate_leads(leads: pd.DataFrame) -> pd.DataFrame:
    """Validate the leads table and return a normalised copy (UTC timestamps, fresh index).

    ``lost_at`` (optional, may be missing per lead) is when a lead was closed without
    converting (disqualified, closed-lost): it is never a feature, no training row exists at or
    after it, and scoring marks such leads (``status = "lost"``).
    """
    out = _normalise(leads, LEADS)
    if not pd.api.types.is_integer_dtype(out["lead_id"].dtype):
        out["lead_id"] = _text(out["lead_id"].astype(str))
    _inf_is_missing(out)
    if "lost_at" in out.columns:
        out["lost_at"] = to_utc(out["lost_at"], table="leads", column="lost_at", frame=out)
        early = (out["lost_at"] < out["created_at"]).to_numpy()
        if early.any():
            raise DataContractError(
                f"leads.lost_at: {int(early.sum())} lead(s) are lost before they were created, at "
                f"{_ids_at(out, early)}. Fix: check the time zones of lost_at and created_at."
            )
    dup = out["lead_id"].duplicated(keep=False)
    if bool(dup.any()):
        raise DataContractError(
            f"leads.lead_id: {int(out['lead_id'][dup].nunique())} lead id(s) appear more than once: "
            f"{examples(out['lead_id'][dup].tolist())}. Fix: keep one row per lead "
            "(e.g. the latest profile) before calling leadml."
        )
    return out


def _inf_is_missing(leads: pd.DataFrame) -> None:
    """The rule for infinite numbers in profile columns: they are missing (NaN), reported with the
    column and example lead ids. In place, on the validated copy."""
    for col in leads.columns:
        s = leads[col]
        if col in LEADS.required or not pd.api.types.is_float_dtype(s.dtype):
            continue
        inf = np.isinf(s.to_numpy(dtype=float, na_value=np.nan))
        if inf.any():
            import warnings

            warnings.warn(
                f"leads.{col}: {int(inf.sum())} infinite value(s) read as missing, at "
                f"{_ids_at(leads, inf)}. Fix: correct them at the source if they mean something.",
                RowsExcludedWarning,
                stacklevel=4,
            )
            leads[col] = s.mask(pd.Series(inf, index=s.index))


def isin(values: pd.Series, reference: pd.Series) -> np.ndarray:
    """``values.isin(reference)`` as a boolean array, hashed in Arrow (pandas' isin on Arrow
    strings loops in Python)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        got = pc.is_in(pa.array(values), value_set=pa.array(pd.unique(reference)))
        return np.asarray(got.to_numpy(zero_copy_only=False), dtype=bool)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return values.isin(reference).to_numpy(dtype=bool)


def positions(values: pd.Series, reference: pd.Series) -> np.ndarray:
    """Position of each value in ``reference`` (unique), -1 when absent: ``Index.get_indexer``,
    hashed in Arrow."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        got = pc.index_in(pa.array(values), value_set=pa.array(reference))
        return np.asarray(got.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return np.asarray(pd.Index(reference).get_indexer(values), dtype=np.int64)


def _unknown(
    df: pd.DataFrame, leads: pd.DataFrame, table: str, unknown_leads: UnknownLeads
) -> pd.DataFrame:
    known = pd.Series(isin(df["lead_id"], leads["lead_id"]), index=df.index)
    if bool(known.all()):
        return df
    bad_ids = df.loc[~known, "lead_id"]
    n_rows, n_ids = int((~known).sum()), int(bad_ids.nunique())
    if unknown_leads == "ignore":
        return df.loc[known].reset_index(drop=True)
    if unknown_leads == "drop":
        import warnings

        warnings.warn(
            f"{table}: dropped {n_rows} row(s) for {n_ids} lead id(s) not in the leads table: "
            f"{examples(bad_ids.tolist())}.",
            RowsExcludedWarning,
            stacklevel=3,
        )
        return df.loc[known].reset_index(drop=True)
    raise DataContractError(
        f"{table}.lead_id: {n_rows} row(s) refer to {n_ids} lead id(s) that are not in the leads "
        f"table: {examples(bad_ids.tolist())}. Fix: add those leads, or pass "
        "unknown_leads='drop' (CLI: --drop-unknown-leads) to drop these rows with a report."
    )


def validate_events(
    events: pd.DataFrame, leads: pd.DataFrame, *, unknown_leads: UnknownLeads = "error"
) -> pd.DataFrame:
    """Validate the events table against validated ``leads``; return a normalised copy."""
    out = _normalise(events, EVENTS)
    out["lead_id"] = _unify_ids(out["lead_id"], leads["lead_id"], "events")
    if out["event_type"].isna().any():
        raise DataContractError(
            f"events.event_type: {int(out['event_type'].isna().sum())} missing value(s) at "
            f"{_ids_at(out, out['event_type'].isna().to_numpy())}. Fix: every event needs a type."
        )
    out["event_type"] = _text(out["event_type"])
    if "detail" in out.columns:
        out["detail"] = _text(out["detail"])
    return _unknown(out, leads, "events", unknown_leads)


def validate_conversions(
    conversions: pd.DataFrame, leads: pd.DataFrame, *, unknown_leads: UnknownLeads = "error"
) -> pd.DataFrame:
    """Validate conversions (first conversion per lead) against validated ``leads``."""
    out = _normalise(conversions, CONVERSIONS)
    out["lead_id"] = _unify_ids(out["lead_id"], leads["lead_id"], "conversions")
    out = _unknown(out, leads, "conversions", unknown_leads)
    dup = out["lead_id"].duplicated(keep=False)
    if bool(dup.any()):
        raise DataContractError(
            f"conversions.lead_id: {int(out['lead_id'][dup].nunique())} lead(s) have more than one "
            f"conversion: {examples(out['lead_id'][dup].tolist())}. The contract is the FIRST "
            "conversion per lead. Fix: conversions.sort_values('converted_at')"
            ".drop_duplicates('lead_id')."
        )
    created = out["lead_id"].map(leads.set_index("lead_id")["created_at"])
    before = (out["converted_at"] < created).to_numpy()
    if before.any():
        raise DataContractError(
            f"conversions.converted_at: {int(before.sum())} conversion(s) happen before the lead's "
            f"leads.created_at, at {_ids_at(out, before)}. Fix: check the time zones of both "
            "columns, or correct created_at."
        )
    return out


def validate_cutoffs(
    cutoffs: pd.DataFrame, leads: pd.DataFrame, *, unknown_leads: UnknownLeads = "error"
) -> pd.DataFrame:
    """Validate explicit cut-offs (lead_id, as_of): known leads, no duplicate pairs."""
    out = _normalise(cutoffs, CUTOFFS)
    out["lead_id"] = _unify_ids(out["lead_id"], leads["lead_id"], "cutoffs")
    # a requested row is never dropped without a report: "ignore" reports like "drop" here
    policy: UnknownLeads = "drop" if unknown_leads == "ignore" else unknown_leads
    out = _unknown(out, leads, "cutoffs", policy)
    dup = out.duplicated(["lead_id", "as_of"], keep=False).to_numpy()
    if dup.any():
        raise DataContractError(
            f"cutoffs: {int(dup.sum())} duplicate (lead_id, as_of) row(s) at {_ids_at(out, dup)}. "
            "Fix: cutoffs.drop_duplicates(['lead_id', 'as_of'])."
        )
    return out[["lead_id", "as_of"]]


@dataclass(frozen=True)
class LeadData:
    """Validated contract tables. Build it with :func:`validate_lead_data`."""

    leads: pd.DataFrame
    events: pd.DataFrame
    conversions: pd.DataFrame

    @property
    def observed_until(self) -> pd.Timestamp:
        """The latest timestamp seen in any table: the default end of the data."""
        stamps = [self.leads["created_at"].max()]
        if len(self.events):
            stamps.append(self.events["timestamp"].max())
        if len(self.conversions):
            stamps.append(self.conversions["converted_at"].max())
        return pd.Timestamp(max(stamps))


def empty_events() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "lead_id": pd.Series([], dtype=object),
            "timestamp": pd.Series([], dtype="datetime64[us, UTC]"),
            "event_type": pd.Series([], dtype=object),
            "detail": pd.Series([], dtype=object),
        }
    )


def empty_conversions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "lead_id": pd.Series([], dtype=object),
            "converted_at": pd.Series([], dtype="datetime64[us, UTC]"),
        }
    )


def validate_lead_data(
    leads: pd.DataFrame,
    events: pd.DataFrame | None = None,
    conversions: pd.DataFrame | None = None,
    *,
    unknown_leads: UnknownLeads = "error",
) -> LeadData:
    """Validate the three contract tables together and return them normalised.

    ``events`` may be omitted (profile-only scoring); ``conversions`` may be omitted or empty
    (no lead has converted, or scoring). An *empty* events table is allowed only when passed
    as ``None``: an explicitly passed empty table is almost always a mistake and raises.
    """
    lv = validate_leads(leads)
    if events is None:
        ev = empty_events()
        ev["lead_id"] = ev["lead_id"].astype(lv["lead_id"].dtype)
    else:
        ev = validate_events(events, lv, unknown_leads=unknown_leads)
    if "detail" not in ev.columns:
        ev["detail"] = None
    if conversions is None or (isinstance(conversions, pd.DataFrame) and len(conversions) == 0):
        if conversions is not None:
            _check_columns_only(conversions, CONVERSIONS)
        cv = empty_conversions()
        cv["lead_id"] = cv["lead_id"].astype(lv["lead_id"].dtype)
    else:
        cv = validate_conversions(conversions, lv, unknown_leads=unknown_leads)
    return LeadData(leads=lv, events=ev, conversions=cv)


def _check_columns_only(df: pd.DataFrame, spec: TableSpec) -> None:
    missing = [c for c in spec.required if c not in df.columns]
    if missing:
        raise DataContractError(
            f"{spec.name}: missing required column(s) {missing}; received {list(df.columns)}. "
            "Fix: rename your columns with a column mapping."
        )


def require_columns(df: pd.DataFrame, table: str, columns: Sequence[str]) -> None:
    """Raise a contract error if ``columns`` are not all in ``df``."""
    check_columns(df, TableSpec(table, tuple(columns)))
