"""Monitoring against real outcomes: an injected tracking error is flagged within two cohorts, a
stable period raises nothing, recalibration fixes the level; the measures behind it."""

from __future__ import annotations

import html.parser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from leadml.cli import app
from leadml.evaluation import expected_calibration_error
from leadml.jobs import EXIT_ALERT, expected_auc, monitor, psi, recalibrate, retrain, score_trends
from leadml.jobs._monitor import _cohort_start, _labels
from leadml.tracking import load_model, model_identity
from tests._servers import mlflow_server
from tests.jobs._scenario import GrowingCRM

TRAIN_DAY, BREAK_DAY, RECAL_DAY = 330, 440, 560


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with mlflow_server(tmp_path_factory.mktemp("mlflow")) as url:
        yield url


@pytest.fixture(scope="module")
def story(tmp_path_factory, server):
    """A champion trained on day 330; from day 440 conversion tracking loses half the
    conversions; the champion scores the open leads every week; the monitor reads it all."""
    folder = tmp_path_factory.mktemp("monitor")
    grow = GrowingCRM(folder, n=6000, seed=2)
    rng = np.random.default_rng(0)
    conv = grow.conversions
    lost = (conv["converted_at"] >= grow.day(BREAK_DAY)) & (rng.random(len(conv)) < 0.5)
    grow.conversions = conv[~lost].reset_index(drop=True)
    uri = server
    cfg = grow.config("mon", uri)
    grow.write(TRAIN_DAY)
    assert retrain(cfg).decision == "promoted"
    model = load_model("models:/mon@champion", tracking_uri=uri)
    full = grow.crm
    name, version = model_identity(model)
    for k in range(30):
        t = grow.day(TRAIN_DAY + 7 * k)
        leads = full.leads[
            (full.leads["created_at"] < t) & (full.leads["created_at"] > t - pd.Timedelta(days=120))
        ]
        ev = full.events[
            full.events["lead_id"].isin(leads["lead_id"]) & (full.events["timestamp"] < t)
        ]
        s = model.score(leads, ev, as_of=t)
        s["model_name"], s["model_version"] = name, version
        part = "stable" if t + pd.Timedelta(days=37) < grow.day(BREAK_DAY) else "later"
        (folder / "scores" / part).mkdir(parents=True, exist_ok=True)
        s.to_parquet(folder / "scores" / part / f"scores_{t:%Y%m%d}.parquet")
    grow.write(600)

    def config(scores: str, file: str) -> Path:
        path = folder / file
        path.write_text(
            yaml.safe_dump(
                {
                    "scores": scores,
                    "data": {
                        "leads": "data/leads.parquet",
                        "events": "data/events.parquet",
                        "conversions": "data/conversions.parquet",
                    },
                    "model_name": "mon",
                    "tracking_uri": uri,
                    "out": f"report_{file.removesuffix('.yaml')}",
                    "n_boot": 100,
                }
            )
        )
        return path

    return {
        "grow": grow,
        "folder": folder,
        "uri": uri,
        "cfg": cfg,
        "model": model,
        "config": config,
    }


def test_an_injected_calibration_drift_is_flagged_within_two_cohorts(story):
    res = monitor(story["config"]("scores/*/*.parquet", "all.yaml"))
    brk = story["grow"].day(BREAK_DAY)
    c = res.cohorts
    assert c["cohort"].is_monotonic_increasing
    assert (c["cohort"].dt.weekday == 0).all()  # weeks start on Monday
    labelled = c[c["conversions"].notna()]
    assert len(labelled) >= 20
    for col in (
        "observed_expected",
        "ece",
        "cal_slope",
        "cal_intercept",
        "auc",
        "captured",
        "psi_score",
    ):
        assert labelled[col].notna().all(), col
    for m in ("auc", "captured"):
        assert (labelled[f"{m}_low"] <= labelled[m]).all(), m
        assert (labelled[m] <= labelled[f"{m}_high"]).all(), m
    assert (labelled["ece_low"] <= labelled["ece_high"]).all()  # bias-corrected: may exclude it
    assert (labelled["captured_high"] > labelled["captured_low"]).all()
    for table in (res.bands, res.deciles):
        assert (table["observed_low"] <= table["observed"]).all()
        assert (table["observed"] <= table["observed_high"]).all()
    alerts = res.alerts
    assert len(alerts)
    first = alerts["cohort"].min()
    # no alert while every label window closed before the break; one within two cohorts of it
    clean_until = brk - pd.Timedelta(days=30 + 7)
    assert first > clean_until
    assert first <= brk + pd.Timedelta(days=14)
    assert set(alerts.loc[alerts["cohort"] == first, "alert"]) >= {"observed_expected"}
    assert res.suggestion.startswith("recalibrate")
    assert res.exit_code == EXIT_ALERT
    # per band and per decile tables for the labelled cohorts
    assert set(res.bands["band"]) <= {"hot", "warm", "cold"}
    assert res.deciles.groupby("cohort")["decile"].max().max() == 10
    # trends of leads scored more than once in the last 14 days
    assert set(res.trends["trend"]) <= {"rising", "steady", "falling"}


