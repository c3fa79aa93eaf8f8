from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadml.exceptions import ConfigError, NotFittedError, RowsExcludedWarning
from leadml.features import (
    OTHER_LEVEL,
    FeatureSpec,
    build_features,
    build_training_set,
    make_cutoffs,
)
from leadml.schema import validate_lead_data
from tests.conftest import ts
from tests.features._reference import reference_features


def EVENT_COLS(spec):
    return [n for n in spec.feature_names_ if spec.feature_meta_[n]["kind"] != "profile"]


def _cut(rows):
    return pd.DataFrame({"lead_id": [r[0] for r in rows], "as_of": [ts(r[1]) for r in rows]})


# ----------------------------------------------------------------------------- labels and rows
def test_label_boundaries_and_censoring(tiny):
    leads, events, conv = tiny
    cut = _cut(
        [
            ("a", "2024-01-16"),  # conversion exactly at as_of + 30d -> label 1
            ("a", "2024-01-15"),  # conversion 31 days later -> 0
            ("b", "2024-02-20"),  # label window ends 2024-03-21 > end 2024-03-01 -> censored
            ("c", "2024-01-10"),  # created exactly at as_of -> a training row
        ]
    )
    ts_ = build_training_set(
        leads, events, conv, horizon="30d", cutoffs=cut, observed_until=ts("2024-03-01")
    )
    assert ts_["label"].tolist()[:2] == [1, 0]
    assert ts_["censored"].tolist() == [False, False, True, False]
    assert pd.isna(ts_["label"].iloc[2])
    assert ts_["label"].iloc[3] == 0


def test_event_exactly_at_as_of_is_not_seen(tiny):
    leads, events, conv = tiny
    spec = FeatureSpec(min_count=1, min_level_count=1)
    cut = _cut([("a", "2024-02-01"), ("a", "2024-02-01T00:00:00.000001")])
    out = build_training_set(leads, events, conv, horizon="7d", cutoffs=cut, spec=spec)
    assert out["n_demo_request_7d"].tolist() == [0.0, 1.0]
    assert np.isnan(out["days_since_last_demo_request"].iloc[0])
    assert out["days_since_last_demo_request"].iloc[1] == pytest.approx(1e-6 / 86400)


def test_converted_and_not_yet_created_rows_are_excluded_with_a_warning(tiny):
    leads, events, conv = tiny
    cut = _cut([("a", "2024-02-15"), ("a", "2024-02-14"), ("c", "2024-01-09"), ("b", "2024-01-06")])
    with pytest.warns(
        RowsExcludedWarning,
        match=r"excluded 2 of 4 row\(s\).*1 before the lead was created.*'c'.*1 at or after the lead converted.*'a'",
    ):
        out = build_training_set(leads, events, conv, horizon="30d", cutoffs=cut)
    assert list(zip(out["lead_id"], out["as_of"], strict=True)) == [
        ("a", ts("2024-02-14")),
        ("b", ts("2024-01-06")),
    ]


def test_schedule_rows_exist_and_not_converted(crm_small):
    cut = make_cutoffs(
        crm_small.leads,
        crm_small.conversions,
        every="7d",
        start=crm_small.start,
        end=crm_small.observed_until,
    )
    created = cut["lead_id"].map(crm_small.leads.set_index("lead_id")["created_at"])
    conv = cut["lead_id"].map(crm_small.conversions.set_index("lead_id")["converted_at"])
    assert (created <= cut["as_of"]).all()
    assert (conv.isna() | (conv > cut["as_of"])).all()
    assert ((cut["as_of"] - cut["as_of"].min()) % pd.Timedelta(days=7) == pd.Timedelta(0)).all()
    # with the generator's anchor, the schedule is exactly the generator's truth schedule
    keys = set(zip(cut["lead_id"], cut["as_of"], strict=True))
    assert set(zip(crm_small.truth["lead_id"], crm_small.truth["as_of"], strict=True)) == keys


def test_max_age_limits_schedule(crm_small):
    cut = make_cutoffs(crm_small.leads, crm_small.conversions, every="7d", max_age="30d")
    created = cut["lead_id"].map(crm_small.leads.set_index("lead_id")["created_at"])
    assert ((cut["as_of"] - created) <= pd.Timedelta(days=30)).all()


def test_exactly_one_of_cutoffs_and_every(tiny):
    leads, events, conv = tiny
    with pytest.raises(ConfigError, match="exactly one of cutoffs"):
        build_training_set(leads, events, conv, horizon="30d")


