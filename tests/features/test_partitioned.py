"""write_training_set: the part-by-part build equals the in-memory build."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from leadml.exceptions import DataContractError, RowsExcludedWarning
from leadml.features import FeatureSpec, build_training_set, write_training_set


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(["as_of", "lead_id"], kind="stable").reset_index(drop=True)


@pytest.fixture(scope="module")
def files(tmp_path_factory, request):
    crm = request.getfixturevalue("crm_small")
    d = tmp_path_factory.mktemp("crm")
    crm.leads.to_parquet(d / "leads.parquet")
    crm.events.to_parquet(d / "events.parquet")
    crm.conversions.to_parquet(d / "conversions.parquet")
    return crm, d


@pytest.mark.parametrize("parts", [1, 4])
def test_parts_give_the_in_memory_training_set(files, tmp_path, parts):
    crm, d = files
    want = build_training_set(
        crm.leads, crm.events, crm.conversions, horizon="30d", every="14d", max_age="120d"
    )
    spec = FeatureSpec()
    res = write_training_set(
        tmp_path / "ts.parquet",
        d / "leads.parquet",
        d / "events.parquet",
        d / "conversions.parquet",
        horizon="30d",
        every="14d",
        max_age="120d",
        spec=spec,
        partitions=parts,
    )
    got = pd.read_parquet(tmp_path / "ts.parquet")
    assert res.partitions == parts
    assert res.rows == len(got) == len(want)
    assert sum(res.rows_per_part) == res.rows
    assert res.censored == int(want["censored"].sum())
    assert res.positives == int((want["label"] == 1).sum())
    assert list(got.columns) == list(want.columns)
    assert spec.feature_names_ == res.feature_names
    if parts == 1:  # one part keeps the schedule's order exactly
        pd.testing.assert_frame_equal(got, want)
    else:
        assert all(n > 0 for n in res.rows_per_part)
        pd.testing.assert_frame_equal(_sorted(got), _sorted(want))
    # no temporary files left next to the output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ts.parquet"]


@pytest.mark.parametrize("kw", [{}, {"max_details": 0, "families": ("counts", "recency")}])
def test_parts_from_a_dataframe_with_explicit_cutoffs_and_a_fitted_spec(files, tmp_path, kw):
    crm, _ = files
    spec = FeatureSpec(**kw).fit(crm.leads, crm.events)
    cut = crm.truth[["lead_id", "as_of"]].iloc[::7].reset_index(drop=True)
    want = build_training_set(
        crm.leads, crm.events, crm.conversions, horizon="30d", cutoffs=cut, spec=spec
    )
    write_training_set(
        tmp_path / "ts.parquet",
        crm.leads,
        crm.events,
        crm.conversions,
        horizon="30d",
        cutoffs=cut,
        spec=spec,
        partitions=3,
    )
    got = pd.read_parquet(tmp_path / "ts.parquet")
    pd.testing.assert_frame_equal(_sorted(got), _sorted(want))


def test_unknown_leads_in_the_events_file_are_named_or_dropped_with_a_report(files, tmp_path):
    crm, d = files
    ev = pd.concat(
        [
            crm.events,
            crm.events.head(3).assign(lead_id=["ghost-1", "ghost-2", "ghost-1"]),
        ],
        ignore_index=True,
    )
    ev.to_parquet(tmp_path / "events.parquet")
    kw = {"horizon": "30d", "every": "30d", "max_age": "60d", "partitions": 2}
    with pytest.raises(
        DataContractError, match=r"events.lead_id: 3 row\(s\) .* 2 lead id\(s\).*ghost-1"
    ):
        write_training_set(
            tmp_path / "a.parquet", d / "leads.parquet", tmp_path / "events.parquet", **kw
        )
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        res = write_training_set(
            tmp_path / "b.parquet",
            d / "leads.parquet",
            tmp_path / "events.parquet",
            unknown_leads="drop",
            **kw,
        )
    msgs = [str(w.message) for w in rec if issubclass(w.category, RowsExcludedWarning)]
    assert any("dropped 3 row(s) for 2 lead id(s)" in m for m in msgs)
    assert res.rows > 0
    assert not (tmp_path / "a.parquet").exists()


def test_events_file_with_a_misnamed_column_and_a_mapping(files, tmp_path):
    crm, d = files
    crm.events.rename(columns={"event_type": "activity"}).to_parquet(tmp_path / "ev.parquet")
    kw = {"horizon": "30d", "every": "30d", "max_age": "60d"}
    with pytest.raises(DataContractError, match="event_type"):
        write_training_set(
            tmp_path / "x.parquet", d / "leads.parquet", tmp_path / "ev.parquet", **kw
        )
    res = write_training_set(
        tmp_path / "x.parquet",
        d / "leads.parquet",
        tmp_path / "ev.parquet",
        mapping={"events": {"event_type": "activity"}},
        **kw,
    )
    assert res.rows > 0


def test_csv_events_with_text_timestamps_and_naive_parquet_timestamps(files, tmp_path):
    crm, d = files
    want = build_training_set(
        crm.leads, crm.events, crm.conversions, horizon="30d", every="21d", max_age="90d"
    )
    # text with explicit offsets (read in a separate pass), and naive timestamps taken as UTC
    ev = crm.events.assign(timestamp=crm.events["timestamp"].dt.tz_convert("Europe/Paris"))
    ev.to_csv(tmp_path / "events.csv", index=False)
    crm.events.assign(timestamp=crm.events["timestamp"].dt.tz_localize(None)).to_parquet(
        tmp_path / "naive.parquet"
    )
    text = ev.assign(timestamp=ev["timestamp"].map(lambda t: t.isoformat()))  # VARCHAR in DuckDB
    for name in ("events.csv", "naive.parquet", "text"):
        steps: set[str] = set()
        res = write_training_set(
            tmp_path / f"{name}.out.parquet",
            d / "leads.parquet",
            text if name == "text" else tmp_path / name,
            d / "conversions.parquet",
            horizon="30d",
            every="21d",
            max_age="90d",
            partitions=2,
            progress=lambda step, done, total: steps.add(step),  # noqa: B023
        )
        # only text timestamps need a pass of their own to find the latest event
        assert ("reading event times" in steps) == (name == "text")
        assert "counting event types" in steps
        got = pd.read_parquet(tmp_path / f"{name}.out.parquet")
        assert res.rows == len(want)
        pd.testing.assert_frame_equal(_sorted(got), _sorted(want))
