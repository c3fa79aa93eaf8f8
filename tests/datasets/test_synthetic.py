from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadml.datasets import make_crm
from leadml.exceptions import ConfigError
from leadml.features import label_rows
from leadml.schema import validate_lead_data


def test_same_seed_same_data_other_seed_other_data():
    a, b, c = (
        make_crm(300, days=90, seed=5),
        make_crm(300, days=90, seed=5),
        make_crm(300, days=90, seed=6),
    )
    pd.testing.assert_frame_equal(a.events, b.events)
    pd.testing.assert_frame_equal(a.truth, b.truth)
    assert not a.events.equals(c.events)


def test_tables_follow_the_contract(crm_small):
    data = validate_lead_data(crm_small.leads, crm_small.events, crm_small.conversions)
    assert len(data.events) == len(crm_small.events)
    assert crm_small.events["timestamp"].max() < crm_small.observed_until
    assert (
        crm_small.events["timestamp"].max() > crm_small.truth["as_of"].max()
    )  # log runs past cut-offs


def test_truth_is_calibrated_against_realised_labels(crm_small):
    t = crm_small.truth
    lab = label_rows(
        t[["lead_id", "as_of"]],
        crm_small.conversions,
        horizon=crm_small.horizon,
        observed_until=crm_small.observed_until,
    )
    ok = ~lab["censored"]
    y = lab.loc[ok, "label"].astype(int).to_numpy()
    p = t.loc[ok, "p_true"].to_numpy()
    # overall and by decile: the forward-filter probabilities match the realised conversions
    assert abs(y.mean() - p.mean()) < 0.25 * p.mean()
    bins = pd.qcut(p, 5, labels=False, duplicates="drop")
    for b in np.unique(bins):
        m = bins == b
        se = np.sqrt(p[m].mean() * (1 - p[m].mean()) / m.sum())
        assert abs(y[m].mean() - p[m].mean()) < 4 * se + 0.005


def test_lead_scoring_signals_point_the_right_way():
    crm = make_crm(4000, days=200, seed=11)
    ev, conv = crm.events, set(crm.conversions["lead_id"])
    rate = lambda ids: np.mean([i in conv for i in set(ids)])  # noqa: E731
    pricing = ev.loc[ev["detail"] == "/pricing", "lead_id"]
    careers = ev.loc[ev["detail"] == "/careers", "lead_id"]
    demo = ev.loc[ev["event_type"] == "demo_request", "lead_id"]
    base = rate(crm.leads["lead_id"])
    assert rate(demo) > 2 * base
    assert rate(pricing) > base > rate(careers)
    students = crm.leads.loc[crm.leads["seniority"] == "Student", "lead_id"]
    assert rate(students) < base / 2
    free = crm.leads.loc[crm.leads["email_domain_type"] == "free", "lead_id"]
    assert rate(free) < base


def test_bad_arguments():
    with pytest.raises(ConfigError, match="days > horizon_days"):
        make_crm(10, days=20, horizon_days=30)