# ----------------------------------------------------------------------------- values
@pytest.mark.parametrize("engine", ["duckdb", "numpy"])
def test_every_engine_equals_the_reference_on_synthetic_data(crm_small, engine):
    data = validate_lead_data(crm_small.leads, crm_small.events, crm_small.conversions)
    cut = crm_small.truth[["lead_id", "as_of"]].sample(150, random_state=1).reset_index(drop=True)
    # add off-midnight cut-offs so window edges cut through days
    cut["as_of"] = cut["as_of"] + pd.to_timedelta(np.arange(len(cut)) % 5 * 5, unit="h")
    spec = FeatureSpec(min_count=5).fit(data.leads, data.events)
    got = build_features(spec, data, cutoffs=cut, engine=engine)
    want = reference_features(spec, data.leads, data.events, got[["lead_id", "as_of"]])
    cols = EVENT_COLS(spec)
    assert spec.has_accounts_
    assert spec.details_
    pd.testing.assert_frame_equal(
        got[cols].reset_index(drop=True), want[cols], rtol=1e-9, atol=1e-9
    )


@pytest.mark.parametrize("engine", ["duckdb", "numpy"])
def test_tiny_features_equal_reference(tiny, engine):
    leads, events, conv = tiny
    data = validate_lead_data(leads, events, conv)
    spec = FeatureSpec(min_count=1, min_level_count=1, windows=(1, 7, 30))
    cut = _cut(
        [("a", "2024-01-21"), ("a", "2024-02-02T12:00"), ("b", "2024-02-01"), ("c", "2024-03-05")]
    )
    got = build_features(spec.fit(data.leads, data.events), data, cutoffs=cut, engine=engine)
    want = reference_features(spec, data.leads, data.events, got[["lead_id", "as_of"]])
    cols = EVENT_COLS(spec)
    pd.testing.assert_frame_equal(got[cols], want[cols], rtol=1e-9, atol=1e-12)
    # lead without an account has no account features; its account peer 'b' sees 'a'
    assert np.isnan(got.loc[3, "account_other_leads"])
    assert got.loc[2, "account_other_leads"] == 1.0
    assert got.loc[2, "account_active_leads_30d"] == 1.0


@pytest.mark.parametrize(
    "families",
    [("counts",), ("recency",), ("active_days", "trend"), ("counts_ever", "decay"), ("account",)],
)
def test_feature_families_build_the_same_values_as_the_full_spec(crm_small, families):
    data = validate_lead_data(crm_small.leads, crm_small.events, crm_small.conversions)
    cut = crm_small.truth[["lead_id", "as_of"]].iloc[::40].reset_index(drop=True)
    full = FeatureSpec(min_count=5).fit(data.leads, data.events)
    part = FeatureSpec(min_count=5, families=families).fit(data.leads, data.events)
    kinds = {
        "counts": {"count"},
        "recency": {"recency"},
        "active_days": {"active_days"},
        "trend": {"trend"},
        "counts_ever": {"count_ever"},
        "decay": {"decay"},
        "account": {"account_leads", "account_active", "account_events"},
    }
    want_kinds = {"profile", "lead_age"}.union(*(kinds[f] for f in families))
    assert {m["kind"] for m in part.feature_meta_.values()} == want_kinds
    assert set(part.feature_names_) <= set(full.feature_names_)
    got = build_features(part, data, cutoffs=cut)
    ref = build_features(full, data, cutoffs=cut)
    pd.testing.assert_frame_equal(got, ref[["lead_id", "as_of", *part.feature_names_]])
    assert FeatureSpec.from_dict(part.to_dict()).feature_names_ == part.feature_names_


def test_unknown_feature_family_is_a_config_error():
    with pytest.raises(ConfigError, match=r"families: unknown family \['clicks'\]"):
        FeatureSpec(families=("counts", "clicks"))


def test_invariant_to_row_and_column_order(crm_small):
    d = crm_small
    cut = d.truth[["lead_id", "as_of"]].iloc[::50].reset_index(drop=True)
    spec = FeatureSpec()
    a = build_training_set(d.leads, d.events, d.conversions, horizon="30d", cutoffs=cut, spec=spec)
    shuffled = lambda df: df.sample(frac=1.0, random_state=7)[df.columns[::-1]].set_axis(  # noqa: E731
        np.arange(len(df))[::-1], axis=0
    )
    spec2 = FeatureSpec()
    b = build_training_set(
        shuffled(d.leads),
        shuffled(d.events),
        shuffled(d.conversions),
        horizon="30d",
        cutoffs=cut,
        spec=spec2,
    )
    assert spec.to_dict() == spec2.to_dict()
    pd.testing.assert_frame_equal(a, b)


