"""Malformed tables thrown at validation, features and scoring (property-based).

Whatever the input, the outcome is one of two: the output has exactly one row per requested row, or
a LeadmlError with a message naming the table. Never another exception, never fewer rows."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadml.datasets import make_crm
from leadml.exceptions import LeadmlError
from leadml.modeling import train
from leadml.schema import validate_lead_data
from tests._fast import QUICK_TREES

TABLES = ("leads", "events", "conversions", "cutoffs", "as_of")


@pytest.fixture(scope="module")
def model():
    crm = make_crm(1500, days=200, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = train(
            crm.leads, crm.events, crm.conversions, every="7d", n_boot=0, lightgbm=QUICK_TREES
        )
    return res.model, crm


texts = st.one_of(
    st.none(),
    st.just(""),
    st.text(min_size=1, max_size=8),
    st.text(alphabet="äöü漢字😀\u200b\t\n,;\"'", min_size=1, max_size=6),
    st.text(min_size=300, max_size=600),
)
numbers = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**12), 10**12),
)
STAMP_FORMS = (
    "iso",
    "iso_tz",
    "naive",
    "epoch_s",
    "epoch_ms",
    "dmy",
    "mixed",
    "garbage",
    "missing",
)


def _stamps(ts: pd.Series, form: str, rng: np.random.Generator) -> pd.Series:
    if form == "iso":
        return ts.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    if form == "iso_tz":
        return ts.dt.tz_convert("Europe/Berlin").map(lambda t: t.isoformat())
    if form == "naive":
        return ts.dt.tz_localize(None)
    if form == "epoch_s":
        return ts.astype("int64") // 10**6
    if form == "epoch_ms":
        return (ts.astype("int64") // 10**3).astype(str)
    if form == "dmy":
        return ts.dt.strftime("%d/%m/%Y %H:%M")
    if form == "mixed":
        out = ts.dt.strftime("%Y-%m-%d").astype(object)
        pick = rng.random(len(ts)) < 0.3
        out[pick] = ts[pick].dt.strftime("%d/%m/%Y")
        return out
    if form == "garbage":
        out = ts.dt.strftime("%Y-%m-%d").astype(object)
        out.iloc[0] = "last tuesday"
        return out
    out = ts.astype(object)
    out.iloc[0] = None
    return out


@st.composite
def broken_input(draw):
    seed = draw(st.integers(0, 10_000))
    return {
        "seed": seed,
        "n": draw(st.integers(1, 12)),
        "profile_text": draw(st.lists(texts, min_size=12, max_size=12)),
        "profile_num": draw(st.lists(numbers, min_size=12, max_size=12)),
        "created_form": draw(st.sampled_from(STAMP_FORMS)),
        "event_form": draw(st.sampled_from(STAMP_FORMS)),
        "drop": draw(
            st.sampled_from(
                [None, "leads.lead_id", "leads.created_at", "events.event_type", "events.timestamp"]
            )
        ),
        "duplicate_id": draw(st.booleans()),
        "unknown_event_lead": draw(st.booleans()),
        "events_before_creation": draw(st.booleans()),
        "empty_events": draw(st.booleans()),
        "extra_column": draw(st.booleans()),
        "as_of": draw(st.sampled_from(["end", "before_creation", "garbage", "cutoffs"])),
    }


def _build(case, crm):
    rng = np.random.default_rng(case["seed"])
    leads = crm.leads.sample(case["n"], random_state=case["seed"]).reset_index(drop=True)
    leads["industry"] = pd.Series(case["profile_text"][: case["n"]], dtype=object)
    leads["employees"] = pd.to_numeric(pd.Series(case["profile_num"][: case["n"]]), errors="coerce")
    events = (
        crm.events[crm.events["lead_id"].isin(leads["lead_id"])].head(200).reset_index(drop=True)
    )
    if case["events_before_creation"] and len(events):
        events.loc[0, "timestamp"] = events.loc[0, "timestamp"] - pd.Timedelta(days=400)
    if case["unknown_event_lead"] and len(events):
        events.loc[0, "lead_id"] = "nobody"
    if case["empty_events"]:
        events = events.iloc[:0]
    leads["created_at"] = _stamps(leads["created_at"], case["created_form"], rng)
    if len(events):
        events["timestamp"] = _stamps(events["timestamp"], case["event_form"], rng)
    if case["duplicate_id"] and len(leads) > 1:
        leads.loc[1, "lead_id"] = leads.loc[0, "lead_id"]
    if case["extra_column"]:
        leads["notes"] = "free text, not a feature"
        events["campaign_cost"] = 1.5
    if case["drop"]:
        table, col = case["drop"].split(".")
        if table == "leads":
            leads = leads.drop(columns=[col])
        else:
            events = events.drop(columns=[col])
    leads.index = np.arange(len(leads))[::-1] * 3  # a broken index on purpose
    return leads, events


@given(case=broken_input())
@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_scoring_either_keeps_every_row_or_raises_a_leadml_error(model, case):
    m, crm = model
    leads, events = _build(case, crm)
    kw: dict = {"as_of": crm.observed_until}
    if case["as_of"] == "before_creation":
        kw = {"as_of": "2020-01-01"}
    elif case["as_of"] == "garbage":
        kw = {"as_of": "the day after tomorrow"}
    elif case["as_of"] == "cutoffs" and "lead_id" in leads.columns:
        kw = {"cutoffs": pd.DataFrame({"lead_id": leads["lead_id"].tolist() * 2,
                                       "as_of": [crm.observed_until] * len(leads) + [crm.observed_until - pd.Timedelta(days=30)] * len(leads)})}  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        error = None
        try:
            out = m.score(leads, events, reasons=2, **kw)
        except LeadmlError as exc:  # the only acceptable exception: checked below
            error = str(exc)
    if error is not None:
        assert any(t in error for t in TABLES), error
        assert "Fix" in error or "fix" in error or "use" in error, error
        return
    expected = len(kw["cutoffs"]) if "cutoffs" in kw else len(leads)
    assert len(out) == expected
    assert out["lead_id"].tolist() == (
        kw["cutoffs"]["lead_id"].tolist() if "cutoffs" in kw else leads["lead_id"].tolist()
    )
    scored = out["status"] == "open"
    assert out.loc[scored, "p_convert"].between(0, 1).all()
    assert (
        not out.filter(like="reason")
        .astype(str)
        .apply(lambda c: c.str.contains(r"\binf\b"))
        .any()
        .any()
    )
    early = out["status"] == "not_created"
    assert out.loc[early, "p_convert"].isna().all()


@given(case=broken_input())
@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_validation_either_keeps_every_row_or_raises_a_leadml_error(model, case):
    _, crm = model
    leads, events = _build(case, crm)
    conversions = crm.conversions[crm.conversions["lead_id"].isin(leads.get("lead_id", []))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        error = None
        try:
            data = validate_lead_data(leads, events if len(events) else None, conversions)
        except LeadmlError as exc:  # the only acceptable exception: checked below
            error = str(exc)
    if error is not None:
        assert any(t in error for t in TABLES), error
        return
    assert len(data.leads) == len(leads)
    assert len(data.events) == len(events)
    assert str(data.leads["created_at"].dtype) == "datetime64[us, UTC]"
    assert data.leads["created_at"].min() >= pd.Timestamp("1980-01-01", tz="UTC")
    num = data.leads["employees"].to_numpy(dtype=float, na_value=np.nan)
    assert not np.isinf(num).any()
