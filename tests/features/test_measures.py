"""The point-in-time core: every measure family, each engine equal to the definition and to the
others, for the model's features and the scorecard's measures alike."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadml.exceptions import ConfigError
from leadml.features import AGGREGATES, EventMeasure, FeatureSpec, build_features, event_measures
from leadml.features._measures import feature_measures, spec_event_features
from leadml.schema import validate_lead_data

DAY = pd.Timedelta(days=1)

MEASURES = [
    EventMeasure("views_7d", "count", ("page_view",), window_days=7),
    EventMeasure("pricing_ever", "count", ("page_view",), ("/pricing", "/demo")),
    EventMeasure("any_email_2_5d", "any", ("email_open", "email_click"), window_days=2.5),
    EventMeasure("decay_hl", "half_life", None, days=3.0),
    EventMeasure("decay_hl_30d", "half_life", ("page_view", "form_fill"), window_days=30, days=7),
    EventMeasure("linear_14d", "linear", ("email_open",), window_days=20, days=14),
    EventMeasure("last_any", "last"),
    EventMeasure("last_form", "last", ("form_fill",)),
    EventMeasure("active_days_30d", "active_days", window_days=30),
    EventMeasure("active_views_ever", "active_days", ("page_view",)),
]


def _definition(m: EventMeasure, events: pd.DataFrame, lead: str, as_of: pd.Timestamp) -> float:
    """The measure written out in pandas, one cut-off at a time: the reference."""
    e = events[(events["lead_id"] == lead) & (events["timestamp"] < as_of)]
    if m.types is not None:
        e = e[e["event_type"].isin(m.types)]
    if m.details is not None:
        e = e[e["detail"].isin(m.details)]
    if m.window_days is not None:
        e = e[e["timestamp"] >= as_of - pd.Timedelta(microseconds=m.window_us)]
    age_days = (as_of - e["timestamp"]) / DAY
    if m.aggregate == "count":
        return float(len(e))
    if m.aggregate == "any":
        return float(len(e) > 0)
    if m.aggregate == "half_life":
        return float((0.5 ** (age_days / m.days)).sum())
    if m.aggregate == "linear":
        return float((1 - age_days / m.days).clip(lower=0).sum())
    if m.aggregate == "last":
        return float(e["timestamp"].max().value // 1000) if len(e) else np.nan
    return float(e["timestamp"].dt.floor("D").nunique())


def _cutoffs(crm, n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    leads = crm.leads.sample(n, random_state=seed)
    start = leads["created_at"] + pd.to_timedelta(rng.integers(0, 60 * 86400, n), unit="s")
    return pd.DataFrame({"lead_id": leads["lead_id"].to_numpy(), "as_of": start.to_numpy()})


def test_every_aggregate_is_covered():
    assert {m.aggregate for m in MEASURES} == set(AGGREGATES)


@pytest.mark.parametrize("engine", ["numpy", "duckdb"])
def test_each_engine_equals_the_definition(crm_small, engine):
    data = validate_lead_data(crm_small.leads, crm_small.events)
    cut = _cutoffs(crm_small, 40, seed=1)
    got = event_measures(MEASURES, data, cut, engine=engine)
    assert list(got.columns) == [m.name for m in MEASURES]
    assert len(got) == len(cut)
    for i, row in cut.iterrows():
        for m in MEASURES:
            want = _definition(m, data.events, row["lead_id"], row["as_of"])
            np.testing.assert_allclose(
                got.loc[i, m.name], want, rtol=1e-12, atol=0, err_msg=f"{m.name} row {i}"
            )


def test_engines_are_equal_on_many_cutoffs(crm_small):
    data = validate_lead_data(crm_small.leads, crm_small.events)
    cut = _cutoffs(crm_small, 300, seed=2)
    a = event_measures(MEASURES, data, cut, engine="numpy")
    b = event_measures(MEASURES, data, cut, engine="duckdb")
    pd.testing.assert_frame_equal(a, b, rtol=1e-12, atol=0)


@pytest.mark.parametrize("engine", ["numpy", "duckdb"])
def test_the_features_event_families_come_from_the_core(crm_small, engine):
    """The spec's event features asked of the core (generic engines) equal the builder's
    specialised many-cut-off plan on the same rows: one definition, three engines."""
    data = validate_lead_data(crm_small.leads, crm_small.events)
    spec = FeatureSpec(min_count=5).fit(data.leads, data.events)
    cut = _cutoffs(crm_small, 120, seed=3)
    fast = build_features(spec, data, cutoffs=cut, engine="duckdb")
    core = spec_event_features(spec, data, cut, engine=engine)
    assert len(core.columns) > 20
    kinds = {spec.feature_meta_[c]["kind"] for c in core.columns}
    assert kinds == {"count", "count_ever", "recency", "decay", "active_days", "trend"}
    pd.testing.assert_frame_equal(
        core, fast[list(core.columns)].reset_index(drop=True), rtol=1e-9, atol=1e-12
    )
    assert len(feature_measures(spec)) >= len(core.columns)


def test_a_lead_without_events_and_empty_requests():
    leads = pd.DataFrame({"lead_id": ["a"], "created_at": ["2024-01-01"]})
    data = validate_lead_data(leads, None)
    cut = pd.DataFrame({"lead_id": ["a"], "as_of": [pd.Timestamp("2024-02-01", tz="UTC")]})
    for engine in ("numpy", "duckdb"):
        got = event_measures(MEASURES, data, cut, engine=engine)
        assert got["views_7d"].item() == 0.0
        assert np.isnan(got["last_any"].item())
        assert got["any_email_2_5d"].item() == 0.0
        assert got["active_days_30d"].item() == 0.0
    assert event_measures([], data, cut).shape == (1, 0)


def test_bad_measures_are_named():
    with pytest.raises(ConfigError, match="unknown aggregate 'sum'"):
        EventMeasure("x", "sum")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="half_life needs days > 0"):
        EventMeasure("x", "half_life")
    with pytest.raises(ConfigError, match="window_days must be > 0"):
        EventMeasure("x", window_days=0)
    leads = pd.DataFrame({"lead_id": ["a"], "created_at": ["2024-01-01"]})
    cut = pd.DataFrame({"lead_id": ["a"], "as_of": [pd.Timestamp("2024-02-01", tz="UTC")]})
    with pytest.raises(ConfigError, match="duplicate measure names"):
        event_measures([EventMeasure("x"), EventMeasure("x")], validate_lead_data(leads), cut)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    offsets=st.lists(st.integers(-40 * 24, 40 * 24), min_size=0, max_size=25),
    types=st.lists(st.sampled_from(["page_view", "email_open", "form_fill"]), min_size=25),
    as_of_hours=st.integers(-24, 24),
    engine=st.sampled_from(["numpy", "duckdb"]),
)
def test_only_events_before_as_of_count_and_later_ones_change_nothing(
    offsets, types, as_of_hours, engine
):
    """Property: a measure at ``as_of`` equals its definition, and events at or after ``as_of``
    (however many) never change it."""
    t0 = pd.Timestamp("2024-03-01", tz="UTC")
    as_of = t0 + pd.Timedelta(hours=as_of_hours)
    leads = pd.DataFrame({"lead_id": ["a", "b"], "created_at": ["2023-12-01", "2023-12-01"]})
    events = pd.DataFrame(
        {
            "lead_id": ["a"] * len(offsets),
            "timestamp": [t0 + pd.Timedelta(hours=h) for h in offsets],
            "event_type": types[: len(offsets)],
            "detail": ["/pricing" if i % 2 else "/" for i in range(len(offsets))],
        }
    )
    cut = pd.DataFrame({"lead_id": ["a", "b"], "as_of": [as_of, as_of]})
    data = validate_lead_data(leads, events)
    got = event_measures(MEASURES, data, cut, engine=engine)
    for m in MEASURES:
        want = _definition(m, data.events, "a", as_of)
        np.testing.assert_allclose(got.loc[0, m.name], want, rtol=1e-12, err_msg=m.name)
    before = data.events[data.events["timestamp"] < as_of]
    trimmed = event_measures(MEASURES, validate_lead_data(leads, before), cut, engine=engine)
    pd.testing.assert_frame_equal(got, trimmed, rtol=1e-12, atol=0)


def test_measure_names_never_clash_with_the_query_columns(crm_small):
    """Rule names are user input: 'row_id' or names that differ only in case read the right
    column on every engine."""
    data = validate_lead_data(crm_small.leads, crm_small.events)
    cut = _cutoffs(crm_small, 70, seed=5)  # more than the numpy threshold: auto is duckdb
    odd = [
        EventMeasure("row_id", "count", ("page_view",)),
        EventMeasure("Visits", "count", ("page_view",), window_days=7),
        EventMeasure("visits", "count", ("email_open",), window_days=7),
        EventMeasure('quote"d', "any", ("form_fill",)),
    ]
    a = event_measures(odd, data, cut, engine="numpy")
    b = event_measures(odd, data, cut, engine="duckdb")
    pd.testing.assert_frame_equal(a, b)
    assert list(b.columns) == [m.name for m in odd]
    assert (b["row_id"] != np.arange(len(cut))).any()