def test_fitted_vocabulary_is_reused_when_scoring_data_has_new_types_and_levels(tiny):
    leads, events, conv = tiny
    spec = FeatureSpec(min_count=1, min_level_count=1)
    build_training_set(
        leads, events, conv, horizon="30d", cutoffs=_cut([("a", "2024-01-21")]), spec=spec
    )
    names = list(spec.feature_names_)
    new_leads = pd.concat(
        [
            leads,
            pd.DataFrame(
                {
                    "lead_id": ["d"],
                    "created_at": ["2024-01-02"],
                    "industry": ["aerospace"],
                    "employees": [5.0],
                }
            ),
        ]
    )
    new_events = pd.concat(
        [
            events,
            pd.DataFrame(
                {
                    "lead_id": ["d", "d"],
                    "timestamp": ["2024-01-03", "2024-01-04"],
                    "event_type": ["chat_started", "page_view"],
                    "detail": [None, "/careers"],
                }
            ),
        ]
    )
    out = build_features(spec, new_leads, new_events, cutoffs=_cut([("d", "2024-01-05")]))
    assert spec.feature_names_ == names
    assert list(out.columns) == ["lead_id", "as_of", *names]
    assert out["industry"].iloc[0] == OTHER_LEVEL
    assert list(out["industry"].cat.categories) == spec.levels_["industry"]
    assert out["n_events_7d"].iloc[0] == 2.0  # the unseen type counts in totals only
    assert out["n_page_view_7d"].iloc[0] == 1.0
    assert "n_chat_started_7d" not in out.columns


def test_spec_round_trips_through_json(tmp_path, crm_small):
    spec = FeatureSpec().fit(crm_small.leads, crm_small.events)
    spec.to_json(tmp_path / "spec.json")
    again = FeatureSpec.from_json(tmp_path / "spec.json")
    assert again.feature_names_ == spec.feature_names_
    assert again.levels_ == spec.levels_
    assert again.details_ == spec.details_


def test_unfitted_spec_raises(tiny):
    leads, events, _ = tiny
    with pytest.raises(NotFittedError, match="not fitted yet"):
        build_features(FeatureSpec(), leads, events, cutoffs=_cut([("a", "2024-01-21")]))


def test_decayed_sums_stay_exact_over_thousands_of_half_lives(tiny):
    """Buckets carry over with factors <= 1, so a long history never overflows."""
    leads, events, _conv = tiny
    data = validate_lead_data(leads, events)
    spec = FeatureSpec(half_life_days=0.05, min_count=1).fit(data.leads, data.events)
    days = ["2024-01-06", "2024-01-09T06:00", "2024-02-01", "2024-06-01", "2025-06-01"]
    cut = _cut([(lead, d) for lead in ("a", "b") for d in days])  # ~10,000 half-lives
    got = build_features(spec, data, cutoffs=cut, engine="duckdb")
    want = reference_features(spec, data.leads, data.events, got[["lead_id", "as_of"]])
    cols = [n for n in spec.feature_names_ if spec.feature_meta_[n]["kind"] == "decay"]
    assert np.isfinite(got[cols].to_numpy()).all()
    assert (got[cols].to_numpy() > 0).any()  # recent events still count
    pd.testing.assert_frame_equal(got[cols], want[cols], rtol=1e-9, atol=1e-300)


# ----------------------------------------------------------------------------- property test
_BASE = pd.Timestamp("2024-01-01", tz="UTC")


@st.composite
def _world(draw):
    n_leads = draw(st.integers(1, 4))
    hours = st.integers(0, 24 * 40)
    leads = pd.DataFrame(
        {
            "lead_id": [f"l{i}" for i in range(n_leads)],
            "created_at": [
                _BASE + pd.Timedelta(hours=draw(st.integers(0, 24 * 10))) for _ in range(n_leads)
            ],
            "account_id": [draw(st.sampled_from(["x", "y", None])) for _ in range(n_leads)],
            "plan": [draw(st.sampled_from(["free", "pro", None])) for _ in range(n_leads)],
        }
    )
    n_ev = draw(st.integers(0, 25))
    events = pd.DataFrame(
        {
            "lead_id": [f"l{draw(st.integers(0, n_leads - 1))}" for _ in range(n_ev)],
            "timestamp": [_BASE + pd.Timedelta(hours=draw(hours)) for _ in range(n_ev)],
            "event_type": [draw(st.sampled_from(["visit", "open", "click"])) for _ in range(n_ev)],
            "detail": [draw(st.sampled_from(["/pricing", "/blog", None])) for _ in range(n_ev)],
        }
    )
    as_of = _BASE + pd.Timedelta(hours=draw(st.integers(24 * 10, 24 * 40)))
    extra = draw(st.integers(1, 8))
    later = pd.DataFrame(
        {
            "lead_id": [f"l{draw(st.integers(0, n_leads - 1))}" for _ in range(extra)],
            "timestamp": [
                as_of + pd.Timedelta(hours=draw(st.integers(0, 24 * 30))) for _ in range(extra)
            ],
            "event_type": [
                draw(st.sampled_from(["visit", "open", "click", "brand_new"])) for _ in range(extra)
            ],
            "detail": [draw(st.sampled_from(["/pricing", "/careers", None])) for _ in range(extra)],
        }
    )
    return leads, events, as_of, later, draw(st.integers(0, 24 * 30))


