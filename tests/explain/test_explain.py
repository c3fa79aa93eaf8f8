"""Reasons: exact contributions (vs LightGBM and shap), grouping, wording, scoring integration."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadml.datasets import make_crm
from leadml.exceptions import DataContractError
from leadml.explain import (
    STEP_COLUMNS,
    Explainer,
    TreeExplainer,
    _trees,
    describe,
    feature_groups,
    reason_columns,
    reasons_waterfall,
)
from leadml.modeling import train

RULES = "models/scorecard.yaml"


@pytest.fixture(scope="module")
def case():
    crm = make_crm(3000, days=300, seed=11)
    res = train(
        crm.leads,
        crm.events,
        crm.conversions,
        every="7d",
        horizon="30d",
        start=crm.start,
        observed_until=crm.observed_until,
        rules=RULES,
        # deep trees: many features per path (a faster learning rate: the trees' sums are under
        # test, not how many of them early stopping keeps)
        params={"num_leaves": 31, "min_data_in_leaf": 20, "learning_rate": 0.1},
        lightgbm={"early_stopping_rounds": 30},
        n_boot=0,
    )
    X = res.training_set.loc[res.training_set["window"].notna()].reset_index(drop=True)
    X = X.iloc[:3000]
    # unseen and missing categories, missing numbers
    X.loc[0, "industry"] = np.nan
    X.loc[1, "employees"] = np.nan
    return crm, res, X


def test_contributions_equal_lightgbm_and_add_up_to_the_margin(case):
    _, res, X = case
    booster = res.model.booster
    ours = TreeExplainer(booster).shap_values(X[res.model.feature_names])
    ref = booster.predict(X[res.model.feature_names], pred_contrib=True)
    assert np.abs(ours - ref).max() <= 1e-9
    margin = booster.predict(X[res.model.feature_names], raw_score=True)
    assert np.abs(ours.sum(axis=1) - margin).max() <= 1e-9


def test_contributions_equal_shap_tree_explainer(case):
    import shap

    _, res, X = case
    Xf = X[res.model.feature_names].iloc[:500]
    ours = TreeExplainer(res.model.booster).shap_values(Xf)
    with pytest.warns(UserWarning, match="list of ndarray"):
        theirs = shap.TreeExplainer(res.model.booster).shap_values(Xf)
    theirs = np.asarray(theirs)
    theirs = theirs[-1] if theirs.ndim == 3 else theirs
    assert np.abs(ours[:, :-1] - theirs).max() <= 1e-6


def test_exact_without_tables_and_with_tiny_cache(case, monkeypatch):
    """The polynomial path (leaves without a table, cache collisions) gives the same values."""
    _, res, X = case
    Xf = X[res.model.feature_names].iloc[:400]
    monkeypatch.setattr(_trees, "TABLE_MAX_FEATURES", 2)
    monkeypatch.setattr(_trees, "BLOCK_ROWS", 64)
    ours = TreeExplainer(res.model.booster).shap_values(Xf)
    ref = res.model.booster.predict(Xf, pred_contrib=True)
    assert np.abs(ours - ref).max() <= 1e-9


def test_decisions_reproduce_lightgbm_leaves(case):
    _, res, X = case
    booster = res.model.booster
    Xf = X[res.model.feature_names]
    te = TreeExplainer(booster)
    M = te.matrix(Xf)
    leaves = booster.predict(Xf, pred_leaf=True)
    for tree in _trees.parse_trees(booster.model_to_string())[:40]:
        if tree.n_internal == 0:
            continue
        dec = np.column_stack(
            [_trees.goes_left(tree, k, M[:, tree.split_feature[k]]) for k in range(tree.n_internal)]
        )
        node = np.zeros(len(M), dtype=np.int64)
        for _ in range(tree.n_internal + 1):
            inner = node >= 0
            nd = np.where(inner, node, 0)
            nxt = np.where(dec[np.arange(len(M)), nd], tree.left[nd], tree.right[nd])
            node = np.where(inner, nxt, node)
        assert np.array_equal(~node, leaves[:, tree.index])


def test_leaf_formula_matches_brute_force_shapley():
    """The polynomial form equals the subset sum of the path-dependent Shapley formula."""
    from itertools import combinations
    from math import factorial

    rng = np.random.default_rng(0)
    z = rng.uniform(0.05, 0.95, 5)
    v = 1.7
    m = len(z)
    for pattern in range(1 << m):
        o = [(pattern >> j) & 1 for j in range(m)]
        got = _trees.leaf_contributions(z, v, np.array([pattern]))[0]
        for j in range(m):
            others = [k for k in range(m) if k != j]
            total = 0.0
            for s in range(m):
                for S in combinations(others, s):
                    w = factorial(s) * factorial(m - s - 1) / factorial(m)
                    prod = np.prod([o[k] for k in S]) * np.prod(
                        [z[k] for k in others if k not in S]
                    )
                    total += w * prod
            assert got[j] == pytest.approx(v * (o[j] - z[j]) * total, abs=1e-12)


def test_groups_preserve_sums_and_cover_every_feature(case):
    _, res, X = case
    ex = Explainer(res.model.booster, res.model.calibrator, res.model.spec)
    feats = ex.contributions(X)
    groups = ex.group_contributions(X)
    assert np.allclose(
        feats.drop(columns=["base_value"]).sum(axis=1),
        groups.drop(columns=["base_value"]).sum(axis=1),
        atol=1e-12,
    )
    covered = [f for g in ex.groups for f in g.features]
    assert sorted(covered) == sorted(res.model.feature_names)
    keys = {g.key for g in ex.groups}
    assert "event:page_view:/pricing" in keys
    assert "inactivity" in keys
    assert "profile:industry" in keys
    pricing = next(g for g in ex.groups if g.key == "event:page_view:/pricing")
    assert len(pricing.features) >= 4  # every window plus the count ever


def test_reasons_effects_and_text(case):
    _, res, X = case
    ex = Explainer(res.model.booster, res.model.calibrator, res.model.spec)
    wide, long = ex.reasons(X, k=3)
    assert list(wide.columns) == reason_columns(3)
    assert len(wide) == len(X)
    up = long[long["direction"] == "up"]
    down = long[long["direction"] == "down"]
    assert (up["contribution"] > 0).all()
    assert (down["contribution"] < 0).all()
    assert (up["effect"] > 0).all()
    assert (down["effect"] < 0).all()
    # effect = p - calibrated probability without the group's contribution
    G = ex.group_contributions(X)
    row = int(up["row"].iloc[0])
    margin = G.iloc[row].sum()
    g = up["group"].iloc[0]
    p = res.model.calibrator.transform(np.array([margin]))[0]
    p0 = res.model.calibrator.transform(np.array([margin - G.loc[row, g]]))[0]
    assert up["effect"].iloc[0] == pytest.approx(p - p0)
    # ranks are ordered by contribution
    for _, grp in up.groupby("row"):
        assert grp.sort_values("rank")["contribution"].is_monotonic_decreasing
    assert (wide["reason_1"] != "").mean() > 0.9


def test_reasons_do_not_depend_on_column_order(case):
    crm, res, _ = case
    leads = crm.leads.iloc[-50:]
    events = crm.events[crm.events["lead_id"].isin(leads["lead_id"])]
    t = crm.observed_until
    a = res.model.score(leads, events, as_of=t, reasons=3)
    shuffled = leads[leads.columns[::-1]]
    b = res.model.score(shuffled, events[events.columns[::-1]], as_of=t, reasons=3)
    pd.testing.assert_frame_equal(a, b)


def test_score_with_reasons_and_explain(case):
    crm, res, _ = case
    leads = crm.leads.iloc[-20:]
    events = crm.events[crm.events["lead_id"].isin(leads["lead_id"])]
    s = res.model.score(leads, events, as_of=crm.observed_until, reasons=2)
    assert s.columns[-5:].tolist() == [*reason_columns(2), "scorecard_reasons"]
    plain = res.model.score(leads, events, as_of=crm.observed_until)
    pd.testing.assert_frame_equal(plain, s[plain.columns])
    long = res.model.explain(leads, events, as_of=crm.observed_until, k=2)
    assert set(long["lead_id"]) <= set(leads["lead_id"])
    assert {"group", "label", "feature", "value", "contribution", "effect", "text"} <= set(
        long.columns
    )
    first = long[
        (long["lead_id"] == s["lead_id"].iloc[0])
        & (long["direction"] == "up")
        & (long["rank"] == 1)
    ]
    assert first["text"].iloc[0] == s["reason_1"].iloc[0]


def test_scorecard_reasons_are_the_rules_that_fired(case):
    crm, res, _ = case
    sc = res.model.scorecard
    cut = pd.DataFrame({"lead_id": crm.leads["lead_id"].iloc[-30:], "as_of": crm.observed_until})
    X = sc.build_inputs(crm.leads, crm.events, cut)
    pts = sc.points(X)
    r = sc.reasons(X, k=50)
    for row, grp in r.groupby("row"):
        fired = pts.iloc[row][[c for c in pts.columns if not c.endswith("_points")]]
        fired = fired[fired != 0]
        assert dict(zip(grp["rule"], grp["points"], strict=True)) == fired.to_dict()


def test_every_wording_template_is_rendered(case):
    _, res, _ = case
    spec = res.model.spec
    seen = set()
    for name, meta in spec.feature_meta_.items():
        for value in (0.0, 1.0, 4.0, 41.6, float("nan"), "software", "__other__"):
            if meta["kind"] == "profile" and meta.get("type") == "categorical":
                if not isinstance(value, str) and value == value:
                    continue
            elif isinstance(value, str):
                continue
            text = describe(spec, name, value)
            assert text, (name, value)
            assert "{" not in text, text
            assert "nan" not in text.lower(), (name, value, text)
            seen.add((meta["kind"], meta.get("event_type") is None))
    assert {k for k, _ in seen} == {m["kind"] for m in spec.feature_meta_.values()}
    pv = "n_page_view__pricing_7d"
    assert describe(spec, pv, 4.0) == "Viewed /pricing 4 times in the last 7 days"
    assert describe(spec, pv, 1.0) == "Viewed /pricing once in the last 7 days"
    assert describe(spec, pv, 0.0) == "Not viewed /pricing in the last 7 days"
    assert describe(spec, "days_since_last_event", 41.2) == "No activity for 41 days"
    assert describe(spec, "employees", 12.0) == "Employees: 12"
    assert describe(spec, "industry", None) == "Industry unknown"
    custom = describe(spec, pv, 2.0, {"page_view": "Visited {detail}"})
    assert custom == "Visited /pricing 2 times in the last 7 days"
    # a new event type is worded without code changes
    assert any(g.label == "Attended webinars" for g in feature_groups(spec))


def test_global_drivers_and_plots(case):
    _, res, X = case
    ex = Explainer(res.model.booster, res.model.calibrator, res.model.spec)
    drivers = ex.global_drivers(X)
    assert drivers["mean_abs_contribution"].is_monotonic_decreasing
    assert set(drivers["group"]) == {g.key for g in ex.groups}
    figs = ex.plots(X, max_rows=500)
    assert {"shap_summary", "shap_waterfall", "shap_dependence_1"} <= set(figs)
    assert all(png[:4] == b"\x89PNG" for png in figs.values())


def _png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def test_one_lead_reason_by_reason_adds_up_from_the_starting_point_to_its_score(case):
    _, res, X = case
    ex = res.model.explainer
    row = int(np.argmax(res.model.predict_proba(X)))
    lead = ex.explain_lead(X, row, top=4)
    s = lead.steps
    assert list(s.columns) == STEP_COLUMNS
    assert lead.lead_id == X["lead_id"].iat[row]
    assert lead.probability == pytest.approx(res.model.predict_proba(X.iloc[[row]])[0], abs=1e-9)
    # the steps chain: each starts where the last ended, and they sum to the whole change
    assert s["p_before"].iat[0] == pytest.approx(lead.base_probability)
    assert np.allclose(s["p_before"].to_numpy()[1:], s["p_after"].to_numpy()[:-1])
    assert s["effect"].sum() == pytest.approx(lead.probability - lead.base_probability)
    # in log-odds: base + every contribution = the raw margin
    margin = res.model.predict_margin(X.iloc[[row]])[0]
    base = ex.contributions(X.iloc[[row]])["base_value"].iat[0]
    assert base + s["contribution"].sum() == pytest.approx(margin, abs=1e-9)
    # the four largest groups by |contribution|, then the rest summed in one row
    assert len(s) == 5
    assert s["group"].iat[-1] == "others"
    G = ex.group_contributions(X.iloc[[row]]).drop(columns="base_value").iloc[0]
    by_size = G[G != 0].abs().sort_values(ascending=False, kind="stable").index
    assert list(s["group"].iloc[:4]) == list(by_size[:4])
    assert s["contribution"].iat[-1] == pytest.approx(G[by_size[4:]].sum())
    assert s["text"].iat[-1] == f"{len(by_size) - 4} smaller reasons together"
    # worded as the reasons columns: the largest positive step is the lead's first reason
    wide, _ = ex.reasons(X.iloc[[row]], k=1)
    first_up = s[(s["contribution"] > 0) & (s["group"] != "others")]["text"].iat[0]
    assert first_up == wide["reason_1"].iat[0]
    with pytest.raises(ValueError, match="row 99999 is not in"):
        ex.explain_lead(X, 99999)


def test_the_reasons_waterfall_is_a_fixed_size_png_with_no_timestamp(case):
    _, res, X = case
    lead = res.model.explainer.explain_lead(X, 0, top=6)
    png = reasons_waterfall(lead, outcome="converting within 30 days", caption="synthetic CRM")
    assert png == reasons_waterfall(
        lead, outcome="converting within 30 days", caption="synthetic CRM"
    )
    assert b"Software" not in png
    assert b"matplotlib" not in png
    width, height = _png_size(png)
    assert width == 900  # 9 inches at DPI 100; the height grows with the steps
    assert height > 400


def test_a_model_explains_one_lead_from_its_tables(case):
    crm, res, _ = case
    model = res.model
    at = crm.observed_until
    scores = model.score(crm.leads, crm.events, as_of=at)
    scores = scores[scores["status"] == "open"]
    best = scores.sort_values("p_convert", ascending=False, kind="stable").iloc[0]
    lead = model.explain_lead(crm.leads, crm.events, lead_id=best["lead_id"], as_of=at)
    assert lead.lead_id == best["lead_id"]
    assert lead.probability == pytest.approx(best["p_convert"], abs=1e-9)
    assert lead.steps["effect"].sum() == pytest.approx(lead.probability - lead.base_probability)
    # the other leads of its account count: explained from all the leads, as it was scored
    alone = model.explain_lead(
        crm.leads[crm.leads["lead_id"] == best["lead_id"]], crm.events, lead_id=best["lead_id"],
        as_of=at,
    )  # fmt: skip
    assert alone.lead_id == lead.lead_id
    with pytest.raises(DataContractError, match="lead 'nobody' is not in the leads table"):
        model.explain_lead(crm.leads, crm.events, lead_id="nobody", as_of=at)
