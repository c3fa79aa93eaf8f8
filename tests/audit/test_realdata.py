"""The audit on the real datasets: the known leaks are flagged, the honest columns are not flagged
wholesale (skipped when ../shared/datasets is absent)."""

from __future__ import annotations

import pandas as pd
import pytest

from leadml.audit import audit_flat
from tests.conftest import SHARED

X_PATH = SHARED / "x-education-leads" / "Leads.csv"
BANK_PATH = SHARED / "uci-bank-marketing" / "bank-additional-full.csv"
SHOP_PATH = SHARED / "uci-online-shoppers" / "online_shoppers_intention.csv"
X_LEAKY = {
    "Tags",
    "Lead Quality",
    "Lead Profile",
    "Asymmetrique Activity Index",
    "Asymmetrique Profile Index",
    "Asymmetrique Activity Score",
    "Asymmetrique Profile Score",
    "Last Notable Activity",
}
X_HONEST_STRONG = {"Lead Source", "Total Time Spent on Website", "Lead Origin"}


def _skip(path):
    return pytest.mark.skipif(not path.exists(), reason=f"{path} not found (real datasets absent)")


@pytest.mark.realdata
@_skip(X_PATH)
def test_x_education_flags_the_sales_team_columns():
    rep = audit_flat(
        pd.read_csv(X_PATH), label="Converted", id_column="Prospect ID", na_values=["Select"]
    )
    flagged = set(rep.flagged("warning"))
    assert {"Tags", "Lead Quality", "Last Notable Activity"} <= flagged
    assert "Tags" in rep.flagged("severe")
    assert not flagged & X_HONEST_STRONG
    assert "Lead Number" in rep.flagged("warning")  # a record number, not leakage
    leak_checks = rep.findings[rep.findings["check"] != "id-like"]
    leak_flags = set(leak_checks.loc[leak_checks["severity"] != "info", "column"])
    honest = set(pd.read_csv(X_PATH, nrows=1).columns) - X_LEAKY - {"Converted", "Prospect ID"}
    # at most 3 of the 28 honest columns are flagged (Last Activity counts as honest here)
    assert len(leak_flags & honest) <= 3, leak_flags & honest
    assert len(leak_flags & X_LEAKY) >= 4


@pytest.mark.realdata
@_skip(BANK_PATH)
def test_bank_marketing_flags_duration_only():
    rep = audit_flat(pd.read_csv(BANK_PATH, sep=";"), label="y", positive="yes")
    assert rep.flagged("warning") == ["duration"]
    assert rep.exit_code("warning") == 6


@pytest.mark.realdata
@_skip(SHOP_PATH)
def test_online_shoppers_flags_page_values_only():
    rep = audit_flat(pd.read_csv(SHOP_PATH), label="Revenue")
    assert rep.flagged("warning") == ["PageValues"]
    assert "ProductRelated_Duration" not in set(rep.findings["column"])