def test_a_stable_period_raises_no_alert_and_the_page_is_complete(story):
    res = monitor(story["config"]("scores/stable", "stable.yaml"))
    assert len(res.cohorts) >= 8
    assert res.alerts.empty, res.alerts
    assert res.exit_code == 0
    assert res.suggestion.startswith("none")
    # the outputs: tables, plots and an HTML page whose images exist
    for name in ("cohorts.csv", "alerts.csv", "drift.csv", "trends.csv", "index.html",
                 "observed_vs_predicted.png", "reliability.png", "psi.png"):  # fmt: skip
        assert (res.out / name).is_file(), name
    page = (res.out / "index.html").read_text()
    srcs = _images(page)
    assert srcs == {"observed_vs_predicted.png", "reliability.png", "psi.png"}
    assert "estimates" in page
    assert res.run_id is not None


def test_the_cli_exits_with_the_alert_code(story):
    ok = CliRunner().invoke(
        app, ["--quiet", "monitor", "--config", str(story["folder"] / "stable.yaml")]
    )
    assert ok.exit_code == 0, ok.output
    bad = CliRunner().invoke(
        app, ["--quiet", "monitor", "--config", str(story["folder"] / "all.yaml")]
    )
    assert bad.exit_code == EXIT_ALERT, bad.output
    assert "alert" in bad.output
    assert "observed_expected" in bad.output


def test_recalibration_fixes_the_shifted_base_rate(story):
    grow = story["grow"]
    grow.write(RECAL_DAY)
    res = recalibrate(story["cfg"], window="60d")
    assert res.decision == "promoted", res.reason
    gate = res.gate.checks.set_index("check")
    assert gate.loc["auc_non_inferior", "passed"]
    new = load_model("models:/mon@champion", tracking_uri=story["uri"])
    assert new.metadata["recalibrated"]["from_version"] == res.champion_before
    # the next gate starts after the outcomes the recalibration saw
    old_end = pd.Timestamp(story["model"].metadata["production"]["labels_known_until"])
    assert pd.Timestamp(new.metadata["production"]["labels_known_until"]) > old_end
    assert new.metadata.get("registered_version") == res.version
    # the next cohort, after the window: ECE back under 0.01 (it was twice that)
    full = grow.crm
    t = (grow.day(RECAL_DAY) - pd.Timedelta(days=30) + pd.Timedelta(days=7)).normalize()
    leads = full.leads[
        (full.leads["created_at"] < t) & (full.leads["created_at"] > t - pd.Timedelta(days=120))
    ]
    ev = full.events[full.events["lead_id"].isin(leads["lead_id"]) & (full.events["timestamp"] < t)]
    first = grow.conversions.groupby("lead_id")["converted_at"].min()
    conv_at = pd.to_datetime(leads["lead_id"].map(first), utc=True)
    open_ = ~(conv_at <= t).fillna(False).to_numpy()
    y = ((conv_at > t) & (conv_at <= t + pd.Timedelta(days=30))).fillna(False).to_numpy()[open_]
    p_new = new.score(leads, ev, as_of=t)["p_convert"].to_numpy()[open_]
    p_old = story["model"].score(leads, ev, as_of=t)["p_convert"].to_numpy()[open_]
    assert expected_calibration_error(y, p_new) < 0.01
    assert expected_calibration_error(y, p_old) > 0.015
    # the ranking is the champion's own
    assert np.array_equal(np.argsort(p_new, kind="stable"), np.argsort(p_old, kind="stable"))


