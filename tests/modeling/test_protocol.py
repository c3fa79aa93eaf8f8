"""The training protocol: backtest at an earlier origin, production fit on all labelled history,
calibration on the latest rows, and the data shapes real CRMs have (one decision time per lead,
a moving base rate, conversion tracking that starts late, leads that are lost)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadml.datasets import make_crm
from leadml.exceptions import (
    CalibrationWarning,
    ConfigError,
    DataContractError,
    LeadmlError,
    LeakageWarning,
    RowsExcludedWarning,
)
from leadml.modeling import (
    NotEnoughDataError,
    TrainConfig,
    evaluate_model,
    fit_calibrator,
    train,
)
from leadml.rules import PointsScorecard
from tests._fast import QUICK_TREES

FAST = {"n_boot": 0, "every": "7d", "lightgbm": QUICK_TREES}


def _crm(**kw):
    return make_crm(kw.pop("n", 1500), days=kw.pop("days", 240), seed=kw.pop("seed", 3), **kw)


def _train(crm, **kw):
    opts = {**FAST, "start": crm.start, "observed_until": crm.observed_until, **kw}
    if "cutoffs" in kw:
        opts.pop("every")
    return train(crm.leads, crm.events, crm.conversions, **opts)


@pytest.fixture(scope="module")
def small():
    crm = _crm()
    return crm, _train(crm)


# ------------------------------------------------------------------------------- config
def test_config_refuses_unknown_keys_with_the_field_named():
    with pytest.raises(ConfigError, match=r"unknown key 'evry' \(did you mean 'every'\?\)"):
        TrainConfig.from_dict({"evry": "7d"})
    with pytest.raises(
        ConfigError, match=r"unknown key 'backtest.origin' \(did you mean 'origins'"
    ):
        TrainConfig.from_dict({"backtest": {"origin": 3}})
    with pytest.raises(ConfigError, match=r"field 'horizon'.*cannot read 'soon' as a duration"):
        TrainConfig(horizon="soon")
    crm = _crm(n=300, days=100)
    with pytest.raises(ConfigError, match=r"unknown key 'lead_policy'"):
        train(crm.leads, crm.events, crm.conversions, every="7d", lead_policy="hash")


def test_lightgbm_parameters_are_checked_against_lightgbm():
    with pytest.raises(
        ConfigError, match=r"'num_leafs' is not a LightGBM parameter \(did you mean 'num_leaves'"
    ):
        TrainConfig.from_dict({"lightgbm": {"params": {"num_leafs": 5}}})
    with pytest.raises(ConfigError, match=r"'num_leaf' and 'num_leaves' are the same"):
        TrainConfig.from_dict({"lightgbm": {"params": {"num_leaf": 5, "num_leaves": 3}}})
    with pytest.raises(ConfigError, match=r"is_unbalance.*re-weight the classes"):
        TrainConfig.from_dict({"lightgbm": {"params": {"unbalance": True}}})
    # an alias becomes the main name, so it overrides leadml's default (num_leaves 7)
    cfg = TrainConfig.from_dict({"lightgbm": {"params": {"num_leaf": 5}}})
    assert cfg.lightgbm.params == {"num_leaves": 5}


def test_config_yaml_round_trip(tmp_path):
    cfg = TrainConfig(
        horizon=14,
        every="1w",
        exclude=["deal_stage"],
        calibration="isotonic",
        params={"num_leaves": 15},
        origins=2,
        label_start="2024-03-01",
    )
    assert cfg.horizon == "14d"
    assert cfg.every == "7d"
    assert cfg.calibration.method == "isotonic"
    assert cfg.lightgbm.params == {"num_leaves": 15}
    assert cfg.backtest.origins == 2
    assert cfg.label_start == "2024-03-01T00:00:00+00:00"
    path = tmp_path / "train.yaml"
    cfg.to_yaml(path)
    assert TrainConfig.from_yaml(path) == cfg
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.updated(backtest={"test_share": 0.3}).backtest.origins == 2


# ------------------------------------------------------------------------------- protocol
def test_backtest_uses_known_labels_and_every_row_outside_the_gap(small):
    _, res = small
    ts, meta = res.training_set, res.model.metadata
    horizon = pd.Timedelta(meta["horizon"])
    origin = pd.Timestamp(meta["backtest"]["origin"])
    tr, gap, te = (ts[ts["window"] == w] for w in ("train", "gap", "test"))
    # no label used by the backtest's training was unknown at its origin
    assert (tr["as_of"] + horizon <= origin).all()
    assert (te["as_of"] >= origin).all()
    assert ((gap["as_of"] < origin) & (gap["as_of"] + horizon > origin)).all()
    # every labelled row outside the gap is in a window; no row dropped for a split rule
    assert len(tr) + len(te) + len(gap) == len(ts)
    assert res.split_summary.attrs["backtest_share"] == 1.0
    # windows have conversions; leads may be on both sides, as in production
    assert tr["label"].sum() > 0
    assert te["label"].sum() > 0
    assert set(tr["lead_id"]) & set(te["lead_id"])
    unseen = res.report.subsets.query("subset == 'leads never seen in training'")
    assert (unseen["rows"] < len(te)).all()
    assert not (set(te["lead_id"]) - set(tr["lead_id"])) or len(unseen)
    # the production fit's training window ends at the end of the labelled data
    window = meta["production"]["train_window"]
    assert pd.Timestamp(window[1]) == ts["as_of"].max()
    assert pd.Timestamp(window[1]) + horizon <= pd.Timestamp(meta["observed_until"])
    assert meta["production"]["rows"] == len(ts)
    # the backtest model is a different fit, on the older rows only
    bt = res.backtest_model.metadata["production"]["train_window"]
    assert pd.Timestamp(bt[1]) < origin
    assert res.backtest_model.booster.model_to_string() != res.model.booster.model_to_string()


def test_rolling_origins_report_the_spread(small):
    crm, _ = small
    res = _train(crm, origins=3)
    bt = res.backtest
    assert bt["origin"].nunique() == 3
    assert list(bt["model"].unique()) == ["rules", "logistic", "lightgbm"]
    o = bt.drop_duplicates("origin")
    # consecutive test blocks, each before the next origin
    assert (o["test_to"].iloc[:-1].to_numpy() < o["origin"].iloc[1:].to_numpy()).all()
    spread = res.report.origin_spread()
    assert ("lightgbm", "sd") in spread.index
    assert spread.loc[("lightgbm", "min"), "auc"] <= spread.loc[("lightgbm", "max"), "auc"]
    # origins are independent: run in two processes (joblib), the same figures and model
    par = _train(crm, origins=3, backtest={"origins": 3, "n_jobs": 2})
    pd.testing.assert_frame_equal(par.backtest, bt)
    assert par.model.booster.model_to_string() == res.model.booster.model_to_string()


def test_one_decision_time_per_lead_uses_every_row():
    crm = _crm(n=5000, days=240, seed=4)
    cut = crm.sample_cutoffs(per_lead=1, seed=0)
    assert cut["lead_id"].is_unique
    # a few requested cut-offs that are not training rows: after the conversion, before creation
    conv = crm.conversions.head(7)
    created = crm.leads.set_index("lead_id")["created_at"]
    early = crm.leads["lead_id"].iloc[-4:]
    extra = pd.concat(
        [
            pd.DataFrame({"lead_id": conv["lead_id"], "as_of": conv["converted_at"]}),
            pd.DataFrame(
                {"lead_id": early, "as_of": created[early].to_numpy() - pd.Timedelta("1D")}
            ),
        ]
    )
    asked = pd.concat([cut[["lead_id", "as_of"]], extra], ignore_index=True)
    with pytest.warns(RowsExcludedWarning, match=r"excluded 11 of"):
        res = _train(crm, cutoffs=asked, backtest={"min_test_conversions": 20})
    ts = res.training_set
    labelled = int((cut["as_of"] + pd.Timedelta("30D") <= crm.observed_until).sum())
    assert len(ts) == labelled
    assert res.split_summary.attrs["backtest_share"] == 1.0
    # nothing left out without saying so: the summary counts them, by reason
    parts = res.split_summary.set_index("part")["rows"]
    assert parts["left out: cut-off at or after the conversion"] == 7
    assert parts["left out: cut-off before the lead was created"] == 4
    blocks = res.model.metadata["production"]["blocks"]
    # calibration on the latest block, holding a fair share of the rows, never a few dozen
    assert blocks["calibration"]["rows"] >= 0.2 * len(ts)


def test_tracking_that_starts_late_is_detected_and_the_early_rows_left_out():
    crm = _crm(n=2500, days=280, conversions_from_day=120)
    res = _train(crm)
    first = crm.conversions["converted_at"].min()
    assert (res.training_set["as_of"] >= first).all()
    assert any("conversions are recorded from" in n for n in res.notes)
    left = res.split_summary.set_index("part")
    assert left.loc["left out: before conversion tracking started", "rows"] > 0
    assert res.model.metadata["label_start"] == str(first)
    # explicitly keeping them is possible, and then the early rows are all negatives
    kept = _train(crm, label_start="none", backtest={"min_test_conversions": 20})
    early = kept.training_set[kept.training_set["as_of"] + pd.Timedelta("30D") < first]
    assert len(early)
    assert early["label"].sum() == 0


def test_late_tracking_with_one_decision_per_lead_trains_on_a_short_history():
    # tracking from day 100 of 240, one cut-off per lead: about 4 horizons of labelled history
    # and 40-odd conversions. A test block of 100 conversions would leave training none.
    crm = _crm(n=2000, days=240, conversions_from_day=100, seed=5)
    cut = crm.sample_cutoffs(per_lead=1, seed=0)[["lead_id", "as_of"]]
    res = _train(crm, cutoffs=cut)
    conv = res.model.metadata["backtest"]["conversions"]
    assert 0 < conv["test"] <= conv["train"]
    assert not res.model.metadata["backtest"]["test_conversions_met"]
    assert any("fewer than backtest.min_test_conversions=100" in n for n in res.notes)
    assert res.split_summary.attrs["backtest_share"] == 1.0
    # shorter still (tracking from day 150): no room for a horizon's gap inside the procedure too;
    # it fits on every row before its calibration block and says so
    crm = _crm(n=3000, days=240, conversions_from_day=150, seed=5)
    cut = crm.sample_cutoffs(per_lead=1, seed=0)[["lead_id", "as_of"]]
    res = _train(crm, cutoffs=cut)
    assert any("LightGBM is fitted on every row before the block" in n for n in res.notes)
    assert res.model.calibrator.a > 0


def test_too_little_history_after_late_tracking_names_the_tracking_start():
    crm = _crm(n=1500, days=240)
    late = crm.conversions[
        crm.conversions["converted_at"] > crm.observed_until - pd.Timedelta(days=40)
    ]
    with pytest.raises(
        ConfigError,
        match=r"backtest: .*conversion tracking was taken to start on .*"
        r"label_start: auto.*earlier labelled rows were left out",
    ):
        train(crm.leads, crm.events, late, every="7d", n_boot=0, observed_until=crm.observed_until)
    with pytest.raises(ConfigError, match=r"with no conversion; .* the first converted row is at"):
        train(
            crm.leads,
            crm.events,
            late,
            every="7d",
            n_boot=0,
            observed_until=crm.observed_until,
            label_start="none",
        )


def test_no_late_tracking_detected_on_ordinary_data(small):
    _, res = small
    assert res.model.metadata["label_start"] is None
    assert "left out: before conversion tracking started" not in set(res.split_summary["part"])


def test_shifted_base_rate_is_followed_by_the_calibration():
    crm = _crm(n=4000, days=300, rate_shift=5.0, seed=11)
    res = _train(crm)  # FAST's quicker trees: the calibration's level is under test
    ts = res.training_set
    block = res.model.metadata["production"]["blocks"]["calibration"]
    latest = ts[ts["as_of"] >= pd.Timestamp(block["from"])]
    p = res.model.predict_proba(latest)
    rate, early_rate = (
        latest["label"].mean(),
        ts["label"][ts["as_of"] < ts["as_of"].quantile(0.5)].mean(),
    )
    assert rate > 1.4 * early_rate, "the fixture must have a moving base rate"
    assert p.mean() == pytest.approx(rate, rel=0.10)
    # without the anchor the refitted model follows the whole history's average, not the latest rate
    loose = _train(crm, calibration={"anchor": False})
    q = loose.model.predict_proba(latest)
    assert abs(q.mean() / rate - 1) > abs(p.mean() / rate - 1)


def test_the_recent_rate_check_moves_the_level_only_when_the_base_rate_moved(small):
    _, stable = small
    recent = stable.backtest_model.metadata["production"]["blocks"].get("recent", {})
    assert not recent.get("applied")
    # a ratio off by 10 % or more that the check does not act on is still noted
    ratios = [
        m.metadata["production"]["blocks"].get("recent", {}).get("ratio")
        for m in (stable.backtest_model, stable.model)
    ]
    off_by_10 = any(r and abs(np.log(r)) >= np.log(1.1) for r in ratios)
    assert off_by_10 == any("the base rate may be moving" in n for n in stable.notes), ratios
    crm = _crm(n=5000, days=300, rate_shift=5.0, seed=11)  # the check fires at z 4.8 here
    res = _train(crm, backtest={"min_test_conversions": 50})
    recent = res.backtest_model.metadata["production"]["blocks"]["recent"]
    assert recent["applied"]
    assert recent["ratio"] > 1.1
    assert any("recent label windows" in n for n in res.notes)
    off = _train(
        crm,
        backtest={"min_test_conversions": 50},
        calibration={"recent_rate": False},
    )
    # the backtest's test rows come after a rising base rate: the check brings the level closer
    citl_on = res.report.metrics.loc["lightgbm", "citl"]
    citl_off = off.report.metrics.loc["lightgbm", "citl"]
    assert abs(citl_on - 1) < abs(citl_off - 1)


def test_the_recent_rate_shift_makes_the_model_expect_what_was_seen():
    """The level follows the open windows exactly: log(observed / expected) is only the
    small-probability approximation and falls short when probabilities are not small."""
    from leadml._math import logit, sigmoid
    from leadml.modeling._procedure import OpenWindows, _recent_rate

    rng = np.random.default_rng(3)
    n = 4000
    p = sigmoid(rng.normal(-1.0, 1.2, n))  # what the model says: mean about 0.3
    elapsed = rng.uniform(0, 1, n)
    timing = np.sort(rng.uniform(0, 1, 500))  # conversions come evenly over the window
    share = np.searchsorted(timing, elapsed, side="right") / len(timing)
    truth = sigmoid(logit(p) + 0.7)  # the base rate has moved up since
    converted = (rng.uniform(size=n) < truth * share).astype(int)
    windows = OpenWindows(
        X=pd.DataFrame(index=range(n)), elapsed=elapsed, converted=converted, groups=np.arange(n)
    )
    r = _recent_rate(timing, windows, p, 3.0)
    assert r["applied"]
    assert r["shift"] == pytest.approx(0.7, abs=0.15)
    expected_after = float(np.sum(share * sigmoid(logit(p) + r["shift"])))
    assert expected_after == pytest.approx(r["observed"], rel=1e-6)
    short = float(np.sum(share * sigmoid(logit(p) + np.log(r["ratio"]))))
    assert short < 0.95 * r["observed"]


def test_same_data_and_seed_give_the_same_model(small):
    crm, res = small
    again = _train(crm)
    assert again.model.booster.model_to_string() == res.model.booster.model_to_string()
    assert again.model.calibrator == res.model.calibrator
    pd.testing.assert_frame_equal(again.report.metrics, res.report.metrics)
    # and the seed is what makes them equal: another seed grows other trees
    other = _train(crm, seed=1)
    assert other.model.booster.model_to_string() != res.model.booster.model_to_string()


# ------------------------------------------------------------------------------- calibration
def test_a_calibrator_never_reverses_a_model():
    rng = np.random.default_rng(0)
    m = rng.normal(size=5000)
    y = (rng.random(5000) < 1 / (1 + np.exp(2 + 1.5 * m))).astype(int)  # higher margin, FEWER
    cal = fit_calibrator(m, y, what="test model")
    assert cal.a == 1.0
    assert "not positive" in cal.note
    assert cal.transform(np.array([0.0, 1.0]))[1] > cal.transform(np.array([0.0, 1.0]))[0]
    assert cal.transform(m).mean() == pytest.approx(y.mean(), rel=1e-6)
    few = fit_calibrator(m[:120], y[:120])
    assert few.a == 1.0
    assert "fewer than the 50" in few.note


def test_a_scorecard_whose_points_predict_fewer_conversions_is_not_reversed():
    X = pd.DataFrame({"employees": np.r_[np.full(200, 10.0), np.full(200, 5000.0)]})
    y = np.r_[np.ones(100), np.zeros(100), np.ones(10), np.zeros(190)]
    sc = PointsScorecard(
        rules={
            "fit": {
                "rules": [
                    {"name": "big", "field": "employees", "bins": [{"min": 1000, "points": 10}]}
                ]
            }
        }
    )
    with pytest.warns(CalibrationWarning, match=r"slope of .* refused"):
        sc.fit(X, y)
    assert sc.a_ == 0.0
    assert sc.predict_proba(X)[:, 1] == pytest.approx(np.full(400, y.mean()))


def test_logistic_reference_is_not_reversed_on_the_issue_case():
    crm = make_crm(3000, seed=1)
    res = train(crm.leads, crm.events, crm.conversions, every="7d", n_boot=0, lightgbm=QUICK_TREES)
    m = res.report.metrics
    assert m.loc["logistic", "cal_slope"] > 0
    assert m.loc["logistic", "auc"] > 0.6
    assert res.model.linear_calibrator.a > 0


# ------------------------------------------------------------------------------- data shapes
def test_lost_leads_have_no_training_rows_after_they_are_lost(small):
    crm, _ = small
    leads = crm.leads.copy()
    converted = set(crm.conversions["lead_id"])
    lost = leads.index[~leads["lead_id"].isin(converted)][::4]
    leads["lost_at"] = pd.Series(pd.NaT, index=leads.index, dtype="datetime64[us, UTC]")
    leads.loc[lost, "lost_at"] = leads.loc[lost, "created_at"] + pd.Timedelta(days=20)
    res = train(
        leads,
        crm.events,
        crm.conversions,
        start=crm.start,
        observed_until=crm.observed_until,
        **FAST,
    )
    ts = res.training_set.merge(leads[["lead_id", "lost_at"]], on="lead_id")
    assert not (ts["as_of"] >= ts["lost_at"]).any()
    assert "lost_at" not in res.model.feature_names
    scores = res.model.score(leads, crm.events, as_of=crm.observed_until)
    assert (scores.set_index("lead_id").loc[leads.loc[lost, "lead_id"], "status"] == "lost").all()
    assert set(scores["status"]) == {"open", "lost"}


def test_exclude_keeps_sales_process_columns_out_of_event_mode(small):
    crm, _ = small
    leads = crm.leads.assign(
        deal_stage=np.where(crm.leads["lead_id"].isin(crm.conversions["lead_id"]), "won", "open")
    )
    res = train(
        leads,
        crm.events,
        crm.conversions,
        exclude=["deal_stage"],
        start=crm.start,
        observed_until=crm.observed_until,
        **FAST,
    )
    assert "deal_stage" not in res.model.feature_names
    assert res.model.metadata["config"]["exclude"] == ["deal_stage"]


# ------------------------------------------------------------------------------- bad input
def test_horizon_longer_than_the_history_is_a_clear_error():
    crm = _crm(n=400, days=120)
    with pytest.raises(
        NotEnoughDataError, match=r"no labelled row.*horizon 200d.*spans 1\d\d days"
    ):
        train(crm.leads, crm.events, crm.conversions, horizon="200d", every="7d", n_boot=0)


def test_a_training_window_with_one_class_names_the_numbers():
    crm = _crm(n=600, days=150)
    with pytest.raises(DataContractError, match=r"conversions: the table has no rows"):
        train(crm.leads, crm.events, crm.conversions.iloc[:0], every="7d", n_boot=0)
    few = crm.conversions.head(5)
    with pytest.raises(NotEnoughDataError, match=r"hold [45] converted and [\d,]+ not-converted"):
        train(crm.leads, crm.events, few, every="7d", n_boot=0, label_start="none")
    # conversions only at the very end: the backtest's training part would have none
    late = crm.conversions[
        crm.conversions["converted_at"] > crm.observed_until - pd.Timedelta(days=35)
    ]
    with pytest.raises(LeadmlError, match=r"no conversion|converted"):
        train(crm.leads, crm.events, late, every="7d", n_boot=0, label_start="none")


def test_minimum_data_is_enforced_with_the_fix():
    crm = _crm(n=150, days=120)
    with pytest.raises(
        NotEnoughDataError, match=r"at least 40 converted and 40 not-converted leads.*Fix"
    ):
        train(crm.leads, crm.events, crm.conversions, every="7d", n_boot=0)


# ------------------------------------------------------------------------------- evaluate
def test_evaluate_says_what_it_evaluates(small):
    crm, res = small
    with pytest.raises(
        ConfigError, match=r"none of the .* labelled rows is after the model's training"
    ):
        evaluate_model(res.model, crm.leads, crm.events, crm.conversions, every="7d", n_boot=0)
    rep = evaluate_model(
        res.model, crm.leads, crm.events, crm.conversions, every="7d", n_boot=0, in_sample=True
    )
    assert "IN-SAMPLE" in rep.info["title"]
    # a model trained on the older data, evaluated on what came after its training window
    cut = crm.observed_until - pd.Timedelta(days=60)
    older = train(
        crm.leads[crm.leads["created_at"] < cut],
        crm.events[crm.events["timestamp"] < cut],
        crm.conversions[crm.conversions["converted_at"] < cut],
        start=crm.start,
        observed_until=cut,
        **FAST,
    )
    rep = evaluate_model(
        older.model,
        crm.leads,
        crm.events,
        crm.conversions,
        every="7d",
        n_boot=0,
        start=crm.start,
        observed_until=crm.observed_until,
    )
    trained_to = pd.Timestamp(older.model.metadata["production"]["train_window"][1])
    assert pd.Timestamp(rep.info["window"].split(" .. ")[0], tz="UTC") > trained_to
    parts = rep.data_summary.set_index("part")
    assert parts.loc["evaluated", "rows"] == rep.info["rows"]
    assert parts.loc["left out: in the model's training window", "rows"] > 0
    assert parts.loc["left out: in the model's training window", "to"] <= trained_to
    assert not rep.info["in_sample"]


# ------------------------------------------------------------------------------- properties
@pytest.mark.slow
@given(
    seed=st.integers(0, 1000),
    every=st.sampled_from(["7d", "10d", "14d"]),
    horizon=st.sampled_from(["21d", "30d"]),
    shift=st.sampled_from([1.0, 3.0]),
    late=st.sampled_from([None, 70]),
)
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_protocol_properties_on_generated_crms(seed, every, horizon, shift, late):
    crm = make_crm(1200, days=220, seed=seed, rate_shift=shift, conversions_from_day=late)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        try:
            res = train(
                crm.leads,
                crm.events,
                crm.conversions,
                every=every,
                horizon=horizon,
                start=crm.start,
                observed_until=crm.observed_until,
                n_boot=0,
                backtest={"min_test_conversions": 20},
                lightgbm=QUICK_TREES,
            )
        except NotEnoughDataError:
            return
    ts, meta = res.training_set, res.model.metadata
    h = pd.Timedelta(days=int(horizon.rstrip("d")))
    origin = pd.Timestamp(meta["backtest"]["origin"])
    assert (ts.loc[ts["window"] == "train", "as_of"] + h <= origin).all()
    assert (ts.loc[ts["window"] == "test", "as_of"] >= origin).all()
    for w in ("train", "test"):
        assert ts.loc[ts["window"] == w, "label"].sum() > 0
    assert pd.Timestamp(meta["production"]["train_window"][1]) == ts["as_of"].max()
    assert (ts["as_of"] + h <= crm.observed_until).all()
    cal = res.model.metadata["production"]["blocks"]["calibration"]
    assert cal["conversions"] > 0
    assert res.model.calibrator.a > 0


def test_a_leaking_profile_column_is_named_and_does_not_saturate_the_calibration(small):
    crm, _ = small
    won = crm.leads["lead_id"].isin(crm.conversions["lead_id"])
    leads = crm.leads.assign(deal_stage=np.where(won, "won", "open"))
    with pytest.warns(LeakageWarning, match=r"'deal_stage' alone separates converted .* --exclude"):
        res = train(
            leads, crm.events, crm.conversions, start=crm.start, observed_until=crm.observed_until,
            **FAST,
        )  # fmt: skip
    assert res.model.calibrator.a <= 10
    assert any("alone separates" in n for n in res.notes)
    with pytest.raises(ConfigError, match=r"'deal-stage' \(did you mean 'deal_stage'\?\)"):
        train(leads, crm.events, crm.conversions, exclude=["deal-stage"], **FAST)


def test_impossible_calibration_and_reweighting_are_refused_before_the_work(small):
    crm, _ = small
    with pytest.raises(ConfigError, match=r"is_unbalance.*break probability calibration"):
        TrainConfig(params={"is_unbalance": True})
    with pytest.raises(ConfigError, match=r"isotonic' needs >= 5,000 rows .* calibration block"):
        _train(crm, calibration="isotonic")


def test_lost_rows_are_counted_in_the_summary(small):
    crm, _ = small
    leads = crm.leads.copy()
    leads["lost_at"] = pd.Series(pd.NaT, index=leads.index, dtype="datetime64[us, UTC]")
    pick = leads.index[~leads["lead_id"].isin(crm.conversions["lead_id"])][::3]
    leads.loc[pick, "lost_at"] = leads.loc[pick, "created_at"] + pd.Timedelta(days=10)
    res = train(
        leads, crm.events, crm.conversions, start=crm.start, observed_until=crm.observed_until,
        **FAST,
    )  # fmt: skip
    part = res.split_summary.set_index("part").loc["left out: after the lead was lost"]
    assert part["rows"] > 0
    assert part["leads"] <= len(pick)
