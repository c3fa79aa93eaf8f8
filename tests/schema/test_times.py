"""Timestamp parsing: one format per column, epochs with a unit, ambiguity and mixtures refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadml.exceptions import DataContractError
from leadml.schema import TEXT_FORMATS, parse_instant, parse_times


def _parse(values, fmt=None):
    s = pd.Series(values, index=np.arange(len(values))[::-1])  # a broken index on purpose
    return parse_times(s, table="events", column="timestamp", time_format=fmt)


def test_epochs_are_read_with_their_unit():
    t = pd.Timestamp("2024-03-01 10:30:00", tz="UTC")
    secs = int(t.timestamp())
    for values, unit in [
        ([secs, secs + 60], None),
        ([secs * 1000, secs * 1000 + 1], None),
        ([secs * 10**6], None),
        ([secs * 10**9], None),
        ([str(secs), str(secs + 1)], None),
        ([float(secs), np.nan], None),
        ([secs], "epoch_s"),
    ]:
        out = _parse(values, unit)
        assert out.iloc[0] == t
        assert str(out.dtype) == "datetime64[us, UTC]"
    assert _parse([float(secs), np.nan]).isna().iloc[1]


def test_a_wrong_epoch_unit_is_an_error_not_1970():
    secs = 1_709_251_200
    with pytest.raises(DataContractError, match=r"outside 1980..2100.*wrong epoch unit"):
        _parse([secs, secs + 1], "epoch_ms")  # seconds read as milliseconds: January 1970
    with pytest.raises(DataContractError, match=r"no Unix time in seconds, milliseconds"):
        _parse([17_092_512, 17_093_376])


def test_day_first_and_month_first_are_detected_and_ambiguity_refused():
    assert _parse(["01/03/2024", "25/03/2024"]).iloc[0] == pd.Timestamp("2024-03-01", tz="UTC")
    assert _parse(["03/01/2024", "03/25/2024"]).iloc[0] == pd.Timestamp("2024-03-01", tz="UTC")
    with pytest.raises(
        DataContractError, match=r"both day-first .* and month-first.*does not guess"
    ):
        _parse(["01/03/2024", "02/03/2024", "12/11/2024"])
    out = _parse(["01/03/2024", "02/03/2024"], "%d/%m/%Y")
    assert out.iloc[1] == pd.Timestamp("2024-03-02", tz="UTC")


def test_times_with_and_without_a_zone_in_one_column_are_an_error():
    with pytest.raises(
        DataContractError, match=r"2 value\(s\) carry a time zone and 1 do not.*'2024-03-02 09:00'"
    ):
        _parse(["2024-03-01T10:00:00+02:00", "2024-03-02 09:00", "2024-03-03T08:00:00Z"])
    with pytest.raises(DataContractError, match=r"1 value\(s\) carry a time zone and 1 do not"):
        _parse(["2024-03-01 08:00:00", "2024-03-02T09:00:00.5-0400"])
    # one kind per column is fine: naive times (UTC) or times with zones; a date alone is
    # midnight UTC beside either
    assert _parse(["2024-03-01", "2024-03-02T09:00:00Z"]).iloc[0] == pd.Timestamp(
        "2024-03-01", tz="UTC"
    )
    assert _parse(["2024-03-01", "2024-03-02 11:00"]).iloc[1] == pd.Timestamp(
        "2024-03-02 11:00", tz="UTC"
    )
    out = _parse(["2024-03-01T10:00:00+02:00", "2024-03-02T11:00:00-04", None])
    assert out.iloc[1] == pd.Timestamp("2024-03-02 15:00", tz="UTC")


def test_a_column_mixing_formats_is_an_error_with_examples():
    with pytest.raises(
        DataContractError, match=r"'ISO8601' \(detected.*'25/03/2024'.*Some read as '%d/%m/%Y'"
    ):
        _parse(["2024-03-01", "2024-03-02", "25/03/2024"])
    with pytest.raises(
        DataContractError, match=r"do not match the format .*the column mixes formats"
    ):
        _parse(["2024-03-01", "25/03/2024", "March 3 2024", "03.04.2024"])
    with pytest.raises(
        DataContractError, match=r"do not match the format '%d/%m/%Y'.*'2024-03-01'"
    ):
        _parse(["01/03/2024", "2024-03-01"], "%d/%m/%Y")
    with pytest.raises(
        DataContractError, match=r"no known time format reads values such as 'soon'"
    ):
        _parse(["soon", "later"])
    # compact ISO dates look like numbers but are dates
    out = _parse(["20240101", "20240102", "2024-01-03"])
    assert out.iloc[2] == pd.Timestamp("2024-01-03", tz="UTC")
    # Unix times with a date among them: the date is the offender, named with its lead id
    with pytest.raises(
        DataContractError,
        match=r"1 value\(s\) are not numbers although the other 2 are \(Unix times\): "
        r"'12\.5\.2024' \(lead ids 8; rows 1\)",
    ):
        parse_times(
            pd.Series(["1715403835", "12.5.2024", "1715426788"]),
            table="leads",
            column="created_at",
            ids=pd.Series(np.array([7, 8, 9], dtype=np.int64)),
        )


def test_iso_with_offsets_naive_and_missing():
    out = _parse(["2024-03-01T10:00:00+02:00", "", None, "2024-03-01T00:00:00Z"])
    assert out.iloc[0] == pd.Timestamp("2024-03-01 08:00", tz="UTC")
    assert out.iloc[1:3].isna().all()
    assert out.iloc[3] == pd.Timestamp("2024-03-01", tz="UTC")
    out = _parse(["2024-03-01 10:00", None])
    assert out.iloc[0] == pd.Timestamp("2024-03-01 10:00", tz="UTC")  # naive is UTC
    # naive and aware text in one column: test_times_with_and_without_a_zone_..._an_error
    naive = pd.Series(pd.to_datetime(["2024-03-01 10:00"]))
    assert parse_times(naive, table="t", column="c").iloc[0] == pd.Timestamp(
        "2024-03-01 10:00", tz="UTC"
    )


def test_implausible_years_are_an_error():
    with pytest.raises(DataContractError, match=r"outside 1980..2100: '1924-03-01'"):
        _parse(["1924-03-01", "2024-03-01"])


def test_parse_instant():
    assert parse_instant("2025-02-24") == pd.Timestamp("2025-02-24", tz="UTC")
    with pytest.raises(DataContractError, match=r"as_of: cannot read 'last tuesday' as a time"):
        parse_instant("last tuesday")


@st.composite
def stamps(draw):
    n = draw(st.integers(1, 30))
    base = pd.Timestamp("2015-01-01", tz="UTC")
    minutes = draw(st.lists(st.integers(0, 60 * 24 * 365 * 10), min_size=n, max_size=n))
    return [base + pd.Timedelta(minutes=m) for m in minutes]


@given(
    values=stamps(),
    fmt=st.sampled_from([f for f in TEXT_FORMATS if f != "ISO8601"] + ["%Y-%m-%dT%H:%M:%SZ"]),
    gap_day=st.booleans(),
)
@settings(max_examples=300, deadline=None)
def test_any_supported_format_round_trips_or_is_refused_as_ambiguous(values, fmt, gap_day):
    if gap_day:  # a day > 12 makes day/month orders tell apart
        values = [*values, pd.Timestamp("2016-05-25 13:45", tz="UTC")]
    text = [v.strftime(fmt) for v in values]
    expected = pd.Series(pd.to_datetime(text, format=fmt, utc=True)).astype("datetime64[us, UTC]")
    if fmt in ("%d/%m/%Y", "%m/%d/%Y", "%d-%m-%Y", "%m-%d-%Y") or fmt.startswith(
        ("%d/%m", "%m/%d")
    ):
        ambiguous = max(v.day for v in values) <= 12
    else:
        ambiguous = False
    if ambiguous:  # both day orders fit every value: an honest refusal, never a guess
        with pytest.raises(DataContractError, match=r"both day-first"):
            _parse(text)
        return
    got = _parse(text)
    assert got.reset_index(drop=True).equals(expected)


@given(
    unit=st.sampled_from(["s", "ms", "us", "ns"]),
    offsets=st.lists(st.integers(0, 10**8), min_size=1, max_size=20),
)
@settings(max_examples=200, deadline=None)
def test_epochs_in_any_unit_round_trip(unit, offsets):
    base = 1_500_000_000
    mult = {"s": 1, "ms": 1_000, "us": 10**6, "ns": 10**9}[unit]
    values = [(base + o) * mult for o in offsets]
    got = _parse(values)
    expected = pd.to_datetime([base + o for o in offsets], unit="s", utc=True)
    assert (got.reset_index(drop=True) == pd.Series(expected)).all()
