"""Reason groups (features with one business meaning) and their wording for sales reps.

Everything is derived from the fitted :class:`FeatureSpec` (``feature_meta_``), so new event
types, details and profile columns are grouped and worded without code changes. The verb used
for an event type can be overridden (``wording={"page_view": "Visited {detail}"}``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from leadml.features import OTHER_LEVEL, FeatureSpec

__all__ = ["DEFAULT_WORDING", "Group", "describe", "feature_groups"]

DEFAULT_WORDING: dict[str, tuple[str, str]] = {
    # event type: (phrase without detail, phrase with {detail})
    "page_view": ("Viewed pages", "Viewed {detail}"),
    "email_sent": ("Was sent e-mails", "Was sent {detail} e-mails"),
    "email_open": ("Opened e-mails", "Opened {detail} e-mails"),
    "email_click": ("Clicked e-mails", "Clicked {detail} e-mails"),
    "form_fill": ("Filled in forms", "Filled in the {detail} form"),
    "content_download": ("Downloaded content", "Downloaded a {detail}"),
    "webinar_attended": ("Attended webinars", "Attended the {detail} webinar"),
    "demo_request": ("Requested a demo", "Requested a demo ({detail})"),
    "unsubscribe": ("Unsubscribed", "Unsubscribed from {detail}"),
}


@dataclass(frozen=True)
class Group:
    """A reason: every feature derived from one source (e.g. all windows of pricing page views)."""

    key: str
    label: str
    features: tuple[str, ...]


def humanise(name: str) -> str:
    """``"email_domain_type"`` -> ``"Email domain type"``."""
    text = str(name).replace("_", " ").strip()
    return text[:1].upper() + text[1:] if text else text


def _phrase(event_type: str | None, detail: str | None, wording: Mapping[str, Any]) -> str:
    if event_type is None:
        return "Activity"
    custom = wording.get(event_type)
    if isinstance(custom, str):
        pair = (custom.replace(" {detail}", "").replace("{detail}", ""), custom)
    elif custom is not None:
        pair = (str(custom[0]), str(custom[1]))
    else:
        pair = DEFAULT_WORDING.get(
            event_type, (humanise(event_type), humanise(event_type) + " ({detail})")
        )
    return pair[1].format(detail=detail) if detail is not None else pair[0]


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text else text


def feature_groups(spec: FeatureSpec, wording: Mapping[str, Any] | None = None) -> list[Group]:
    """Groups in a stable order (profile, age, activity, inactivity, per event source, account)."""
    wording = wording or {}
    groups: dict[str, tuple[str, list[str]]] = {}
    for name in spec.feature_names_:
        meta = spec.feature_meta_[name]
        kind = meta["kind"]
        if kind == "profile":
            key, label = f"profile:{meta['column']}", humanise(meta["column"])
        elif kind == "lead_age":
            key, label = "lead_age", "Lead age"
        elif (
            kind in ("count", "count_ever", "decay", "recency")
            and meta.get("event_type") is not None
        ):
            t, d = meta["event_type"], meta.get("detail")
            key, label = f"event:{t}:{d if d is not None else ''}", _phrase(t, d, wording)
        elif kind == "recency":
            key, label = "inactivity", "Time since last activity"
        elif kind in ("count", "count_ever", "active_days", "trend", "decay"):
            key, label = "activity", "Overall activity"
        elif kind.startswith("account"):
            key, label = "account", "Account activity"
        else:  # pragma: no cover - every kind of FeatureSpec is listed above
            key, label = f"other:{name}", humanise(name)
        groups.setdefault(key, (label, []))[1].append(name)
    return [Group(k, label, tuple(f)) for k, (label, f) in groups.items()]


def _times(n: float) -> str:
    n_int = round(n)
    return "once" if n_int == 1 else f"{n_int} times"


def describe(
    spec: FeatureSpec, feature: str, value: Any, wording: Mapping[str, Any] | None = None
) -> str:
    """A sentence for one feature value, e.g. ``"Viewed /pricing 4 times in the last 7 days"``."""
    wording = wording or {}
    meta = spec.feature_meta_[feature]
    kind = meta["kind"]
    missing = value is None or (isinstance(value, float) and math.isnan(value))
    if kind == "profile":
        label = humanise(meta["column"])
        if missing:
            return f"{label} unknown"
        if meta.get("type") == "categorical":
            return f"{label}: other" if value == OTHER_LEVEL else f"{label}: {value}"
        return f"{label}: {float(value):g}"
    if kind == "lead_age":
        return "Lead age unknown" if missing else f"Lead created {float(value):.0f} days ago"
    t, d = meta.get("event_type"), meta.get("detail")
    if kind in ("count", "count_ever") and t is not None:
        phrase = _phrase(t, d, wording)
        where = f"in the last {meta['window']} days" if kind == "count" else "in total"
        if missing or float(value) == 0:
            return (
                f"Not {_lower_first(phrase)} {where}"
                if kind == "count"
                else f"Never {_lower_first(phrase)}"
            )
        return f"{phrase} {_times(float(value))} {where}"
    if kind == "recency" and t is not None:
        phrase = _lower_first(_phrase(t, d, wording))
        if missing:
            return f"Never {phrase}"
        v = float(value)
        return f"Last {phrase} less than a day ago" if v < 1 else f"Last {phrase} {v:.0f} days ago"
    if kind == "decay":
        hl = meta.get("half_life_days")
        what = f"{_phrase(t, d, wording)}" if t is not None else "All activity"
        v = 0.0 if missing else float(value)
        return f"{what}, weighted to recent days (half-life {hl:g} days): {v:.1f}"
    if kind == "recency":
        if missing:
            return "No activity yet"
        v = float(value)
        return "Active in the last day" if v < 1 else f"No activity for {v:.0f} days"
    if kind == "count":
        v = 0.0 if missing else float(value)
        w = meta["window"]
        return (
            f"No activity in the last {w} days"
            if v == 0
            else f"{round(v)} activities in the last {w} days"
        )
    if kind == "active_days":
        return (
            f"Active on {0 if missing else round(float(value))} of the last {meta['window']} days"
        )
    if kind == "trend":
        v = 0.0 if missing else float(value)
        w = meta["window"]
        if v == 0:
            return f"Activity flat vs the previous {w} days"
        return f"Activity {'up' if v > 0 else 'down'} by {abs(round(v))} events vs the previous {w} days"
    if kind == "account_leads":
        n = 0 if missing else round(float(value))
        return f"{n} other lead{'s' if n != 1 else ''} from the same account"
    if kind == "account_active":
        n = 0 if missing else round(float(value))
        return f"{n} other lead{'s' if n != 1 else ''} of the account active in the last {meta['window']} days"
    if kind == "account_events":
        n = 0 if missing else round(float(value))
        return (
            f"{n} event{'s' if n != 1 else ''} from the account in the last {meta['window']} days"
        )
    return f"{humanise(feature)}: {value}"  # pragma: no cover - every kind is handled above
