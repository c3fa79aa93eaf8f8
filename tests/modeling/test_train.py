"""The training job and the LeadScoringModel: acceptance on synthetic data with ground truth,
point-in-time scoring, save/load, determinism, one row per requested (lead, as_of)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadml.datasets import make_crm
from leadml.evaluation import roc_auc
from leadml.exceptions import ConfigError, DataContractError
from leadml.modeling import (
    SCORE_COLUMNS,
    LeadScoringModel,
    ScoreScale,
    evaluate_model,
    fit_calibrator,
    train,
    train_flat,
)

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "models" / "scorecard.yaml"


@pytest.fixture(scope="module")
def crm():
    return make_crm(20_000, seed=0)


@pytest.fixture(scope="module")
def trained(crm):
    return train(
        crm.leads,
        crm.events,
        crm.conversions,
        horizon=crm.horizon,
        every=crm.every,
        start=crm.start,
        observed_until=crm.observed_until,
        rules=RULES,
        reference=crm.truth.rename(columns={"p_true": "p"}),
        n_boot=20,  # enough for the paired interval checked below (the demo draws 200)
    )


@pytest.mark.slow
def test_acceptance_on_synthetic_data_with_ground_truth(trained):
    m = trained.report.metrics
    # close to the true probabilities on the same test rows (benchmarks/README.md: 0.0072 on this
    # seed, 0.0119 on seed 1; the target of 0.007 is not met on every seed)
    assert m.loc["reference", "auc"] - m.loc["lightgbm", "auc"] <= 0.01
    assert m.loc["lightgbm", "ece"] <= 0.01
    # calibrated in the large on the backtest's test rows, and the shipped model on the latest block
    assert m.loc["lightgbm", "citl"] == pytest.approx(1.0, abs=0.1)
    ts = trained.training_set
    block = trained.model.metadata["production"]["blocks"]["calibration"]
    latest = ts[ts["as_of"] >= pd.Timestamp(block["from"])]
    p_latest = trained.model.predict_proba(latest).mean()
    assert p_latest == pytest.approx(latest["label"].mean(), rel=0.1)
    # beats the rules baseline on AUC and log loss, and the paired interval excludes zero
    assert m.loc["lightgbm", "auc"] > m.loc["rules", "auc"]
    assert m.loc["lightgbm", "log_loss"] < m.loc["rules", "log_loss"]
    iv = trained.report.intervals.set_index(["model", "metric"])
    assert iv.loc[("lightgbm - rules", "auc"), "low"] > 0
    # the test window has enough conversions for these statements to mean something
    assert trained.report.info["conversions"] >= 500
    # a hot lead converts more often than a cold one, for every model
    bb = trained.report.by_band.set_index(["model", "band"])["conversion_rate"]
    for model in ("rules", "logistic", "lightgbm"):
        assert bb[(model, "hot")] > bb[(model, "warm")] > bb[(model, "cold")]


@pytest.mark.slow
def test_backtest_and_production_fit_on_the_weekly_demo(trained):
    ts = trained.training_set
    meta = trained.model.metadata
    horizon = pd.Timedelta(meta["horizon"])
    origin = pd.Timestamp(meta["backtest"]["origin"])
    assert (ts.loc[ts["window"] == "train", "as_of"] + horizon <= origin).all()
    assert (ts.loc[ts["window"] == "test", "as_of"] >= origin).all()
    # no row is lost to a split rule: every labelled row outside the gap is used
    assert trained.split_summary.attrs["backtest_share"] == 1.0
    # the production fit uses all labelled history and ends where the labels end
    assert meta["production"]["rows"] == len(ts)
    assert pd.Timestamp(meta["production"]["train_window"][1]) == ts["as_of"].max()
    # censored rows are never used
    assert ts["label"].notna().all()


@pytest.fixture(scope="module")
def score_case(crm, trained):
    """Leads to score: some with no events, an unseen category, missing profile values."""
    leads = crm.leads.iloc[-300:].copy()
    leads.loc[leads.index[0], "industry"] = "aerospace"  # unseen level
    leads.loc[leads.index[1], ["industry", "employees", "country"]] = [None, np.nan, None]
    as_of = crm.observed_until - pd.Timedelta(days=3)
    fresh = leads.head(3).assign(
        lead_id=["new1", "new2", "new3"], created_at=as_of - pd.Timedelta(days=1)
    )  # brand-new leads without any event
    leads = pd.concat([leads, fresh])
    events = crm.events[crm.events["lead_id"].isin(leads["lead_id"])]
    return leads.sample(frac=1.0, random_state=1), events, as_of


@pytest.mark.slow
def test_scores_ignore_events_after_as_of_and_keep_every_row(trained, score_case):
    leads, events, as_of = score_case
    model = trained.model
    full = model.score(leads, events, as_of=as_of)
    cut = model.score(leads, events[events["timestamp"] < as_of], as_of=as_of)
    pd.testing.assert_frame_equal(full, cut)
    assert list(full.columns) == SCORE_COLUMNS
    # one row per requested lead, in the order of the leads table
    assert full["lead_id"].tolist() == leads["lead_id"].tolist()
    assert full["p_convert"].between(0, 1).all()
    assert full["score"].between(0, 100).all()
    no_events = set(leads["lead_id"]) - set(events.loc[events["timestamp"] < as_of, "lead_id"])
    assert no_events, "the case must include leads without events"
    assert full.set_index("lead_id").loc[list(no_events), "p_convert"].notna().all()
    assert set(full["band"]) <= {"hot", "warm", "cold"}
    assert full["grade"].str.fullmatch(r"[A-D][1-3]").all()


@pytest.mark.slow
def test_explicit_cutoffs_one_row_each_in_order(trained, score_case):
    leads, events, as_of = score_case
    ids = leads["lead_id"].tolist()
    cut = pd.DataFrame(
        {
            "lead_id": [ids[3], ids[0], ids[3], ids[7]],
            "as_of": [as_of, as_of - pd.Timedelta(days=30), as_of - pd.Timedelta(days=60), as_of],
        },
        index=[9, 2, 5, 1],
    )
    out = trained.model.score(leads, events, cutoffs=cut)
    assert len(out) == 4
    assert out["lead_id"].tolist() == cut["lead_id"].tolist()
    assert out["as_of"].tolist() == cut["as_of"].tolist()
    single = trained.model.score(
        leads[leads["lead_id"] == ids[3]], events[events["lead_id"] == ids[3]], as_of=as_of
    )
    assert single["p_convert"].iloc[0] == out["p_convert"].iloc[0]


@pytest.mark.slow
def test_save_load_gives_identical_scores_without_pickle(tmp_path, trained, score_case):
    leads, events, as_of = score_case
    path = trained.model.save(tmp_path / "model")
    files = sorted(p.name for p in path.iterdir())
    assert files == sorted(
        [
            "calibrator.json",
            "feature_spec.json",
            "lightgbm_model.txt",
            "logistic_baseline.json",
            "metadata.json",
            "scorecard.yaml",
            "scorecard_mapping.json",
        ]
    )
    for p in path.iterdir():
        assert b"\x80\x04" not in p.read_bytes()[:2]  # no pickle protocol header
    meta = json.loads((path / "metadata.json").read_text())
    assert {
        "horizon",
        "backtest",
        "production",
        "test_metrics",
        "versions",
        "lightgbm",
        "config",
    } <= set(meta)
    loaded = LeadScoringModel.load(path)
    pd.testing.assert_frame_equal(
        trained.model.score(leads, events, as_of=as_of), loaded.score(leads, events, as_of=as_of)
    )
    # saving again over an existing model needs overwrite=True, and replaces it atomically
    with pytest.raises(ConfigError, match="already holds a leadml model"):
        trained.model.save(path)
    trained.model.save(path, overwrite=True)
    assert LeadScoringModel.load(path).metadata["horizon"] == meta["horizon"]


@pytest.mark.slow
def test_evaluate_saved_model_on_labelled_data(crm, trained):
    rep = evaluate_model(
        trained.model,
        crm.leads,
        crm.events,
        crm.conversions,
        every="28d",
        start=crm.start + pd.Timedelta(days=300),
        observed_until=crm.observed_until,
        in_sample=True,
        n_boot=0,
    )
    assert list(rep.metrics.index) == ["rules", "logistic", "lightgbm"]
    assert rep.info["censored_rows_left_out"] > 0
    assert rep.info["in_sample"]
    assert rep.metrics.loc["lightgbm", "auc"] > 0.65


def test_class_reweighting_is_refused(crm_small):
    with pytest.raises(ConfigError, match=r"is_unbalance.*break probability calibration"):
        train(
            crm_small.leads,
            crm_small.events,
            crm_small.conversions,
            every="7d",
            params={"is_unbalance": True},
            n_boot=0,
        )


def test_linear_leaves_are_refused_before_the_work():
    """Reasons read constant leaves: a linear-leaf model would be explained wrongly."""
    from leadml.modeling import TrainConfig

    with pytest.raises(ConfigError, match=r"'linear_tree'.*explanations would be wrong"):
        TrainConfig(horizon="30d", every="7d", lightgbm={"params": {"linear_tree": True}})
    TrainConfig(horizon="30d", every="7d", lightgbm={"params": {"linear_tree": False}})


def test_train_needs_one_schedule(crm_small):
    with pytest.raises(ConfigError, match=r"exactly one of cutoffs= \(a table\) and every="):
        train(crm_small.leads, crm_small.events, crm_small.conversions, n_boot=0)


def test_calibrators_and_score_scale():
    rng = np.random.default_rng(0)
    margin = rng.normal(-3, 1.2, 20_000)
    y = (rng.random(len(margin)) < 1 / (1 + np.exp(-(0.8 * margin + 0.5)))).astype(int)
    cal = fit_calibrator(margin, y)
    assert cal.a == pytest.approx(0.8, abs=0.06)
    assert cal.b == pytest.approx(0.5, abs=0.2)
    iso = fit_calibrator(margin, y, method="isotonic")
    p = iso.transform(np.sort(margin))
    assert (np.diff(p) >= 0).all()
    with pytest.raises(ConfigError, match=r"isotonic calibration needs >= 5000 rows"):
        fit_calibrator(margin[:1000], y[:1000], method="isotonic")
    with pytest.raises(ConfigError, match=r"only one class"):
        fit_calibrator(margin[:10], np.zeros(10))
    scale = ScoreScale.fit(cal.transform(margin), {"hot": 80, "warm": 50, "cold": None})
    s = scale.score(np.sort(cal.transform(margin)))
    assert (np.diff(s) >= 0).all()
    assert s.min() >= 0
    assert s.max() <= 100
    assert np.mean(scale.band(scale.score(cal.transform(margin))) == "hot") == pytest.approx(
        0.2, abs=0.02
    )
    with pytest.raises(ConfigError, match=r"bands: list minimum scores"):
        ScoreScale.fit(margin, {"hot": 50, "warm": 80, "cold": None})


def test_flat_mode_trains_scores_and_roundtrips(tmp_path):
    rng = np.random.default_rng(3)
    n = 3000
    table = pd.DataFrame(
        {
            "id": [f"x{i}" for i in range(n)],
            "source": rng.choice(["web", "ads", "Select", "partner"], n),
            "visits": rng.poisson(3, n).astype(float),
            # text, as a CSV export gives it: the time orders the rows and is never a feature
            "when": pd.date_range("2023-01-01", periods=n, freq="h", tz="UTC").strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
            "sales_note": rng.choice(["good", "bad"], n),
        }
    )
    logit = -2 + 0.4 * table["visits"] + (table["source"] == "partner") * 1.0
    table["won"] = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    res = train_flat(
        table,
        label="won",
        positive="yes",
        id_column="id",
        time_column="when",
        exclude=["sales_note"],
        na_values=["Select"],
        rules={
            "fit": {
                "rules": [{"name": "partner", "field": "source", "equals": "partner", "points": 10}]
            }
        },
        n_boot=0,
    )
    test = res.training_set["window"] == "test"
    oracle = roc_auc(res.training_set.loc[test, "label"], 1 / (1 + np.exp(-logit[test.to_numpy()])))
    assert res.report.metrics.loc["lightgbm", "auc"] > oracle - 0.05
    assert "sales_note" not in res.model.feature_names
    assert res.model.feature_names == ["source", "visits"]
    path = res.model.save(tmp_path / "flat")
    loaded = LeadScoringModel.load(path)
    leads = table.drop(columns=["won"]).rename(columns={"id": "lead_id"}).head(50)
    a = res.model.score(leads)
    pd.testing.assert_frame_equal(a, loaded.score(leads))
    assert a["lead_id"].tolist() == leads["lead_id"].tolist()
    assert a["as_of"].isna().all()


def test_scoring_errors_are_clear(crm_small):
    res = train(
        crm_small.leads,
        crm_small.events,
        crm_small.conversions,
        every="7d",
        observed_until=crm_small.observed_until,
        n_boot=0,
    )
    with pytest.raises(ConfigError, match=r"pass as_of= \(one time for every lead"):
        res.model.score(crm_small.leads, crm_small.events)
    with pytest.raises(
        DataContractError, match=r"profile column\(s\) \['industry'\] used by the model"
    ):
        res.model.score(
            crm_small.leads.drop(columns=["industry"]), crm_small.events, as_of="2024-06-01"
        )
    few = crm_small.leads.head(5)
    # scoring a few leads with the full event log: the other leads' events are not inputs
    out = res.model.score(few, crm_small.events, as_of="2024-06-01")
    own = crm_small.events[crm_small.events["lead_id"].isin(few["lead_id"])]
    pd.testing.assert_frame_equal(out, res.model.score(few, own, as_of="2024-06-01"))
    assert len(out) == 5
    # a cut-off for a lead that is not in the leads table cannot be scored: named, or dropped
    cut = pd.DataFrame({"lead_id": ["L0000000", "nobody"], "as_of": ["2024-06-01"] * 2})
    with pytest.raises(DataContractError, match=r"cutoffs.lead_id: .*'nobody'"):
        res.model.score(few, crm_small.events, cutoffs=cut)
    with pytest.warns(UserWarning, match=r"cutoffs: dropped 1 row"):
        assert len(res.model.score(few, crm_small.events, cutoffs=cut, unknown_leads="drop")) == 1


@pytest.mark.slow
def test_own_feature_matrix_equals_lightgbm_pandas_path(trained, score_case):
    """predict_margin builds the matrix itself; LightGBM's DataFrame path gives the same margins."""
    leads, events, as_of = score_case
    feats, _ = trained.model.features(leads, events, as_of=as_of)
    ours = trained.model.predict_margin(feats)
    theirs = trained.model.booster.predict(
        feats[trained.model.feature_names], raw_score=True, validate_features=True
    )
    np.testing.assert_array_equal(ours, theirs)
    bad = feats.copy()
    bad["industry"] = bad["industry"].cat.add_categories(["zzz"])
    with pytest.raises(
        DataContractError, match=r"features.industry: expected a categorical column"
    ):
        trained.model.predict_margin(bad)


@pytest.mark.slow
def test_the_readme_quotes_what_the_demo_produces(trained):
    """The README's demo table is the demo's output: the same data, rules, seed and procedure as the
    ``trained`` fixture (only the number of bootstrap resamples differs, so intervals are not
    compared)."""
    import re

    text = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| (rules|logistic|LightGBM|truth) [^|]*\| ([0-9.]+) \[", text, re.M)
    assert len(rows) == 4, "the README must show the demo's comparison table"
    names = {"rules": "rules", "logistic": "logistic", "LightGBM": "lightgbm", "truth": "reference"}
    m = trained.report.metrics
    for name, auc in rows:
        assert float(auc) == pytest.approx(round(m.loc[names[name], "auc"], 3), abs=1e-9), name
