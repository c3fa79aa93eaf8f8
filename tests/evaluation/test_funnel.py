"""The funnel report: counts by hand on a small table, censoring, stages, the CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from leadml.cli import app
from leadml.evaluation import funnel
from leadml.exceptions import ConfigError, DataContractError


def utc(*values: str) -> pd.DatetimeIndex:
    return pd.to_datetime(list(values), utc=True)


@pytest.fixture
def small():
    scores = pd.DataFrame(
        {
            "lead_id": ["a", "b", "c", "d", "a", "e"],
            "as_of": utc(
                "2025-01-06", "2025-01-07", "2025-01-08", "2025-01-20", "2025-01-09", "2025-01-21"
            ),
            "grade": ["A1", "A1", "B2", "A1", "B2", "B2"],
            "band": ["hot", "warm", "cold", "hot", "hot", "cold"],
            "p_convert": [0.4, 0.2, 0.1, 0.5, 0.3, 0.1],
        },
        index=[5, 3, 1, 0, 2, 4],  # a scrambled index: nothing may rely on it
    )
    conversions = pd.DataFrame(
        {
            "lead_id": ["a", "c", "d", "e"],
            "converted_at": utc("2025-01-10", "2025-03-01", "2025-01-25", "2025-01-19"),
        }
    )
    stages = pd.DataFrame(
        {
            "lead_id": ["a", "a", "b", "d", "c"],
            "stage": ["MQL", "won", "MQL", "MQL", "MQL"],
            "entered_at": utc("2025-01-07", "2025-01-10", "2025-01-09", "2025-01-21", "2025-02-20"),
        }
    )
    return scores, conversions, stages


def test_counts_by_grade_and_stage_checked_by_hand(small):
    scores, conversions, stages = small
    rep = funnel(scores, conversions, stages=stages, horizon="30d", until="2025-02-10")
    g = rep.by_group.set_index([rep.by_group["cohort"].dt.strftime("%Y-%m-%d"), "grade"])
    # week of 6 Jan: a (first score A1, converted 10 Jan), b (A1, none), c (B2, converts 1 Mar:
    # after its window). a's second score that week does not count twice.
    assert g.loc[("2025-01-06", "A1"), ["leads", "converted", "still_open"]].tolist() == [2, 1, 0]
    assert g.loc[("2025-01-06", "B2"), ["leads", "converted"]].tolist() == [1, 0]
    assert g.loc[("2025-01-06", "A1"), "share"] == pytest.approx(2 / 3)
    assert g.loc[("2025-01-06", "A1"), "conversion_rate"] == pytest.approx(0.5)
    # week of 20 Jan: d converts 25 Jan; e had converted before its score (19 Jan)
    assert g.loc[("2025-01-20", "A1"), ["leads", "converted"]].tolist() == [1, 1]
    assert g.loc[("2025-01-20", "B2"), ["converted", "converted_before"]].tolist() == [0, 1]
    s = rep.by_stage.set_index([rep.by_stage["cohort"].dt.strftime("%Y-%m-%d"), "stage"])
    # c entered MQL on 20 Feb: after the report date, so not reached
    assert s.loc[("2025-01-06", "MQL"), ["leads", "reached"]].tolist() == [3, 2]
    assert s.loc[("2025-01-06", "won"), "reached"] == 1
    assert s.loc[("2025-01-06", "won"), "step_rate"] == pytest.approx(0.5)
    assert list(rep.by_stage["stage"].unique()) == ["MQL", "won"]


def test_open_windows_are_still_open_not_non_conversions(small):
    scores, conversions, _ = small
    rep = funnel(scores, conversions, by="month", group="band", until="2025-01-22")
    jan = rep.by_group.set_index("band")
    # d converts 25 Jan, after the report date: not known yet, still open
    assert jan.loc["hot", ["leads", "converted", "still_open"]].tolist() == [2, 1, 1]
    assert np.isnan(jan.loc["hot", "conversion_rate"])
    assert jan.loc["hot", "converted_so_far"] == pytest.approx(0.5)
    assert rep.by_group["cohort"].dt.strftime("%Y-%m-%d").unique().tolist() == ["2025-01-01"]


def test_bad_inputs_name_the_problem(small):
    scores, conversions, _ = small
    with pytest.raises(ConfigError, match="by must be one of"):
        funnel(scores, conversions, by="day")  # type: ignore[arg-type]
    with pytest.raises(DataContractError, match=r"scores: column\(s\) \['grade'\] missing"):
        funnel(scores.drop(columns="grade"), conversions)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    conv_days=st.lists(st.one_of(st.none(), st.integers(0, 90)), min_size=6, max_size=6),
    score_days=st.lists(st.integers(0, 60), min_size=6, max_size=6),
    until_day=st.integers(0, 100),
)
def test_a_conversion_after_the_report_date_never_counts(conv_days, score_days, until_day):
    t0 = pd.Timestamp("2025-01-06", tz="UTC")
    ids = [f"L{i}" for i in range(6)]
    scores = pd.DataFrame(
        {
            "lead_id": ids,
            "as_of": [t0 + pd.Timedelta(days=d, hours=12) for d in score_days],
            "grade": ["A1", "B2"] * 3,
        }
    )
    conv = pd.DataFrame(
        {
            "lead_id": [i for i, d in zip(ids, conv_days, strict=True) if d is not None],
            "converted_at": pd.Series(
                [t0 + pd.Timedelta(days=d) for d in conv_days if d is not None],
                dtype="datetime64[us, UTC]",
            ),
        }
    )
    until = t0 + pd.Timedelta(days=until_day)
    rep = funnel(scores, conv, horizon="14d", until=until)
    # by brute force: counted iff as_of < converted_at <= min(as_of + 14d, until)
    seen = scores[scores["as_of"] <= until]
    expect = 0
    for lead, as_of in zip(seen["lead_id"], seen["as_of"], strict=True):
        c = conv.loc[conv["lead_id"] == lead, "converted_at"]
        expect += int(any(as_of < x <= min(as_of + pd.Timedelta("14D"), until) for x in c))
    assert int(rep.by_group["converted"].sum()) == expect
    # the conversions after the report date change nothing: the same report without them
    known = conv[conv["converted_at"] <= until]
    again = funnel(scores, known, horizon="14d", until=until)
    cols = ["leads", "converted", "still_open"]
    pd.testing.assert_frame_equal(rep.by_group[cols], again.by_group[cols])


def test_cli_funnel_prints_and_writes(small, tmp_path):
    scores, conversions, stages = small
    scores.to_csv(tmp_path / "scores.csv", index=False)
    conversions.to_csv(tmp_path / "conv.csv", index=False)
    stages.to_csv(tmp_path / "stages.csv", index=False)
    res = CliRunner().invoke(
        app,
        [
            "funnel",
            "--scores", str(tmp_path / "scores.csv"),
            "--conversions", str(tmp_path / "conv.csv"),
            "--stages", str(tmp_path / "stages.csv"),
            "--until", "2025-02-10",
            "--out", str(tmp_path / "funnel.csv"),
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "conversion by grade per week" in res.output
    back = pd.read_csv(tmp_path / "funnel.csv")
    assert int(back["converted"].sum()) == 2
    assert (tmp_path / "funnel_stages.csv").is_file()
    bad = CliRunner().invoke(
        app, ["funnel", "--scores", str(tmp_path / "scores.csv"), "--conversions",
              str(tmp_path / "conv.csv"), "--by", "day"],
    )  # fmt: skip
    assert bad.exit_code != 0
    assert "--by must be week or month" in bad.output


def test_converted_and_not_yet_created_leads_are_counted_apart_not_in_the_rates(small):
    scores, conversions, _ = small
    # e converted on 19 Jan, before its score on 21 Jan; f was scored before it existed
    extra = pd.DataFrame(
        {"lead_id": ["f"], "as_of": utc("2025-01-22"), "grade": [np.nan], "band": [np.nan]}
    )
    scores = pd.concat([scores.assign(status="open"), extra.assign(status="not_created")])
    rep = funnel(scores, conversions, horizon="30d", until="2025-03-10")
    g = rep.by_group.set_index([rep.by_group["cohort"].dt.strftime("%Y-%m-%d"), "grade"])
    assert g.loc[("2025-01-20", "B2"), ["leads", "converted", "converted_before"]].tolist() == [
        0,
        0,
        1,
    ]
    assert np.isnan(g.loc[("2025-01-20", "B2"), "conversion_rate"])
    assert g.loc[("2025-01-20", "A1"), "share"] == pytest.approx(1.0)  # d alone is in the funnel
    assert rep.info["not_created"] == 1
    assert rep.info["converted_before"] == 1
    assert rep.info["leads"] == 4  # a, b, c (week of 6 Jan) and d
    assert "1 scored before the lead was created" in rep.to_markdown()
