"""The audit in event mode: events caused by the conversion, and profiles set by the sales process.

Per event type and per (event type, detail): the share of the converted leads' occurrences at or
after their conversion, and the rate per lead-day in the last days before it, each against the
rate per lead-day of the leads that have not converted. Profile columns get the flat checks
(label: ever converted) and, when the leads table has an update time, a comparison of each
column's separation between leads whose row was never updated and leads updated later.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from leadml.audit._flat import MIN_LEVEL_ROWS, fast_findings, finding_row, flat_findings
from leadml.audit._report import AuditReport
from leadml.audit._separation import separation
from leadml.exceptions import DataContractError

__all__ = ["audit_events", "fast_audit", "post_conversion_findings"]

AFTER_SHARE = 0.5
"""An event type with at least this share of its converted leads' occurrences at or after the
conversion..."""
AFTER_RATIO = 5.0
"""...and a rate per lead-day after conversion this many times the unconverted leads' rate is
caused by the conversion (onboarding, invoices, the customer area of the site)."""
WINDOW_DAYS = 7
WINDOW_RATIO, WINDOW_SHARE = 50.0, 0.8
"""A rate per lead-day in the last ``WINDOW_DAYS`` before conversion this many times the
unconverted leads' rate, with this share of all its occurrences in those windows, is a step of
the conversion itself (a contract sent, a checkout)."""
MIN_EVENTS = 20
DRIFT_AUC = 0.15
"""A profile column whose AUC among leads updated later exceeds its AUC among leads never
updated by this much was set by the sales process."""
RESERVED = ("lead_id", "created_at", "account_id")


def _day(t: pd.Series) -> np.ndarray:
    """Days since the epoch as floats (NaN for a missing time)."""
    t = pd.to_datetime(t, utc=True)
    v = t.astype("datetime64[us, UTC]").astype("int64").to_numpy() / 86_400e6
    return np.where(t.isna().to_numpy(), np.nan, v)


def post_conversion_findings(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    conversions: pd.DataFrame,
    *,
    window_days: float = WINDOW_DAYS,
    details: bool = True,
) -> list[dict]:
    """Event types (and type + detail) that occur mostly after conversion or only just before it."""
    conv = conversions.drop_duplicates("lead_id").set_index("lead_id")["converted_at"]
    created = leads.set_index("lead_id")["created_at"]
    pos = pd.Index(created.index).get_indexer(events["lead_id"])
    known = pos >= 0
    ev = events[known]
    if not len(ev):
        return []
    t = _day(ev["timestamp"])
    cv = _day(created.index.to_series().map(conv))
    c = cv[pos[known]]  # NaN: not converted
    end = float(np.nanmax(t))
    is_conv = np.isfinite(c)
    after = is_conv & (t >= c)
    window = is_conv & (t < c) & (t >= c - window_days)
    cr = _day(created)
    conv_ok = np.isfinite(cv)
    unconv_days = float(np.clip(end - cr[~conv_ok], 1e-3, None).sum())
    after_days = float(np.clip(end - cv[conv_ok], 1e-3, None).sum())
    window_days_total = float(np.clip(np.minimum(window_days, cv - cr)[conv_ok], 1e-3, None).sum())
    keys = [("event_type", ev["event_type"].astype(str).to_numpy())]
    if details and "detail" in ev.columns:
        both = ev["event_type"].astype(str) + " " + ev["detail"].astype(str)
        keys.append(("event_type detail", both.where(ev["detail"].notna(), "").to_numpy()))
    rows = []
    for kind, key in keys:
        code, names = pd.factorize(key)
        ok = np.asarray(names, dtype=object) != ""
        m = len(names)
        counts = {
            name: np.bincount(code, weights=w.astype(float), minlength=m)
            for name, w in (
                ("n", np.ones(len(code))),
                ("conv", is_conv),
                ("after", after),
                ("window", window),
                ("unconv", ~is_conv),
            )
        }
        for j in np.flatnonzero(ok):
            k = names[j]
            r = {name: v[j] for name, v in counts.items()}
            n_conv, n_after, n_win, n_un = (
                int(r["conv"]),
                int(r["after"]),
                int(r["window"]),
                int(r["unconv"]),
            )
            n_k = int(r["n"])
            base = n_un / unconv_days
            if n_conv >= MIN_EVENTS and n_after / n_conv >= AFTER_SHARE:
                ratio = (n_after / after_days) / base if base > 0 else np.inf
                if ratio >= AFTER_RATIO:
                    rows.append(
                        finding_row(
                            "after conversion",
                            str(k),
                            "severe",
                            n_after / n_conv,
                            f"{n_after / n_conv:.0%} of the converted leads' {n_conv:,} "
                            f"occurrences are at or after the conversion; rate per lead-day "
                            f"after it {_ratio(ratio)} the unconverted leads' ({n_un:,} "
                            "occurrences)",
                            "an event caused by the conversion (onboarding, invoices, the customer "
                            "area) gives the outcome away in any feature or export that is not cut "
                            "exactly at the cut-off, or when converted_at is recorded late",
                            f"check that converted_at is the real conversion time; drop {kind} "
                            f"{k!r} from the events before training",
                        )
                    )
                    continue
            if n_win >= MIN_EVENTS and n_win / n_k >= WINDOW_SHARE:
                ratio = (n_win / window_days_total) / base if base > 0 else np.inf
                if ratio >= WINDOW_RATIO:
                    rows.append(
                        finding_row(
                            "just before conversion",
                            str(k),
                            "warning",
                            n_win / n_k,
                            f"{n_win / n_k:.0%} of its {n_k:,} occurrences "
                            f"are in the last {window_days:g} days before a conversion; rate "
                            f"per lead-day there {_ratio(ratio)} the unconverted leads'",
                            "an event that happens only in the last days before a conversion "
                            "is a step of the conversion itself (a contract sent, a checkout): "
                            "it predicts the outcome only when it is too late to act",
                            f"drop {kind} {k!r}, or score with a horizon that starts after the "
                            "conversion process does",
                        )
                    )
    return rows


def _ratio(r: float) -> str:
    return "is infinitely above (0 for)" if not np.isfinite(r) else f"is {r:,.0f} times"


def sales_set_findings(
    X: pd.DataFrame,
    y: np.ndarray,
    lag_days: np.ndarray,
    converted_at_days: np.ndarray,
    updated_days: np.ndarray,
    updated_at: str,
) -> list[dict]:
    """Profile columns whose relation to the label is stronger among leads updated later than
    among leads never updated after creation."""
    rows = []
    ok = np.isfinite(lag_days)
    conv = np.isfinite(converted_at_days)
    later = conv & ok & (updated_days > converted_at_days)
    if conv.sum():
        share = float(later.sum() / conv.sum())
        if share >= 0.2:
            rows.append(
                finding_row(
                    "updated after conversion",
                    updated_at,
                    "warning",
                    share,
                    f"{share:.0%} of the converted leads' rows were last updated after their "
                    "conversion",
                    "the leads table is a snapshot taken after the outcome: any column the "
                    "sales process edits holds its value at the end, not at the cut-off",
                    "use the profile values known at creation (or a history of changes)",
                )
            )
    early = ok & (lag_days <= np.nanmedian(lag_days[ok]))
    late = ok & ~early
    if min(early.sum(), late.sum()) < 2 * MIN_LEVEL_ROWS:
        return rows
    groups = np.arange(len(y))
    for col in X.columns:
        a = []
        for m in (early, late):
            if y[m].min() == y[m].max():
                a.append(0.5)
                continue
            s = separation(X.loc[m].reset_index(drop=True), y[m], groups[m], [col])
            a.append(float(s["auc"].iloc[0]))
        if a[1] - a[0] >= DRIFT_AUC:
            rows.append(
                finding_row(
                    "set by sales",
                    col,
                    "severe" if a[1] >= 0.85 else "warning",
                    a[1] - a[0],
                    f"AUC {a[0]:.3f} among the leads never updated after creation vs {a[1]:.3f} "
                    f"among those updated later ({updated_at})",
                    "a value known at creation relates to the outcome the same way whenever the "
                    "row was last touched; one that is stronger on rows edited later was set "
                    "during the sales process",
                    f"use its value at creation, or exclude it (exclude=[{col!r}])",
                )
            )
    return rows


def audit_events(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    conversions: pd.DataFrame,
    *,
    updated_at: str | None = None,
    window_days: float = WINDOW_DAYS,
    exclude: Sequence[str] = (),
) -> AuditReport:
    """Audit the event-mode tables (leads, events, conversions) for leakage.

    Parameters
    ----------
    leads, events, conversions : DataFrame
        The contract tables (``lead_id, created_at`` + profile; ``lead_id, timestamp,
        event_type[, detail]``; ``lead_id, converted_at``).
    updated_at : str, optional
        A leads column with the time each row was last updated (e.g. ``updated_at``); without
        one the "set by sales" check is skipped with an info finding saying what it needs.
    window_days : float
        The "just before conversion" window.
    exclude : sequence of str
        Profile columns not to audit.

    Returns
    -------
    AuditReport
    """
    for name, frame, cols in (
        ("leads", leads, ["lead_id", "created_at"]),
        ("events", events, ["lead_id", "timestamp", "event_type"]),
        ("conversions", conversions, ["lead_id", "converted_at"]),
    ):
        gone = [c for c in cols if c not in frame.columns]
        if gone:
            raise DataContractError(
                f"{name}: column(s) {gone} missing (received {list(frame.columns)[:10]}). Fix: "
                "rename them (a column mapping does it) or pass the right table."
            )
    if updated_at is not None and updated_at not in leads.columns:
        raise DataContractError(
            f"leads.{updated_at}: no such column (columns: {list(leads.columns)[:12]}). Fix: "
            "pass the leads column holding the last update time, or leave updated_at unset."
        )
    leads = leads.assign(created_at=pd.to_datetime(leads["created_at"], utc=True)).reset_index(
        drop=True
    )
    events = events.assign(timestamp=pd.to_datetime(events["timestamp"], utc=True))
    conversions = conversions.assign(
        converted_at=pd.to_datetime(conversions["converted_at"], utc=True)
    )
    y = leads["lead_id"].isin(conversions["lead_id"]).to_numpy(dtype=np.int64)
    if y.min() == y.max():
        raise DataContractError(
            "conversions: every lead or no lead converted; an audit needs both. Fix: pass the "
            "conversions of these leads."
        )
    drop = [c for c in (*RESERVED, updated_at, *exclude) if c and c in leads.columns]
    X = leads.drop(columns=drop)
    rows, checks = flat_findings(X, y, leads["lead_id"].to_numpy())
    rows += post_conversion_findings(leads, events, conversions, window_days=window_days)
    checks += ["after conversion", "just before conversion", "set by sales"]
    if updated_at is None:
        rows.append(
            finding_row(
                "set by sales",
                "(updated_at)",
                "info",
                float("nan"),
                "skipped: the leads table has no update time",
                "a profile value set during the sales process is visible only when we know "
                "when each row was last changed",
                "pass updated_at= (CLI --updated-at) naming the leads column with the last "
                "update time",
            )
        )
    else:
        up = _day(pd.to_datetime(leads[updated_at], utc=True))
        conv = conversions.drop_duplicates("lead_id").set_index("lead_id")["converted_at"]
        cv = _day(leads["lead_id"].map(conv))
        rows += sales_set_findings(X, y, up - _day(leads["created_at"]), cv, up, updated_at)
    info = {
        "mode": "events",
        "leads": len(leads),
        "events": len(events),
        "positive_rate": float(y.mean()),
        "columns": len(X.columns),
        "checks": checks,
    }
    return AuditReport(pd.DataFrame(rows), info)


def fast_audit(
    X: pd.DataFrame,
    y: np.ndarray,
    groups: np.ndarray,
    *,
    leads: pd.DataFrame | None = None,
    events: pd.DataFrame | None = None,
    conversions: pd.DataFrame | None = None,
) -> AuditReport:
    """The checks cheap enough for every training run: separation and id-like on the profile
    columns ``X`` (outcome ``y``, rows grouped by lead), and, given the event-mode tables, event
    types that occur mostly after conversion."""
    rows = fast_findings(X, y, groups)
    if leads is not None and events is not None and conversions is not None and len(events):
        rows += post_conversion_findings(leads, events, conversions, details=False)
    return AuditReport(pd.DataFrame(rows), {"mode": "fast"})
