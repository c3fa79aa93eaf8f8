"""Per-segment models: the minimum-data rule, the backtest's choice, routing, reasons, persistence,
in flat mode and in event mode (explicit cut-offs and a schedule)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from leadml import make_crm
from leadml.exceptions import ConfigError, DataContractError, RowsExcludedWarning
from leadml.modeling import LeadScoringModel, train, train_flat
from leadml.scoring import GLOBAL_SEGMENT, SEGMENT_COLUMN, segment_routes

FAST = {
    "n_boot": 0,
    "lightgbm": {
        "params": {"num_leaves": 8, "learning_rate": 0.2, "num_threads": 1},
        "max_rounds": 60,
        "early_stopping_rounds": 15,
    },
    "calibration": {"min_conversions": 50},
}


def flat_table(n: int = 5000, seed: int = 0) -> pd.DataFrame:
    """Segment "A" converts for the opposite reasons of "B"; "tiny" is too small for a model."""
    rng = np.random.default_rng(seed)
    seg = rng.choice(["A", "B", "tiny"], size=n, p=[0.25, 0.71, 0.04])
    X = rng.normal(size=(n, 6))
    sign = np.where(seg == "A", -1.0, 1.0)
    logit = -1.2 + sign * (X @ np.array([1.5, -1.2, 1.0, 0.8, -0.9, 0.7]))
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(6)], index=np.arange(n)[::-1])
    df.insert(0, "lead_id", [f"L{i}" for i in range(n)])
    df["segment"] = seg
    days = np.sort(rng.uniform(0, 365, n))
    df["created"] = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(days, unit="D")
    df["converted"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return df


def _train_flat(df: pd.DataFrame):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return train_flat(
            df,
            label="converted",
            id_column="lead_id",
            time_column="created",
            segment="segment",
            segments={"converted_leads": 100, "unconverted_leads": 100, "min_test_conversions": 10},
            **FAST,
        )


@pytest.fixture(scope="module")
def flat():
    df = flat_table()
    return df, _train_flat(df)


def test_same_seed_same_segments_and_scores(flat):
    df, res = flat
    again = _train_flat(df)
    pd.testing.assert_frame_equal(again.report.segments, res.report.segments)
    leads = df.drop(columns="converted").head(200)
    pd.testing.assert_frame_equal(again.model.score(leads), res.model.score(leads))


def test_leads_without_the_segment_column_get_the_global_model_with_a_warning(flat):
    df, res = flat
    leads = df.drop(columns=["converted", "segment"]).head(20)
    with pytest.raises(DataContractError, match=r"profile column\(s\) \['segment'\]"):
        res.model.score(leads)  # here the column is a feature too: no score without it
    with pytest.warns(RowsExcludedWarning, match="no 'segment' column"):
        routes = segment_routes("segment", res.model.segments, leads, leads["lead_id"])
    assert set(routes) == {GLOBAL_SEGMENT}


def test_strongly_different_segment_is_kept_and_tiny_one_gets_the_global_model(flat):
    _, res = flat
    tab = res.report.segments.set_index("segment")
    assert tab.loc["A", "choice"] == "segment model"
    assert tab.loc["A", "segment_log_loss"] < tab.loc["A", "global_log_loss"]
    assert tab.loc["A", "segment_auc"] >= tab.loc["A", "global_auc"]
    assert tab.loc["tiny", "choice"] == GLOBAL_SEGMENT
    assert tab.loc["tiny", "why"].startswith("too little data")
    assert tab.loc["tiny", "train_converted_leads"] < 100  # the minimum-data rule, per lead
    # every test row is in one segment row; the routed scores are compared on all of them
    assert tab["test_rows"].sum() == int((res.training_set["window"] == "test").sum())
    routed = res.report.segments_routed.set_index("model")
    assert routed.loc["routed", "segment_models"] == len(res.model.segments)
    assert len(res.model.segments) >= 1
    assert routed.loc["routed", "log_loss"] < routed.loc["global", "log_loss"]
    assert "A" in res.model.segments
    assert "tiny" not in res.model.segments
    assert "Per-segment models" in res.report.to_markdown()


def test_rows_are_routed_to_the_model_of_their_segment_with_its_reasons(flat):
    df, res = flat
    model = res.model
    leads = df.drop(columns="converted").head(40).copy()
    leads.loc[leads.index[:3], "segment"] = "never_seen"
    leads.loc[leads.index[3:5], "segment"] = None
    out = model.score(leads, reasons=2)
    expect = np.where(leads["segment"].isin(list(model.segments)), leads["segment"], "global")
    assert out[SEGMENT_COLUMN].tolist() == expect.tolist()
    feats, _ = model.features(leads)
    for name in ["global", *model.segments]:
        m = model.segment_model(name) if name != "global" else model
        mask = (out[SEGMENT_COLUMN] == name).to_numpy()
        if not mask.any():
            continue
        own = m.predict_proba(feats.loc[mask])
        np.testing.assert_allclose(out.loc[mask, "p_convert"], own)
        wide, _ = m.explainer.reasons(feats.loc[mask].reset_index(drop=True), k=2)
        assert out.loc[mask, "reason_1"].tolist() == wide["reason_1"].tolist()
    a = (out[SEGMENT_COLUMN] == "A").to_numpy()
    g = model.predict_proba(feats.loc[a])  # the global model would have said something else
    assert not np.allclose(out.loc[a, "p_convert"], g)
    long = model.explain(leads, k=1)
    assert set(long["lead_id"]) <= set(leads["lead_id"])


def test_segment_models_survive_save_and_load(flat, tmp_path):
    df, res = flat
    leads = df.drop(columns="converted").head(60)
    path = res.model.save(tmp_path / "m")
    assert (path / "segments" / "0" / "metadata.json").is_file()
    back = LeadScoringModel.load(path)
    assert back.segment_column == "segment"
    assert sorted(back.segments) == sorted(res.model.segments)
    pd.testing.assert_frame_equal(back.score(leads, reasons=1), res.model.score(leads, reasons=1))
    assert back.metadata["segments"]["kept"] == sorted(res.model.segments)
    # a damaged segment model is caught by its checksum
    sub = path / "segments" / "0" / "calibrator.json"
    sub.write_text(sub.read_text().replace("0", "1", 1))
    with pytest.raises(ConfigError, match="damaged or was edited"):
        LeadScoringModel.load(path)


def test_recalibrated_moves_every_segment_model(flat):
    df, res = flat
    leads = df.drop(columns="converted").head(30)
    moved = res.model.recalibrated(1.0, 0.5)
    assert sorted(moved.segments) == sorted(res.model.segments)
    a, b = moved.score(leads), res.model.score(leads)
    assert (a["p_convert"] > b["p_convert"]).all()
    assert a[SEGMENT_COLUMN].tolist() == b[SEGMENT_COLUMN].tolist()


def test_unknown_segment_column_is_a_clear_error():
    df = flat_table(300)
    with pytest.raises(ConfigError, match=r"segment: column 'segmnt' .*did you mean 'segment'"):
        train_flat(
            df, label="converted", id_column="lead_id", time_column="created", segment="segmnt"
        )
    # an id (or a number) is no segment column: refused before any model is fitted
    df["code"] = np.arange(len(df))
    with pytest.raises(ConfigError, match=r"table.'code' has 300 distinct values.*at most 50"):
        train_flat(
            df, label="converted", id_column="lead_id", time_column="created", segment="code"
        )


@pytest.fixture(scope="module")
def crm():
    return make_crm(1500, days=240, reversed_source="website_organic", seed=2)


def _event_train(crm, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return train(
            crm.leads,
            crm.events,
            crm.conversions,
            segment="lead_source",
            segments={"converted_leads": 15, "unconverted_leads": 30, "min_test_conversions": 5},
            backtest={"min_test_conversions": 30},
            **FAST,
            **kw,
        )


@pytest.mark.parametrize("how", ["cutoffs", "every"])
def test_event_mode_segments_with_cutoffs_and_a_schedule(crm, how):
    if how == "cutoffs":  # one decision time per lead: 10 days after creation
        cut = crm.leads[["lead_id"]].assign(as_of=crm.leads["created_at"] + pd.Timedelta("10D"))
        res = _event_train(crm, cutoffs=cut)
    else:
        res = _event_train(crm, every="21d", max_age="90d")
    tab = res.report.segments
    assert set(tab["segment"]) == set(crm.leads["lead_source"])
    train_rows = int((res.training_set["window"] == "train").sum())
    assert tab["train_rows"].sum() == train_rows
    assert set(tab["choice"]) <= {"segment model", "global"}
    kept = set(tab.loc[tab["choice"] == "segment model", "segment"])
    assert kept == set(res.model.segments)
    assert len(res.report.segments_routed) == 2
    leads = crm.leads.head(200)
    out = res.model.score(leads, crm.events, as_of="2024-08-20")
    expect = np.where(leads["lead_source"].isin(list(kept)), leads["lead_source"], "global")
    assert out[SEGMENT_COLUMN].tolist() == expect.tolist()
    if how == "every":
        # one model's evaluation and one model's gate would judge the global model only: refused
        import copy

        from leadml.jobs import RetrainConfig, load_job_config
        from leadml.modeling import evaluate_model

        routed = copy.copy(res.model)  # a global model with one segment model beside it
        routed.segment_column, routed.segments = "lead_source", {"webinar": res.model}
        with pytest.raises(ConfigError, match=r"evaluate_model: this model routes leads by"):
            evaluate_model(routed, crm.leads, crm.events, crm.conversions)
        job = {"data": {"leads": "l.csv"}, "model_name": "m", "train": {"segment": "lead_source"}}
        with pytest.raises(ConfigError, match=r"do not gate per-segment models yet"):
            load_job_config(RetrainConfig, job)


def test_make_crm_default_unchanged_and_reversed_source_changes_only_that_segment():
    a, b = make_crm(300, days=90, seed=4), make_crm(300, days=90, seed=4, reversed_source="webinar")
    pd.testing.assert_frame_equal(a.leads, b.leads)
    web = (a.leads["lead_source"] == "webinar").to_numpy()
    fa, fb = a.latent["fit_logit"].to_numpy(), b.latent["fit_logit"].to_numpy()
    np.testing.assert_allclose(fb[~web], fa[~web])
    np.testing.assert_allclose(fb[web], -2.0 * fa[web])
    with pytest.raises(ConfigError, match="reversed_source must be one of"):
        make_crm(10, days=60, reversed_source="nope")