def _images(page: str) -> set[str]:
    found: set[str] = set()

    class P(html.parser.HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag == "img":
                found.add(dict(attrs)["src"])

    P().feed(page)
    return found


# ------------------------------------------------------------------------------ measures
@settings(max_examples=50, deadline=None)
@given(st.lists(st.sampled_from([0.01, 0.05, 0.2, 0.5, 0.9]), min_size=2, max_size=12))
def test_expected_auc_is_the_ratio_of_expected_pair_counts(ps):
    p = np.array(ps)
    num = den = 0.0
    for i in range(len(p)):
        for j in range(len(p)):
            if i == j:
                continue
            w = p[i] * (1 - p[j])
            den += w
            num += w * (1.0 if p[i] > p[j] else 0.5 if p[i] == p[j] else 0.0)
    assert expected_auc(p) == pytest.approx(num / den)


def test_psi_is_zero_for_the_same_shares_and_grows_with_the_shift():
    base = np.full(10, 0.1)
    assert psi(base, base) == pytest.approx(0)
    small = psi(base, np.r_[np.full(5, 0.12), np.full(5, 0.08)])
    large = psi(base, np.r_[np.full(5, 0.18), np.full(5, 0.02)])
    assert 0 < small < large


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 60), st.one_of(st.none(), st.integers(0, 90))),
        min_size=1,
        max_size=30,
    ),
    st.integers(20, 100),
    st.integers(1, 40),
)
def test_labels_and_cohorts_follow_the_time_rules(items, until_day, horizon_days):
    t0 = pd.Timestamp("2025-01-01", tz="UTC")
    scores = pd.DataFrame(
        {
            "lead_id": [f"L{i}" for i in range(len(items))],
            "as_of": [t0 + pd.Timedelta(days=a) for a, _ in items],
        }
    )
    conv = pd.DataFrame(
        {
            "lead_id": [f"L{i}" for i, (_, c) in enumerate(items) if c is not None],
            "converted_at": [t0 + pd.Timedelta(days=c) for _, c in items if c is not None],
        }
    )
    h, until = pd.Timedelta(days=horizon_days), t0 + pd.Timedelta(days=until_day)
    out = _labels(scores, conv, h, until)
    for k, (a, c) in enumerate(items):
        as_of = t0 + pd.Timedelta(days=a)
        assert out["closed"].iloc[k] == (as_of + h <= until)
        conv_at = None if c is None else t0 + pd.Timedelta(days=c)
        assert out["converted_before"].iloc[k] == (conv_at is not None and conv_at <= as_of)
        assert out["label"].iloc[k] == int(conv_at is not None and as_of < conv_at <= as_of + h)
    week = _cohort_start(scores["as_of"], pd.Timedelta(days=7))
    assert (week <= scores["as_of"]).all()
    assert (scores["as_of"] < week + pd.Timedelta(days=7)).all()
    assert (week.dt.weekday == 0).all()


def test_score_trends_name_the_direction():
    t = pd.Timestamp("2025-03-01", tz="UTC")
    s = pd.DataFrame(
        {
            "lead_id": ["a", "a", "b", "b", "c", "c", "d"],
            "as_of": [t, t + pd.Timedelta(days=7)] * 3 + [t],
            "score": [40, 60, 50, 52, 70, 30, 10],
            "p_convert": [0.1, 0.2, 0.1, 0.1, 0.3, 0.05, 0.01],
        }
    )
    tr = score_trends(s, days=14).set_index("lead_id")
    assert tr.loc["a", "trend"] == "rising"
    assert tr.loc["b", "trend"] == "steady"
    assert tr.loc["c", "trend"] == "falling"
    assert tr.loc["c", "score_change"] == -40
    assert "d" not in tr.index  # scored once: no trend


def test_score_files_are_read_whatever_their_format_and_bad_ones_are_named(tmp_path):
    from leadml.exceptions import DataContractError
    from leadml.jobs import read_scores

    t = pd.Timestamp("2025-03-03", tz="UTC")
    one = pd.DataFrame({"lead_id": ["a", "b"], "as_of": [t, t], "p_convert": [0.1, 0.2]})
    (tmp_path / "s").mkdir()
    one.to_csv(tmp_path / "s" / "scores_20250303.csv", index=False)
    one.assign(as_of=t + pd.Timedelta(days=1)).to_parquet(
        tmp_path / "s" / "scores_20250304.parquet"
    )
    got = read_scores("s", tmp_path)
    assert len(got) == 4
    assert got["as_of"].nunique() == 2
    flat = one.assign(as_of=pd.NaT)
    flat.to_parquet(tmp_path / "flat.parquet")
    with pytest.raises(DataContractError, match="no row has an as_of time"):
        read_scores("flat.parquet", tmp_path)
    one.drop(columns="p_convert").to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(DataContractError, match=r"scores: column\(s\) \['p_convert'\] missing"):
        read_scores("bad.parquet", tmp_path)
