"""Event mode on the synthetic CRM with post-conversion onboarding events and a sales stage."""

from __future__ import annotations

import time

import pandas as pd
import pytest

from leadml.audit import audit_events, fast_audit
from leadml.datasets import make_crm
from leadml.exceptions import DataContractError

ONBOARDING = {"onboarding_call", "invoice_paid", "page_view /app/welcome"}


@pytest.fixture(scope="module")
def crm():
    return make_crm(2000, onboarding_events=True, seed=0)


@pytest.fixture(scope="module")
def report(crm):
    return audit_events(crm.leads, crm.events, crm.conversions, updated_at="updated_at")


def rows(rep, check):
    return rep.findings[rep.findings["check"] == check]


def test_onboarding_events_are_severe_and_honest_events_are_not_flagged(report):
    after = rows(report, "after conversion")
    assert set(after["column"]) == ONBOARDING
    assert (after["severity"] == "severe").all()
    assert (after["figure"] > 0.95).all()
    assert "converted_at" in after["fix"].iloc[0]
    before = rows(report, "just before conversion")
    assert list(before["column"]) == ["contract_sent"]
    flagged = set(report.flagged("warning"))
    for honest in ("demo_request", "page_view /pricing", "email_open", "form_fill contact_us"):
        assert honest not in flagged


def test_the_sales_stage_is_found_through_its_update_time(report):
    sales = rows(report, "set by sales")
    assert list(sales["column"]) == ["sales_stage"]
    assert sales["figure"].iloc[0] > 0.3
    assert list(rows(report, "updated after conversion")["column"]) == ["updated_at"]
    # the honest profile columns keep the same relation to the outcome whenever updated
    for col in ("industry", "country", "employees", "lead_source", "email_domain_type"):
        assert col not in report.flagged("warning")


def test_without_an_update_time_the_check_says_what_it_needs(crm):
    rep = audit_events(crm.leads.drop(columns=["updated_at"]), crm.events, crm.conversions)
    skipped = rows(rep, "set by sales")
    assert skipped["severity"].tolist() == ["info"]
    assert "updated_at=" in skipped["fix"].iloc[0]


def test_the_default_crm_has_no_event_finding():
    plain = make_crm(2000, seed=0)
    rep = audit_events(plain.leads, plain.events, plain.conversions)
    assert rows(rep, "after conversion").empty
    assert rows(rep, "just before conversion").empty
    assert rep.worst != "severe"


def test_fast_audit_finds_the_onboarding_event_types_quickly(crm):
    leads = crm.leads[["lead_id", "created_at", "industry", "employees"]]
    y = leads["lead_id"].isin(crm.conversions["lead_id"]).to_numpy(dtype=int)
    t0 = time.perf_counter()
    rep = fast_audit(
        leads[["industry", "employees"]],
        y,
        leads["lead_id"].to_numpy(),
        leads=leads,
        events=crm.events,
        conversions=crm.conversions,
    )
    assert time.perf_counter() - t0 < 2
    assert set(rep.flagged("severe")) == {"onboarding_call", "invoice_paid"}


def test_missing_columns_are_named(crm):
    with pytest.raises(DataContractError, match=r"events: column\(s\) \['timestamp'\] missing"):
        audit_events(crm.leads, crm.events.drop(columns=["timestamp"]), crm.conversions)
    with pytest.raises(DataContractError, match=r"leads\.touched_at: no such column"):
        audit_events(crm.leads, crm.events, crm.conversions, updated_at="touched_at")
    with pytest.raises(DataContractError, match="every lead or no lead converted"):
        audit_events(crm.leads, crm.events, crm.conversions.iloc[:0])


def test_onboarding_events_come_after_the_conversion(crm):
    conv = crm.conversions.set_index("lead_id")["converted_at"]
    ev = crm.events[crm.events["event_type"].isin(["onboarding_call", "invoice_paid"])]
    assert (ev["timestamp"] >= ev["lead_id"].map(conv)).all()
    assert (ev["timestamp"] < crm.observed_until).all()
    assert (crm.leads["updated_at"] >= crm.leads["created_at"]).all()
    pd.testing.assert_frame_equal(
        crm.events[~crm.events["event_type"].isin(
            ["onboarding_call", "invoice_paid", "contract_sent"]
        ) & (crm.events["detail"] != "/app/welcome")].reset_index(drop=True),
        make_crm(2000, seed=0).events,
    )  # fmt: skip
    pd.testing.assert_frame_equal(
        crm.leads.drop(columns=["sales_stage", "updated_at"]), make_crm(2000, seed=0).leads
    )
