"""The Spark engine on a real local Spark: the same training sets as DuckDB, the same errors.

Every shape the builder is used with: a weekly schedule, one decision time per lead, a fitted
spec reused on later data with unseen event types and profile levels, events exactly at the time
boundaries, leads without events, account roll-ups; events from pandas, from a Spark DataFrame,
from Parquet files and from a Spark table.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadml.datasets import make_crm
from leadml.exceptions import DataContractError, RowsExcludedWarning
from leadml.features import (
    EventMeasure,
    FeatureSpec,
    build_features,
    build_training_set,
    event_measures,
    write_training_set,
)
from leadml.schema import validate_lead_data

pytestmark = pytest.mark.spark

DAY = pd.Timedelta(days=1)


@pytest.fixture(scope="module")
def world():
    """A small CRM plus events placed exactly on the boundaries of the weekly cut-offs, a lead
    without events, and an event type that is rare (kept out of the vocabulary)."""
    crm = make_crm(400, days=160, horizon_days=30, every_days=7, seed=11)
    leads, events = crm.leads.copy(), crm.events.copy()
    start = pd.Timestamp(leads["created_at"].min()).tz_convert("UTC").normalize()
    some = leads["lead_id"].iloc[:6].tolist()
    edges = []
    for k, lead in enumerate(some):
        t = start + pd.Timedelta(days=7 * (k + 8))  # a cut-off of a weekly schedule from start
        for ts in (t, t - 7 * DAY, t - 30 * DAY, t - 30 * DAY - pd.Timedelta(microseconds=1)):
            edges.append((lead, ts, "page_view", "/pricing"))
        edges.append((lead, t - DAY, "brand_new_type", None))
    extra = pd.DataFrame(edges, columns=["lead_id", "timestamp", "event_type", "detail"])
    events = pd.concat([events, extra], ignore_index=True)
    lonely = leads.iloc[[0]].assign(lead_id="no-events", account_id=None)
    leads = pd.concat([leads, lonely], ignore_index=True)
    return leads, events, crm.conversions, start


def _equal(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(
        a.reset_index(drop=True), b.reset_index(drop=True), check_exact=False, rtol=1e-12, atol=0
    )


def test_weekly_schedule_equals_duckdb_for_every_kind_of_events_source(world, spark, tmp_path):
    leads, events, conv, start = world
    kw = dict(horizon="30d", every="7d", start=start)
    want = build_training_set(leads, events, conv, engine="duckdb", **kw)
    # a pandas events table, validated in memory and handed to Spark
    _equal(build_training_set(leads, events, conv, engine="spark", **kw), want)
    # a Spark DataFrame, validated on Spark (the vocabulary is fitted from counts on Spark)
    sdf = spark.createDataFrame(events.astype({"event_type": object, "detail": object}))
    _equal(build_training_set(leads, sdf, conv, engine="spark", **kw), want)
    # a folder of Parquet files and a Spark table
    folder = tmp_path / "events"
    folder.mkdir()
    third = len(events) // 3
    for k in range(3):
        part = events.iloc[k * third : (k + 1) * third if k < 2 else len(events)]
        part.to_parquet(folder / f"part-{k}.parquet")
    _equal(build_training_set(leads, str(folder), conv, engine="spark", **kw), want)
    sdf.write.mode("overwrite").saveAsTable("leadml_test_events")
    _equal(build_training_set(leads, "leadml_test_events", conv, engine="spark", **kw), want)


def test_the_boundaries_leads_without_events_and_accounts_are_the_duckdb_values(world, spark):
    leads, events, conv, start = world
    spec = FeatureSpec(min_count=20)
    kw = dict(horizon="30d", every="7d", start=start, spec=spec)
    got = build_training_set(leads, events, conv, engine="spark", **kw)
    want = build_training_set(
        leads, events, conv, engine="duckdb", horizon="30d", every="7d", start=start, spec=spec
    )
    _equal(got, want)
    assert "n_brand_new_type_30d" not in spec.feature_names_  # rare: not in the vocabulary
    lone = got.loc[got["lead_id"] == "no-events"]
    assert len(lone)
    assert (lone["n_events_30d"] == 0).all()
    acc = [n for n in spec.feature_names_ if spec.feature_meta_[n]["kind"].startswith("account")]
    assert acc
    assert got[acc].notna().any().all()
    assert got[acc].gt(0).any().all()
    # events exactly at the cut-off are not seen; one microsecond later they are
    some = leads["lead_id"].iloc[:6].tolist()
    t = [start + pd.Timedelta(days=7 * (k + 8)) for k in range(6)]
    us = pd.Timedelta(microseconds=1)
    cut = pd.DataFrame({"lead_id": some * 2, "as_of": t + [x + us for x in t]})
    data = validate_lead_data(leads, events)
    at = build_features(spec, data, cutoffs=cut, engine="spark")
    _equal(at, build_features(spec, data, cutoffs=cut, engine="numpy"))
    recency = at["days_since_last_event"].to_numpy()
    assert np.allclose(recency[6:], 1e-6 / 86400, rtol=1e-6)  # the event at t, 1 µs old
    assert (recency[:6] > 1e-6 / 86400).all()  # not seen at t itself


def test_one_decision_time_per_lead_and_a_fitted_spec_on_later_data(world, spark):
    leads, events, conv, start = world
    rng = np.random.default_rng(0)
    created = pd.to_datetime(leads["created_at"], utc=True)
    cut = pd.DataFrame(
        {
            "lead_id": leads["lead_id"],
            "as_of": created + pd.to_timedelta(rng.integers(1, 90 * 24, len(leads)), unit="h"),
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RowsExcludedWarning)  # rows after conversion
        want = build_training_set(leads, events, conv, horizon="30d", cutoffs=cut)
        sdf = spark.createDataFrame(events.astype({"event_type": object, "detail": object}))
        got = build_training_set(leads, sdf, conv, horizon="30d", cutoffs=cut, engine="spark")
    assert len(got) == len(want) > 0.8 * len(leads)
    _equal(got, want)
    # a spec fitted on early data, scoring later data with new types and new profile levels
    spec = FeatureSpec().fit(leads.iloc[:200], events.loc[events["timestamp"] < start + 40 * DAY])
    later = leads.assign(industry=np.where(np.arange(len(leads)) % 5 == 0, "unseen", "software"))
    data = validate_lead_data(later, events)
    late_cut = cut.assign(as_of=cut["as_of"] + 30 * DAY)
    a = build_features(spec, data, cutoffs=late_cut, engine="duckdb")
    b = build_features(spec, data, cutoffs=late_cut, engine="spark")
    _equal(b, a)


def test_write_training_set_on_spark_writes_the_in_memory_training_set(world, spark, tmp_path):
    leads, events, conv, start = world
    events.to_parquet(tmp_path / "events.parquet")
    want = build_training_set(leads, events, conv, horizon="30d", every="14d", start=start)
    res = write_training_set(
        tmp_path / "ts.parquet",
        leads,
        tmp_path / "events.parquet",
        conv,
        horizon="30d",
        every="14d",
        start=start,
        engine="spark",
    )
    assert res.rows == len(want)
    assert res.events == len(events)
    _equal(pd.read_parquet(res.path), want)


def test_scorecard_measures_on_spark_equal_numpy(world, spark):
    leads, events, _, start = world
    data = validate_lead_data(leads, events)
    measures = [
        EventMeasure("views_7d", "count", ("page_view",), window_days=7),
        EventMeasure("pricing", "any", ("page_view",), ("/pricing",)),
        EventMeasure("decay", "half_life", days=10),
        EventMeasure("linear", "linear", days=14, window_days=30),
        EventMeasure("last", "last"),
        EventMeasure("days", "active_days", window_days=30),
    ]
    cut = pd.DataFrame({"lead_id": leads["lead_id"], "as_of": start + 60 * DAY})
    a = event_measures(measures, data, cut, engine="numpy")
    b = event_measures(measures, data, cut, engine="spark")
    _equal(b, a)


# ------------------------------------------------------------------------------- bad input
def test_bad_events_on_spark_are_named(world, spark):
    leads, events, conv, start = world
    ev = events.astype({"event_type": object, "detail": object, "timestamp": object})
    kw = dict(horizon="30d", every="7d", start=start, engine="spark")
    unknown = pd.concat([ev, ev.iloc[[0]].assign(lead_id="ghost-1")], ignore_index=True)
    with pytest.raises(DataContractError, match=r"events\.lead_id: 1 row.*ghost-1.*drop"):
        build_training_set(leads, spark.createDataFrame(unknown), conv, **kw)
    with pytest.warns(RowsExcludedWarning, match="dropped 1 row.*ghost-1"):
        got = build_training_set(
            leads, spark.createDataFrame(unknown), conv, unknown_leads="drop", **kw
        )
    _equal(got, build_training_set(leads, events, conv, **{**kw, "engine": "duckdb"}))
    text = ev.assign(timestamp=ev["timestamp"].astype(str))
    text.loc[3, "timestamp"] = "last tuesday"
    with pytest.raises(DataContractError, match=r"events\.timestamp: 1 value.*last tuesday"):
        build_training_set(leads, spark.createDataFrame(text), conv, **kw)
    missing = ev.drop(columns="event_type")
    with pytest.raises(DataContractError, match="event_type"):
        build_training_set(leads, spark.createDataFrame(missing), conv, **kw)
    with pytest.raises(DataContractError, match="neither a file"):
        build_training_set(leads, "no_such_table", conv, **kw)


# ------------------------------------------------------------------------- property: the engines
_BASE = pd.Timestamp("2024-03-01", tz="UTC")


@st.composite
def _small_world(draw):
    n = draw(st.integers(1, 4))
    leads = pd.DataFrame(
        {
            "lead_id": [f"l{i}" for i in range(n)],
            "created_at": [_BASE + pd.Timedelta(hours=draw(st.integers(0, 200))) for _ in range(n)],
            "account_id": [draw(st.sampled_from(["x", "y", None])) for _ in range(n)],
        }
    )
    m = draw(st.integers(0, 30))
    # times on a 6-hour grid, so events land exactly on cut-offs and window edges
    grid = st.integers(0, 4 * 60).map(lambda k: _BASE + pd.Timedelta(hours=6 * k))
    events = pd.DataFrame(
        {
            "lead_id": [f"l{draw(st.integers(0, n - 1))}" for _ in range(m)],
            "timestamp": pd.Series([draw(grid) for _ in range(m)], dtype="datetime64[us, UTC]"),
            "event_type": [draw(st.sampled_from(["visit", "open"])) for _ in range(m)],
            "detail": [draw(st.sampled_from(["/pricing", None])) for _ in range(m)],
        }
    )
    k = draw(st.integers(1, 6))
    cut = pd.DataFrame(
        {
            "lead_id": [f"l{draw(st.integers(0, n - 1))}" for _ in range(k)],
            "as_of": [draw(grid) + pd.Timedelta(days=10) for _ in range(k)],
        }
    ).drop_duplicates()
    return leads, events, cut


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_small_world())
def test_spark_equals_numpy_on_any_small_world(spark, world):
    leads, events, cut = world
    spec = FeatureSpec(min_count=1, min_level_count=1, windows=(1, 7), half_life_days=2)
    spec.fit(leads, events)
    data = validate_lead_data(leads, events if len(events) else None)
    a = build_features(spec, data, cutoffs=cut, engine="numpy")
    b = build_features(spec, data, cutoffs=cut, engine="spark")
    _equal(b, a)


def test_cli_build_on_spark_writes_what_duckdb_writes(world, spark, tmp_path):
    from typer.testing import CliRunner

    from leadml.cli import app

    leads, events, conv, _ = world
    leads.to_csv(tmp_path / "leads.csv", index=False)
    conv.to_csv(tmp_path / "conversions.csv", index=False)
    (tmp_path / "ev").mkdir()
    events.iloc[: len(events) // 2].to_parquet(tmp_path / "ev" / "a.parquet")
    events.iloc[len(events) // 2 :].to_parquet(tmp_path / "ev" / "b.parquet")
    common = ["build", "--leads", str(tmp_path / "leads.csv"), "--events", str(tmp_path / "ev")]
    common += ["--conversions", str(tmp_path / "conversions.csv"), "--every", "14d"]
    runner = CliRunner()
    res = runner.invoke(app, [*common, "--out", str(tmp_path / "s.parquet"), "--engine", "spark"])
    assert res.exit_code == 0, res.output
    assert "built on Spark" in res.output
    res = runner.invoke(app, [*common, "--out", str(tmp_path / "d.parquet"), "--partitions", "2"])
    assert res.exit_code == 0, res.output
    a = pd.read_parquet(tmp_path / "s.parquet").sort_values(["lead_id", "as_of"])
    b = pd.read_parquet(tmp_path / "d.parquet").sort_values(["lead_id", "as_of"])
    _equal(a, b)
    res = runner.invoke(app, [*common, "--out", str(tmp_path / "s.csv"), "--engine", "spark"])
    assert res.exit_code != 0
    assert "must end in .parquet" in res.output
