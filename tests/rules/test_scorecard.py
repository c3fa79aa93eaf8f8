"""PointsScorecard: YAML rules, points, decay, caps, grades, the sklearn contract."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.utils.estimator_checks import parametrize_with_checks

from leadml.exceptions import ConfigError, DataContractError
from leadml.rules import PointsScorecard, ScorecardConfig

ROOT = Path(__file__).resolve().parents[2]
UTC = "UTC"


def ts(s: str) -> pd.Timestamp:
    return pd.Timestamp(s, tz=UTC)


NUMERIC_RULES = {
    "fit": {
        "rules": [
            {
                "name": "r0",
                "field": "x0",
                "bins": [{"max": 0, "points": -10}, {"min": 0, "points": 10}],
            },
            {
                "name": "r1",
                "field": "x1",
                "bins": [{"max": 0, "points": -5}, {"min": 0, "points": 5}],
            },
        ]
    }
}


@parametrize_with_checks([PointsScorecard(rules=NUMERIC_RULES)])
def test_sklearn_contract(estimator, check):
    """Every scikit-learn estimator check passes (arrays are read as columns x0, x1, ...)."""
    check(estimator)


def _rules(**groups):
    return {"fit": {"rules": []}, "engagement": {"rules": []}, **groups}


LEADS = pd.DataFrame(
    {
        "lead_id": ["a", "b", "c", "d"],
        "created_at": [ts("2024-01-01"), ts("2024-01-01"), ts("2024-02-20"), ts("2024-01-01")],
        "industry": ["Software", "retail", None, "software "],
        "employees": [5, 500, np.nan, 5000],
        "title": ["VP Sales", "student", "Director of IT", None],
    },
    index=[7, 3, 9, 1],  # deliberately not a RangeIndex
)
EVENTS = pd.DataFrame(
    {
        "lead_id": ["a", "a", "a", "a", "b", "b", "b"],
        "timestamp": [
            ts("2024-02-24"),  # 7 days before as_of
            ts("2024-02-28"),  # 3 days before
            ts("2024-03-02"),  # exactly at as_of: not seen
            ts("2024-02-01"),  # exactly 30 days before (leap year): inside a 30d window
            ts("2024-01-15"),
            ts("2024-02-01"),
            ts("2024-02-25"),
        ],
        "event_type": [
            "page_view",
            "page_view",
            "page_view",
            "page_view",
            "unsubscribe",
            "page_view",
            "page_view",
        ],
        "detail": ["/pricing", "/pricing", "/pricing", "/pricing", None, "/careers", "/careers"],
    }
)
AS_OF = ts("2024-03-02")


def _cut(ids=("a", "b", "c", "d"), t=AS_OF):
    return pd.DataFrame({"lead_id": list(ids), "as_of": [t] * len(ids)})


def test_profile_rules_points_and_missing_values():
    sc = PointsScorecard(
        rules=_rules(
            fit={
                "rules": [
                    {"name": "sw", "field": "industry", "equals": "software", "points": 10},
                    {"name": "not_retail", "field": "industry", "not_in": ["retail"], "points": 1},
                    {
                        "name": "senior",
                        "field": "title",
                        "contains": ["vp", "director"],
                        "points": 7,
                    },
                    {"name": "no_title", "field": "title", "missing": True, "points": -3},
                    {
                        "name": "size",
                        "field": "employees",
                        "bins": [{"max": 10, "points": -4}, {"min": 1000, "points": 6}],
                    },
                ],
                "cap": {"max": 20},
            }
        )
    )
    X = sc.build_inputs(LEADS, EVENTS, _cut())
    pts = sc.points(X.drop(columns=["lead_id", "as_of"]))
    # a: software(+10, case-insensitive) + not retail(+1) + VP(+7) + 5 employees(-4) = 14
    # b: retail -> 0; student -> 0; 500 -> no bin = 0
    # c: industry missing matches nothing (not even not_in); Director +7; employees missing 0
    # d: 'software ' (trailing space) +10, +1, title missing -3, 5000 +6 = 14
    assert pts["sw"].tolist() == [10, 0, 0, 10]
    assert pts["not_retail"].tolist() == [1, 0, 0, 1]
    assert pts["senior"].tolist() == [7, 0, 7, 0]
    assert pts["no_title"].tolist() == [0, 0, 0, -3]
    assert pts["size"].tolist() == [-4, 0, 0, 6]
    assert pts["fit_points"].tolist() == [14, 0, 7, 14]
    assert pts["total_points"].tolist() == [14, 0, 7, 14]


def test_group_cap_limits_points():
    sc = PointsScorecard(
        rules=_rules(
            fit={
                "rules": [
                    {
                        "name": "sw",
                        "field": "industry",
                        "in": ["software", "software "],
                        "points": 50,
                    }
                ],
                "cap": {"min": -5, "max": 20},
            }
        )
    )
    X = sc.build_inputs(LEADS, EVENTS, _cut())
    assert sc.points(X)["fit_points"].tolist() == [20, 0, 0, 20]


def test_activity_decay_window_caps_and_point_in_time():
    rules = _rules(
        engagement={
            "rules": [
                {
                    "name": "pricing",
                    "event": "page_view",
                    "detail": "/pricing",
                    "points": 8,
                    "window": "30d",
                    "decay": {"half_life": "7d"},
                },
                {
                    "name": "pricing_linear",
                    "event": "page_view",
                    "detail": "/pricing",
                    "points": 10,
                    "window": "30d",
                    "decay": {"linear": "14d"},
                },
                {
                    "name": "pricing_count",
                    "event": "page_view",
                    "detail": "/pricing",
                    "points": 2,
                    "window": "30d",
                    "cap": 5,
                },
                {
                    "name": "careers",
                    "event": "page_view",
                    "detail": "/careers",
                    "points": -8,
                    "window": "90d",
                    "cap": -10,
                },
                {"name": "unsubscribed", "event": "unsubscribe", "points": -25, "once": True},
            ]
        }
    )
    sc = PointsScorecard(rules=rules)
    X = sc.build_inputs(LEADS, EVENTS, _cut())
    a = X.iloc[0]
    # the event at as_of is not seen; the one exactly 30 days before is inside the window
    w = 0.5 ** (7 / 7) + 0.5 ** (3 / 7) + 0.5 ** (30 / 7)
    assert a["pricing"] == pytest.approx(w, rel=1e-12)
    assert a["pricing_linear"] == pytest.approx((1 - 7 / 14) + (1 - 3 / 14) + 0.0, rel=1e-12)
    assert a["pricing_count"] == 3
    pts = sc.points(X)
    assert pts.loc[0, "pricing"] == pytest.approx(8 * w)
    assert pts.loc[0, "pricing_count"] == 5  # 3 events x 2 points, capped at 5
    assert pts.loc[1, "careers"] == -10  # 2 events x -8, capped at -10
    assert pts.loc[1, "unsubscribed"] == -25
    assert pts.loc[2].drop(["fit_points", "engagement_points", "total_points"]).abs().sum() == 0
    # a complete log and one cut at as_of give the same inputs
    X_cut = sc.build_inputs(LEADS, EVENTS[EVENTS["timestamp"] < AS_OF], _cut())
    pd.testing.assert_frame_equal(X, X_cut)


def test_inactivity_counts_from_last_event_or_creation():
    rules = _rules(
        engagement={
            "rules": [
                {
                    "name": "inactive",
                    "inactivity": [
                        {"min": 30, "max": 60, "points": -10},
                        {"min": 60, "points": -20},
                    ],
                },
                {
                    "name": "no_unsub",
                    "inactivity": [{"min": 10, "points": 3}],
                    "event": "unsubscribe",
                },
            ]
        }
    )
    sc = PointsScorecard(rules=rules)
    X = sc.build_inputs(LEADS, EVENTS, _cut())
    # a: last event 3 days ago; b: 6 days ago; c: no events, created 11 days ago; d: none, 61 days
    # capped at the largest bin edge (60)
    assert X["inactive"].tolist() == pytest.approx([3, 6, 11, 60])
    assert sc.points(X)["inactive"].tolist() == [0, 0, 0, -20]
    # b unsubscribed 47 days ago (capped at 10); a, c, d never: days since creation, capped
    assert X["no_unsub"].tolist() == pytest.approx([10, 10, 10, 10])


def test_grades_bands_and_stages():
    sc = PointsScorecard(
        rules={
            "fit": {
                "rules": [{"name": "sw", "field": "industry", "equals": "software", "points": 40}]
            },
            "engagement": {
                "rules": [{"name": "pv", "event": "page_view", "points": 10, "window": "30d"}]
            },
            "fit_grades": {"A": 30, "B": 0, "C": None},
            "engagement_grades": {"1": 20, "2": None},
            "bands": {"hot": 60, "warm": 20, "cold": None},
            "thresholds": {"MQL": 30, "SQL": 60},
        }
    )
    X = sc.build_inputs(LEADS, EVENTS, _cut())
    g = sc.grades(X)
    # a: 40 fit + 3 views -> 30 -> 70 points; b: 0 + 2 careers views = 20; c: 0; d: 40 + 0
    assert g["grade"].tolist() == ["A1", "B1", "B2", "A2"]
    assert g["band"].tolist() == ["hot", "warm", "cold", "warm"]
    assert g["stage"].tolist() == ["SQL", "", "", "MQL"]


def test_fit_learns_only_the_points_to_probability_mapping():
    rng = np.random.default_rng(0)
    n = 4000
    X = pd.DataFrame({"employees": rng.integers(1, 2000, n).astype(float)})
    big = X["employees"] >= 500
    y = rng.random(n) < np.where(big, 0.3, 0.05)
    sc = PointsScorecard(
        rules={
            "fit": {
                "rules": [
                    {"name": "big", "field": "employees", "bins": [{"min": 500, "points": 20}]}
                ]
            }
        }
    )
    sc.fit(X, y.astype(int))
    p = sc.predict_proba(X)[:, 1]
    # two distinct scores, each calibrated to the observed rate of its group
    assert p[big.to_numpy()].mean() == pytest.approx(y[big.to_numpy()].mean(), abs=1e-5)
    assert p[~big.to_numpy()].mean() == pytest.approx(y[~big.to_numpy()].mean(), abs=1e-5)
    assert sc.a_ > 0
    # points come from the rules only: fitting on other labels does not change them
    before = sc.points(X)
    sc.fit(X, rng.integers(0, 2, n))
    pd.testing.assert_frame_equal(before, sc.points(X))


def test_to_dict_from_dict_round_trip_is_plain_data_and_scores_the_same():
    import json

    rng = np.random.default_rng(1)
    n = 3000
    X = pd.DataFrame({"employees": rng.integers(1, 2000, n).astype(float)})
    y = (rng.random(n) < np.where(X["employees"] >= 500, 0.3, 0.05)).astype(int)
    rules = {
        "name": "size",
        "fit": {
            "rules": [{"name": "big", "field": "employees", "bins": [{"min": 500, "points": 20}]}]
        },
    }
    sc = PointsScorecard(rules=rules).fit(X, y)
    data = json.loads(json.dumps(sc.to_dict()))  # JSON-safe: no pickle, no numpy
    back = PointsScorecard.from_dict(data)
    np.testing.assert_array_equal(back.predict_proba(X), sc.predict_proba(X))
    pd.testing.assert_frame_equal(back.points(X), sc.points(X))
    assert list(back.feature_names_in_) == ["employees"]
    with pytest.raises(ConfigError, match="from_dict: expected"):
        PointsScorecard.from_dict({"rules": data["rules"]})
    with pytest.raises(Exception, match="not fitted"):
        PointsScorecard(rules=rules).to_dict()


def test_table_lists_every_criterion():
    sc = PointsScorecard(rules=ROOT / "models" / "scorecard.yaml")
    t = sc.table()
    cfg = ScorecardConfig.from_yaml(ROOT / "models" / "scorecard.yaml")
    n_bins = sum(
        len(getattr(r, "bins", None) or getattr(r, "inactivity", None) or [None])
        for _, r in cfg.rules
    )
    assert len(t) == n_bins
    assert set(t["group"]) == {"fit", "engagement"}
    assert (t["points"] < 0).any()
    assert (t["points"] > 0).any()
    row = t[t["rule"] == "pricing_page"].iloc[0]
    assert row["decay"] == "half-life 7 days"
    assert row["cap"] == 30
    assert list(t.columns) == [
        "group",
        "rule",
        "kind",
        "criterion",
        "points",
        "per",
        "decay",
        "window",
        "cap",
    ]


@pytest.mark.parametrize(
    "path", ["scorecard.yaml", "scorecard_x_education.yaml", "scorecard_bank_marketing.yaml"]
)
def test_shipped_scorecards_load(path):
    cfg = ScorecardConfig.from_yaml(ROOT / "models" / path)
    assert cfg.rules
    assert PointsScorecard(rules=cfg).table().shape[0] >= len(cfg.rules)


@pytest.mark.parametrize(
    ("rule", "match"),
    [
        ({"name": "x", "field": "a", "points": 1}, r"rule 'x' \(fit.rules\[0\]\).*exactly one of"),
        ({"name": "x", "field": "a", "equals": "b"}, r"rule 'x'.*'points' is required"),
        (
            {"name": "x", "field": "a", "equals": "b", "points": 1, "colour": 3},
            r"rule 'x'.*field 'colour'.*unknown field",
        ),
        (
            {"name": "x", "event": "e", "points": 2, "cap": -4},
            r"rule 'x'.*cap \(-4\) must have the sign",
        ),
        (
            {"name": "x", "event": "e", "points": 2, "decay": {"half_life": "soon"}},
            r"rule 'x'.*field 'decay'.*cannot read 'soon'",
        ),
        (
            {"name": "x", "event": "e", "points": 2, "decay": {}},
            r"rule 'x'.*exactly one of half_life and linear",
        ),
        (
            {
                "name": "x",
                "field": "a",
                "bins": [{"min": 0, "max": 10, "points": 1}, {"min": 5, "points": 2}],
            },
            r"rule 'x'.*overlap",
        ),
        (
            {"name": "bad name", "field": "a", "equals": 1, "points": 1},
            r"field 'name'.*identifiers",
        ),
        ({"points": 3}, r"needs 'field' \(profile\), 'event' \(activity\) or 'inactivity'"),
    ],
)
def test_yaml_errors_name_the_rule_and_the_field(rule, match):
    with pytest.raises(ConfigError, match=match):
        ScorecardConfig.from_dict({"fit": {"rules": [rule]}})


def test_config_level_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"duplicate rule name"):
        ScorecardConfig.from_dict(
            {"fit": {"rules": [{"name": "a", "field": "x", "equals": 1, "points": 1}] * 2}}
        )
    with pytest.raises(ConfigError, match=r"bands: list the levels from best to worst"):
        ScorecardConfig.from_dict({"bands": {"hot": 10, "cold": 5}})
    with pytest.raises(
        ConfigError, match=r"fit_grades: minimum points must be finite and decreasing"
    ):
        ScorecardConfig.from_dict({"fit_grades": {"A": 1, "B": 5, "C": None}})
    with pytest.raises(ConfigError, match=r"field 'fits'.*unknown key"):
        ScorecardConfig.from_dict({"fits": {}})
    p = tmp_path / "bad.yaml"
    p.write_text("fit: [unclosed")
    with pytest.raises(ConfigError, match=r"not valid YAML"):
        ScorecardConfig.from_yaml(p)
    with pytest.raises(ConfigError, match=r"not found"):
        ScorecardConfig.from_yaml(tmp_path / "missing.yaml")


def test_missing_input_columns_are_named():
    sc = PointsScorecard(
        rules={"fit": {"rules": [{"name": "a", "field": "industry", "equals": "x", "points": 1}]}}
    )
    with pytest.raises(
        DataContractError, match=r"column\(s\) \['industry'\] required by the rules"
    ):
        sc.points(pd.DataFrame({"size": [1]}))
    with pytest.raises(
        DataContractError, match=r"leads: column\(s\) \['industry'\] used by scorecard rules"
    ):
        sc.build_inputs(LEADS.drop(columns=["industry"]), EVENTS, _cut())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    offsets=st.lists(st.integers(min_value=-200 * 24, max_value=200 * 24), min_size=0, max_size=25),
    as_of_hours=st.integers(min_value=0, max_value=100 * 24),
)
def test_inputs_see_only_events_before_as_of(offsets, as_of_hours):
    """Property: adding events at or after as_of never changes the inputs; a window edge event
    (exactly as_of - window) counts, an event at as_of does not."""
    sc = PointsScorecard(rules=ROOT / "models" / "scorecard.yaml")
    leads = pd.DataFrame(
        {
            "lead_id": ["p"],
            "created_at": [ts("2024-01-01")],
            "industry": ["software"],
            "employees": [100.0],
            "seniority": ["VP"],
            "country": ["US"],
            "email_domain_type": ["business"],
            "lead_source": ["referral"],
        }
    )
    as_of = ts("2024-04-01") + pd.Timedelta(hours=as_of_hours)
    types = ["page_view", "demo_request", "email_click", "unsubscribe", "form_fill"]
    details = ["/pricing", None, "campaign", None, "contact_us"]
    ev = pd.DataFrame(
        {
            "lead_id": ["p"] * len(offsets),
            "timestamp": pd.Series(
                [as_of + pd.Timedelta(hours=h) for h in offsets], dtype="datetime64[us, UTC]"
            ),
            "event_type": [types[i % 5] for i in range(len(offsets))],
            "detail": [details[i % 5] for i in range(len(offsets))],
        }
    )
    cut = pd.DataFrame({"lead_id": ["p"], "as_of": [as_of]})
    full = sc.build_inputs(leads, ev, cut)
    past = sc.build_inputs(leads, ev[ev["timestamp"] < as_of], cut)
    pd.testing.assert_frame_equal(full, past)
    # reference count for the demo rule (30-day window, no decay)
    demo = ev[
        (ev["event_type"] == "demo_request")
        & (ev["timestamp"] < as_of)
        & (ev["timestamp"] >= as_of - pd.Timedelta(days=30))
    ]
    assert full["demo_request"].iloc[0] == len(demo)