@settings(max_examples=35, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_world())
def test_data_at_or_after_as_of_never_changes_features(world):
    leads, events, as_of, later, conv_hours = world
    spec = FeatureSpec(min_count=1, min_level_count=1, windows=(1, 7, 30), half_life_days=3)
    spec.fit(leads, pd.concat([events, later]))
    cut = pd.DataFrame({"lead_id": leads["lead_id"], "as_of": as_of})
    before = build_features(spec, leads, events if len(events) else None, cutoffs=cut)
    # later events, a conversion after as_of, and a new lead of the same account created later
    new_lead = pd.DataFrame(
        {
            "lead_id": ["late"],
            "created_at": [as_of + pd.Timedelta(hours=1)],
            "account_id": ["x"],
            "plan": ["pro"],
        }
    )
    leads2 = pd.concat([leads, new_lead], ignore_index=True)
    late_ev = pd.DataFrame(
        {
            "lead_id": ["late"],
            "timestamp": [as_of + pd.Timedelta(hours=2)],
            "event_type": ["visit"],
            "detail": ["/pricing"],
        }
    )
    events2 = pd.concat([events, later, late_ev], ignore_index=True)
    after = build_features(spec, leads2, events2, cutoffs=cut)
    pd.testing.assert_frame_equal(before, after, rtol=1e-12, atol=1e-12)
    # and the features equal the reference computed from the cut log
    want = reference_features(
        spec,
        validate_lead_data(leads).leads,
        validate_lead_data(leads, events if len(events) else None).events,
        before[["lead_id", "as_of"]],
    )
    cols = EVENT_COLS(spec)
    pd.testing.assert_frame_equal(before[cols], want[cols], rtol=1e-9, atol=1e-9)
    # a conversion at or after as_of never changes features either
    conv = pd.DataFrame(
        {
            "lead_id": [leads["lead_id"].iloc[0]],
            "converted_at": [as_of + pd.Timedelta(hours=conv_hours)],
        }
    )
    data = validate_lead_data(leads2, events2, conv)
    pd.testing.assert_frame_equal(build_features(spec, data, cutoffs=cut), after)


def test_numpy_engine_for_few_cutoffs_equals_duckdb(crm_small):
    """Single leads and small batches use NumPy (``engine="auto"``); the values equal the DuckDB
    engine's, for the model's features and the scorecard's measures alike."""
    from leadml.features._engines import choose_engine
    from leadml.rules import PointsScorecard

    spec = FeatureSpec()
    ts = build_training_set(
        crm_small.leads,
        crm_small.events,
        crm_small.conversions,
        horizon="30d",
        every="7d",
        spec=spec,
    )
    rng = np.random.default_rng(0)
    cut = ts[["lead_id", "as_of"]].sample(60, random_state=1).reset_index(drop=True)
    cut["as_of"] = cut["as_of"] + pd.to_timedelta(rng.integers(0, 3 * 86400, 60), unit="s")
    sc = PointsScorecard(rules="models/scorecard.yaml")
    assert choose_engine("auto", len(cut), len(crm_small.events)) == "numpy"
    assert choose_engine("auto", 65, 10) == "duckdb"
    assert choose_engine("spark", 1, 1) == "spark"  # only when asked for
    with pytest.raises(ConfigError, match=r"unknown engine 'polars'"):
        choose_engine("polars", 1, 1)
    sql = build_features(spec, crm_small.leads, crm_small.events, cut, engine="duckdb")
    sql_rules = sc.build_inputs(crm_small.leads, crm_small.events, cut, engine="duckdb")
    fast = build_features(spec, crm_small.leads, crm_small.events, cut, engine="numpy")
    fast_rules = sc.build_inputs(crm_small.leads, crm_small.events, cut, engine="numpy")
    assert fast.equals(build_features(spec, crm_small.leads, crm_small.events, cut))
    for name in spec.feature_names_:
        a, b = sql[name], fast[name]
        if isinstance(a.dtype, pd.CategoricalDtype):
            assert a.equals(b), name
        elif spec.feature_meta_[name]["kind"] == "decay":
            np.testing.assert_allclose(a, b, rtol=1e-12, err_msg=name)
        else:
            np.testing.assert_array_equal(a.to_numpy(float), b.to_numpy(float), err_msg=name)
    for name in sc.input_columns():
        a, b = sql_rules[name], fast_rules[name]
        if pd.api.types.is_numeric_dtype(a.dtype):
            np.testing.assert_allclose(
                a.to_numpy(float), b.to_numpy(float), rtol=1e-12, err_msg=name
            )
        else:
            assert a.astype(object).equals(b.astype(object)), name
